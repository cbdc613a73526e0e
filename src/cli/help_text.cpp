#include "help_text.hpp"

namespace pyrate::cli {
namespace {

constexpr std::string_view kGeneralHelp = R"(usage: pyrate SUBCOMMAND [OPTIONS]

A rate-limit gate for scripts and worker pools. Limits live in an SQLite file that every
process on the host shares, and they survive restarts; or on a Redis server, shared by the
processes of every host that names it.

subcommands:
  acquire   take slots from a bucket; exit 0 when admitted, 1 when refused
  exec      take slots, then run a command in place of pyrate
  status    show each bucket's use (--json for machines)
  flush     remove every slot of a bucket
  leak      remove expired slots
  gc        remove the lock objects that killed processes left in /dev/shm
  demo      watch 4 worker processes share 10/s, across a restart

  pyrate SUBCOMMAND --help   the subcommand's options
  pyrate --version           the version

exit status: 0 admitted, 1 refused or timed out (-E N makes it N), 2 usage or
storage error (one line on stderr); exec exits with its command's status.

database: --db PATH, else $PYRATE_DB when set and non-empty, else
$XDG_STATE_HOME/pyrate/limits.db, else ~/.local/state/pyrate/limits.db
(the last two: directories created on first use). A database that starts with
redis:// or unix:// names a Redis server instead of a file, for every subcommand:
  redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]   (port 6379, database 0 by default)
  unix://[[USER]:PASSWORD@]/PATH/TO/redis.sock[?db=DB]
Its buckets are keys under "pyrate:"; messages name the URL without the password.

example: pyrate exec --bucket api --rate 5/s --rate 100/min -- curl https://example.org
)";

constexpr std::string_view kAcquireHelp =
    R"(usage: pyrate acquire [--db PATH] [--bucket NAME] --rate SPEC [--rate SPEC ...]
                      [--weight N] [--no-wait | --timeout DURATION] [-E N] [--json]

Removes the bucket's expired slots, then takes N slots from it, waiting for room unless told
otherwise. Exit 0 when admitted; 1 (or the -E status) when refused or timed out, or when the
weight can never fit a rate; 2 on a usage or storage error. A refusal prints one line on
stderr naming the rate and the wait, e.g.
  pyrate: refused by 5/s; retry after 340 ms

options:
  --rate SPEC         LIMIT/[N]UNIT: at most LIMIT slots in any window of N UNITs; UNIT is
                      ms, s, min, h, day or week (5/s, 10/2s, 3/250ms, 100/min, 500/day).
                      Repeat for several windows; they are sorted by interval and must have
                      growing limits and a non-growing rate.
  --bucket NAME       the bucket (default: default); buckets with different names are
                      independent and share the file; PREFIX/NAME is the bucket of NAME
                      in a per-name factory of PREFIX (per_name_sqlite_factory,
                      per_name_redis_factory), sharing its limit
  --weight N          slots to take, N > 0 (default 1)
  --no-wait           refuse at once when there is no room
  --timeout DURATION  wait at most this long: N[UNIT] with the units above, a bare number
                      is seconds (300ms, 5s, 2min, 0.5); default: wait as long as it takes
  -E, --conflict-exit-code N
                      exit with N (0 to 255) when refused, as flock(1) does, so that a
                      script can tell a refusal from other failures (default 1)
  --json              print the decision on stdout as one JSON object, admitted or not:
                      {"admitted", "retry_after_ms" (-1: can never fit), "remaining",
                      "reset_after_ms", "failing_rate", "tightest_rate"}; rates are SPECs
                      (5/s, 10/2s) or null. remaining is the tightest rate's free slots;
                      reset_after_ms is the time until its window next frees a slot
  --db PATH           the database file, or a Redis URL (redis://..., unix://...); see
                      pyrate --help for the default
)";

constexpr std::string_view kExecHelp = R"(usage: pyrate exec [ACQUIRE OPTIONS] -- COMMAND [ARGS...]

Takes slots as `pyrate acquire` does, then runs COMMAND in place of pyrate, so the exit status
is COMMAND's. Refused or timed out: one line on stderr, as for acquire, and exit 1 (or the
-E status) without running it. A COMMAND that cannot be found on PATH exits 127 (126 when
it is not executable) before any slot is taken.

options: --db, --bucket, --rate (required), --weight, --no-wait, --timeout, -E, as for
`pyrate acquire --help`.

example: pyrate exec -E 75 --bucket api --rate 5/s -- curl -s https://example.org
)";

constexpr std::string_view kStatusHelp =
    R"(usage: pyrate status [--db PATH] [--bucket NAME] [--top N] [--json]

For each bucket in the database (or the one named): the slots it holds, when the next acquire
of 1 would be admitted, and for each rate a bar of the window's use, the slots used and
remaining and the time until the window frees a slot, e.g.
  10/s  [#######   ] 7 used, 3 remaining, next slot frees in 420 ms
then a summary line: how many buckets the database records and how many are full now.
A database file that does not exist lists nothing and is not created; reading writes nothing.
On a Redis server, lists the buckets under the "pyrate:" prefix (walked with SCAN, never
KEYS) that have not expired.

options:
  --top N        only the N fullest buckets: by the largest share of a limit used now, then
                 by name; the summary still counts every bucket
  --json         one JSON document: {"db": PATH, "bucket_count", "full_count", "buckets":
                 [{"name", "held", "wait_ms", "rates": [{"rate", "limit", "interval_ms",
                 "used", "remaining", "next_free_ms"}]}]}; "rate" is the SPEC (10/s),
                 next_free_ms is null when the window holds no slot; bytes of a name that
                 are not UTF-8 show as U+FFFD
  --bucket NAME  only this bucket
  --db PATH      the database file, or a Redis URL (see pyrate --help)
)";

constexpr std::string_view kFlushHelp = R"(usage: pyrate flush [--db PATH] [--bucket NAME]

Removes every slot of the bucket (default: default), so its limits start afresh.
A bucket the database does not record is left alone (exit 0).

options:
  --bucket NAME  the bucket to flush
  --db PATH      the database file, or a Redis URL (see pyrate --help)
)";

constexpr std::string_view kLeakHelp = R"(usage: pyrate leak [--db PATH] [--bucket NAME]

Removes the slots that have left every window, from every bucket or from the one named.
`pyrate acquire` already does this for its own bucket; this is for files left idle.

options:
  --bucket NAME  only this bucket
  --db PATH      the database file, or a Redis URL (see pyrate --help)
)";

constexpr std::string_view kGcHelp = R"(usage: pyrate gc

Removes every lock object in /dev/shm (pyrate-lock-v2-*) that no process uses. Processes
sharing a database file share its lock object, and the last of them to finish removes it; an
object whose last users were killed stays until the file is used again, or until this
removes it. Safe while other processes use pyrate. Objects of pyrate 0.1 (pyrate-lock-v1-*)
do not show whether they are in use and are left alone: remove them with rm once no
pyrate 0.1 process runs. Prints what it removed and what it kept.
)";

constexpr std::string_view kDemoHelp = R"(usage: pyrate demo

Creates a database in a temporary directory and starts 4 worker processes that share a
limit of 10/s through it: each takes a slot (a blocking acquire), works 50 ms, and goes
again. A table shows the admissions per second, per worker and in total. After 4 s the
workers stop and 4 new ones start on the same file: the limit carries over the restart.
Each worker reads back the timestamp the file recorded for each of its slots and reports
it; the last line is measured from those, e.g. `max in any 1 s window: 10 (limit 10)`.
Takes about 7 s; exit 0 when the limit held, 1 when it did not, 2 on an error.
)";

}  // namespace

std::string_view help_text(std::optional<Subcommand> subcommand) {
  if (!subcommand) return kGeneralHelp;
  switch (*subcommand) {
    case Subcommand::kAcquire:
      return kAcquireHelp;
    case Subcommand::kExec:
      return kExecHelp;
    case Subcommand::kStatus:
      return kStatusHelp;
    case Subcommand::kFlush:
      return kFlushHelp;
    case Subcommand::kLeak:
      return kLeakHelp;
    case Subcommand::kGc:
      return kGcHelp;
    case Subcommand::kDemo:
      return kDemoHelp;
  }
  return kGeneralHelp;
}

}  // namespace pyrate::cli
