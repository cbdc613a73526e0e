#!/usr/bin/env bash
# Builds pyrate (installing what is missing) and runs every test that meson.build registers
# with test(), one after another, so that a new test program cannot be forgotten.
# Prints each program's summary and a closing line "N passed, N failed" that counts Catch2
# test cases (a test program that is not Catch2 counts as one case, by its exit status); exits
# non-zero when any test case fails or any program crashes or times out.
# Usage: scripts/test.sh [BUILD_DIR [MESON_OPTION...]]
set -uo pipefail
cd "$(dirname "$0")/.."

build_dir=${1:-build}
scripts/setup.sh "$@" || exit 2

# One line per registered test: name, timeout in seconds, then the command, tab-separated.
mapfile -t tests < <(meson introspect "$build_dir" --tests | python3 -c '
import json, sys
for test in json.load(sys.stdin):
    print("\t".join([test["name"], str(test["timeout"] or 600)] + test["cmd"]))')
if ((${#tests[@]} == 0)); then
  echo "no tests registered in $build_dir"
  echo "0 passed, 1 failed"
  exit 1
fi

passed=0
failed=0
for line in "${tests[@]}"; do
  IFS=$'\t' read -r -a fields <<<"$line"
  name=${fields[0]}
  limit=${fields[1]}
  command=("${fields[@]:2}")
  log=$(mktemp)
  start=$SECONDS
  timeout --kill-after=10 "$limit" "${command[@]}" >"$log" 2>&1
  status=$?
  summary=$(grep -E '^(All tests passed|test cases:)' "$log" | tail -1)
  cases=$(sed -nE 's/.*\(([0-9]+) assertions? in ([0-9]+) test cases?\).*/\2/p' <<<"$summary")
  if [[ -n $cases && $status -eq 0 ]]; then
    passed=$((passed + cases))
  elif [[ $summary =~ test\ cases:\ +([0-9]+)\ \|\ +([0-9]+)\ passed\ \|\ +([0-9]+)\ failed ]]; then
    passed=$((passed + BASH_REMATCH[2]))
    failed=$((failed + BASH_REMATCH[3]))
    cat "$log"
  elif [[ -z $summary && $status -eq 0 ]]; then
    passed=$((passed + 1))
    summary="passed"
  else
    [[ $status -eq 124 ]] && echo "$name timed out after $limit s"
    echo "$name exited with status $status before reporting:"
    cat "$log"
    failed=$((failed + 1))
  fi
  echo "$name: ${summary:-no summary (status $status)} [$((SECONDS - start)) s]"
  rm -f "$log"
done

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
