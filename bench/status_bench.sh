#!/usr/bin/env bash
# `pyrate status` on a file holding BUCKETS buckets (default 100,000), each with one slot in
# its window, like the names of a busy per_name_sqlite_factory: the wall time of the whole
# command (plain, --top 10 and --json) next to sqlite3 reading every row of the same file.
#
#   bench/status_bench.sh [BUILD_DIR [BUCKETS]]      (needs hyperfine: apt-get install hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
buckets=${2:-100000}
pyrate=$build/src/cli/pyrate
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
db=$scratch/limits.db

# The schema comes from the command itself; the buckets and slots are written in one
# transaction, stamped now, so every bucket has one slot of 5 in its window.
"$pyrate" acquire --db "$db" --bucket seed --rate 5/h >/dev/null
now=$(date +%s%3N)
sqlite3 "$db" <<SQL
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $buckets)
INSERT INTO buckets (name, rates) SELECT CAST('api/key-' || i AS BLOB), '5/3600000' FROM n;
INSERT INTO slots (bucket_id, timestamp, start_seq, weight, name)
  SELECT id, $now, 0, 1, CAST('x' AS BLOB) FROM buckets WHERE name != CAST('seed' AS BLOB);
COMMIT;
SQL
echo "file: $(sqlite3 "$db" 'SELECT count(*) FROM buckets') buckets, $(du -h "$db" | cut -f1)"

hyperfine --warmup 1 --runs 5 --export-markdown "$scratch/table.md" \
  -n "sqlite3: read every bucket and slot row" \
  "sqlite3 '$db' 'SELECT b.name, b.rates, s.timestamp FROM buckets b JOIN slots s ON s.bucket_id = b.id' >/dev/null" \
  -n "pyrate status" "$pyrate status --db '$db' >/dev/null" \
  -n "pyrate status --top 10" "$pyrate status --db '$db' --top 10 >/dev/null" \
  -n "pyrate status --json" "$pyrate status --db '$db' --json >/dev/null" >/dev/null
cat "$scratch/table.md"
"$pyrate" status --db "$db" --top 1 | tail -1
