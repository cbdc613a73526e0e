#!/usr/bin/env bash
# Tests the bash completion of the pyrate command (src/cli/pyrate-completion.bash): sets
# COMP_WORDS and COMP_CWORD as bash does, calls _pyrate and compares COMPREPLY.
# Run by .ci/run; exits non-zero when a case fails.
# Usage: tests/completion_test.sh [COMPLETION_FILE]
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../src/cli/pyrate-completion.bash
source "${1:-src/cli/pyrate-completion.bash}"

passed=0
failed=0
# expect "COMMAND LINE, cursor at its end" "EXPECTED WORDS" (sorted, space-separated).
expect() {
  local line=$1 expected=$2
  read -ra COMP_WORDS <<<"$line"
  [[ $line == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE=$line
  COMP_POINT=${#line}
  COMPREPLY=()
  _pyrate pyrate "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  local got
  got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//')
  if [[ $got == "$expected" ]]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: '$line' completed to '$got', expected '$expected'"
  fi
}

expect "pyrate " "--help --version acquire demo exec flush leak status"
expect "pyrate st" "status"
expect "pyrate --v" "--version"
expect "pyrate acquire --" "--bucket --db --help --no-wait --rate --timeout --weight"
expect "pyrate acquire --bucket api --r" "--rate"
expect "pyrate acquire --rate 5" "5/s 500/day 5000/week"
expect "pyrate exec --rate 5/s --" "-- --bucket --db --help --no-wait --rate --timeout --weight"
expect "pyrate status --" "--bucket --db --help --json"
expect "pyrate flush --" "--bucket --db --help"
expect "pyrate leak --b" "--bucket"
expect "pyrate demo --" "--help"
expect "pyrate acquire --timeout 2" "2min"
expect "pyrate acquire --bucket " ""
expect "pyrate exec --rate 1/s -- bas" "$(compgen -c -- bas | sort -u | tr '\n' ' ' | sed 's/ $//')"
# --db completes file names.
tmp=$(mktemp -d)
touch "$tmp/limits.db" "$tmp/other.txt"
expect "pyrate status --db $tmp/li" "$tmp/limits.db"
rm -rf "$tmp"

echo "completion: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
