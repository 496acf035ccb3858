#!/bin/bash
# scale: vbdctl's inventory against dom0's real xenstored holding a synthetic tree, no guest.
# For each N in --sizes (default 100,1000,5000), the tree grows to N vbds: the backend
# and frontend nodes libxl, blkback and blkfront write for a Connected disk (copied from
# tests/data/lab-traces), two disks per domid, for domids from 10000 up that do not exist, so
# the vbds have no sysfs device and no grant to map. Then `vbdctl list --json` against
# `xenstore-ls -f /local/domain` (which reads the same nodes and more), medians of 3 at
# 100 vbds and one run above (under TCG, xenstore-ls over 1000 vbds takes 75 s), and the
# number of requests each sends, counted in xenstored's own trace (`xenstore-control log`).
# Writing the tree costs ~2.5 ms per node under TCG: 5000 vbds take ~9 min.
# results.json: sizes[{n, runs, vbdctl_s, xenstore_ls_s, ratio, vbdctl_requests, xenstore_ls_requests,
# listed, absent_devices}], per_vbd_growth, writes[{from, to, s}] (the tree written in steps
# of 500 vbds), ok.
set -u
. /lab/lib.sh
SIZES="100 1000 5000"
while [ $# -gt 0 ]; do
  case $1 in
    --sizes) SIZES=${2//,/ }; shift 2 ;;
    *) lab_fail "scale: unknown argument $1"; shift ;;
  esac
done
[ -n "${VBDCTL:-}" ] || { lab_fail "scale needs the vbdctl packages (--debs, or their dpkg -i failed: vbdctl-dpkg.log)"; printf '{"scenario":"scale","ok":false,"error":"vbdctl is not installed"}\n' > "$OUT/results.json"; exit 1; }
S=$OUT/scale; mkdir -p "$S"

# nodes VBD_FROM VBD_TO: "path value" argument pairs, NUL-separated, for vbds [FROM, TO)
nodes() {
  python3 - "$1" "$2" <<'PY'
import sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1]), int(sys.argv[2])):
    d, dev, vdev = 10000 + i // 2, 51712 + 16 * (i % 2), "xvda" if i % 2 == 0 else "xvdb"
    be, fe = f"/local/domain/0/backend/vbd/{d}/{dev}", f"/local/domain/{d}/device/vbd/{dev}"
    for k, v in [("frontend", fe), ("params", f"/dev/vg0/guest{d}-{vdev}"), ("script", "/etc/xen/scripts/block"),
                 ("frontend-id", d), ("online", 1), ("removable", 0), ("bootable", 1), ("state", 4), ("dev", vdev),
                 ("type", "phy"), ("mode", "w"), ("device-type", "disk"), ("discard-enable", 1),
                 ("specification", "xen"), ("feature-max-indirect-segments", 256), ("multi-queue-max-queues", 2),
                 ("max-ring-page-order", 4), ("physical-device", f"fe:{i % 256:x}"),
                 ("physical-device-path", f"/dev/dm-{i}"), ("hotplug-status", "connected"),
                 ("feature-flush-cache", 1), ("discard-granularity", 4096), ("discard-alignment", 0),
                 ("discard-secure", 0), ("feature-discard", 1), ("feature-barrier", 1),
                 ("feature-persistent", 1), ("sectors", 524288), ("info", 0), ("sector-size", 512),
                 ("physical-sector-size", 512)]:
        out.write(f"{be}/{k}\0{v}\0".encode())
    for k, v in [("backend", be), ("backend-id", 0), ("state", 4), ("virtual-device", dev),
                 ("device-type", "disk"), ("trusted", 1), ("protocol", "x86_64-abi"), ("ring-ref", 8 + 2 * i),
                 ("event-channel", 15 + i), ("feature-persistent", 1)]:
        out.write(f"{fe}/{k}\0{v}\0".encode())
PY
}

# requests CMD...: runs CMD with xenstored tracing on; prints how many requests arrived
TRACE=/tmp/xenstored-trace.log
requests() {
  : > "$TRACE"
  if ! { xenstore-control logfile "$TRACE" && xenstore-control log on; } >/dev/null 2>&1; then
    "$@" >/dev/null 2>&1; echo null; return
  fi
  "$@" >/dev/null 2>&1
  xenstore-control log off >/dev/null 2>&1
  # Xen 4.17 writes "IN 0x... ", later ones prefix a timestamp or "io: " (a sample is kept)
  head -n 5 "$TRACE" > "$S/xenstored-trace-sample.txt"
  grep -cE '(^|[ :])IN ' "$TRACE"
}

# secs_since T0: seconds since $EPOCHREALTIME was T0 (no bc in dom0)
secs_since() { awk -v a="$EPOCHREALTIME" -v b="$1" 'BEGIN {printf "%.4f", a - b}'; }

# timed REPS CMD...: seconds, the median of REPS runs (stdout of the last run in $S/last.out)
timed() {
  local t0 a=() reps=$1; shift
  for ((r = 0; r < reps; r++)); do
    t0=$EPOCHREALTIME
    "$@" > "$S/last.out" 2>"$S/last.err"
    a+=("$(secs_since "$t0")")
  done
  printf '%s\n' "${a[@]}" | sort -n | sed -n "$(( (reps + 1) / 2 ))p"
}

have=0 rows="" writes=""
for n in $SIZES; do
  # in steps of at most 500 vbds, each timed: how writing grows shows step by step
  lab_log "scale: writing vbds $have..$n"
  t0=$EPOCHREALTIME
  while [ "$have" -lt "$n" ]; do
    to=$((have + 500)); [ "$to" -gt "$n" ] && to=$n
    t1=$EPOCHREALTIME
    nodes "$have" "$to" | xargs -0 -n 2000 xenstore-write || lab_fail "xenstore-write of vbds $have..$to failed"
    w=$(secs_since "$t1")
    lab_log "scale: vbds $have..$to written in $w s"
    writes+="${writes:+,}{\"from\":$have,\"to\":$to,\"s\":$w}"
    have=$to
  done
  lab_log "scale: tree of $n vbds, this part written in $(secs_since "$t0") s"
  reps=1; [ "$n" -le 100 ] && reps=3
  tv=$(timed $reps "$VBDCTL" list --json); cp "$S/last.out" "$S/list-$n.json"; notes=$(grep -c . "$S/last.err")
  tx=$(timed $reps xenstore-ls -f /local/domain)
  # counted up to 1000 vbds: each count runs both commands once more (at 5000 vbds on
  # Xen 4.20, 102 s and 490 s), and the counts are linear in N (A, 100 and 1000)
  rv=null rx=null
  if [ "$n" -le 1000 ]; then
    rv=$(requests "$VBDCTL" list --json)
    rx=$(requests xenstore-ls -f /local/domain)
  fi
  listed=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(1 for v in d["vbds"] if v["domid"] >= 10000))' "$S/list-$n.json" 2>/dev/null || echo null)
  absent=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(1 for v in d["vbds"] if v["domid"] >= 10000 and not v["device_present"]))' "$S/list-$n.json" 2>/dev/null || echo null)
  # --json prints problems inside the document: a line on stderr is a library talking
  [ "$notes" = 0 ] || lab_fail "scale $n: vbdctl list --json wrote $notes lines on stderr, the first: $(head -n1 "$S/last.err")"
  [ "$listed" = "$n" ] || lab_fail "scale $n: vbdctl listed $listed synthetic vbds"
  [ "$absent" = "$n" ] || lab_fail "scale $n: $absent of $n synthetic vbds shown without a sysfs device"
  "$VBDCTL" show 10000 xvda > "$S/show-$n.txt" 2>&1 || lab_fail "scale $n: vbdctl show 10000 xvda exited $?"
  lab_log "scale $n: vbdctl list --json ${tv}s ($rv requests, $notes lines on stderr), xenstore-ls -f ${tx}s ($rx requests)"
  rows+="${rows:+,}{\"n\":$n,\"runs\":$reps,\"vbdctl_s\":$tv,\"xenstore_ls_s\":$tx,\"ratio\":$(awk -v a="$tv" -v b="$tx" 'BEGIN {printf "%.3f", a / b}'),\"vbdctl_requests\":$rv,\"xenstore_ls_requests\":$rx,\"listed\":$listed,\"absent_devices\":$absent}"
done
python3 - "$OUT/results.json" "[$rows]" "$OUT/failures.txt" "[$writes]" <<'PY'
import json, os, sys
path, rows, failures, writes = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
fails = open(failures).read().splitlines() if os.path.exists(failures) else []
growth = None
if len(rows) > 1:
    a, b = rows[0], rows[-1]
    growth = round((b["vbdctl_s"] / b["n"]) / (a["vbdctl_s"] / a["n"]), 3)
json.dump({"scenario": "scale", "ok": not fails and bool(rows), "sizes": rows,
           "per_vbd_growth": growth, "writes": writes, "failures": fails}, open(path, "w"), indent=1)
PY
cat "$OUT/results.json"
