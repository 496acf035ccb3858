#!/bin/bash
# Drives completions/vbdctl.bash the way bash does (COMP_WORDS split at COMP_WORDBREAKS,
# COMP_CWORD, COMP_LINE, COMP_POINT, then the completion function) with bash-completion
# loaded, and checks what it offers against simulated hosts.
# Usage: bash_completion.sh VBDCTL COMPLETION_FILE WORK_DIR
set -uo pipefail
vbdctl=$1 completion=$2 work=$3

rm -rf "$work"
mkdir -p "$work"
bash_completion=$(pkg-config --variable=prefix bash-completion 2>/dev/null)/share/bash-completion/bash_completion
[[ -f $bash_completion ]] || bash_completion=/usr/share/bash-completion/bash_completion
[[ -f $bash_completion ]] || { echo "bash-completion is not installed" >&2; exit 1; }
# shellcheck disable=SC1090
source "$bash_completion"
# shellcheck disable=SC1090
source "$completion"
complete -p vbdctl >/dev/null || { echo "FAIL: $completion registers no completion for vbdctl" >&2; exit 1; }
func=$(complete -p vbdctl | sed -n 's/.*-F \([^ ]*\) .*/\1/p')

export PATH=$(dirname "$vbdctl"):$PATH
unset VBDCTL_HOST
cd "$work" || exit 1
world=$work/world.state # the default world: domids 1-4, guest 1 has xvda and xvdb
small=$work/small.json
vbdctl --host "sim:$world" sim init -q || exit 1 # a read-only command creates nothing
vbdctl --host "sim:$small" sim init --guests 2 --vbds-per-guest 3 -q || exit 1

# Completes LINE (the cursor at its end) and prints the offers, sorted, on one line.
complete_line() {
    local line=$1 word="" c i
    local -a cwords=()
    for ((i = 0; i < ${#line}; i++)); do
        c=${line:i:1}
        if [[ $c == " " ]]; then
            [[ -n $word ]] && cwords+=("$word")
            word=""
        elif [[ $COMP_WORDBREAKS == *"$c"* ]]; then
            [[ -n $word ]] && cwords+=("$word")
            cwords+=("$c")
            word=""
        else
            word+=$c
        fi
    done
    cwords+=("$word") # the word being completed, maybe empty
    COMP_WORDS=("${cwords[@]}")
    COMP_CWORD=$((${#cwords[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    "$func" vbdctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//'
}

fail=0
expect() {
    local line=$1 want=$2 got
    got=$(complete_line "$line")
    if [[ $got == "$want" ]]; then
        echo "ok: '$line' -> $got"
    else
        echo "FAIL: '$line'" >&2
        echo "   offered:  '$got'" >&2
        echo "   expected: '$want'" >&2
        fail=1
    fi
}

expect "vbdctl " "bind check history list metrics rebind recover show sim status unbind upgrade-backend watch"
expect "vbdctl u" "unbind upgrade-backend"
expect "vbdctl st" "status"
expect "vbdctl --ho" "--host"
expect "vbdctl --host " "local sim sim:"
expect "vbdctl --host sim:$world " "bind check history list metrics rebind recover show sim status unbind upgrade-backend watch"
expect "vbdctl --host sim:$world unbind " "1 2 3 4 db01 installer legacy32 web01"
expect "vbdctl --host sim:$world unbind 1 " "xvda xvdb"
expect "vbdctl --host sim:$world unbind web01 " "xvda xvdb"
expect "vbdctl --host sim:$world unbind 3 " "xvda"
expect "vbdctl --host sim:$world unbind 9 " ""
expect "vbdctl --host sim:$world unbind 1 xvda " ""
expect "vbdctl --host sim:$world unbind --timeout 5 -y 2 " "xvda xvdb"
expect "vbdctl --host=sim:$world show 1 xvd" "xvda xvdb"
expect "vbdctl --host sim:$world bind 4 " "xvda"
expect "vbdctl --host sim:$world check " "1 2 3 4 db01 installer legacy32 web01"
expect "vbdctl --host sim:$world list " "1 2 3 4 db01 installer legacy32 web01"
expect "vbdctl --host sim:$world list 1 " ""
expect "vbdctl unbind --host sim:$world 1 " "xvda xvdb"
expect "vbdctl --host sim:$small unbind 2 " "xvda xvdb xvdc"
expect "vbdctl --host sim:$small watch " "1 2 guest1 guest2"
expect "vbdctl --host sim:$world upgrade-backend --only " "1 2 3 4 db01 installer legacy32 web01"
expect "vbdctl --host sim:$world upgrade-backend --only 2:" "xvda xvdb"
expect "vbdctl --host sim:$world upgrade-backend --only 2:xvdb" "xvdb"
expect "vbdctl --host sim:$world upgrade-backend --ca" "--canary"
expect "vbdctl unbind --" "--accept-hazard --assume-rebind-support --drain-timeout --dry-run --help --host --json --protocol --quiet --timeout --verbose --yes"
expect "vbdctl unbind --protocol " "native x86_32-abi x86_64-abi"
expect "vbdctl --host sim:$world rebind 1 " "xvda xvdb"
expect "vbdctl recover --f" "--from-live"
expect "vbdctl --host sim:$world history " "last"
vbdctl --host "sim:$world" unbind -y -q 1 xvda >/dev/null && vbdctl --host "sim:$world" bind -y -q 1 xvda >/dev/null
expect "vbdctl --host sim:$world history " "19700101T000000.035Z-unbind 19700101T000000.040Z-bind last"
expect "vbdctl history --l" "--limit"
expect "vbdctl metrics --" "--help --host --interval --json --quiet --samples --textfile --verbose"
expect "vbdctl --host sim:$world metrics " ""
expect "vbdctl upgrade-backend --d" "--drain-timeout --dry-run"
expect "vbdctl --host sim:$world sim " "fault guests init param show-modules xs"
expect "vbdctl --host sim:$world sim init --" "--backend-domid --blkback-param --builtin-blkback --compressed-modules --guests --help --host --json --kernel --lockdown --quiet --sig-enforce --vbds-per-guest --verbose"
expect "vbdctl --host sim:$world sim fault " "clear corrupt-ring crash-after-step create-guest destroy-guest detach hang-connect list module-load-fail reconnect-fatal slow-drain stall-ring"
expect "vbdctl --host sim:$world sim fault stall-ring " "1 2 3 4 db01 installer legacy32 web01"
expect "vbdctl --host sim:$world sim fault corrupt-ring 2 " "xvda xvdb"
expect "vbdctl --host sim:$world sim fault slow-drain " ""
expect "vbdctl --host sim:$world sim fault hang-connect " "1 2 3 4 db01 installer legacy32 web01"
expect "vbdctl --host sim:$world sim fault destroy-guest " "1 2 3 4 db01 installer legacy32 web01"
expect "vbdctl --host sim:$world __complete " ""

# Files for sim:FILE (the world and its state directory exist by now).
expect "vbdctl --host sim:$work/wor" "$world $world.d/"
expect "vbdctl metrics --textfile $work/wor" "$world.d"  # directories only

# $VBDCTL_HOST chooses the host when the line does not.
export VBDCTL_HOST=sim:$world
expect "vbdctl unbind " "1 2 3 4 db01 installer legacy32 web01"
expect "vbdctl show 1 " "xvda xvdb"
expect "vbdctl --host sim:$small show 1 " "xvda xvdb xvdc"
unset VBDCTL_HOST

[[ $fail == 0 ]] && echo "bash_completion: ok"
exit $fail
