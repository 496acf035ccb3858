#!/bin/bash
# bench: guest-visible stall per disruption at N vbds (default N = 1, 8, 32), one guest per N
# (created with its I/O disks, the others attached one `xl block-attach` at a time), all in one
# boot, stock module throughout (every procedure reloads what modprobe resolves = the stock
# module; vbdctl with --force, else upgrade-backend is a no-op). Procedures, interleaved, REPS
# times per N:
#   a   the kernel patch's manual procedure: unbind every vbd; sleep 5; rmmod; modprobe; sleep 3
#       (then wait until every vbd is Connected again)
#   b   raw floor: unbind every vbd; rmmod; modprobe (autoprobe binds); until Connected
#   bs  raw, sysfs binds: drivers_autoprobe 0; unbind every vbd; rmmod; modprobe; bind every
#       vbd by sysfs, one write after the other; autoprobe 1; until Connected
#   bc  the same with every unbind write, then every bind write, issued concurrently (one
#       background subshell per vbd, then wait)
#   c   vbdctl upgrade-backend --yes --force --timeout 120
# Guest: fio verify + write/read probe on xvdb (N = 1) or xvdb, xvdc; every other disk (16 MiB)
# gets a read-only probe; every probe runs every PROBE_MS and records every I/O's latency
# (guest/init, probe.c), dumped at the guest's poweroff and matched here (analyze.py
# --latency) against each disruption's window and a baseline window before it.
# The idle disks get one page / one queue rings (LAB_SMALL_RINGS) like xvdb.
# A disruption's figures (results-nN.json latency.events): p50 / p99 / max of every probe I/O
# of every vbd overlapping its window, the same for the baseline, and the worst per-vbd stall
# (the largest max of one vbd). results.json: per N and procedure the medians over the reps,
# ratios c/b and a/c, growth with N, the sysfs write phases of b / bs / bc
# (bench-phases.tsv) and vbdctl's step times (bench-steps.tsv, from its --json).
# Args: --ns 1,8,32, --reps N[,N...] (3; a list: per N, the last one repeats),
#       --probe-ms MS[,MS...] (100,100,400: the same ~80 probes/s in all at 8 and 32 vbds; at
#       100 ms on 32 disks the probes alone loaded the guest and dom0 so much that the guest's
#       shutdown took minutes), --gap S between disruptions (8), --procs a,b,bs,bc,c
set -u
. /lab/lib.sh
REPS="3" GAP=8 NS="1 8 32" PROCS="a b bs bc c" PROBE_MS="100 100 400"
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS=${2//,/ }; shift 2 ;;
    --gap) GAP=$2; shift 2 ;;
    --ns) NS=${2//,/ }; shift 2 ;;
    --procs) PROCS=${2//,/ }; shift 2 ;;
    --probe-ms) PROBE_MS=${2//,/ }; shift 2 ;;
    *) shift ;;
  esac
done
[ -n "${VBDCTL:-}" ] || lab_fail "bench needs the vbdctl packages (procedure c)"
lab_use_depmod stock
PHASES=$OUT/bench-phases.tsv STEPS=$OUT/bench-steps.tsv TIMES=$OUT/bench-times.tsv
printf 'n\tkind\trep\tunbind_ms\treload_ms\tbind_ms\tconnect_ms\ttotal_ms\n' > "$PHASES"
printf 'n\tkind\trep\tstep\tms\n' > "$STEPS"
printf 'n\twhat\tms\n' > "$TIMES"
AUTOPROBE_F=/sys/bus/xen-backend/drivers_autoprobe

# ms between two $EPOCHREALTIME values (always 6 decimals), no fork
ms_between() { echo $(( (${2/./} - ${1/./}) / 1000 )); }
# disk names of a guest with N disks: xvdb, xvdc, ... xvdz, xvdaa, ...
disk_names() {
  local n=$1 i out="" x
  for ((i = 1; i <= n; i++)); do
    if [ $i -lt 26 ]; then printf -v x "\\x$(printf %x $((97 + i)))"; out+=" xvd$x"
    else
      local h l; printf -v h "\\x$(printf %x $((96 + i / 26)))"; printf -v l "\\x$(printf %x $((97 + i % 26)))"
      out+=" xvd$h$l"
    fi
  done
  echo "${out# }"
}
# this guest's vbds in devid order, which is the order they were attached in, the order the
# kernel's device list (modprobe's autoprobe) and vbdctl's plan take them: the raw procedures
# unbind them in that order too (a glob's order puts the extended ids, xvdq and up, first:
# unbound first and bound last, their stalls were the longest at 32 vbds)
all_vbds() { local v; for v in "$DEVS"/vbd-"$DOMID"-*; do echo "${v##*/}"; done | sort -t- -k3,3n; }

# bench_wait_bound VBD...: until every VBD is bound and its backend state 4 again, polled
# cheaply (every 0.25 s: the driver links by builtins, one xenstore-read for the linked ones;
# lab_wait_bound forks dmesg, tail and a grep per vbd every 50 ms, which at 32 vbds loaded dom0
# enough to slow the reconnects it measures). Safe without dmesg here: each caller starts it
# after its modprobe / bind writes returned, and probe has written InitWait (2) by then, so a
# 4 is connect()'s. Afterwards one dmesg: every vbd must have a new "using N queues" line.
# Sets BOUND_AT[VBD] (wall time of the poll that saw it).
bench_wait_bound() {
  local left=("$@") next cand paths vals v id msg i now deadline=$((SECONDS + ${LAB_BIND_TIMEOUT:-180}))
  declare -A done_=()
  for v in "$@"; do unset "BOUND_AT[$v]"; done
  while [ ${#left[@]} -gt 0 ] && [ $SECONDS -lt $deadline ]; do
    cand=() paths=()
    for v in "${left[@]}"; do
      [ -L "$DEVS/$v/driver" ] || continue
      id=${v#vbd-}
      cand+=("$v") paths+=("/local/domain/0/backend/vbd/${id%%-*}/${id#*-}/state")
    done
    if [ ${#cand[@]} -gt 0 ]; then
      mapfile -t vals < <(xenstore-read "${paths[@]}" 2>/dev/null)
      now=$EPOCHREALTIME
      for i in "${!cand[@]}"; do [ "${vals[i]:-}" = 4 ] && { BOUND_AT[${cand[i]}]=$now; done_[${cand[i]}]=1; }; done
    fi
    next=()
    for v in "${left[@]}"; do [ -n "${done_[$v]:-}" ] || next+=("$v"); done
    left=("${next[@]}")
    [ ${#left[@]} -gt 0 ] && lab_sleep 0.25
  done
  if [ ${#left[@]} -gt 0 ]; then
    lab_fail "${left[*]} not bound+connected after ${LAB_BIND_TIMEOUT:-180} s"
    return 1
  fi
  msg=$(dmesg | tail -n +$((DMESG_N + 1)))
  for v in "$@"; do
    id=${v#vbd-}
    [[ $msg == *"backend/vbd/${id%%-*}/${id#*-}: using"* ]] || lab_fail "$v: state 4 but no new 'using N queues' line from blkback"
  done
  return 0
}

# sysfs_write FILE MODE VBD...: one write after the other (ser) or all at once (con)
sysfs_write() {
  local f=$1 mode=$2 v pids=()
  shift 2
  if [ "$mode" = con ]; then
    for v in "$@"; do { echo "$v" > "$f" || echo "$v: write to $f failed" >> "$OUT/failures.txt"; } & pids+=($!); done
    wait "${pids[@]}"
  else
    for v in "$@"; do echo "$v" > "$f" || lab_fail "$v: write to $f failed"; done
  fi
}

# raw KIND REP MODE SLEEP_AFTER_UNBIND SLEEP_AFTER_MODPROBE; MODE auto (modprobe's autoprobe
# binds), ser or con (autoprobe off, sysfs binds one after the other / concurrently)
raw() {
  local kind=$1 rep=$2 mode=$3 v t0 tu tr tb te vs
  mapfile -t vs < <(all_vbds)
  lab_dmesg_mark
  [ "$mode" = auto ] || echo 0 > $AUTOPROBE_F
  t0=$EPOCHREALTIME
  sysfs_write "$DRV/unbind" "${mode/auto/ser}" "${vs[@]}"
  tu=$EPOCHREALTIME
  [ "$4" = 0 ] || sleep "$4"
  lab_rmmod >/dev/null || { echo 1 > $AUTOPROBE_F; return 1; }
  modprobe xen-blkback || { lab_fail "$kind: modprobe failed"; echo 1 > $AUTOPROBE_F; return 1; }
  tr=$EPOCHREALTIME
  [ "$mode" = auto ] || { sysfs_write "$DRV/bind" "$mode" "${vs[@]}"; echo 1 > $AUTOPROBE_F; }
  tb=$EPOCHREALTIME
  [ "$5" = 0 ] || sleep "$5"
  bench_wait_bound "${vs[@]}" || return 1
  te=$t0
  for v in "${vs[@]}"; do
    printf '%s\t%s\t%s\t%s\t%s\n' "$kind" "$v" "$t0" "${BOUND_AT[$v]}" "$(ms_between "$t0" "${BOUND_AT[$v]}")" >> "$DISRUPTIONS"
    [ "${BOUND_AT[$v]/./}" -gt "${te/./}" ] && te=${BOUND_AT[$v]}
  done
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$N" "$kind" "$rep" "$(ms_between "$t0" "$tu")" "$(ms_between "$tu" "$tr")" \
    "$(ms_between "$tr" "$tb")" "$(ms_between "$tb" "$te")" "$(ms_between "$t0" "$te")" >> "$PHASES"
  lab_log "$kind: ${#vs[@]} vbds, unbind writes $(ms_between "$t0" "$tu") ms, rmmod+modprobe $(ms_between "$tu" "$tr") ms, bind writes $(ms_between "$tr" "$tb") ms, all Connected after $(ms_between "$t0" "$te") ms"
}

# vbdctl KIND REP: one disruption row per vbd, window = the steps (window_ms) ending at exit
vbdctl_c() {
  local kind=$1 rep=$2 name=bench-n$N-$1-$2 w p
  vb "$name" upgrade-backend --yes --force --timeout 120 ||
    lab_fail "$kind: vbdctl upgrade-backend exit $VB_RC: $(tail -n 3 "$VBDCTL_OUT/$name.err" | tr '\n' ' ')"
  # one python start: "window_ms", then "vbd-D-N:unbound_ms" and "step:STEP:ms" words
  local words
  mapfile -t words < <(python3 - "$VBDCTL_OUT/$name.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(d.get("window_ms") or 0)
for v in d.get("vbds") or []:
    print("vbd-%d-%d:%s" % (v["domid"], v["devid"], v.get("unbound_ms")))
for s in d.get("steps") or []:
    print("step:%s:%s" % (s["name"], s["ms"]))
PY
)
  w=${words[0]:-0}
  local t0=$(( ${VB_T1/./} - w * 1000 ))
  t0=${t0:0:-6}.${t0: -6}
  for p in "${words[@]:1}"; do
    case "$p" in
      step:*) p=${p#step:}; printf '%s\t%s\t%s\t%s\t%s\n' "$N" "$kind" "$rep" "${p%%:*}" "${p#*:}" >> "$STEPS" ;;
      vbd-*:*[0-9]) printf '%s\t%s\t%s\t%s\t%s\n' "$kind" "${p%%:*}" "$t0" "$VB_T1" "${p#*:}" >> "$DISRUPTIONS" ;;
    esac
  done
}

run_proc() {   # PROC REP
  case "$1" in
    a) raw a "$2" auto 5 3 ;;
    b) raw b "$2" auto 0 0 ;;
    bs) raw bs "$2" ser 0 0 ;;
    bc) raw bc "$2" con 0 0 ;;
    c) vbdctl_c c "$2" ;;
    *) lab_fail "unknown procedure $1" ;;
  esac
}

# nth WORDS I: the I-th word (from 0) of WORDS, or its last
nth() { local w; read -r -a w <<<"$1"; if [ "$2" -lt ${#w[@]} ]; then echo "${w[$2]}"; else echo "${w[-1]}"; fi; }
export LAB_SHUTDOWN_TIMEOUT=900   # 32 vbds: the guest's poweroff and the vbds' teardown take minutes
PHASE_FILES=()
REPS_ALL=$REPS PI=0
for N in $NS; do
  REPS=$(nth "$REPS_ALL" $PI) PMS=$(nth "$PROBE_MS" $PI)
  PI=$((PI + 1))
  lab_set_guest "bench$N" "-n$N"
  RESULTS=$OUT/results-n$N.json
  DISRUPTIONS=$OUT/disruptions-n$N.tsv
  LAB_DISKS=$(disk_names "$N")
  if [ "$N" = 1 ]; then LAB_IO_DISKS=xvdb; else LAB_IO_DISKS="xvdb xvdc"; fi
  LAB_SMALL_RINGS=$(for d in $LAB_DISKS; do [ "$d" = xvdc ] || echo "$d"; done)
  LAB_GUEST_EXTRA="labprobems=$PMS labndisks=$N"
  export LAB_DISKS LAB_IO_DISKS LAB_SMALL_RINGS LAB_GUEST_EXTRA
  lab_log "phase N=$N: disks $LAB_DISKS"
  t_create=$EPOCHREALTIME
  if ! lab_start_guest; then lab_fail "N=$N: guest not started"; break; fi
  t_unpaused=$EPOCHREALTIME
  printf '%s\tcreate_and_attach\t%s\n' "$N" "$(ms_between "$t_create" "$t_unpaused")" >> "$TIMES"
  if lab_wait_guest_io 900; then
    printf '%s\tunpause_to_io\t%s\n' "$N" "$(ms_between "$t_unpaused" "$EPOCHREALTIME")" >> "$TIMES"
    [ "$N" = 1 ] || lab_check_geometry
    lab_log "phase N=$N: $(all_vbds | wc -l) vbds; $(grep -m1 'GUEST PROBES' "$GUEST_LOG")"
    lab_sleep "$GAP"
    for ((r = 1; r <= REPS; r++)); do
      for p in $PROCS; do
        lab_log "N=$N rep $r/$REPS: $p"
        run_proc "$p" "$r"
        lab_sleep "$GAP"
      done
    done
    printf '%s\tprocedures\t%s\n' "$N" "$(ms_between "$t_unpaused" "$EPOCHREALTIME")" >> "$TIMES"
  fi
  lab_stop_guest
  # the probes' latency records, dumped by the guest's poweroff onto xvdb at 224 MiB
  mkdir -p "$OUT/lat-n$N"
  dd if=/var/lib/lab/$GUEST-xvdb.img bs=1M skip=224 count=32 status=none | tar -x -C "$OUT/lat-n$N" 2>/dev/null
  lab_log "N=$N: $(ls "$OUT/lat-n$N" | wc -l) latency files, $(cat "$OUT/lat-n$N"/lat-* 2>/dev/null | wc -l) records"
  LAB_LATENCY=$OUT/lat-n$N lab_results "bench-n$N" "{\"vbds\": $N, \"reps\": $REPS, \"probe_ms\": $PMS}" > /dev/null
  PHASE_FILES+=("$RESULTS")
  xl destroy "$GUEST" 2>/dev/null
  for d in $LAB_DISKS; do
    losetup -j "/var/lib/lab/$GUEST-$d.img" | cut -d: -f1 | xargs -r losetup -d
    rm -f "/var/lib/lab/$GUEST-$d.img"
  done
done

python3 - "$OUT/results.json" "$REPS_ALL" "$NS" "$PROCS" "$PHASES" "$STEPS" "$TIMES" "${PHASE_FILES[@]}" <<'PY'
import csv, json, statistics, sys
out, reps, ns, procs, phases_f, steps_f, times_f = sys.argv[1:8]
ns = [int(n) for n in ns.split()]; procs = procs.split()
reps = [int(x) for x in reps.split()]
reps_of = lambda i: reps[i] if i < len(reps) else reps[-1]
phase = {}
for f in sys.argv[8:]:
    r = json.load(open(f))
    phase[int(r.get("vbds"))] = r
med = lambda xs: statistics.median(xs) if xs else None
names = {"a": "manual: unbind all; sleep 5; rmmod; modprobe; sleep 3",
         "b": "raw floor: unbind all; rmmod; modprobe (autoprobe binds)",
         "bs": "raw, sysfs binds one after the other (autoprobe off)",
         "bc": "raw, every unbind and every bind write issued concurrently (autoprobe off)",
         "c": "vbdctl upgrade-backend --yes --force"}
per = {}
for n, r in sorted(phase.items()):
    evs = (r.get("latency") or {}).get("events") or []
    if not evs:
        # no latency records (the guest's dump did not happen): the probes' STALL lines
        # (only I/Os over 300 ms; 0 = none) give the worst per-vbd stall, nothing else
        ev = {}
        for d in r.get("disruptions", []):
            e = ev.setdefault((d["kind"], d["start_wall"]), [])
            e.append((d["guest_stall_ms"], d["disk"]))
        none = {"n": 0, "p50": None, "p99": None, "max": None}
        evs = [{"kind": k, "start_wall": s, "worst_vbd_stall_ms": max(v)[0], "worst_vbd": max(v)[1],
                "median_vbd_stall_ms": statistics.median(x for x, _ in v), "latency_ms": none,
                "baseline_ms": none, "source": "STALL lines (> 300 ms)"} for (k, s), v in sorted(ev.items())]
    for p in procs:
        e = [x for x in evs if x["kind"] == p]
        g = lambda k, s: [x[k][s] for x in e if x[k][s] is not None]
        per.setdefault(str(n), {})[p] = {
            "events": len(e),
            "worst_vbd_stall_ms": [x["worst_vbd_stall_ms"] for x in e],
            "worst_vbd": [x["worst_vbd"] for x in e],
            "median": {"worst_vbd_stall_ms": med([x["worst_vbd_stall_ms"] for x in e if x["worst_vbd_stall_ms"] is not None]),
                       "median_vbd_stall_ms": med([x["median_vbd_stall_ms"] for x in e if x["median_vbd_stall_ms"] is not None]),
                       "p50_ms": med(g("latency_ms", "p50")), "p99_ms": med(g("latency_ms", "p99")),
                       "max_ms": med(g("latency_ms", "max")),
                       "baseline_p50_ms": med(g("baseline_ms", "p50")), "baseline_p99_ms": med(g("baseline_ms", "p99")),
                       "baseline_max_ms": med(g("baseline_ms", "max"))}}
def rows(f):
    with open(f) as fh:
        return list(csv.DictReader(fh, delimiter="\t"))
for x in rows(phases_f):
    d = per.setdefault(x["n"], {}).setdefault(x["kind"], {})
    for k in ("unbind_ms", "reload_ms", "bind_ms", "connect_ms", "total_ms"):
        d.setdefault("phases", {}).setdefault(k, []).append(int(x[k]))
steps = {}
for x in rows(steps_f):
    steps.setdefault(x["n"], {}).setdefault(x["step"], []).append(int(x["ms"]))
for n, d in per.items():
    for p, v in d.items():
        if "phases" in v:
            v["median_phases_ms"] = {k: med(xs) for k, xs in v["phases"].items()}
ratio = lambda x, y: round(x / y, 2) if x is not None and y else None
ratios = {}
for n in per:
    s = {p: per[n].get(p, {}).get("median", {}).get("worst_vbd_stall_ms") for p in procs}
    ratios[n] = {"c_over_b": ratio(s.get("c"), s.get("b")), "a_over_c": ratio(s.get("a"), s.get("c")),
                 "c_over_bs": ratio(s.get("c"), s.get("bs")), "bc_over_bs": ratio(s.get("bc"), s.get("bs")),
                 "c_over_best_raw": ratio(s.get("c"), min([s[k] for k in ("b", "bs", "bc") if s.get(k)], default=None))}
# paired: the procedures of one rep ran back to back, so under a host whose load comes and
# goes the per-rep ratio is steadier than the ratio of medians
paired = {}
for n in per:
    def pr(x, y):
        xs, ys = per[n].get(x, {}).get("worst_vbd_stall_ms", []), per[n].get(y, {}).get("worst_vbd_stall_ms", [])
        rs = [round(a / b, 2) for a, b in zip(xs, ys) if a is not None and b]
        return {"per_rep": rs, "median": med(rs)}
    paired[n] = {"c_over_b": pr("c", "b"), "a_over_c": pr("a", "c"), "bc_over_bs": pr("bc", "bs"), "c_over_bs": pr("c", "bs")}
growth = {}
base = str(min(ns)) if ns else None
for p in procs:
    b0 = per.get(base, {}).get(p, {}).get("median", {}).get("worst_vbd_stall_ms") if base else None
    growth[p] = {n: ratio(per[n].get(p, {}).get("median", {}).get("worst_vbd_stall_ms"), b0) for n in per}
times = {}
for x in rows(times_f):
    times.setdefault(x["n"], {})[x["what"]] = int(x.get("ms") or x.get("s"))
ok = all(r.get("ok") is True for r in phase.values()) and sorted(phase) == sorted(ns) and \
    all(per.get(str(n), {}).get(p, {}).get("events", 0) >= reps_of(i) for i, n in enumerate(ns) for p in procs)
res = {"scenario": "bench", "ok": ok, "reps": {str(n): reps_of(i) for i, n in enumerate(ns)},
       "probe_ms": {str(n): r.get("probe_ms") for n, r in phase.items()}, "ns": ns, "procedures": {p: names.get(p, p) for p in procs},
       "per_n": per, "ratios_of_median_worst_vbd_stall": ratios, "paired_ratios_worst_vbd_stall": paired, "growth_over_smallest_n": growth,
       "vbdctl_step_ms_median": {n: {k: med(v) for k, v in s.items()} for n, s in steps.items()},
       "vbdctl_step_ms": steps, "phase_times_ms": times,
       "verify_errors": sum(r.get("verify_errors") or 0 for r in phase.values()) if all(r.get("verify_errors") is not None for r in phase.values()) else None,
       "io_errors": sum(r.get("io_errors") or 0 for r in phase.values()) if all(r.get("io_errors") is not None for r in phase.values()) else None,
       "probe_mismatches": sum(r.get("probe_mismatches") or 0 for r in phase.values()) if all(r.get("probe_mismatches") is not None for r in phase.values()) else None,
       "phase_ok": {str(n): r.get("ok") for n, r in phase.items()},
       "failures": sorted({f for r in phase.values() for f in r.get("failures", [])}),
       "note": "stall = the longest probe I/O of one vbd overlapping the disruption's window (every I/O "
               "recorded, none under a threshold); worst_vbd_stall_ms = the largest over the vbds; p50/p99/max "
               "pool every probe I/O of every vbd in the window; baseline: the 10 s before, clear of every "
               "window; see results-nN.json"}
json.dump(res, open(out, "w"), indent=1, sort_keys=True)
fmt = lambda v: "-" if v is None else ("%d" % v if isinstance(v, (int, float)) else str(v))
lines = ["BENCH N proc worst_vbd_stall(median) median_vbd_stall p50 p99 max | baseline p50 p99 max | stalls per rep"]
for n in sorted(per, key=int):
    for p in procs:
        m = per[n].get(p, {}).get("median", {})
        lines.append("BENCH %s %s %s %s %s %s %s | %s %s %s | %s" % (n, p, fmt(m.get("worst_vbd_stall_ms")), fmt(m.get("median_vbd_stall_ms")),
                     fmt(m.get("p50_ms")), fmt(m.get("p99_ms")), fmt(m.get("max_ms")), fmt(m.get("baseline_p50_ms")),
                     fmt(m.get("baseline_p99_ms")), fmt(m.get("baseline_max_ms")),
                     " ".join(fmt(x) for x in per[n].get(p, {}).get("worst_vbd_stall_ms", []))))
    lines.append("BENCH %s ratios of medians %s" % (n, json.dumps(ratios.get(n))))
    lines.append("BENCH %s paired ratios (per rep) %s" % (n, json.dumps({k: v["per_rep"] for k, v in paired.get(n, {}).items()})))
print("\n".join(lines), file=sys.stderr)
print(json.dumps({k: res[k] for k in ("ok", "ratios_of_median_worst_vbd_stall", "growth_over_smallest_n", "vbdctl_step_ms_median")}))
PY
