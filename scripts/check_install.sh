#!/usr/bin/env bash
# Installs a build into a scratch prefix and uses it as a consumer would. CHECKs, any of:
#   files              the command, its man page and bash completion, version.hpp, the CMake
#                      package, pyrate.pc; `pyrate --version` prints the project version
#   pkg-config         builds tests/consumers/consumer.cpp with `pkg-config --cflags --libs
#                      pyrate` (no -std flag of its own) and runs it
#   pkg-config-static  the same with `pkg-config --static --cflags --libs pyrate`
#   cmake              configures tests/consumers/cmake with CMAKE_PREFIX_PATH=<prefix>
#                      (find_package(pyrate 0.2) and pyrate::pyrate), builds and runs it
# Default: all of them. Each failure prints "install check failed: CHECK"; the exit status is
# non-zero when any failed.
# Usage: scripts/check_install.sh [BUILD_DIR [CHECK...]]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
repo=$(pwd)
build_dir=$(realpath "${1:-build}")
shift || true
checks=("$@")
((${#checks[@]})) || checks=(files pkg-config pkg-config-static cmake)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

prefix=$(meson introspect "$build_dir" --buildoptions |
  python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
version=$(meson introspect "$build_dir" --projectinfo |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
meson install -C "$build_dir" --destdir "$stage" --quiet >/dev/null || {
  echo "install check failed: meson install"
  exit 1
}
root="$stage$prefix"
pc_file=$(find "$root" -name pyrate.pc | head -1)
libdir=$(dirname "$(dirname "$pc_file")")
# A shared libpyrate is found at run time from the staging copy.
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

check_files() {
  local missing=0 file
  for file in bin/pyrate share/man/man1/pyrate.1 share/bash-completion/completions/pyrate \
    include/pyrate/pyrate.hpp include/pyrate/version.hpp include/pyrate/export.hpp; do
    [[ -e "$root/$file" ]] || { echo "not installed: $file"; missing=1; }
  done
  for file in cmake/pyrate/pyrateConfig.cmake cmake/pyrate/pyrateConfigVersion.cmake \
    pkgconfig/pyrate.pc; do
    [[ -e "$libdir/$file" ]] || { echo "not installed: <libdir>/$file"; missing=1; }
  done
  ((missing == 0)) || return 1
  local printed
  printed=$("$root/bin/pyrate" --version) || return 1
  [[ $printed == "pyrate $version" ]] || {
    echo "pyrate --version printed '$printed', not 'pyrate $version'"
    return 1
  }
  grep -q "define PYRATE_VERSION_STRING \"$version\"" "$root/include/pyrate/version.hpp" || {
    echo "version.hpp does not say $version"
    return 1
  }
  grep -q '^\.SH SUBCOMMANDS' "$root/share/man/man1/pyrate.1" || {
    echo "pyrate.1 has no SUBCOMMANDS section"
    return 1
  }
  echo "installed: the command ($printed), man page, completion, headers, CMake package, pyrate.pc"
}

# Builds and runs the consumer with the flags `pkg-config $*` gives.
check_pkg_config() {
  local flags
  # The .pc file names the final prefix; point it at the staging copy.
  flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" \
    pkg-config --define-variable=prefix="$root" "$@" --cflags --libs pyrate) || return 1
  echo "pkg-config $* --cflags --libs pyrate: $flags"
  # shellcheck disable=SC2086
  g++ "$repo/tests/consumers/consumer.cpp" -o "$stage/consumer" $flags || return 1
  "$stage/consumer"
}

check_cmake() {
  if ! {
    # Ninja: setup.sh installs it, while make is only recommended by the cmake package.
    cmake -S "$repo/tests/consumers/cmake" -B "$stage/cmake-build" -G Ninja \
      -DCMAKE_PREFIX_PATH="$root" -DCMAKE_BUILD_TYPE=Release &&
      cmake --build "$stage/cmake-build"
  } >"$stage/cmake.log" 2>&1; then
    cat "$stage/cmake.log"
    return 1
  fi
  "$stage/cmake-build/consumer"
}

failed=0
for check in "${checks[@]}"; do
  echo "--- install check: $check ($(basename "$build_dir"))"
  case $check in
    files) check_files ;;
    pkg-config) check_pkg_config ;;
    pkg-config-static) check_pkg_config --static ;;
    cmake) check_cmake ;;
    *) echo "unknown check: $check"; false ;;
  esac || { echo "install check failed: $check"; failed=$((failed + 1)); }
done
((failed == 0)) && echo "install check passed: ${checks[*]}"
((failed == 0))
