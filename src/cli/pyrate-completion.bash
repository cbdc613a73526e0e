# bash completion for the pyrate command: subcommands, each subcommand's flags, files for --db,
# and the command line after `exec ... --`. Installed as
# <datadir>/bash-completion/completions/pyrate, where bash-completion loads it on first use.
# Works without bash-completion too (`source` it): _filedir and _command_offset are used only
# when bash-completion defines them.

# Sets COMPREPLY for the word COMP_WORDS[COMP_CWORD] of a pyrate command line.
_pyrate() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local prev=""
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  COMPREPLY=()

  # The subcommand is the first word after `pyrate`; for exec, `--` starts the command to run.
  local subcommand="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    local word=${COMP_WORDS[i]}
    if [[ -z $subcommand ]]; then
      [[ $word == -* ]] || subcommand=$word
    elif [[ $subcommand == exec && $word == -- ]]; then
      if declare -F _command_offset >/dev/null; then
        _command_offset $((i + 1))
      elif ((i + 1 == COMP_CWORD)); then
        mapfile -t COMPREPLY < <(compgen -c -- "$cur" | sort -u)
      else
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      fi
      return 0
    fi
  done

  if [[ -z $subcommand ]]; then
    mapfile -t COMPREPLY < <(compgen -W "acquire exec status flush leak gc demo --help --version" \
      -- "$cur")
    return 0
  fi

  # The value of the option before the cursor.
  case $prev in
    --db)
      if declare -F _filedir >/dev/null; then
        _filedir
      else
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      fi
      return 0
      ;;
    --rate)
      mapfile -t COMPREPLY < <(compgen -W "1/s 5/s 10/2s 3/250ms 100/min 1000/h 500/day 5000/week" \
        -- "$cur")
      return 0
      ;;
    --timeout)
      mapfile -t COMPREPLY < <(compgen -W "300ms 1s 5s 2min" -- "$cur")
      return 0
      ;;
    --bucket | --weight | --top | --conflict-exit-code | -E)
      return 0
      ;;
  esac

  local flags
  case $subcommand in
    acquire) flags="--db --bucket --rate --weight --no-wait --timeout --json --conflict-exit-code \
      --help" ;;
    exec) flags="--db --bucket --rate --weight --no-wait --timeout --conflict-exit-code --help" ;;
    status) flags="--db --bucket --json --top --help" ;;
    flush | leak) flags="--db --bucket --help" ;;
    gc | demo) flags="--help" ;;
    *) return 0 ;;
  esac
  [[ $subcommand == exec ]] && flags+=" --"
  mapfile -t COMPREPLY < <(compgen -W "$flags" -- "$cur")
  return 0
}
complete -F _pyrate pyrate
