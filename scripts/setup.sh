#!/usr/bin/env bash
# Installs the Debian packages pyrate needs (when missing) and builds it into BUILD_DIR
# (default build/). MESON_OPTIONs apply to a new build directory and, through meson configure,
# to an existing one.
# Usage: scripts/setup.sh [BUILD_DIR [MESON_OPTION...]]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ meson ninja-build pkg-config cmake python3 libsqlitecpp-dev libsqlite3-dev
          libboost-dev catch2 libbenchmark-dev clang-format sqlite3 curl redis-server
          libhiredis-dev)
# bench/status_bench.sh times the pyrate command with hyperfine.
packages+=(hyperfine)
# The man page (help2man) and the completion test's bash-completion functions.
packages+=(help2man bash-completion)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "installing: ${missing[*]} (a minute or two)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

build_dir=${1:-build}
shift || true
if [[ ! -f "$build_dir/build.ninja" ]]; then
  meson setup "$build_dir" "$@" >/dev/null
elif (($#)); then
  meson configure "$build_dir" "$@" >/dev/null
fi
# A first build takes 3-5 minutes on two cores; ninja shows its progress on one line.
echo "building into $build_dir/"
if [[ -t 1 ]]; then
  ninja -C "$build_dir"
else
  ninja -C "$build_dir" | grep -E '^\[[0-9]+/[0-9]+\]|error|warning|FAILED' |
    awk 'NR % 10 == 1 || /error|warning|FAILED/' || true
  ninja -C "$build_dir" >/dev/null
fi
echo "built into $build_dir/"
