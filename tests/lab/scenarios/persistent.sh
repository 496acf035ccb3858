#!/bin/bash
# persistent: the persistent-grant hazard of a rebind (XEN-FACTS "Persistent grants across
# a rebind") and vbdctl's protection against it, under guest fio verify.
#
# Setup: xen-blkback reloaded as `feature_persistent=0 max_queues=1` BEFORE the guest starts,
#   so both frontends connect with persistent grants off (backend key feature-persistent=0,
#   frontend's =1); xvdc connects with 1 queue (4 pages), xvdb with 1 page / 1 queue.
# Part A (vbdctl; these checks alone make `ok`):
#   A1 upgrade-backend --param feature_persistent=Y: refused (preflight "persistent grants"),
#      nothing unbound, module and params unchanged, guest console clean.
#   A2 plain upgrade-backend to the updated module: parameters carried over (feature_persistent
#      false, max_queues 1; typed JSON), no feature_persistent row in param_changes, both vbds Connected,
#      console clean, one more verified fio pass.
#   A3 vbdctl unbind xvdb; echo Y > .../feature_persistent; vbdctl bind refused ("persistent
#      grants"), xvdb stays unbound; echo N; vbdctl bind: Connected, console clean, fio pass.
#   A4 upgrade-backend again (same module, same parameters): exit 0, changed false, noop true, no
#      steps key, no reconnect (no new blkback "using N queues" dmesg line, driver links never
#      gone, statistics not reset); then --force: exit 0, changed true, parameters kept, clean.
#   A5 a second guest (512 MB, 1 disk, probe only) created A5_DELAY s after upgrade-backend
#      --force starts: the upgrade exits 0 or rolls back cleanly, the new vbd is bound and both
#      ends Connected within 120 s, guest 1 Connected and clean; results a5.outcome says how
#      the new vbd got bound. The second guest is destroyed before Part B.
# Part B (raw, no vbdctl, informational: `hazard_reproduced`, never part of ok): unbind both,
#   rmmod, modprobe xen-blkback feature_persistent=1, watch the guest console for ~30 s for
#   "backed has not unmapped grant" / "disabled for further use"; dom0's view of both ends.
#   Then the guest is shut down (destroyed if that does not finish: its disks are dead).
# Args: --a5-delay S (default 5): seconds between starting A5's upgrade and `xl create` of the
#   second guest; --a5-memory MB (default 512: with 256 its kernel could not unpack the ~88 MB
#   initramfs, "Initramfs unpacking failed: write error", and panicked); --no-a5 skips A5 (CI:
#   under TCG the second guest's vbd appeared ~80 s after `xl create`, after the upgrade had
#   ended, so it only adds minutes and a guest boot that can fail).
set -u
. /lab/lib.sh
A5_DELAY=5 A5_MEM=512 A5=1
while [ $# -gt 0 ]; do
  case "$1" in --a5-delay) A5_DELAY=$2; shift 2 ;; --a5-memory) A5_MEM=$2; shift 2 ;; --no-a5) A5=0; shift ;; *) shift ;; esac
done
N_UB=0 N_UP=0
P_OUT=$OUT/persistent           # facts for the final results (key=value), console excerpts
mkdir -p "$P_OUT"
FACTS=$P_OUT/facts.txt
: > "$FACTS"
fact() { printf '%s=%s\n' "$1" "$2" >> "$FACTS"; }
PARAMS=/sys/module/xen_blkback/parameters
DEAD_RE='backed has not unmapped grant|disabled for further use'
# a guest kernel BUG: after the hazard, the next reconnect of that vbd hits blkfront's
# BUG_ON(info->gd != NULL) in xenwatch (see README.md "Persistent-grant hazard")
BUG_RE='kernel BUG at|BUG: |Oops: '
BAD_RE="$DEAD_RE|$BUG_RE|FIO [a-z]+ FAIL|PROBE [a-z]+ (MISMATCH|IOERR)"
STAMPED=$OUT/guest-console.stamped.log
[ -n "${VBDCTL:-}" ] || { lab_fail "persistent needs the vbdctl packages (--debs, or their dpkg -i failed: vbdctl-dpkg.log)"; printf '{"scenario":"persistent","ok":false,"error":"vbdctl is not installed"}\n' > "$OUT/results.json"; exit 1; }
# every vbdctl command bounded: a wedged command must not eat the scenario's timeout
printf '#!/bin/sh\nexec timeout -k 5 %s %s "$@"\n' "${PERSISTENT_VBDCTL_TIMEOUT:-240}" "$VBDCTL" > /run/vbdctl-bounded
chmod +x /run/vbdctl-bounded
VBDCTL=/run/vbdctl-bounded

# --- small helpers (builtins where it matters: python costs ~1.5 s per start under TCG)
mod_params() {   # "name=value ..." of every xen_blkback parameter
  local f v out=""
  for f in "$PARAMS"/*; do v='?'; read -r v < "$f" 2>/dev/null; out+="${f##*/}=$v "; done
  echo "${out% }"
}
param() { local v=absent; read -r v < "$PARAMS/$1" 2>/dev/null; echo "$v"; }
# kmark NAME: a line in dom0's dmesg carrying the wall clock, so that dmesg times (blkback's
# reconnect lines) convert to wall time without assuming printk's clock equals /proc/uptime
kmark() { echo "lab-persistent: mark $1 wall=$EPOCHREALTIME" > /dev/kmsg 2>/dev/null; }
gmark() { local n=0; [ -f "$GUEST_LOG" ] && n=$(wc -l < "$GUEST_LOG"); echo "$n"; }
smark() { local n=0; [ -f "$STAMPED" ] && n=$(wc -l < "$STAMPED"); echo "$n"; }
gsince() { tail -n +$(( $1 + 1 )) "$GUEST_LOG" 2>/dev/null; }
disks_dead() { grep -qE "$DEAD_RE" "$GUEST_LOG" 2>/dev/null; }
# ck_console NAME GMARK: no grant error, fio failure, probe mismatch / I/O error since GMARK
ck_console() {
  local bad
  bad=$(gsince "$2" | tr -d '\r' | grep -E "$BAD_RE" | head -n 5 | tr '\n' '|')
  ck "$1" "$([ -z "$bad" ] && echo 0 || echo 1)" "${bad:-clean}"
}
# grant_lines NAME SMARK: guest console lines about grants since SMARK (dom0-stamped) -> file
grant_lines() { tail -n +$(( $2 + 1 )) "$STAMPED" 2>/dev/null | grep -E "$DEAD_RE" > "$P_OUT/$1-grant-lines.txt"; }
# wait_fio_pass TIMEOUT: like lab_wait_fio_pass, but gives up at once when a disk is dead
wait_fio_pass() {
  local to=${1:-300} b c i
  b=$(lab_guest_passes xvdb); c=$(lab_guest_passes xvdc)
  for ((i = 0; i < to; i++)); do
    [ "$(lab_guest_passes xvdb)" -gt "$b" ] && [ "$(lab_guest_passes xvdc)" -gt "$c" ] && return 0
    if grep -qE "FIO [a-z]+ FAIL" "$GUEST_LOG"; then lab_log "fio FAIL in the guest"; return 1; fi
    if disks_dead; then lab_log "a guest disk was disabled (grant error): no fio pass to wait for"; return 1; fi
    sleep 1
  done
  lab_log "no new verified fio pass on both disks within $to s"
  return 1
}
be_fp() { xenstore-read "$(lab_be "$1")/feature-persistent" 2>/dev/null || echo absent; }
fe_fp() { xenstore-read "$(lab_fe "$1")/feature-persistent" 2>/dev/null || echo absent; }
# stats VBD: "rd_req=N wr_req=N oo_req=N" from sysfs (reset to 0 at every reconnect)
stats() { local v=$1 s out="" x; for s in rd_req wr_req oo_req; do x='-'; read -r x < "$DEVS/$v/statistics/$s" 2>/dev/null; out+="$s=$x "; done; echo "${out% }"; }
# stats_not_reset BEFORE AFTER: rd_req and wr_req did not go down (a reconnect restarts them at 0)
stats_not_reset() {
  local a b k
  for k in rd_req wr_req; do
    a=$(grep -o "$k=[0-9][0-9]*" <<<"$1"); b=$(grep -o "$k=[0-9][0-9]*" <<<"$2")
    [ -n "$a" ] && [ -n "$b" ] && [ "${b#*=}" -ge "${a#*=}" ] || return 1
  done
}
# vbd_watch_start NAME / vbd_watch_stop: a background poller (builtins, every 0.1 s) that logs
# every change of each vbd device's presence and driver link to $P_OUT/vbd-watch-NAME.txt as
# "WALL vbd-D-N bound|unbound|absent" (the first lines are the state at the start)
vbd_watch_start() {
  VW_FILE=$P_OUT/vbd-watch-$1.txt
  : > "$VW_FILE"; rm -f /run/vbd-watch.stop
  (
    declare -A st=() now=()
    while [ ! -e /run/vbd-watch.stop ]; do
      now=()
      for v in "$DEVS"/vbd-*; do
        [ -e "$v" ] || continue
        if [ -L "$v/driver" ]; then now[${v##*/}]=bound; else now[${v##*/}]=unbound; fi
      done
      for n in "${!now[@]}"; do [ "${st[$n]:-absent}" = "${now[$n]}" ] || echo "$EPOCHREALTIME $n ${now[$n]}"; done
      for n in "${!st[@]}"; do [ -n "${now[$n]:-}" ] || echo "$EPOCHREALTIME $n absent"; done
      st=()
      for n in "${!now[@]}"; do st[$n]=${now[$n]}; done
      sleep 0.1
    done
  ) >> "$VW_FILE" &
  VW_PID=$!
  sleep 0.3
}
vbd_watch_stop() { touch /run/vbd-watch.stop; wait "$VW_PID" 2>/dev/null; rm -f /run/vbd-watch.stop; }
# vbd_watch_drops NAME VBD...: the watcher's lines where one of VBD lost its driver link or vanished
vbd_watch_drops() {
  local f=$P_OUT/vbd-watch-$1.txt v; shift
  for v in "$@"; do awk -v v="$v" '$2 == v && $3 != "bound" {printf "%s %s %s; ", $1, $2, $3}' "$f"; done
}
both_connected() { [ "$(lab_nbound)" = 2 ] && lab_connected "$(lab_vbd xvdb)" && lab_connected "$(lab_vbd xvdc)"; }

GUEST_STOPPED=0
stop_guest() {   # orderly shutdown if it finishes in time, else destroy (dead disks can hang it)
  [ $GUEST_STOPPED = 1 ] && return 0
  GUEST_STOPPED=1
  if ! xl domid "$GUEST" >/dev/null 2>&1; then
    fact guest_stop gone
    cp "$GUEST_LOG" "$OUT/guest-console.log" 2>/dev/null
    return 0
  fi
  fact phase.stop "$EPOCHREALTIME"
  lab_log "stopping guest (xl shutdown -w, at most ${1:-90} s)"
  local t0=$EPOCHREALTIME
  if timeout "${1:-90}" xl shutdown -w "$GUEST"; then
    fact guest_stop shutdown
  else
    lab_log "xl shutdown did not finish: xl destroy"
    xl destroy "$GUEST"
    fact guest_stop destroyed
  fi
  fact guest_stop_s "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}')"
  sleep 1
  [ -n "${STAMP_PID:-}" ] && kill "$STAMP_PID" 2>/dev/null
  cp "$GUEST_LOG" "$OUT/guest-console.log" 2>/dev/null
  grep -E "GUEST (SUMMARY|DISKSTATE)" "$OUT/guest-console.log" | sed 's/^/LAB guest: /' >&2
}
PART_A_DONE=0 PART_A_OK=false
part_a_verdict() {   # ok of Part A: every check passed and no lab step failed so far
  [ $PART_A_DONE = 1 ] && return 0
  PART_A_DONE=1
  if [ -s "$OUT/failures.txt" ] || grep -q $'\tfail\t' "$CHECKS" 2>/dev/null || ! grep -q $'\tok\t' "$CHECKS" 2>/dev/null; then
    PART_A_OK=false
  else
    PART_A_OK=true
  fi
  cp "$OUT/failures.txt" "$P_OUT/part-a-failures.txt" 2>/dev/null
  lab_log "Part A verdict: ok=$PART_A_OK"
}
finish() {
  part_a_verdict
  stop_guest 90
  kmark end
  dmesg > "$P_OUT/dom0-dmesg-end.txt"
  grep -E "$BUG_RE|xenwatch" "$STAMPED" > "$P_OUT/guest-kernel-bug-lines.txt" 2>/dev/null
  local x; x=$(lab_vbdctl_checks_json)
  RESULTS=$OUT/results.json lab_results persistent "{\"cycles\":{\"unbind_bind\":$N_UB,\"upgrade\":$N_UP},${x#\{}" > /dev/null
  # ok = Part A only; analyze.py's own verdict (guest summary at the end, after Part B killed the
  # disks on purpose) is kept as guest_end_ok; Part B's observations -> hazard{}
  python3 - "$OUT/results.json" "$FACTS" "$P_OUT" "$PART_A_OK" "$LAB" <<'PY'
import json, os, re, statistics, sys
res_path, facts_path, pdir, part_a_ok, lab = sys.argv[1:6]
sys.path.insert(0, lab)
import vbdcheck
r = json.load(open(res_path))
facts = {}
for line in open(facts_path):
    k, sep, v = line.rstrip("\n").partition("=")
    if sep:
        facts[k] = v
def fnum(k):
    try:
        return float(facts[k])
    except (KeyError, ValueError):
        return None
def disk(devid):
    n = int(devid)
    return "xvd" + chr(ord("a") + ((n & 0xff) >> 4)) if n >> 8 == 202 else str(devid)
# dom0 dmesg -> wall clock through our own /dev/kmsg marks; blkback's reconnect lines
MARK = re.compile(r"^\[\s*(\d+\.\d+)\] lab-persistent: mark (\S+) wall=(\d+\.\d+)")
RECON = re.compile(r"^\[\s*(\d+\.\d+)\] xen-blkback: backend/vbd/(\d+)/(\d+): using (\d+) queues, protocol \d+ \((\S+)\)\s*(.*)$")
marks, recon = [], []
try:
    for l in open(os.path.join(pdir, "dom0-dmesg-end.txt"), errors="replace"):
        m = MARK.match(l)
        if m:
            marks.append(float(m.group(3)) - float(m.group(1)))
        m = RECON.match(l)
        if m:
            recon.append({"t": float(m.group(1)), "disk": disk(m.group(3)), "queues": int(m.group(4)),
                          "persistent": "persistent grants" in m.group(6)})
except OSError:
    pass
off = statistics.median(marks) if marks else None
for x in recon:
    x["wall"] = x["t"] + off if off is not None else None
def lines(name):
    return vbdcheck.stamped_lines(os.path.join(pdir, name))
def summarise(name, t0, t_end, what):
    """grant lines of one phase: seconds from t0 (dom0 wall clock, lines stamped by dom0 on
    arrival), and per disk the delay between blkback's reconnect and the guest's 'disabled'"""
    ls = lines(name)
    rel = lambda t: round(t - t0, 2) if t is not None and t0 is not None else None
    res = {"seconds_from": what, "n_lines": len(ls),
           "lines": ["%+.2fs %s" % (st - t0, text) if t0 is not None else text for st, text in ls][:40],
           "first_unmapped_grant_s": next((rel(st) for st, t in ls if "backed has not unmapped grant" in t), None),
           "first_disabled_s": next((rel(st) for st, t in ls if "disabled for further use" in t), None),
           "reconnects": [], "per_disk": {}}
    for x in recon:
        if x["wall"] is not None and t0 is not None and x["wall"] >= t0 - 1 and (t_end is None or x["wall"] <= t_end):
            res["reconnects"].append({"disk": x["disk"], "s": rel(x["wall"]), "queues": x["queues"], "persistent": x["persistent"]})
    for st, t in ls:
        m = re.search(r"(xvd[a-z]+) disabled for further use", t)
        if m and m.group(1) not in res["per_disk"]:
            d = m.group(1)
            rc = [x for x in res["reconnects"] if x["disk"] == d and x["s"] is not None and x["s"] <= rel(st)]
            res["per_disk"][d] = {"disabled_s": rel(st), "reconnected_s": rc[-1]["s"] if rc else None,
                                  "disabled_after_reconnect_s": round(rel(st) - rc[-1]["s"], 2) if rc else None}
    return res
r["guest_end_ok"] = r.get("ok")
r["ok"] = part_a_ok == "true"
r["part_a_ok"] = r["ok"]
r["setup"] = {k[6:]: v for k, v in facts.items() if k.startswith("setup.")}
r["dmesg_wall_offset_s"] = round(off, 3) if off is not None else None
a1_end = fnum("a1.t_end")
r["a1_grant_lines"] = summarise("a1-grant-lines.txt", fnum("a1.t_start"), a1_end + 10 if a1_end else None,
                                "start of the A1 vbdctl command (dom0 wall clock)")
hz = summarise("b-grant-lines.txt", fnum("b.t_modprobe"), None,
               "start of modprobe xen-blkback feature_persistent=1 (dom0 wall clock; guest lines stamped by dom0 on arrival, 50 ms polling)")
hz.update({k[2:]: v for k, v in facts.items() if k.startswith("b.") and k != "b.t_modprobe"})
hz["guest_stop"] = facts.get("guest_stop")
hz["guest_stop_s"] = facts.get("guest_stop_s")
r["hazard"] = hz
# A4 (no-op, then --force) and A5 (a guest created during an upgrade): their facts; checks are in vbdctl_checks
for ph in ("a4", "a5"):
    r[ph] = {k[3:]: v for k, v in facts.items() if k.startswith(ph + ".")}
r["hazard_reproduced"] = facts.get("b.ran") == "1" and hz["n_lines"] > 0
r["hazard_note"] = "informational: Part B does not count towards ok"
# guest kernel BUG / oops lines, with the phase of the scenario they arrived in
phases = sorted((float(v), k[6:]) for k, v in facts.items() if k.startswith("phase."))
bugs = []
for st, text in lines("guest-kernel-bug-lines.txt"):
    ph = [n for t, n in phases if t <= st]
    bugs.append("%s %s" % (ph[-1] if ph else "setup", text))
r["guest_kernel_bugs"] = bugs[:10]
json.dump(r, open(res_path, "w"), indent=1, sort_keys=True)
open(res_path, "a").write("\n")
PY
  cat "$OUT/results.json"
}

# ------------------------------------------------------------------ setup
lab_log "setup: reload xen-blkback with feature_persistent=0 max_queues=1 before the guest starts"
kmark setup
fact setup.params_at_boot "$(mod_params)"
att=$(lab_rmmod) && lab_log "rmmod at attempt $att"
if modprobe xen-blkback feature_persistent=0 max_queues=1; then :; else lab_fail "modprobe xen-blkback feature_persistent=0 max_queues=1 failed"; fi
fact setup.params_loaded "$(mod_params)"
ck setup.param_feature_persistent_N "$([ "$(param feature_persistent)" = N ] && echo 0 || echo 1)" "feature_persistent=$(param feature_persistent)"
ck setup.param_max_queues_1 "$([ "$(param max_queues)" = 1 ] && echo 0 || echo 1)" "max_queues=$(param max_queues)"
lab_start_guest || { finish; exit 1; }
lab_wait_guest_io 300 || { finish; exit 1; }
# geometry (lab_check_geometry expects 2 queues on xvdc; with max_queues=1 it has 1)
FB=$(lab_fe xvdb) FC=$(lab_fe xvdc)
b_order=$(xenstore-read "$FB/ring-page-order" 2>/dev/null || echo absent)
b_q=$(xenstore-read "$FB/multi-queue-num-queues" 2>/dev/null || echo absent)
c_order=$(xenstore-read "$FC/ring-page-order" 2>/dev/null || echo absent)
c_q=$(xenstore-read "$FC/multi-queue-num-queues" 2>/dev/null || echo absent)
geo_ok=false
[ "$b_order" = absent ] && [ "$b_q" = absent ] && xenstore-exists "$FB/ring-ref" \
  && [ "$c_order" = 2 ] && { [ "$c_q" = absent ] || [ "$c_q" = 1 ]; } && geo_ok=true
printf '{"xvdb":{"ring-page-order":"%s","multi-queue-num-queues":"%s"},"xvdc":{"ring-page-order":"%s","multi-queue-num-queues":"%s"},"expected":"xvdb 1 page 1 queue, xvdc order 2 1 queue (max_queues=1)","ok":%s}\n' \
  "$b_order" "$b_q" "$c_order" "$c_q" "$geo_ok" > "$OUT/geometry.json"
lab_log "geometry: $(cat "$OUT/geometry.json"); guest: $(grep -o 'GUEST DISK .*' "$GUEST_LOG" | tr '\n' ' ')"
ck setup.geometry "$geo_ok" "$(cat "$OUT/geometry.json")"
# the hazard needs this start: backend advertised 0, frontend asked for 1
for d in xvdb xvdc; do
  bf=$(be_fp $d) ff=$(fe_fp $d)
  fact setup.$d.backend_feature_persistent "$bf"
  fact setup.$d.frontend_feature_persistent "$ff"
  ck setup.$d.feature_persistent_be0_fe1 "$([ "$bf" = 0 ] && [ "$ff" = 1 ] && echo 0 || echo 1)" "backend $bf frontend $ff"
done
grep -E "xen-blkback: .*using" <(dmesg) | tail -n 4 > "$P_OUT/setup-connect-lines.txt"
sleep 3

# ------------------------------------------------------------------ A1: refuse feature_persistent=Y
fact phase.a1 "$EPOCHREALTIME"
lab_log "A1: upgrade-backend --param feature_persistent=Y must be refused"
G=$(gmark) S=$(smark)
MOD_BEFORE=$(lab_module_id) PAR_BEFORE=$(mod_params)
kmark a1-start
vb_upgrade a1-persistent-on a1-upgrade-persistent-on --param feature_persistent=Y
A1_RC=$VB_RC
kmark a1-end
fact a1.t_start "$VB_T0"
fact a1.t_end "$VB_T1"
sleep 10    # the hazard showed 1.2 s (xvdb) and 9.6 s (xvdc) after a reconnect: give it time
MOD_AFTER=$(lab_module_id) PAR_AFTER=$(mod_params)
F=$VBDCTL_OUT/a1-persistent-on.json
ck a1.exit1 "$([ $A1_RC = 1 ] && echo 0 || echo 1)" "exit $A1_RC"
D=$DOMID
mapfile -t R < <(python3 "$LAB/vbdcheck.py" get \
  "$F" 'd.get("refused") is True and d.get("ok") is False' \
  "$F" "any(p.get('check') == 'persistent grants' and p.get('ok') is False and all(any(s in str(p.get('detail', '')) for s in alts) for alts in (('vbd-$D-51728', '$D/51728', 'xvdb'), ('vbd-$D-51744', '$D/51744', 'xvdc'))) for p in d.get('preflight') or [])" \
  "$F" '[p for p in d.get("preflight") or [] if not p.get("ok")]')
ck a1.refused "${R[0]:-}" "$(head -c 400 "$F" | tr '\n' ' ')"
ck a1.preflight_persistent_grants_names_vbds "${R[1]:-}" "failed preflight: ${R[2]:-}"
ck a1.nothing_unbound "$(both_connected && echo 0 || echo 1)" "bound $(lab_nbound)"
ck a1.module_unchanged "$([ "$MOD_BEFORE" = "$MOD_AFTER" ] && echo 0 || echo 1)" "$MOD_BEFORE -> $MOD_AFTER"
ck a1.params_unchanged "$([ "$PAR_BEFORE" = "$PAR_AFTER" ] && echo 0 || echo 1)" "$PAR_BEFORE -> $PAR_AFTER"
grant_lines a1 "$S"
ck_console a1.guest_console_clean "$G"
for d in xvdb xvdc; do fact a1.$d.backend_feature_persistent_after "$(be_fp $d)"; done

# ------------------------------------------------------------------ A2: plain upgrade carries the params
fact phase.a2 "$EPOCHREALTIME"
lab_log "A2: plain upgrade-backend to the updated module must keep feature_persistent=N max_queues=1"
lab_use_depmod updated
G=$(gmark)
vb_upgrade a2-upgrade upgrade && N_UP=$((N_UP + 1))
A2_RC=$VB_RC
F=$VBDCTL_OUT/a2-upgrade.json
ck a2.exit0 "$([ $A2_RC = 0 ] && echo 0 || echo 1)" "exit $A2_RC"
mapfile -t R < <(python3 "$LAB/vbdcheck.py" get \
  "$F" 'd.get("ok") is True and not d.get("refused") and not d.get("rolled_back")' \
  "$F" '(d.get("module_after") or {}).get("params", {}).get("feature_persistent") is False' \
  "$F" '(d.get("module_after") or {}).get("params", {}).get("max_queues") == 1' \
  "$F" 'isinstance(d.get("param_changes"), list)' \
  "$F" 'not any(isinstance(c, dict) and c.get("name") == "feature_persistent" for c in d.get("param_changes") or [])' \
  "$F" 'len(d.get("vbds") or []) == 2 and all(v.get("backend_state") == 4 and v.get("consistent") is True for v in d["vbds"])' \
  "$F" '[(d.get("error") or {}).get("message"), (d.get("module_after") or {}).get("params"), d.get("param_changes")]' \
  "$F" 'd.get("vbds")')
ck a2.ok "${R[0]:-}" "${R[6]:-}"
ck a2.module_after_feature_persistent_N "${R[1]:-}" "${R[6]:-}"
ck a2.module_after_max_queues_1 "${R[2]:-}" "${R[6]:-}"
ck a2.param_changes_present "${R[3]:-}" "${R[6]:-}"
ck a2.param_changes_no_feature_persistent "${R[4]:-}" "${R[6]:-}"
ck a2.vbds_connected_json "${R[5]:-}" "${R[7]:-}"
ck a2.sysfs_feature_persistent_N "$([ "$(param feature_persistent)" = N ] && echo 0 || echo 1)" "$(mod_params)"
ck a2.sysfs_max_queues_1 "$([ "$(param max_queues)" = 1 ] && echo 0 || echo 1)" "$(mod_params)"
ck a2.sysfs_updated_module "$([ "$(cat /sys/module/xen_blkback/version 2>/dev/null)" = vbdctl-lab-1 ] && echo 0 || echo 1)" "version $(cat /sys/module/xen_blkback/version 2>/dev/null)"
for d in xvdb xvdc; do
  lab_connected "$(lab_vbd $d)"; ck a2.$d.connected $?
  ck a2.$d.backend_feature_persistent_0 "$([ "$(be_fp $d)" = 0 ] && echo 0 || echo 1)" "backend feature-persistent $(be_fp $d)"
done
fact a2.params_after "$(mod_params)"
sleep 5
ck_console a2.guest_console_clean "$G"
wait_fio_pass 300; ck a2.fio_pass $? "one more verified fio pass on both disks"
ck_console a2.guest_console_clean_after_fio "$G"

# ------------------------------------------------------------------ A3: runtime write, then bind
fact phase.a3 "$EPOCHREALTIME"
lab_log "A3: unbind xvdb; feature_persistent=Y at runtime; bind must be refused"
V=$(lab_vbd xvdb)
G=$(gmark)
# only builtins between unbind and the binds (python would stretch the unbound window)
vb a3-unbind unbind "$DOMID" xvdb --yes --timeout 120
A3U_RC=$VB_RC A3_T0=$VB_T0
[ -L "$DEVS/$V/driver" ] && A3U_LINK=1 || A3U_LINK=0
echo Y > "$PARAMS/feature_persistent"; A3_PY=$(param feature_persistent)
vb a3-bind-persistent-on bind "$DOMID" xvdb --yes --timeout 120
A3R_RC=$VB_RC
[ -L "$DEVS/$V/driver" ] && A3R_LINK=1 || A3R_LINK=0
echo N > "$PARAMS/feature_persistent"; A3_PN=$(param feature_persistent)
vb a3-bind bind "$DOMID" xvdb --yes --timeout 120
A3B_RC=$VB_RC
lab_connected "$V"; A3B_CONN=$?
[ $A3B_RC = 0 ] && N_UB=$((N_UB + 1))
printf '%s\t%s\t%s\t%s\t%s\n' unbind-bind "$V" "$A3_T0" "$VB_T1" \
  "$(awk -v a="$A3_T0" -v b="$VB_T1" 'BEGIN{printf "%d", (b - a) * 1000}')" >> "$DISRUPTIONS"
ck a3.unbind.exit0 "$A3U_RC" "exit $A3U_RC"
ck a3.unbind.sysfs_unbound "$A3U_LINK" "driver link gone after unbind returned"
ck a3.runtime_write_Y "$([ "$A3_PY" = Y ] && echo 0 || echo 1)" "feature_persistent read $A3_PY after echo Y"
ck a3.bind_persistent_on.exit1 "$([ $A3R_RC = 1 ] && echo 0 || echo 1)" "exit $A3R_RC"
ck a3.bind_persistent_on.still_unbound "$([ $A3R_LINK = 0 ] && echo 0 || echo 1)" "driver link after the refused bind: $A3R_LINK"
ck a3.runtime_write_N "$([ "$A3_PN" = N ] && echo 0 || echo 1)" "feature_persistent read $A3_PN after echo N"
ck a3.bind.exit0 "$A3B_RC" "exit $A3B_RC"
ck a3.bind.connected "$A3B_CONN" "driver link + xenstore state 4 after bind returned"
mapfile -t R < <(python3 "$LAB/vbdcheck.py" get \
  "$VBDCTL_OUT/a3-unbind.json" 'd.get("ok") is True' \
  "$VBDCTL_OUT/a3-bind-persistent-on.json" 'd.get("ok") is False and "persistent grants" in str(d.get("error") or "").lower()' \
  "$VBDCTL_OUT/a3-bind-persistent-on.json" '[d.get("ok"), d.get("error")]' \
  "$VBDCTL_OUT/a3-bind.json" 'd.get("ok") is True and d.get("backend_state") == 4' \
  "$VBDCTL_OUT/a3-bind.json" '[d.get("ok"), d.get("backend_state"), d.get("error")]')
ck a3.unbind.ok "${R[0]:-}"
ck a3.bind_persistent_on.refused "${R[1]:-}" "${R[2]:-}"
ck a3.bind.ok "${R[3]:-}" "${R[4]:-}"
ck a3.xvdb.backend_feature_persistent_0 "$([ "$(be_fp xvdb)" = 0 ] && echo 0 || echo 1)" "backend feature-persistent $(be_fp xvdb)"
sleep 5
ck_console a3.guest_console_clean "$G"
wait_fio_pass 300; ck a3.fio_pass $? "one more verified fio pass on both disks"
# ------------------------------------------------------------------ A4: nothing to do, then --force
fact phase.a4 "$EPOCHREALTIME"
lab_log "A4: upgrade-backend again (the updated module is loaded, same parameters): a no-op"
V1B=$(lab_vbd xvdb) V1C=$(lab_vbd xvdc)
G=$(gmark)
MOD_BEFORE=$(lab_module_id)
ST_B0=$(stats "$V1B") ST_C0=$(stats "$V1C")
vbd_watch_start a4-noop
DM0=$(dmesg | wc -l)
vb a4-noop upgrade-backend --yes --timeout 120
A4N_RC=$VB_RC
A4_DM=$(dmesg | tail -n +$((DM0 + 1)))
vbd_watch_stop
ST_B1=$(stats "$V1B") ST_C1=$(stats "$V1C")
MOD_AFTER=$(lab_module_id)
A4_RECON=$(grep -c "xen-blkback: backend/vbd/.*: using" <<<"$A4_DM")
A4_DROPS=$(vbd_watch_drops a4-noop "$V1B" "$V1C")
fact a4.noop_exit "$A4N_RC"
fact a4.noop_s "$(awk -v a="$VB_T0" -v b="$VB_T1" 'BEGIN{printf "%.1f", b - a}')"
fact a4.noop_dmesg_new_lines "$(grep -c . <<<"$A4_DM")"
fact a4.noop_reconnect_lines "$A4_RECON"
fact a4.noop_link_drops "${A4_DROPS:-none}"
fact a4.noop_stats "xvdb $ST_B0 -> $ST_B1; xvdc $ST_C0 -> $ST_C1"
F=$VBDCTL_OUT/a4-noop.json
mapfile -t R < <(python3 "$LAB/vbdcheck.py" get \
  "$F" 'd.get("ok") is True and d.get("changed") is False and d.get("noop") is True and not d.get("refused")' \
  "$F" '"steps" not in d' \
  "$F" '{k: d.get(k) for k in ("ok", "changed", "noop", "refused", "rolled_back", "error", "plan")}' \
  "$F" 'sorted(d)')
ck a4.noop.exit0 "$([ $A4N_RC = 0 ] && echo 0 || echo 1)" "exit $A4N_RC"
ck a4.noop.json_noop "${R[0]:-}" "${R[2]:-}"
ck a4.noop.no_steps_key "${R[1]:-}" "keys: ${R[3]:-}"
ck a4.noop.no_reconnect_line "$([ "$A4_RECON" = 0 ] && echo 0 || echo 1)" \
  "$A4_RECON new blkback reconnect lines; new dmesg lines: $(head -n 5 <<<"$A4_DM" | tr '\n' '|')"
ck a4.noop.links_never_dropped "$([ -z "$A4_DROPS" ] && echo 0 || echo 1)" "${A4_DROPS:-driver links present at every poll}"
ck a4.noop.stats_not_reset "$(stats_not_reset "$ST_B0" "$ST_B1" && stats_not_reset "$ST_C0" "$ST_C1" && echo 0 || echo 1)" \
  "xvdb $ST_B0 -> $ST_B1; xvdc $ST_C0 -> $ST_C1"
ck a4.noop.module_unchanged "$([ "$MOD_BEFORE" = "$MOD_AFTER" ] && echo 0 || echo 1)" "$MOD_BEFORE -> $MOD_AFTER"

lab_log "A4: upgrade-backend --force: a real reload of the same module and parameters"
vb_upgrade a4-force a4-upgrade-force --force && N_UP=$((N_UP + 1))
A4F_RC=$VB_RC
F=$VBDCTL_OUT/a4-force.json
fact a4.force_exit "$A4F_RC"
fact a4.force_s "$(awk -v a="$VB_T0" -v b="$VB_T1" 'BEGIN{printf "%.1f", b - a}')"
mapfile -t R < <(python3 "$LAB/vbdcheck.py" get \
  "$F" 'd.get("ok") is True and d.get("changed") is True and d.get("noop") is False and not d.get("rolled_back")' \
  "$F" '(d.get("module_after") or {}).get("params", {}).get("feature_persistent") is False and (d.get("module_after") or {}).get("params", {}).get("max_queues") == 1' \
  "$F" 'len(d.get("vbds") or []) == 2 and all(v.get("backend_state") == 4 and v.get("consistent") is True for v in d["vbds"])' \
  "$F" '[d.get("ok"), d.get("changed"), d.get("noop"), d.get("rolled_back"), (d.get("error") or {}).get("message"), d.get("window_ms"), (d.get("module_after") or {}).get("params")]' \
  "$F" 'd.get("vbds")' \
  "$F" 'd.get("window_ms")')
fact a4.force_window_ms "${R[5]:-}"
ck a4.force.exit0 "$([ $A4F_RC = 0 ] && echo 0 || echo 1)" "exit $A4F_RC"
ck a4.force.changed "${R[0]:-}" "${R[3]:-}"
ck a4.force.params_kept "${R[1]:-}" "${R[3]:-}"
ck a4.force.vbds_connected_json "${R[2]:-}" "${R[4]:-}"
ck a4.force.sysfs_params "$([ "$(param feature_persistent)" = N ] && [ "$(param max_queues)" = 1 ] && echo 0 || echo 1)" "$(mod_params)"
for d in xvdb xvdc; do lab_connected "$(lab_vbd $d)"; ck a4.force.$d.connected $?; done
sleep 5
ck_console a4.guest_console_clean "$G"

# ------------------------------------------------------------------ A5: a guest created during an upgrade
if [ "$A5" = 1 ]; then
# A second, small PV guest (1 disk, probe only, no fio) is created A5_DELAY s after
# `upgrade-backend --force` starts, so that its vbd appears while the upgrade runs. TCG timing
# decides where it lands; every landing is fine as long as the upgrade ends cleanly (exit 0, or
# exit 1 rolled back) and the new vbd ends up bound and Connected. a5.outcome says which:
#   appeared_during_run  vbdctl bound it itself (vbds[] note "appeared during the run")
#   in_plan              it was there (bound by autoprobe) when vbdctl planned: rebound like the others
#   rolled_back          the upgrade rolled back (e.g. the old module had bound it before the unload)
#   autoprobe_after      not in vbdctl's report: the kernel bound it after vbdctl restored autoprobe
#   autoprobe_before     not in vbdctl's report, bound before vbdctl started
#   never_bound          not bound within 120 s after both finished (a failure)
fact phase.a5 "$EPOCHREALTIME"
G2=guest2 G2_LOG=/var/log/xen/console/guest-guest2.log
lab_log "A5: guest $G2 (${A5_MEM} MB, 1 disk) created ${A5_DELAY} s after upgrade-backend --force starts"
G=$(gmark)
FREE_MB=$(xl info free_memory 2>/dev/null)
fact a5.xen_free_memory_mb "${FREE_MB:-?}"
ck a5.xen_free_memory "$([ "${FREE_MB:-0}" -ge $((A5_MEM + 32)) ] 2>/dev/null && echo 0 || echo 1)" \
  "xl info free_memory ${FREE_MB:-?} MB for a ${A5_MEM} MB guest"
truncate -s 256M /var/lib/lab/$G2-xvdb.img
G2_LOOP=$(losetup -f --show /var/lib/lab/$G2-xvdb.img)
cat > /var/lib/lab/$G2.cfg <<CFG
name = "$G2"
type = "pv"
kernel = "/boot/vmlinuz-$KVER"
ramdisk = "$LAB/guest-initrd.cpio"
extra = "console=hvc0 loglevel=4 labdisks=xvdb labfio=0"
memory = $A5_MEM
vcpus = 1
on_poweroff = "destroy"
on_crash = "preserve"
disk = [ "phy:$G2_LOOP,xvdb,w" ]
CFG
vbd_watch_start a5
F=$VBDCTL_OUT/a5-upgrade.json
rm -f /run/a5-upgrade.rc
A5_T0=$EPOCHREALTIME
( "$VBDCTL" --json upgrade-backend --yes --force --timeout 120 > "$F" 2> "$VBDCTL_OUT/a5-upgrade.err"
  echo "$? $EPOCHREALTIME" > /run/a5-upgrade.rc ) &
A5_PID=$!
sleep "$A5_DELAY"
A5_TC=$EPOCHREALTIME
xl create /var/lib/lab/$G2.cfg > "$P_OUT/a5-xl-create.log" 2>&1
A5_XL_RC=$? A5_TX=$EPOCHREALTIME
D2=$(xl domid $G2 2>/dev/null)
wait "$A5_PID"
read -r A5_RC A5_T1 < /run/a5-upgrade.rc 2>/dev/null || { A5_RC=none; A5_T1=$EPOCHREALTIME; }
A5_TB=$EPOCHREALTIME A5_DL=$((SECONDS + 120))   # both finished
rel() { awk -v a="$A5_T0" -v b="$1" 'BEGIN{if (b == "") print ""; else printf "%.2f", b - a}'; }
lab_log "A5: vbdctl exit $A5_RC after $(rel "$A5_T1") s; xl create exit $A5_XL_RC at +$(rel "$A5_TC")..+$(rel "$A5_TX") s; $G2 domid ${D2:-none}"
[ $A5_RC = 1 ] && sed 's/^/LAB   vbdctl stderr: /' "$VBDCTL_OUT/a5-upgrade.err" | tail -n 8 >&2
V2=vbd-${D2:-x}-51728 BE2=/local/domain/0/backend/vbd/${D2:-x}/51728 FE2=/local/domain/${D2:-x}/device/vbd/51728
# the new vbd: bound, backend and frontend state 4, within 120 s after both finished
A5_OK=1
while :; do
  if [ -n "$D2" ] && [ -L "$DEVS/$V2/driver" ] && [ "$(xenstore-read "$BE2/state" 2>/dev/null)" = 4 ] \
     && [ "$(xenstore-read "$FE2/state" 2>/dev/null)" = 4 ]; then A5_TOK=$EPOCHREALTIME; break; fi
  if [ $SECONDS -ge $A5_DL ] || grep -q "Kernel panic" "$G2_LOG" 2>/dev/null; then A5_OK=0 A5_TOK=; break; fi
  sleep 0.5
done
vbd_watch_stop
# when did the new vbd appear / get its driver (first "unbound"/"bound" line of the watcher)?
W=$P_OUT/vbd-watch-a5.txt
A5_APPEAR=$(awk -v v="$V2" '$2 == v {print $1; exit}' "$W")
A5_BOUND=$(awk -v v="$V2" '$2 == v && $3 == "bound" {print $1; exit}' "$W")
A5_DROPS=$(vbd_watch_drops a5 "$V1B" "$V1C")
mapfile -t R < <(python3 "$LAB/vbdcheck.py" get \
  "$F" "[d.get('ok'), d.get('changed'), d.get('noop'), d.get('rolled_back'), d.get('failure'), d.get('window_ms')]" \
  "$F" "[v for v in d.get('vbds') or [] if v.get('domid') == ${D2:-0}]" \
  "$F" "[v for v in d.get('planned_vbds') or [] if v.get('domid') == ${D2:-0}]" \
  "$F" "d.get('rolled_back') is True" \
  "$F" "sum(s.get('ms', 0) for s in d.get('steps') or [] if s.get('name') != 'plan')" \
  "$F" "' '.join('%s:%s' % (s.get('name'), s.get('ms')) for s in d.get('steps') or [])" \
  "$F" "' '.join('vbd-%d-%d:%s' % (v['domid'], v['devid'], v.get('unbound_ms')) for v in d.get('vbds') or [] if v.get('domid') == $DOMID)")
A5_VB2=${R[1]:-[]} A5_PL2=${R[2]:-[]}
if [ "$A5_RC" = 1 ] && [ "${R[3]:-}" = true ]; then A5_OUT=rolled_back
elif grep -q '"appeared during the run"' <<<"$A5_VB2"; then A5_OUT=appeared_during_run
elif [ "$A5_VB2" != "[]" ] || [ "$A5_PL2" != "[]" ]; then A5_OUT=in_plan
elif [ -z "$A5_BOUND" ]; then A5_OUT=never_bound
elif [ "$(awk -v a="$A5_BOUND" -v b="$A5_T0" 'BEGIN{print (a < b) ? 1 : 0}')" = 1 ]; then A5_OUT=autoprobe_before
else A5_OUT=autoprobe_after; fi
[ $A5_OK = 1 ] || A5_OUT="$A5_OUT,never_connected"
fact a5.outcome "$A5_OUT"
fact a5.delay_s "$A5_DELAY"
fact a5.guest_memory_mb "$A5_MEM"
fact a5.domid "${D2:-none}"
fact a5.vbdctl_exit "$A5_RC"
fact a5.vbdctl_summary "${R[0]:-}"
fact a5.vbdctl_steps "${R[5]:-}"
fact a5.vbdctl_vbd_entry "$A5_VB2"
fact a5.vbdctl_planned_entry "$A5_PL2"
fact a5.xl_create_exit "$A5_XL_RC"
# seconds from the start of the vbdctl command (dom0 wall clock; the watcher polls every 0.1 s)
fact a5.xl_create_start_s "$(rel "$A5_TC")"
fact a5.xl_create_end_s "$(rel "$A5_TX")"
fact a5.vbdctl_end_s "$(rel "$A5_T1")"
fact a5.both_finished_s "$(rel "$A5_TB")"
fact a5.vbdctl_window_start_s "$(awk -v a="$A5_T0" -v b="$A5_T1" -v w="${R[4]:-}" 'BEGIN{if (w == "") print ""; else printf "%.2f (approx.: end minus the steps after plan)", b - a - w / 1000}')"
fact a5.vbd_appeared_s "$(rel "$A5_APPEAR")"
fact a5.vbd_bound_s "$(rel "$A5_BOUND")"
fact a5.vbd_connected_s "$(rel "$A5_TOK")"
fact a5.guest1_link_drops "${A5_DROPS:-none}"
ck a5.upgrade_clean "$([ "$A5_RC" = 0 ] || { [ "$A5_RC" = 1 ] && [ "${R[3]:-}" = true ]; } && echo 0 || echo 1)" \
  "exit $A5_RC; [ok, changed, noop, rolled_back, failure, window_ms] ${R[0]:-}"
ck a5.xl_create "$A5_XL_RC" "xl create exit $A5_XL_RC: $(tail -n 3 "$P_OUT/a5-xl-create.log" | tr '\n' '|')"
ck a5.new_vbd_connected "$([ $A5_OK = 1 ] && echo 0 || echo 1)" \
  "$V2: link $([ -L "$DEVS/$V2/driver" ] && echo 1 || echo 0), backend state $(xenstore-read "$BE2/state" 2>/dev/null || echo absent), frontend state $(xenstore-read "$FE2/state" 2>/dev/null || echo absent) (Connected: ${A5_TOK:+$(rel "$A5_TOK") s after the vbdctl start}${A5_TOK:-not within 120 s after both finished}; outcome $A5_OUT; $G2 console: $(tr -d '\r' < "$G2_LOG" 2>/dev/null | grep -E 'panic|failed|GUEST (BOOT|IO)' | head -n 2 | tr '\n' '|'))"
for d in xvdb xvdc; do lab_connected "$(lab_vbd $d)"; ck a5.guest1.$d.connected $?; done
for p in ${R[6]:-}; do   # guest 1's vbds: one disruption each, as vb_upgrade records them
  v=${p%%:*} ub=${p#*:}
  case "$ub" in ''|*[!0-9]*) continue ;; esac
  printf '%s\t%s\t%s\t%s\t%s\n' a5-upgrade-guest-created "$v" "$A5_T0" "$A5_T1" "$ub" >> "$DISRUPTIONS"
done
[ "$A5_RC" = 0 ] && N_UP=$((N_UP + 1))
sleep 5
ck_console a5.guest_console_clean "$G"
# the second guest: its console (probe heartbeats after the upgrade = its disk works)
cp "$G2_LOG" "$OUT/guest-console-$G2.log" 2>/dev/null
fact a5.guest2_probe_heartbeats "$(grep -c 'PROBE xvdb HB' "$G2_LOG" 2>/dev/null)"
G2_BAD_RE="$BAD_RE|GUEST ERROR|Kernel panic|unpacking failed"
fact a5.guest2_bad_lines "$(tr -d '\r' < "$G2_LOG" 2>/dev/null | grep -E "$G2_BAD_RE" | head -n 3 | tr '\n' '|')"
ck a5.guest2_console_clean "$(tr -d '\r' < "$G2_LOG" 2>/dev/null | grep -qE "$G2_BAD_RE" && echo 1 || echo 0)" \
  "$(tr -d '\r' < "$G2_LOG" 2>/dev/null | grep -E "$G2_BAD_RE" | head -n 3 | tr '\n' '|')"
lab_log "A5: outcome $A5_OUT; $G2 vbd appeared +$(rel "$A5_APPEAR") s, bound +$(rel "$A5_BOUND") s, Connected +$(rel "$A5_TOK") s; destroying $G2"
xl destroy $G2
for ((i = 0; i < 300; i++)); do [ -e "$DEVS/$V2" ] || break; sleep 0.1; done
fact a5.guest2_vbd_gone_after_destroy "$([ -e "$DEVS/$V2" ] && echo 0 || echo 1)"
losetup -d "$G2_LOOP" 2>/dev/null
cp "$G2_LOG" "$OUT/guest-console-$G2.log" 2>/dev/null
ck a5.guest2_destroyed "$( ! xl domid $G2 >/dev/null 2>&1 && [ ! -e "$DEVS/$V2" ] && echo 0 || echo 1)" "$G2 gone, $V2 gone from sysfs"
else
  lab_log "A5: skipped (--no-a5)"
fi

# Part A as a whole: nothing bad in the guest console since the guest started
ck_console part_a.guest_console_clean 0
dmesg | grep -iE 'blkback|blkfront|taint|verification' > "$OUT/dom0-dmesg-blkback.txt"
part_a_verdict

# ------------------------------------------------------------------ Part B: the raw hazard
# Informational: nothing here calls lab_fail or ck.
fact phase.b "$EPOCHREALTIME"
lab_log "Part B: raw unbind + rmmod + modprobe xen-blkback feature_persistent=1 (no vbdctl)"
lab_use_depmod stock
fact b.ran 1
fact b.disks_already_dead "$(disks_dead && echo 1 || echo 0)"
fact b.params_before "$(mod_params)"
for d in xvdb xvdc; do fact b.$d.backend_feature_persistent_before "$(be_fp $d)"; done
G=$(gmark) S=$(smark)
T_B0=$EPOCHREALTIME
for d in xvdb xvdc; do lab_unbind "$(lab_vbd $d)"; done
for d in xvdb xvdc; do
  v=$(lab_vbd $d) dl=$((SECONDS + 60))
  while [ -L "$DEVS/$v/driver" ] && [ $SECONDS -lt $dl ]; do sleep 0.05; done
done
# lab_rmmod retries while the module is busy (references drain after the last unbind)
ATT=0
for ((i = 1; i <= 300; i++)); do rmmod xen-blkback 2>/dev/null && { ATT=$i; break; }; sleep 0.1; done
fact b.rmmod_attempts "$ATT"
kmark b-modprobe
T_MP=$EPOCHREALTIME
fact b.t_modprobe "$T_MP"
lab_dmesg_mark
modprobe xen-blkback feature_persistent=1; fact b.modprobe_rc $?
fact b.params_after "$(mod_params)"
fact b.unbind_to_modprobe_s "$(awk -v a="$T_B0" -v b="$T_MP" 'BEGIN{printf "%.2f", b - a}')"
# reconnects (dmesg "using N queues ... persistent grants" + state 4), then the console
declare -A CONN_AT=()
dl=$(( SECONDS + 32 ))
while [ $SECONDS -lt $dl ]; do
  for d in xvdb xvdc; do
    [ -n "${CONN_AT[$d]:-}" ] && continue
    v=$(lab_vbd $d)
    if [ -L "$DEVS/$v/driver" ] && dmesg | tail -n +$((DMESG_N + 1)) | grep -q "backend/vbd/$DOMID/${DEVID[$d]}: using" \
       && [ "$(xenstore-read "$(lab_be $d)/state" 2>/dev/null)" = 4 ]; then
      CONN_AT[$d]=$EPOCHREALTIME
      fact b.$d.reconnected_after_modprobe_s "$(awk -v a="$T_MP" -v b="${CONN_AT[$d]}" 'BEGIN{printf "%.2f", b - a}')"
    fi
  done
  s=$(gsince "$G")
  if grep -q "backed has not unmapped grant" <<<"$s" && grep -q "xvdb disabled for further use" <<<"$s" \
     && grep -q "xvdc disabled for further use" <<<"$s"; then
    lab_log "Part B: both disks disabled in the guest"
    sleep 2; break
  fi
  sleep 0.25
done
fact b.watched_s "$(awk -v a="$T_MP" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}')"
grant_lines b "$S"
gsince "$G" > "$P_OUT/b-guest-console.txt"
dmesg | tail -n +$((DMESG_N + 1)) > "$P_OUT/b-dom0-dmesg.txt"
lab_log "Part B: guest grant lines: $(wc -l < "$P_OUT/b-grant-lines.txt")"
sed 's/^/LAB   guest: /' "$P_OUT/b-grant-lines.txt" | head -n 10 >&2
# dom0's view after the hazard: states, statistics moving or not (5 s apart)
declare -A ST1=()
for d in xvdb xvdc; do ST1[$d]=$(stats "$(lab_vbd $d)"); done
sleep 5
for d in xvdb xvdc; do
  v=$(lab_vbd $d)
  fact b.$d.backend_state "$(xenstore-read "$(lab_be $d)/state" 2>/dev/null || echo absent)"
  fact b.$d.frontend_state "$(xenstore-read "$(lab_fe $d)/state" 2>/dev/null || echo absent)"
  fact b.$d.sysfs_state "$(cat "$DEVS/$v/state" 2>/dev/null || echo absent)"
  fact b.$d.bound "$([ -L "$DEVS/$v/driver" ] && echo 1 || echo 0)"
  fact b.$d.backend_feature_persistent_after "$(be_fp $d)"
  fact b.$d.stats_t0 "${ST1[$d]}"
  fact b.$d.stats_t5 "$(stats "$v")"
  fact b.$d.stats_moving "$([ "${ST1[$d]}" = "$(stats "$v")" ] && echo 0 || echo 1)"
  fact b.$d.error_node "$(xenstore-read /local/domain/0/error/backend/vbd/$DOMID/${DEVID[$d]}/error 2>/dev/null || echo absent)"
done
fact b.fio_ok_lines_since "$(gsince "$G" | grep -c 'FIO .* OK')"
fact b.fio_fail_lines_since "$(gsince "$G" | grep -c 'FIO .* FAIL')"
fact b.guest_clock_lines_since "$(gsince "$G" | grep -c 'GUEST CLOCK')"
fact b.guest_hung_task_lines "$(gsince "$G" | grep -ci 'blocked for more than')"
fact b.dom0_dmesg_new_lines "$(wc -l < "$P_OUT/b-dom0-dmesg.txt")"
finish
