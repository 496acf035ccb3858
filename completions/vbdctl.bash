# bash completion for vbdctl(8)                              -*- shell-script -*-
#
# Commands and options are listed here (tests/ship checks them against `vbdctl --help`).
# DOMID values (domids and guest names) and VBD values come from the host itself, through the
# hidden command `vbdctl [--host HOST] __complete domids | vbds DOMID`, so they honour --host on the
# command line and $VBDCTL_HOST.

_vbdctl_global_opts='-h --help --host --json -v --verbose -q --quiet --version'
_vbdctl_commands='status list show check metrics watch unbind bind rebind recover upgrade-backend history sim'
_vbdctl_sim_commands='init fault guests param show-modules xs'

# Options of a command ("sim init" for sim's subcommands), and which of them take a value.
_vbdctl_cmd_opts()
{
    case $1 in
        check) echo '-h --help --samples --interval' ;;
        metrics) echo '-h --help --textfile --samples --interval' ;;
        watch) echo '-h --help --count --timeout' ;;
        unbind | rebind) echo '-h --help -y --yes -n --dry-run --timeout --drain-timeout --protocol' \
            '--assume-rebind-support --accept-hazard' ;;
        bind) echo '-h --help -y --yes -n --dry-run --timeout --drain-timeout --protocol' ;;
        recover) echo '-h --help -y --yes -n --dry-run --from-live --timeout --drain-timeout' ;;
        upgrade-backend)
            echo '-h --help --module-file --param --reset-params --force --without-rollback --only --canary' \
                '-n --dry-run -y --yes' \
                '--assume-rebind-support --force-vermagic --accept-hazard --timeout --drain-timeout'
            ;;
        "sim init") echo '-h --help --guests --vbds-per-guest --backend-domid --kernel --blkback-param --builtin-blkback' \
            '--sig-enforce --lockdown --compressed-modules' ;;
        history) echo '-h --help --limit' ;;
        "sim fault") echo '-h --help --at-step' ;;
        *) echo '-h --help' ;;
    esac
}

_vbdctl_takes_value()
{
    case $1 in
        --host | --samples | --interval | --textfile | --count | --timeout | --drain-timeout | --protocol | --module-file | \
            --param | --only | --accept-hazard | --limit | \
            --guests | --vbds-per-guest | --backend-domid | --kernel | --blkback-param | --lockdown | --at-step)
            return 0
            ;;
    esac
    return 1
}

# Prints one value per line from `vbdctl __complete ARGS...` on the chosen host.
_vbdctl_query()
{
    local -a host_arg=()
    [[ -n $host ]] && host_arg=(--host "$host")
    "$vbdctl" "${host_arg[@]}" __complete "$@" 2>/dev/null
}

_vbdctl_domids()
{
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$(_vbdctl_query domids)" -- "$cur"))
}

_vbdctl_vbds()
{
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$(_vbdctl_query vbds "$1")" -- "$cur"))
}

_vbdctl()
{
    local cur prev words cword split
    _init_completion -s -n : || return

    local vbdctl=${words[0]}
    [[ $vbdctl == */* || $(type -t "$vbdctl") == file ]] || vbdctl=vbdctl

    # Walk the words before the cursor: the host, the command, its positionals.
    local host="" cmd="" i w
    local -a args=()
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        case $w in
            --host=*) host=${w#--host=} ;;
            --host)
                host=${words[i + 1]-}
                ((i++))
                ;;
            --*=*) ;;
            -*)
                _vbdctl_takes_value "$w" && ((i++))
                ;;
            *)
                if [[ -z $cmd ]]; then
                    cmd=$w
                elif [[ $cmd == sim && ${#args[@]} -eq 0 ]]; then
                    cmd="sim $w"
                    args=()
                    continue
                else
                    args+=("$w")
                fi
                ;;
        esac
    done

    # A value for the option before the cursor.
    case $prev in
        --host)
            if [[ $cur == sim:* ]]; then
                local IFS=$'\n' f
                local -a files=($(compgen -f -- "${cur#sim:}"))
                COMPREPLY=()
                for f in "${files[@]}"; do
                    [[ -d $f ]] && f+=/
                    COMPREPLY+=("sim:$f")
                done
                compopt -o nospace 2>/dev/null
            else
                COMPREPLY=($(compgen -W 'local sim sim:' -- "$cur"))
                [[ ${COMPREPLY[*]} == sim: ]] && compopt -o nospace 2>/dev/null
            fi
            __ltrim_colon_completions "$cur"
            return
            ;;
        --module-file)
            _filedir '@(ko|ko.xz|ko.zst|ko.gz)'
            return
            ;;
        --textfile)
            _filedir -d
            return
            ;;
        --only)
            if [[ $cur == *:* ]]; then
                local domid=${cur%%:*} IFS=$'\n' v
                COMPREPLY=()
                for v in $(_vbdctl_query vbds "$domid"); do
                    [[ $domid:$v == "$cur"* ]] && COMPREPLY+=("$domid:$v")
                done
                __ltrim_colon_completions "$cur"
            else
                _vbdctl_domids
            fi
            return
            ;;
        --lockdown)
            COMPREPLY=($(compgen -W 'none integrity confidentiality' -- "$cur"))
            return
            ;;
        --accept-hazard)
            COMPREPLY=($(compgen -W 'xsa-350 xsa-371 single-page-ring persistent-negotiation' -- "$cur"))
            return
            ;;
        --protocol)
            COMPREPLY=($(compgen -W 'x86_64-abi x86_32-abi native' -- "$cur"))
            return
            ;;
        --samples | --interval | --count | --timeout | --drain-timeout | --param | --guests | --vbds-per-guest | \
            --kernel | --blkback-param | --at-step | --limit)
            return
            ;;
    esac
    $split && return

    if [[ $cur == -* ]]; then
        if [[ -z $cmd ]]; then
            COMPREPLY=($(compgen -W "$_vbdctl_global_opts" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$(_vbdctl_cmd_opts "$cmd") --host --json --verbose --quiet" -- "$cur"))
        fi
        [[ ${COMPREPLY-} == *= ]] && compopt -o nospace 2>/dev/null
        return
    fi

    case $cmd in
        "")
            COMPREPLY=($(compgen -W "$_vbdctl_commands" -- "$cur"))
            ;;
        sim)
            COMPREPLY=($(compgen -W "$_vbdctl_sim_commands" -- "$cur"))
            ;;
        list)
            ((${#args[@]} == 0)) && _vbdctl_domids
            ;;
        show | check | watch | unbind | bind | rebind)
            case ${#args[@]} in
                0) _vbdctl_domids ;;
                1) _vbdctl_vbds "${args[0]}" ;;
            esac
            ;;
        history)
            if ((${#args[@]} == 0)); then
                local IFS=$'\n'
                COMPREPLY=($(compgen -W "$(_vbdctl_query runs)" -- "$cur"))
            fi
            ;;
        "sim fault")
            if ((${#args[@]} == 0)); then
                COMPREPLY=($(compgen -W "$(_vbdctl_query fault-kinds) list clear" -- "$cur"))
                return
            fi
            if [[ " $(_vbdctl_query fault-kinds vbd | tr '\n' ' ') " == *" ${args[0]} "* ]]; then
                case ${#args[@]} in
                    1) _vbdctl_domids ;;
                    2) _vbdctl_vbds "${args[1]}" ;;
                esac
            elif [[ " $(_vbdctl_query fault-kinds domid | tr '\n' ' ') " == *" ${args[0]} "* ]]; then
                ((${#args[@]} == 1)) && _vbdctl_domids
            fi
            ;;
    esac
} &&
    complete -F _vbdctl vbdctl

# ex: filetype=sh
