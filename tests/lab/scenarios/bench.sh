#!/bin/bash
# bench: guest-visible stall per disruption, all in one boot, stock module throughout
# (every procedure reloads what modprobe resolves = the stock module):
#   a  the seed's manual procedure: unbind every vbd; sleep 5; rmmod; modprobe; sleep 3
#      (then wait until every vbd is Connected again)
#   b  raw floor: unbind every vbd; rmmod; modprobe; until every vbd is Connected
#   c  vbdctl upgrade-backend --yes
# Phase 1: guest with 8 disks (xvdb, xvdc with fio + probe; xvdd..xvdi idle, 16 MiB):
#   a, b, c interleaved, REPS times (c here = "c8").
# Phase 2: a second guest with 1 disk (xvdb, fio + probe): b and c interleaved ("b1", "c1").
# The stall of one disruption = the longest stalled probe I/O on any probed disk
# matched to it (0 = none above the 300 ms report threshold).
# results.json: median_stall_ms / median_unbound_ms / stalls per procedure, ratios
# c/b (8 disks), a/c (8 disks), c8/c1, c1/b1.
# Args: --reps N (default 5), --gap S between disruptions (default 4)
set -u
. /lab/lib.sh
REPS=5 GAP=4
while [ $# -gt 0 ]; do case "$1" in --reps) REPS=$2; shift 2 ;; --gap) GAP=$2; shift 2 ;; *) shift ;; esac; done
[ -n "${VBDCTL:-}" ] || lab_fail "bench needs the vbdctl packages (procedure c)"
lab_use_depmod stock
all_vbds() { local v; for v in "$DEVS"/vbd-$DOMID-*; do basename "$v"; done; }
reload_raw() {   # KIND SLEEP_AFTER_UNBIND SLEEP_AFTER_MODPROBE
  local kind=$1 v t0 vs
  vs=$(all_vbds)
  lab_dmesg_mark
  t0=$(lab_now)
  for v in $vs; do echo "$v" > "$DRV/unbind"; done
  [ "$2" = 0 ] || sleep "$2"
  lab_rmmod >/dev/null || return 1
  modprobe xen-blkback || { lab_fail "$kind: modprobe failed"; return 1; }
  [ "$3" = 0 ] || sleep "$3"
  # shellcheck disable=SC2086
  lab_wait_bound $vs || return 1
  for v in $vs; do lab_disruption "$kind" "$v" "$t0" "${BOUND_AT[$v]}"; done
}
proc_c() {   # KIND
  vb_upgrade "bench-$1-$2" "$1" || lab_fail "$1: vbdctl upgrade-backend exit $VB_RC: $(tail -n 3 "$VBDCTL_OUT/bench-$1-$2.err" | tr '\n' ' ')"
}

# ---------------- phase 1: 8 disks
RESULTS=$OUT/results-8disks.json
DISRUPTIONS=$OUT/disruptions-8disks.tsv
LAB_DISKS="xvdb xvdc xvdd xvde xvdf xvdg xvdh xvdi" LAB_IO_DISKS="xvdb xvdc"
export LAB_DISKS LAB_IO_DISKS
lab_start_guest || lab_abort bench
if lab_wait_guest_io 300; then
  lab_check_geometry
  lab_log "phase 1: $(all_vbds | wc -l) vbds"
  sleep "$GAP"
  for ((r = 1; r <= REPS; r++)); do
    lab_log "rep $r/$REPS: a"; reload_raw a 5 3; sleep "$GAP"
    lab_log "rep $r/$REPS: b"; reload_raw b 0 0; sleep "$GAP"
    lab_log "rep $r/$REPS: c8"; proc_c c8 "$r"; sleep "$GAP"
  done
fi
lab_stop_guest
lab_results bench-8disks '{}' > /dev/null
xl destroy "$GUEST" 2>/dev/null

# ---------------- phase 2: 1 disk
lab_set_guest guest1 -1disk
RESULTS=$OUT/results-1disk.json
DISRUPTIONS=$OUT/disruptions-1disk.tsv
LAB_DISKS="xvdb" LAB_IO_DISKS="xvdb"
lab_start_guest || lab_abort bench
if lab_wait_guest_io 300; then
  lab_log "phase 2: $(all_vbds | wc -l) vbds"
  sleep "$GAP"
  for ((r = 1; r <= REPS; r++)); do
    lab_log "rep $r/$REPS: b1"; reload_raw b1 0 0; sleep "$GAP"
    lab_log "rep $r/$REPS: c1"; proc_c c1 "$r"; sleep "$GAP"
  done
fi
lab_stop_guest
lab_results bench-1disk '{}' > /dev/null

python3 - "$OUT/results-8disks.json" "$OUT/results-1disk.json" "$OUT/results.json" "$REPS" <<'PY'
import json, statistics, sys
r8, r1 = (json.load(open(p)) for p in sys.argv[1:3])
reps = int(sys.argv[4])
def per_proc(res, probed):
    # one figure per disruption event (same start_wall): stall = max over probed disks
    ev = {}
    for d in res.get("disruptions", []):
        k = (d["kind"], d["start_wall"])
        e = ev.setdefault(k, {"stall": 0, "unbound": 0})
        if d["disk"] in probed:
            e["stall"] = max(e["stall"], d["guest_stall_ms"])
        e["unbound"] = max(e["unbound"], d["unbound_ms"])
    out = {}
    for (kind, _), e in sorted(ev.items(), key=lambda x: x[0][1]):
        o = out.setdefault(kind, {"stall_ms": [], "unbound_ms": []})
        o["stall_ms"].append(e["stall"]); o["unbound_ms"].append(e["unbound"])
    return out
procs = per_proc(r8, {"xvdb", "xvdc"})
procs.update(per_proc(r1, {"xvdb"}))
med = {k: statistics.median(v["stall_ms"]) for k, v in procs.items() if v["stall_ms"]}
medu = {k: statistics.median(v["unbound_ms"]) for k, v in procs.items() if v["unbound_ms"]}
def ratio(a, b, m=med):
    return round(m[a] / m[b], 2) if a in m and b in m and m[b] else None
names = {"a": "manual: unbind; sleep 5; rmmod; modprobe; sleep 3 (8 disks)",
         "b": "raw floor: unbind; rmmod; modprobe; until Connected (8 disks)",
         "c8": "vbdctl upgrade-backend --yes (8 disks)",
         "b1": "raw floor (1 disk)", "c1": "vbdctl upgrade-backend --yes (1 disk)"}
res = {"scenario": "bench", "reps": reps,
       "ok": r8.get("ok") is True and r1.get("ok") is True
             and all(len(procs.get(k, {}).get("stall_ms", [])) >= reps for k in names),
       "procedures": names,
       "median_stall_ms": med, "median_unbound_ms": medu,
       "per_procedure": procs,
       "ratios": {"c_over_b": ratio("c8", "b"), "a_over_c": ratio("a", "c8"),
                  "c8_over_c1": ratio("c8", "c1"), "c1_over_b1": ratio("c1", "b1")},
       # the dom0-side window (longest per-vbd unbound_ms of a disruption): how it grows with
       # vbds, also where a 1-disk stall stays under the probe's 300 ms report threshold (0).
       # a/b measure from the first unbind, c from each vbd's own unbind.
       "window_ratios": {"c8_over_c1": ratio("c8", "c1", medu), "b_over_b1": ratio("b", "b1", medu)},
       "verify_errors": (r8.get("verify_errors") or 0) + (r1.get("verify_errors") or 0) if r8.get("verify_errors") is not None and r1.get("verify_errors") is not None else None,
       "io_errors": (r8.get("io_errors") or 0) + (r1.get("io_errors") or 0) if r8.get("io_errors") is not None and r1.get("io_errors") is not None else None,
       "probe_mismatches": (r8.get("probe_mismatches") or 0) + (r1.get("probe_mismatches") or 0) if r8.get("probe_mismatches") is not None and r1.get("probe_mismatches") is not None else None,
       "phase_ok": {"8disks": r8.get("ok"), "1disk": r1.get("ok")},
       "stalls_unmatched": {"8disks": r8.get("stalls_unmatched"), "1disk": r1.get("stalls_unmatched")},
       "failures": sorted(set(r8.get("failures", []) + r1.get("failures", []))),
       "note": "stall = longest probe I/O (every 0.5 s, O_DIRECT|O_SYNC 4 KiB write+read) matched to the disruption; "
               "probe pairs under 300 ms are not reported (0); see results-8disks.json / results-1disk.json"}
json.dump(res, open(sys.argv[3], "w"), indent=1, sort_keys=True)
print(json.dumps({k: res[k] for k in ("ok", "median_stall_ms", "ratios", "median_unbound_ms", "window_ratios")}))
PY
