#!/bin/bash
# What starting vbdctl costs, counted rather than timed (this machine is shared and noisy):
# instructions executed (valgrind's callgrind), minor page faults and, with qemu-user
# installed, distinct blocks of code run (qemu-x86_64 -d in_asm: the blocks TCG translates;
# the lab's QEMU translates them anew in every process, and its dom0's user time follows them,
# ~35 us a block in cell B: tests/lab/README.md "Where list's time goes"), for `--version`,
# `list` on this machine (without Xen it stops where it would open the host: start,
# parsing, loading the adapters) and `--host sim list`. LD_BIND_NOW=1, as the Debian
# package's hardening (bindnow) links it. With a second binary (an older build), both are
# counted in the same run, with the ratio new/old. Figures, not a test.
#
#   tests/bench/start_cost.sh build/cli/vbdctl [OLD/vbdctl]     (needs valgrind; blocks: qemu-user)
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
blocks() {
    command -v qemu-x86_64 >/dev/null || { echo -; return; }
    qemu-x86_64 -d in_asm -D "$out" "$@" >/dev/null 2>&1 || true
    grep -c '^IN:' "$out"
}

printf '%-18s %12s %8s %7s' command instructions faults blocks
[[ -n $old ]] && printf ' %12s %8s %7s %6s' old-instr old-flt old-blk ratio
echo
for args in "--version" "list" "--host sim list"; do
    read -ra argv <<<"$args"
    i=$(instructions "$new" "${argv[@]}"); f=$(faults "$new" "${argv[@]}"); b=$(blocks "$new" "${argv[@]}")
    printf '%-18s %12s %8s %7s' "$args" "$i" "$f" "$b"
    if [[ -n $old ]]; then
        oi=$(instructions "$old" "${argv[@]}"); of=$(faults "$old" "${argv[@]}"); ob=$(blocks "$old" "${argv[@]}")
        printf ' %12s %8s %7s %6.2f' "$oi" "$of" "$ob" "$(awk -v a="$i" -v b="$oi" 'BEGIN { print a / b }')"
    fi
    echo
done
