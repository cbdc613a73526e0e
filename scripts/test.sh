#!/usr/bin/env bash
# Builds pyrate (installing what is missing) and runs every test program.
# Prints each program's Catch2 summary and a closing line "N passed, N failed" that counts
# test cases; exits non-zero when any test case fails or any program crashes.
# Usage: scripts/test.sh [BUILD_DIR [MESON_OPTION...]]
set -uo pipefail
cd "$(dirname "$0")/.."

build_dir=${1:-build}
scripts/setup.sh "$@" || exit 2

passed=0
failed=0
for program in foundation_tests sqlite_tests multiprocess_tests cli_tests async_tests; do
  log=$(mktemp)
  "$build_dir/tests/$program" >"$log" 2>&1
  status=$?
  summary=$(grep -E '^(All tests passed|test cases:)' "$log" | tail -1)
  cases=$(sed -nE 's/.*\(([0-9]+) assertions? in ([0-9]+) test cases?\).*/\2/p' <<<"$summary")
  if [[ -n $cases && $status -eq 0 ]]; then
    passed=$((passed + cases))
  elif [[ $summary =~ test\ cases:\ +([0-9]+)\ \|\ +([0-9]+)\ passed\ \|\ +([0-9]+)\ failed ]]; then
    passed=$((passed + BASH_REMATCH[2]))
    failed=$((failed + BASH_REMATCH[3]))
    cat "$log"
  else
    echo "$program exited with status $status before reporting:"
    cat "$log"
    failed=$((failed + 1))
  fi
  echo "$program: ${summary:-no summary (status $status)}"
  rm -f "$log"
done

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
