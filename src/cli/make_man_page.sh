#!/usr/bin/env bash
# Writes the man page pyrate.1 with help2man from the command's own --help and --version, adding
# a SUBCOMMANDS section made of each subcommand's --help, so the page never disagrees with the
# command. Usage: make_man_page.sh HELP2MAN PYRATE OUTPUT
set -euo pipefail
help2man=$1
pyrate=$2
output=$3

include=$(mktemp)
trap 'rm -f "$include"' EXIT
{
  echo "[SUBCOMMANDS]"
  for subcommand in acquire exec status flush leak gc demo; do
    echo ".SS $subcommand"
    echo ".nf"
    # Escape backslashes, a leading dot or quote (which roff would read as a request) and
    # hyphens (so that options are typed as shown).
    "$pyrate" "$subcommand" --help |
      sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/" -e 's/-/\\-/g'
    echo ".fi"
  done
  cat <<'ROFF'
[ENVIRONMENT]
.TP
.B PYRATE_DB
The database file when \-\-db is not given (ignored when empty).
.TP
.B XDG_STATE_HOME
The database is $XDG_STATE_HOME/pyrate/limits.db when neither \-\-db nor PYRATE_DB is set.
[FILES]
.TP
.I ~/.local/state/pyrate/limits.db
The default database when XDG_STATE_HOME is not set either.
.TP
.I /dev/shm/pyrate\-lock\-v2\-*
The lock object of each database file in use; see the gc subcommand.
ROFF
} >"$include"

"$help2man" --no-info --section=1 \
  --name="a rate-limit gate for scripts and worker pools" \
  --include="$include" --output="$output" "$pyrate"
