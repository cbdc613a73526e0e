#!/usr/bin/env bash
# Builds tests/consumers/meson, which takes pyrate through dependency('pyrate', fallback: ...),
# with this repository as its subproject (a link subprojects/pyrate made for the run and removed
# after it), and runs the program.
# Usage: scripts/check_subproject.sh [MESON_OPTION...]
set -euo pipefail
cd "$(dirname "$0")/.."
consumer=tests/consumers/meson
build=$(mktemp -d)
link="$consumer/subprojects/pyrate"
cleanup() {
  rm -rf "$build"
  rm -f "$link"
  rmdir "$consumer/subprojects" 2>/dev/null || true
}
trap cleanup EXIT

mkdir -p "$consumer/subprojects"
[[ -e $link ]] || ln -s ../../../.. "$link"
# --force-fallback-for: an installed pyrate must not stand in for the subproject.
meson setup "$build" "$consumer" --force-fallback-for=pyrate "$@" >"$build.log" 2>&1 ||
  { cat "$build.log"; rm -f "$build.log"; exit 1; }
grep -E 'Executing subproject|Dependency pyrate' "$build.log" || true
rm -f "$build.log"
ninja -C "$build" >/dev/null
"$build/consumer"
