#!/usr/bin/env bash
# Tests the bash completion of the pyrate command (src/cli/pyrate-completion.bash): sets
# COMP_WORDS and COMP_CWORD as bash does, calls _pyrate and compares COMPREPLY.
# Run by .ci/run; exits non-zero when a case fails.
# Usage: tests/completion_test.sh [COMPLETION_FILE]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
completion=${1:-src/cli/pyrate-completion.bash}
# shellcheck source=../src/cli/pyrate-completion.bash
source "$completion"

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
  # compopt, which bash-completion calls, complains outside a real completion: ignored.
  _pyrate pyrate "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
  local got
  # As a set: bash itself drops duplicates before it shows them.
  got=$(printf "%s\n" "${COMPREPLY[@]}" | sed "/^$/d" | sort -u | tr '\n' ' ' | sed 's/ $//')
  if [[ $got == "$expected" ]]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: '$line' completed to '$got', expected '$expected'"
  fi
}

cases() {
  expect "pyrate " "--help --version acquire demo exec flush gc leak status"
  expect "pyrate st" "status"
  expect "pyrate --v" "--version"
  expect "pyrate acquire --" \
    "--bucket --conflict-exit-code --db --help --json --no-wait --rate --timeout --weight"
  expect "pyrate acquire --c" "--conflict-exit-code"
  expect "pyrate acquire -E " ""
  expect "pyrate acquire --bucket api --r" "--rate"
  expect "pyrate acquire --rate 5" "5/s 500/day 5000/week"
  expect "pyrate exec --rate 5/s --" \
    "-- --bucket --conflict-exit-code --db --help --no-wait --rate --timeout --weight"
  expect "pyrate status --" "--bucket --db --help --json --top"
  expect "pyrate status --top " ""
  expect "pyrate flush --" "--bucket --db --help"
  expect "pyrate leak --b" "--bucket"
  expect "pyrate demo --" "--help"
  expect "pyrate gc --" "--help"
  expect "pyrate acquire --timeout 2" "2min"
  expect "pyrate acquire --bucket " ""
  expect "pyrate exec --rate 1/s -- bas" "$(compgen -c -- bas | sort -u | tr '\n' ' ' | sed 's/ $//')"
  # --db completes file names.
  tmp=$(mktemp -d)
  touch "$tmp/limits.db" "$tmp/other.txt"
  expect "pyrate status --db $tmp/li" "$tmp/limits.db"
  rm -rf "$tmp"
}

# Plain bash, then with bash-completion's own functions (_filedir, _command_offset) as an
# interactive shell that has it loaded.
cases
bash_completion=/usr/share/bash-completion/bash_completion
if [[ -r $bash_completion ]]; then
  # shellcheck source=/dev/null
  source "$bash_completion"
  cases
else
  echo "no $bash_completion: tested without bash-completion only"
fi

echo "completion: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
