#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds a program against it through
# `pkg-config --cflags --libs pyrate`, as a user of the installed library would.
# Usage: scripts/check_install.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=$(realpath "${1:-build}")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

prefix=$(meson introspect "$build_dir" --buildoptions |
  python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
meson install -C "$build_dir" --destdir "$stage" --quiet
root="$stage$prefix"
pc_dir=$(dirname "$(find "$root" -name pyrate.pc | head -1)")
# The .pc file names the final prefix; point it at the staging copy.
export PKG_CONFIG_PATH="$pc_dir"
flags=$(pkg-config --define-variable=prefix="$root" --cflags --libs pyrate)

cat >"$stage/main.cpp" <<'CPP'
#include <pyrate/pyrate.hpp>
#include <iostream>
int main() {
  auto limiter = pyrate::create_sqlite_limiter(2, 1000);
  pyrate::AcquireOptions no_wait;
  no_wait.blocking = false;
  int admitted = 0;
  for (int i = 0; i < 3; ++i) admitted += limiter->try_acquire("installed", no_wait);
  std::cout << "installed copy admitted " << admitted << " of 3\n";
  return admitted == 2 ? 0 : 1;
}
CPP
# shellcheck disable=SC2086
g++ -std=c++20 "$stage/main.cpp" -o "$stage/main" $flags
"$stage/main"
test -x "$root/bin/pyrate" || { echo "pyrate command not installed"; exit 1; }
echo "install check passed"
