#!/usr/bin/env bash
# Checks what a shared libpyrate exports (nm -D): the public API, and nothing internal: no
# symbol of pyrate's internal namespaces or classes, none of the SQLiteCpp it embeds.
# Usage: scripts/check_exports.sh [BUILD_DIR]   (a build with -Ddefault_library=shared or both)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
build_dir=${1:-build-shared}
library=$(find "$build_dir/src" -maxdepth 1 -type f -name 'libpyrate.so.*.*.*' | head -1)
[[ -n $library ]] || { echo "no libpyrate.so.X.Y.Z in $build_dir/src"; exit 1; }

symbols=$(nm -D --defined-only -C "$library" | sed -E 's/^[0-9a-f]+ [A-Za-z] //') || exit 1
status=0

# Internal: src/'s namespaces and the classes that live in namespace pyrate under src/.
internal='pyrate::(core|memory|schema|sqlite|sync|detail|cli)::|pyrate::(Mutex|SlotTable|RunLog|LockObject|TemporaryDatabaseFile|TemporaryDirectory|AcquireCounters|BucketFile)\b|(^|[^_a-z])SQLite::'
leaked=$(grep -E "$internal" <<<"$symbols")
if [[ -n $leaked ]]; then
  echo "internal symbols exported by $library:"
  head -20 <<<"$leaked"
  status=1
fi

# A sample of the public API, functions and the type information of classes.
for wanted in 'pyrate::Limiter::acquire(' 'pyrate::SQLiteBucket::SQLiteBucket(' \
  'pyrate::InMemoryBucket::admit(' 'pyrate::validate_rate_list(' 'pyrate::http_headers' \
  'pyrate::InterprocessLock::lock()' 'pyrate::per_name_sqlite_factory(' \
  'pyrate::PerNameBucketFactory::get(' 'typeinfo for pyrate::StorageError' \
  'typeinfo for pyrate::AbstractBucket' 'typeinfo for pyrate::Clock'; do
  grep -qF "$wanted" <<<"$symbols" || { echo "not exported: $wanted"; status=1; }
done

soname=$(readelf -d "$library" | sed -nE 's/.*\(SONAME\).*\[(.*)\]/\1/p')
[[ -n $soname ]] || { echo "$library has no soname"; status=1; }

((status == 0)) &&
  echo "exports check passed: $(basename "$library") (soname $soname), $(wc -l <<<"$symbols") symbols, none internal"
exit $status
