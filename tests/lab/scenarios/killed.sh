#!/bin/bash
# killed: `vbdctl upgrade-backend --yes --json` killed with SIGKILL inside its steps, then
# `vbdctl recover --yes`, under guest fio verify (two disks, xvdb and xvdc, as smoke).
#  1. upgrade-backend --dry-run (warms dom0's page cache: the first vbdctl run of a boot spent
#     ~110 s in its preflight reading files, later ones ~10 s), then one un-killed
#     `upgrade-backend --yes --json` (stock -> updated.ko) started in the background: D = from
#     the appearance of its journal (/run/vbdctl/journal.json, written when step 1 begins) to the
#     process's exit, i.e. the duration of its steps (plus the report it prints), without the
#     preflight (15-30 s under TCG load, and where most kills of the first version landed)
#  2. until KILLS SIGKILLs have hit a running upgrade (at most 2 x KILLS attempts; an attempt
#     whose upgrade finished before its kill, or never wrote a journal, is recorded, not
#     counted): upgrade-backend --yes --json --module-file to the module that is not loaded
#     (updated.ko <-> stock.ko, so that every run really reloads) in the background; poll (a
#     builtin test every 20 ms) until its journal exists, then SIGKILL it after a delay drawn
#     uniformly from [0, D) by bash's RANDOM seeded with SEED (a fraction of D per attempt,
#     printed up front: the same seed gives the same fractions); the journal's step / step_name
#     as the kill left it ("after-steps" when the journal had already been removed); then
#     `vbdctl recover --yes --json` (exit code and JSON kept); then, read directly: every vbd
#     whose frontend is Connected is bound with backend state 4, both disks Connected,
#     drivers_autoprobe 1, the journal gone, a module loaded; `vbdctl check --json`.
#     Only builtins and vbdctl run between the kill and these checks (forks cost seconds here);
#     the JSON checks (recover ok, its step = the journal's, "restored drivers_autoprobe to 1"
#     in its actions where the kill left drivers_autoprobe 0, vbdcheck.py check: rings
#     consistent and moving, as smoke) and each kill's guest console window (no fio FAIL /
#     probe MISMATCH / IOERR / kernel BUG) are evaluated after the guest has stopped.
#     A failed recover is recorded (diagnostics in killed/) and ends the kill loop: with its
#     journal kept every further upgrade-backend would be refused.
#  3. list/check, one more verified fio pass on both disks; the guest's summary (0 verify errors,
#     0 I/O errors) decides results.json ok with every check above and the kills; a table (kill,
#     delay, step reached, recover exit, vbds Connected/total, autoprobe) and the verdict line
#     (killed/verdict.txt; tests/lab/run prints it last).
# Args (after "--" to tests/lab/run): --seed N (default: random, printed) --kills N (default 3)
#   --gap S (seconds between a recover's checks and the next kill, default 5)
#   --recover-timeout S (passed to recover as --timeout; default: none, vbdctl's own default)
set -u
. /lab/lib.sh
SEED="" KILLS=3 GAP=5 RECOVER_TIMEOUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) SEED=$2; shift 2 ;; --kills) KILLS=$2; shift 2 ;; --gap) GAP=$2; shift 2 ;;
    --recover-timeout) RECOVER_TIMEOUT=$2; shift 2 ;; *) shift ;;
  esac
done
[ -n "$SEED" ] || SEED=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
K_OUT=$OUT/killed
mkdir -p "$K_OUT"
KT=$K_OUT/kills.tsv
printf 'kill\tdelay_s\tfrac\tpre_s\tactual_s\ttarget\tkilled\tupgrade_rc\tstep\tautoprobe_before\trecover_rc\trecover_ok\tconnected\ttotal\tfe_connected\tautoprobe\tmodule_after\tjournal_after\trecover_s\tbad\tlate\tt0\ttend\n' > "$KT"
N_UP=0 N_KILLS=0 N_REC=0 D_MS=0 PRE_MS=-1 TOTAL_MS=0
JOURNAL=/run/vbdctl/journal.json
[ -n "${VBDCTL:-}" ] || { lab_fail "killed needs the vbdctl packages (--debs, or their dpkg -i failed: vbdctl-dpkg.log)"; printf '{"scenario":"killed","ok":false,"error":"vbdctl is not installed"}\n' > "$OUT/results.json"; exit 1; }
# the upgrades (measured and killed) run the binary itself (the wrapper execs it: $! is vbdctl's
# pid); every other vbdctl command is bounded
VBDCTL_RAW=$VBDCTL
VBDCTL=$(lab_vbdctl_bounded "${KILLED_VBDCTL_TIMEOUT:-240}")
lab_log "killed: seed $SEED, $KILLS kills"
echo "LAB killed: seed $SEED (rerun with -- --seed $SEED)" >&2

# MOD = stock | updated | none (which xen_blkback is loaded); builtins only
loaded_kind() { if [ ! -d /sys/module/xen_blkback ]; then MOD=none; elif [ -e /sys/module/xen_blkback/srcversion ]; then MOD=updated; else MOD=stock; fi; }
# TARGET = the module that is not loaded
other_ko() { loaded_kind; [ "$MOD" = updated ] && TARGET=stock || TARGET=updated; }
# elapsed VAR T0 T1: VAR = T1 - T0 (EPOCHREALTIME values) as seconds with 3 decimals, no fork
elapsed() { local d=$(( ${3/./} - ${2/./} )); printf -v "$1" '%d.%03d' $((d / 1000000)) $((d / 1000 % 1000)); }
# ms_between T0 T1: MS = T1 - T0 in ms (EPOCHREALTIME values), no fork
ms_between() { MS=$(( (${2/./} - ${1/./}) / 1000 )); }

# start_upgrade NAME TARGET: `upgrade-backend --yes --json --timeout 120 --module-file
# /lab-modules/TARGET.ko` in the background, output in $VBDCTL_OUT/NAME.json/.err; T0 = its
# start, PID = vbdctl's pid
start_upgrade() {
  T0=$EPOCHREALTIME
  "$VBDCTL_RAW" --json upgrade-backend --yes --timeout 120 --module-file "/lab-modules/$2.ko" \
    > "$VBDCTL_OUT/$1.json" 2> "$VBDCTL_OUT/$1.err" &
  PID=$!
}
# wait_journal [LIMIT_S]: poll (builtins only, every 20 ms) until $JOURNAL exists: TJ = then,
# return 0 (run_steps writes it as step 1 begins, after the preflight); return 1 when $PID has
# exited without one, 2 after LIMIT_S (300) s; TJ stays "" then
wait_journal() {
  local end=$((SECONDS + ${1:-300}))
  TJ=""
  while [ ! -e "$JOURNAL" ]; do
    kill -0 "$PID" 2>/dev/null || return 1
    [ $SECONDS -lt $end ] || return 2
    lab_sleep 0.02
  done
  TJ=$EPOCHREALTIME
}

print_table() {
  local h="%-4s %-8s %-8s %-7s %-8s %-12s %-16s %-7s %-9s %-9s %-8s\n"
  # shellcheck disable=SC2059
  printf "LAB killed: $h" kill delay_s actual_s pre_s target killed/exit step_reached recover connected autoprobe module >&2
  # shellcheck disable=SC2059
  tail -n +2 "$KT" | while IFS=$'\t' read -r k dl _ pre act tg kd urc st ap0 rrc _ con tot _ ap mod _; do
    printf "LAB killed: $h" "$k" "$dl" "$act" "$pre" "$tg" "$kd/$urc" "${st// /:}" "$rrc" "$con/$tot" "$ap0->$ap" "$mod" >&2
  done
}

# deferred_checks: after the guest stopped (python is cheap again): per kill, recover's JSON
# (ok; its op/step = the journal's as the kill left it; "restored drivers_autoprobe to 1" in its
# actions where the kill left drivers_autoprobe 0), vbdcheck.py's check of `vbdctl check --json`
# (as vb_check does), the guest console lines (stamped by dom0 on arrival) in the kill's window;
# "name<TAB>ok|fail<TAB>detail" -> ck_lines
deferred_checks() {
  python3 - "$KT" "$VBDCTL_OUT" "$OUT/guest-console.stamped.log" "$LAB" <<'PY' | ck_lines
import contextlib, csv, io, json, re, sys
kt, vout, stamped, lab = sys.argv[1:5]
sys.path.insert(0, lab)
import vbdcheck
BAD = re.compile(r"FIO [a-z]+ FAIL|PROBE [a-z]+ (MISMATCH|IOERR)|kernel BUG at|BUG: |Oops: |disabled for further use")
lines = vbdcheck.stamped_lines(stamped)
def out(name, ok, detail=""):
    print("%s\t%s\t%s" % (name, "ok" if ok else "fail", str(detail).replace("\t", " ").replace("\n", " ")[:600]))
for row in csv.DictReader(open(kt), delimiter="\t"):
    k = row["kill"]
    try:
        d = json.load(open("%s/kill%s-recover.json" % (vout, k)))
        acts = d.get("actions") or []
        out("kill%s.recover.json_ok" % k, d.get("ok") is True,
            "had_journal=%s op=%s step=%s actions=%s vbds=%s" % (d.get("had_journal"), d.get("op"), d.get("step"), acts, d.get("vbds")))
        m = re.match(r"(\d+) ", row["step"])
        if m:   # the kill left a journal: recover must have finished that run
            out("kill%s.recover.journal_step" % k, d.get("had_journal") is True and d.get("op") == "upgrade" and d.get("step") == int(m.group(1)),
                "journal at the kill: %s; recover: had_journal=%s op=%s step=%s" % (row["step"], d.get("had_journal"), d.get("op"), d.get("step")))
        else:
            out("kill%s.recover.journal_step" % k, d.get("had_journal") is False,
                "no journal at the kill (%s); recover: had_journal=%s" % (row["step"], d.get("had_journal")))
        if row["autoprobe_before"] == "0":
            out("kill%s.recover.restored_autoprobe" % k, any(str(a).startswith("restored drivers_autoprobe to 1") for a in acts),
                "drivers_autoprobe 0 before recover; actions=%s" % acts)
        print("LAB killed: kill %s: recover JSON ok=%s had_journal=%s op=%s step=%s actions=%s" % (
            k, d.get("ok"), d.get("had_journal"), d.get("op"), d.get("step"), acts), file=sys.stderr)
    except (OSError, ValueError) as e:
        out("kill%s.recover.json_ok" % k, False, "no JSON: %s" % e)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            vbdcheck.cmd_check("%s/kill%s-check.json" % (vout, k))
    except (OSError, ValueError) as e:
        buf.write("kill%s-check.json\tfail\tno JSON: %s\n" % (k, e))
    sys.stdout.write(buf.getvalue())
    t0, t1 = float(row["t0"]), float(row["tend"])
    bad = [t for st, t in lines if t0 <= st <= t1 and BAD.search(t)]
    out("kill%s.guest_console_clean" % k, not bad, "|".join(bad[:5]) or "clean (%d lines)" % sum(1 for st, _ in lines if t0 <= st <= t1))
PY
}

finish() {
  dmesg | grep -iE 'blkback|blkfront|taint|verification' > "$OUT/dom0-dmesg-blkback.txt"
  lab_stop_guest
  deferred_checks
  local x; x=$(lab_vbdctl_checks_json)
  lab_results killed "{\"cycles\":{\"upgrade\":$N_UP,\"killed_upgrade\":$N_KILLS,\"recovered\":$N_REC},${x#\{}" > /dev/null
  python3 - "$OUT/results.json" "$KT" "$SEED" "$KILLS" "$D_MS" "$K_OUT/verdict.txt" "$PRE_MS" "$TOTAL_MS" <<'PY'
import csv, json, re, sys
res, kt, seed, kills, d_ms, vpath, pre_ms, total_ms = sys.argv[1:9]
r = json.load(open(res))
rows = list(csv.DictReader(open(kt), delimiter="\t"))
for x in rows:
    for k in ("kill", "upgrade_rc", "recover_rc", "connected", "total", "fe_connected"):
        try:
            x[k] = int(x[k])
        except (TypeError, ValueError):
            pass
r["seed"] = int(seed)
r["kills_requested"] = int(kills)
r["measured_upgrade_ms"] = int(d_ms)          # journal appearance -> exit: the range of the delays
r["measured_preflight_ms"] = int(pre_ms)      # start -> journal appearance
r["measured_total_ms"] = int(total_ms)        # start -> exit
r["kills"] = rows
done = len(rows)
killed = sum(1 for x in rows if x["killed"] == "yes")
in_steps = [x["step"] for x in rows if x["killed"] == "yes" and re.match(r"\d+ ", x["step"])]
rec = sum(1 for x in rows if x["recover_rc"] == 0 and x["recover_ok"] == "true")
r["kills_done"] = killed
r["kills_in_steps"] = len(in_steps)
r["attempts"] = done
r["recovered"] = rec
r["guest_ok"] = r.get("ok")
r["ok"] = bool(r.get("ok")) and killed >= int(kills) and rec == done
json.dump(r, open(res, "w"), indent=1, sort_keys=True)
open(res, "a").write("\n")
c = r.get("vbdctl_checks") or {}
bad = [k for k, v in c.items() if not v]
s = "%s: %d/%d SIGKILLs (%d inside steps: %s), recover ok %d/%d (seed %s, delays within %.1f s of steps), checks %d/%d, cycles %s, verify_errors %s io_errors %s mismatches %s" % (
    "PASS" if r["ok"] else "FAIL", killed, int(kills), len(in_steps), ", ".join(x.replace(" ", ":") for x in in_steps) or "-",
    rec, done, seed, int(d_ms) / 1000, len(c) - len(bad), len(c),
    json.dumps(r.get("cycles"), sort_keys=True), r.get("verify_errors"), r.get("io_errors"), r.get("probe_mismatches"))
if bad:
    s += "; failed: " + ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
elif r.get("failures"):
    s += "; failures: " + "; ".join(r["failures"][:3])
open(vpath, "w").write("lab killed: " + s + "\n")
PY
  cat "$OUT/results.json"
  print_table
  echo "LAB $(cat "$K_OUT/verdict.txt")" >&2
}

lab_start_guest || lab_abort killed
lab_wait_guest_io 300 || { finish; exit 1; }
lab_check_geometry
sleep 3

# ------------------------------------------------------------------ 1. the un-killed upgrade: D
other_ko
vb warmup-dry-run upgrade-backend --dry-run --module-file /lab-modules/$TARGET.ko
lab_journal
[ "$JOURNAL_STEP" = none ]; ck measure.no_journal_before $? "journal before the run: $JOURNAL_STEP"
lab_log "killed: measuring one un-killed upgrade-backend --yes --json (-> $TARGET.ko), from its journal to its exit"
start_upgrade measure-upgrade "$TARGET"
wait_journal 300; WJ=$?
wait "$PID"; M_RC=$?
TX=$EPOCHREALTIME
ms_between "$T0" "$TX"; TOTAL_MS=$MS
if [ $WJ = 0 ]; then
  ms_between "$TJ" "$TX"; D_MS=$MS
  ms_between "$T0" "$TJ"; PRE_MS=$MS
else
  D_MS=$TOTAL_MS
  lab_fail "measure: no journal seen (wait_journal $WJ, exit $M_RC): the delays fall back to start..exit"
fi
ck measure.journal_seen "$WJ" "wait_journal $WJ"
VB_T0=$T0 VB_T1=$TX VB_RC=$M_RC
vb_upgrade_disruptions measure-upgrade upgrade
[ $M_RC = 0 ] && N_UP=$((N_UP + 1))
lab_log "vbdctl upgrade-backend (measure) -> exit $M_RC ($TOTAL_MS ms: preflight $PRE_MS, steps $D_MS)"
F=$VBDCTL_OUT/measure-upgrade.json
mapfile -t R < <(python3 "$LAB/vbdcheck.py" get \
  "$F" 'd["ok"] is True and not d.get("rolled_back") and len(d["vbds"]) == 2 and all(v["backend_state"] == 4 and v["consistent"] is True for v in d["vbds"])' \
  "$F" 'd.get("failure")' \
  "$F" "' '.join('%s:%s' % (s.get('name'), s.get('ms')) for s in d.get('steps') or []) + ' window_ms:%s' % d.get('window_ms')")
loaded_kind; lab_journal; lab_autoprobe
ck measure.exit0 "$M_RC" "exit $M_RC"
ck measure.ok "${R[0]:-}" "${R[1]:-}"
ck measure.module "$([ "$MOD" = "$TARGET" ] && echo 0 || echo 1)" "loaded $MOD, wanted $TARGET"
[ "$JOURNAL_STEP" = none ]; ck measure.journal_gone $? "journal after the run: $JOURNAL_STEP"
[ "$AUTOPROBE" = 1 ]; ck measure.autoprobe_1 $? "drivers_autoprobe $AUTOPROBE"
echo "measured_ms=$D_MS preflight_ms=$PRE_MS total_ms=$TOTAL_MS steps=${R[2]:-}" > "$K_OUT/measured.txt"
echo "LAB killed: un-killed upgrade: $TOTAL_MS ms in all, preflight $PRE_MS ms, journal to exit $D_MS ms (the range of the delays); steps (ms): ${R[2]:-}" >&2
[ "$D_MS" -gt 0 ] || D_MS=1

# the kill delays after the journal appears: uniform in [0, D) from the seed
RANDOM=$SEED
declare -a DELAY_MS FRAC
MAX_ATTEMPTS=$((2 * KILLS))
for ((k = 1; k <= MAX_ATTEMPTS; k++)); do
  r30=$(( (RANDOM << 15) | RANDOM ))
  DELAY_MS[k]=$(( r30 * D_MS / 1073741824 ))
  printf -v "FRAC[$k]" '0.%03d' $(( r30 * 1000 / 1073741824 ))
done
echo "LAB killed: seed $SEED -> fractions of D: ${FRAC[*]}; delays after the journal appears (ms): ${DELAY_MS[*]} (one per attempt; an upgrade that finished before its kill does not count as a kill)" >&2
lab_sleep "$GAP"

# ------------------------------------------------------------------ 2. kill, recover, verify
for ((k = 1; k <= MAX_ATTEMPTS && N_KILLS < KILLS; k++)); do
  if [ $((SECONDS + 420)) -ge "${SCENARIO_TIMEOUT:-1200}" ]; then
    lab_fail "stopping early after $N_KILLS kills ($((k - 1)) attempts): scenario time budget"
    break
  fi
  other_ko
  printf -v DS '%d.%03d' $((DELAY_MS[k] / 1000)) $((DELAY_MS[k] % 1000))
  lab_log "kill $k: upgrade-backend -> $TARGET.ko, SIGKILL $DS s after its journal appears (frac ${FRAC[k]} of $D_MS ms)"
  start_upgrade "kill$k-upgrade" "$TARGET"
  wait_journal 300; WJ=$?
  case $WJ in
    0) lab_sleep "$DS"; kill -KILL "$PID" 2>/dev/null ;;
    2) kill -KILL "$PID" 2>/dev/null ;;   # still in its preflight after 300 s
  esac
  TK=$EPOCHREALTIME
  wait "$PID"; URC=$?
  # 137 = 128 + SIGKILL (vbdctl's own exit codes are 0, 1, 2, 130): it was still running
  [ $URC = 137 ] && KILLED=yes || KILLED=no
  # the state the kill left, builtins only (plus one xenstore-read)
  lab_journal; STEP=$JOURNAL_STEP
  if [ "$STEP" = none ]; then [ -n "$TJ" ] && STEP=after-steps || STEP=preflight; fi
  [ ${#JOURNAL_LINES[@]} = 0 ] || printf '%s\n' "${JOURNAL_LINES[@]}" > "$K_OUT/kill$k-journal.json"
  lab_vbd_summary; lab_autoprobe; loaded_kind
  AP0=$AUTOPROBE
  RC0=absent; read -r RC0 2>/dev/null < /sys/module/xen_blkback/refcnt
  if [ -n "$TJ" ]; then elapsed ACT "$TJ" "$TK"; elapsed PRE "$T0" "$TJ"; else elapsed ACT "$T0" "$TK"; PRE=-; fi
  BEFORE="step=$STEP autoprobe=$AP0 module=$MOD refcnt=$RC0 vbds=$VS_DETAIL"
  echo "$BEFORE" > "$K_OUT/kill$k-before-recover.txt"
  echo "LAB killed: kill $k: SIGKILL $ACT s after the journal appeared (preflight $PRE s; killed=$KILLED, exit $URC); journal step reached: $STEP; before recover: $BEFORE" >&2
  if [ $KILLED = yes ]; then N_KILLS=$((N_KILLS + 1)); else lab_log "attempt $k: the upgrade ended (exit $URC, journal wait $WJ) before its SIGKILL: not a kill"; fi

  vb kill$k-recover recover --yes ${RECOVER_TIMEOUT:+--timeout "$RECOVER_TIMEOUT"}
  RRC=$VB_RC
  elapsed RS "$VB_T0" "$VB_T1"
  lab_vbd_summary; lab_autoprobe; loaded_kind; lab_journal
  AP=$AUTOPROBE JA=$JOURNAL_STEP CONN=$VS_CONNECTED TOT=$VS_TOTAL FEC=$VS_FE_CONNECTED BAD=$VS_BAD
  [ $RRC = 0 ] && [ "$JA" = none ] && ROK=true || ROK=false
  [ $ROK = true ] && N_REC=$((N_REC + 1))
  echo "LAB killed: kill $k: recover exit $RRC in $RS s; after: journal $JA, autoprobe $AP0 -> $AP, module $MOD, $CONN/$TOT vbds Connected${BAD:+, NOT: $BAD}" >&2
  ck kill$k.recover.exit0 "$RRC" "exit $RRC"
  # (no $(...) here: each one is a fork)
  [ "$JA" = none ]; ck kill$k.journal_gone $? "journal after recover: $JA"
  [ "$AP" = 1 ]; ck kill$k.autoprobe_1 $? "drivers_autoprobe $AP (before recover $AP0)"
  [ "$MOD" != none ]; ck kill$k.module_loaded $? "loaded $MOD"
  [ -z "$BAD" ]; ck kill$k.fe_connected_vbds_bound_and_connected $? "${BAD:-ok}; $VS_DETAIL"
  [ "$CONN" = 2 ] && [ "$TOT" = 2 ]; ck kill$k.both_disks_connected $? "$CONN/$TOT connected; $VS_DETAIL"
  # not Connected when recover returned: does it come later by itself? (information only)
  LATE=-
  if [ "$CONN" != "$TOT" ] || [ -n "$BAD" ]; then
    for ((i = 0; i < 60; i++)); do lab_vbd_summary; [ "$VS_CONNECTED" = "$VS_TOTAL" ] && [ -z "$VS_BAD" ] && break; lab_sleep 1; done
    LATE="after+${i}s:$VS_CONNECTED/$VS_TOTAL"
    lab_log "kill $k: $i s after recover: $VS_CONNECTED/$VS_TOTAL connected; $VS_DETAIL"
  fi
  # the JSON is checked by vbdcheck.py after the guest stopped (deferred_checks)
  vb kill$k-check check --samples "${CHECK_SAMPLES:-5}" --interval "${CHECK_INTERVAL:-500}"
  ck kill$k-check.exit "$VB_RC" "exit $VB_RC"
  TE=$VB_T1
  ms_between "$T0" "$TE"
  for d in xvdb xvdc; do
    printf '%s\t%s\t%s\t%s\t%s\n' killed-upgrade "vbd-$DOMID-${DEVID[$d]}" "$T0" "$TE" "$MS" >> "$DISRUPTIONS"
  done
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$k" "$DS" "${FRAC[k]}" "$PRE" "$ACT" "$TARGET" "$KILLED" "$URC" "$STEP" "$AP0" "$RRC" "$ROK" \
    "$CONN" "$TOT" "$FEC" "$AP" "$MOD" "$JA" "$RS" "${BAD:--}" "$LATE" "$T0" "$TE" >> "$KT"
  if [ $ROK != true ]; then
    lab_log "kill $k: recover failed (exit $RRC, journal $JA): diagnostics in killed/; no further kills"
    cp "$VBDCTL_OUT/kill$k-recover.json" "$K_OUT/kill$k-recover-failed.json"
    cp "$JOURNAL" "$K_OUT/kill$k-journal-after-recover.json" 2>/dev/null
    { ls -la /run/vbdctl /run/vbdctl/rollback; lsmod | grep -i blk; cat /sys/module/xen_blkback/refcnt;
      xenstore-ls -f /local/domain/0/backend/vbd; dmesg | tail -n 60; } > "$K_OUT/kill$k-diagnostics.txt" 2>&1
    sed 's/^/LAB   recover json: /' "$VBDCTL_OUT/kill$k-recover.json" >&2
    sed 's/^/LAB   recover stderr: /' "$VBDCTL_OUT/kill$k-recover.err" >&2
    break
  fi
  lab_sleep "$GAP"
done

# ------------------------------------------------------------------ 3. final state, fio, verdict
vb_list list-final
vb_check check-final
lab_wait_fio_pass 300 || lab_fail "no verified fio pass after the last recover"
finish
