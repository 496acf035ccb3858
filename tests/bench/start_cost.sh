#!/bin/bash
# What starting vbdctl costs, counted rather than timed (this machine is shared and noisy):
# instructions executed (valgrind's callgrind) and minor page faults, for `--version`,
# `list` on this machine (without Xen it stops where it would open the host: start,
# parsing, loading the adapters) and `--host sim list`. LD_BIND_NOW=1, as the Debian
# package's hardening (bindnow) links it. With a second binary (an older build), both are
# counted in the same run, with the ratio new/old. Figures, not a test.
#
#   tests/bench/start_cost.sh build/cli/vbdctl [OLD/vbdctl]     (needs valgrind)
set -euo pipefail
new=${1:?usage: start_cost.sh VBDCTL [OLD_VBDCTL]}
old=${2:-}
command -v valgrind >/dev/null || { echo "start_cost: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
export LD_BIND_NOW=1 VBDCTL_HOST=local
out=$(mktemp); trap 'rm -f "$out"' EXIT

instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>"$out" >/dev/null || true
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out"
}
faults() { { /usr/bin/time -f %R "$@" 2>&1 >/dev/null || true; } | tail -1; }

printf '%-18s %12s %8s' command instructions faults
[[ -n $old ]] && printf ' %12s %8s %6s' old-instr old-flt ratio
echo
for args in "--version" "list" "--host sim list"; do
    read -ra argv <<<"$args"
    i=$(instructions "$new" "${argv[@]}"); f=$(faults "$new" "${argv[@]}")
    printf '%-18s %12s %8s' "$args" "$i" "$f"
    if [[ -n $old ]]; then
        oi=$(instructions "$old" "${argv[@]}"); of=$(faults "$old" "${argv[@]}")
        printf ' %12s %8s %6.2f' "$oi" "$of" "$(awk -v a="$i" -v b="$oi" 'BEGIN { print a / b }')"
    fi
    echo
done
