#!/bin/bash
# killed (chaos): vbdctl's mutating commands killed with SIGKILL at random moments, each kill
# followed by `vbdctl recover --yes --json`, under guest fio verify (two disks, xvdb and xvdc, as
# smoke). The commands (--commands, default all four), each one's kill chosen per attempt:
#   upgrade  `upgrade-backend --yes --json --timeout 120 --module-file /lab-modules/T.ko`, T the
#            module that is not loaded (updated.ko <-> stock.ko, so that every run really reloads)
#   unbind   `unbind DOMID VBD --yes --json --timeout 120`, VBD xvdb or xvdc
#   bind     `bind DOMID VBD --yes --json --timeout 120` of a vbd unbound just before by an
#            un-killed `vbdctl unbind` (which leaves the journal, op "unbind", step 3 "unbound")
#   recover  `recover --yes --json` run after an upgrade-backend killed inside its steps (so
#            there is a journal to recover: the upgrade is killed after a delay drawn from
#            [0, 0.9 D(upgrade)) after its journal appeared); then recover again (the checked one)
# A command's "anchor" is the moment its steps begin, seen in its journal (/run/vbdctl/journal.json;
# a builtin poll every 20 ms, no fork): upgrade-backend and unbind create it as step 1 begins,
# bind rewrites unbind's journal (step 1 "bind"), recover rewrites the killed upgrade's journal
# ("recovering": true, its own steps load, drain, bind, verify). The kill comes a delay after the
# anchor (the preflight before it is 10-40 s under TCG, where most kills of the first version landed).
#  1. upgrade-backend --dry-run (warms dom0's page cache: the first vbdctl run of a boot spent
#     ~110 s in its preflight reading files, later ones ~10 s), then each enabled command once
#     un-killed, measuring D(command) = from its anchor to the process's exit (its steps plus the
#     report it prints): upgrade-backend (stock -> updated.ko; needed by upgrade and recover),
#     unbind then bind of xvdc, and recover after an upgrade-backend SIGKILLed in the middle of
#     its step 5 load (by the measured upgrade's step times; both vbds unbound: the longest
#     recover) after its journal appeared (0.3, then 0.1 D if that upgrade left no journal);
#     that recover gets the same checks as one after a kill (rows m1.. in killed/measure.tsv)
#  2. until KILLS SIGKILLs have hit a running command (at most 2 x KILLS attempts; an attempt
#     whose command finished before its kill is recorded, not counted): per attempt, from bash's
#     RANDOM seeded with SEED (the whole plan is printed up front: the same seed and --commands
#     give the same plan; delays in ms follow the D measured in that run), the command (uniform
#     over --commands), the fraction of D after its anchor at which it is killed, the disk
#     (unbind, bind) and the fraction for the upgrade killed before a recover. Recorded: the
#     journal's op / step / step_name as the kill left it ("after-steps" when the command had
#     removed it already, "preflight" when it never had one), drivers_autoprobe before recover;
#     then `vbdctl recover --yes --json` (exit code and JSON kept); then, read directly: every
#     vbd whose frontend is Connected is bound with backend state 4, both disks Connected,
#     drivers_autoprobe 1, the journal gone, a module loaded; `vbdctl check --json`.
#     Only builtins and vbdctl run between the kill and these checks (forks cost seconds here);
#     the JSON checks (recover ok, its op / step = the journal's as the kill left it, "restored
#     drivers_autoprobe to 1" in its actions where the kill left drivers_autoprobe 0, vbdcheck.py
#     check: rings consistent and moving, as smoke; the measuring unbind / bind / recover ok) and
#     each kill's guest console window (no fio FAIL / probe MISMATCH / IOERR / kernel BUG) are
#     evaluated after the guest has stopped. A failed recover is recorded (diagnostics in
#     killed/) and ends the kill loop: with its journal kept every further command is refused.
#  3. list/check, one more verified fio pass on both disks; the guest's summary (0 verify errors,
#     0 I/O errors) decides results.json ok with every check above and the kills; a table (kill,
#     command, target, delay, step reached, recover exit, vbds Connected/total, autoprobe) and the
#     verdict line with the kills by command (killed/verdict.txt; tests/lab/run prints it last).
# Args (after "--" to tests/lab/run): --seed N (default: random, printed) --kills N (default 3)
#   --gap S (seconds between a recover's checks and the next kill, default 5)
#   --recover-timeout S (passed to recover as --timeout; default: none, vbdctl's own default)
#   --commands LIST (comma-separated subset of upgrade,unbind,bind,recover; default all four)
set -u
. /lab/lib.sh
SEED="" KILLS=3 GAP=5 RECOVER_TIMEOUT="" COMMANDS=upgrade,unbind,bind,recover
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) SEED=$2; shift 2 ;; --kills) KILLS=$2; shift 2 ;; --gap) GAP=$2; shift 2 ;;
    --recover-timeout) RECOVER_TIMEOUT=$2; shift 2 ;; --commands) COMMANDS=$2; shift 2 ;; *) shift ;;
  esac
done
[ -n "$SEED" ] || SEED=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
K_OUT=$OUT/killed
mkdir -p "$K_OUT"
KT=$K_OUT/kills.tsv MT=$K_OUT/measure.tsv
HEADER='kill\tcmd\tdelay_s\tfrac\tpre_s\tactual_s\ttarget\tprep\tkilled\tcmd_rc\tin_steps\tstep\tjournal_op\tautoprobe_before\trecover_rc\trecover_ok\tconnected\ttotal\tfe_connected\tautoprobe\tmodule_after\tjournal_after\trecover_s\tbad\tlate\tt0\ttend\n'
printf "$HEADER" > "$KT"
printf "$HEADER" > "$MT"
ALL_CMDS=(upgrade unbind bind recover)
declare -A ON=() D=() PRE=() TOTAL=() NK=() NA=()
CMDS=()
for c in ${COMMANDS//,/ }; do
  case " ${ALL_CMDS[*]} " in *" $c "*) ;; *) lab_fail "--commands: unknown command $c (upgrade, unbind, bind, recover)"; printf '{"scenario":"killed","ok":false,"error":"--commands: unknown command %s"}\n' "$c" > "$OUT/results.json"; exit 1 ;; esac
  [ -n "${ON[$c]:-}" ] || CMDS+=("$c")
  ON[$c]=1
done
[ ${#CMDS[@]} -gt 0 ] || { lab_fail "--commands: empty"; printf '{"scenario":"killed","ok":false,"error":"--commands is empty"}\n' > "$OUT/results.json"; exit 1; }
for c in "${ALL_CMDS[@]}"; do NK[$c]=0 NA[$c]=0 D[$c]=0 PRE[$c]=-1 TOTAL[$c]=0; done
N_UP=0 N_KILLS=0 N_REC=0
JOURNAL=/run/vbdctl/journal.json
[ -n "${VBDCTL:-}" ] || { lab_fail "killed needs the vbdctl packages (--debs, or their dpkg -i failed: vbdctl-dpkg.log)"; printf '{"scenario":"killed","ok":false,"error":"vbdctl is not installed"}\n' > "$OUT/results.json"; exit 1; }
# the killed (and measured) commands run the binary itself (the wrapper execs it: $! is vbdctl's
# pid); every other vbdctl command is bounded
VBDCTL_RAW=$VBDCTL
VBDCTL=$(lab_vbdctl_bounded "${KILLED_VBDCTL_TIMEOUT:-240}")
lab_log "killed: seed $SEED, $KILLS kills of ${CMDS[*]}"
echo "LAB killed: seed $SEED, commands ${CMDS[*]} (rerun with -- --seed $SEED --commands $(IFS=,; echo "${CMDS[*]}"))" >&2

# MOD = stock | updated | none (which xen_blkback is loaded); builtins only
loaded_kind() { if [ ! -d /sys/module/xen_blkback ]; then MOD=none; elif [ -e /sys/module/xen_blkback/srcversion ]; then MOD=updated; else MOD=stock; fi; }
# TARGET = the module that is not loaded
other_ko() { loaded_kind; [ "$MOD" = updated ] && TARGET=stock || TARGET=updated; }
# elapsed VAR T0 T1: VAR = T1 - T0 (EPOCHREALTIME values) as seconds with 3 decimals, no fork
elapsed() { local d=$(( ${3/./} - ${2/./} )); printf -v "$1" '%d.%03d' $((d / 1000000)) $((d / 1000 % 1000)); }
# ms_between T0 T1: MS = T1 - T0 in ms (EPOCHREALTIME values), no fork
ms_between() { MS=$(( (${2/./} - ${1/./}) / 1000 )); }
# ms_s MS VAR: VAR = MS as seconds with 3 decimals, no fork
ms_s() { printf -v "$2" '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# cmd_args CMD TARGET: ARGS = vbdctl's arguments (after --json) for CMD on TARGET (a module:
# stock|updated for upgrade; a disk for unbind and bind; ignored for recover)
cmd_args() {
  case $1 in
    upgrade) ARGS=(upgrade-backend --yes --timeout 120 --module-file "/lab-modules/$2.ko") ;;
    unbind|bind) ARGS=("$1" "$DOMID" "$2" --yes --timeout 120) ;;
    recover) ARGS=(recover --yes ${RECOVER_TIMEOUT:+--timeout "$RECOVER_TIMEOUT"}) ;;
  esac
}
# journal_head: J_SNAP = the journal's first 12 lines joined ("" without one): its keys are
# sorted, so they hold op, recovering, step and step_name (builtins only)
journal_head() {
  local l=()
  [ -e "$JOURNAL" ] && { mapfile -t -n 12 l < "$JOURNAL"; } 2>/dev/null
  J_SNAP="${l[*]}"
}
# start_cmd NAME BIN ARGS...: `BIN --json ARGS` in the background, output in
# $VBDCTL_OUT/NAME.json/.err; J0 = the journal's head before it, T0 = its start, PID = its pid
start_cmd() {
  local name=$1 bin=$2; shift 2
  journal_head; J0=$J_SNAP
  T0=$EPOCHREALTIME
  "$bin" --json "$@" > "$VBDCTL_OUT/$name.json" 2> "$VBDCTL_OUT/$name.err" &
  PID=$!
}
# wait_anchor [LIMIT_S]: poll (builtins only, every 20 ms) until the journal differs from J0: it
# appeared (J0 empty: upgrade-backend, unbind) or was rewritten or removed (bind, recover): TJ =
# then, return 0; return 1 when $PID has exited first, 2 after LIMIT_S (300) s; TJ stays "" then
wait_anchor() {
  local end=$((SECONDS + ${1:-300}))
  TJ=""
  while :; do
    if [ -z "$J0" ]; then
      [ -e "$JOURNAL" ] && break
    else
      journal_head; [ "$J_SNAP" != "$J0" ] && break
    fi
    kill -0 "$PID" 2>/dev/null || return 1
    [ $SECONDS -lt $end ] || return 2
    lab_sleep 0.02
  done
  TJ=$EPOCHREALTIME
}
# kill_at DS: after wait_anchor (status WJ), SIGKILL $PID DS seconds after its anchor (at once
# when still in its preflight after 300 s); wait for it: RC (137 = 128 + SIGKILL: it was still
# running; vbdctl's own exit codes are 0, 1, 2, 130), TK = the kill, KILLED = yes|no
kill_at() {
  case $WJ in
    0) lab_sleep "$1"; kill -KILL "$PID" 2>/dev/null ;;
    2) kill -KILL "$PID" 2>/dev/null ;;
  esac
  TK=$EPOCHREALTIME
  wait "$PID"; RC=$?
  [ $RC = 137 ] && KILLED=yes || KILLED=no
}
# measure CMD TARGET: one un-killed run of CMD (vbdctl itself, in the background): D[CMD] = its
# anchor to its exit, PRE[CMD] = start to anchor, TOTAL[CMD] = start to exit (ms); M_RC, TX
measure() {
  local c=$1 wj lenient=0
  cmd_args "$c" "$2"
  start_cmd "measure-$c" "$VBDCTL_RAW" "${ARGS[@]}"
  # a recover without a journal to take over (the upgrade before it finished) has no anchor
  [ $c = recover ] && [ -z "$J0" ] && lenient=1
  wait_anchor 300; wj=$?
  wait "$PID"; M_RC=$?
  TX=$EPOCHREALTIME
  ms_between "$T0" "$TX"; TOTAL[$c]=$MS
  if [ $wj = 0 ]; then
    ms_between "$TJ" "$TX"; D[$c]=$MS
    ms_between "$T0" "$TJ"; PRE[$c]=$MS
  elif [ $lenient = 1 ]; then
    D[$c]=$MS
    lab_log "measure $c: no journal to take over: no anchor (exit $M_RC)"
  else
    D[$c]=$MS
    lab_fail "measure $c: its journal did not change (wait_anchor $wj, exit $M_RC): the delays fall back to start..exit"
  fi
  [ $lenient = 1 ] || ck "measure-$c.anchor_seen" "$wj" "wait_anchor $wj"
  ck "measure-$c.exit0" "$M_RC" "exit $M_RC"
  lab_log "vbdctl ${ARGS[*]} (measure) -> exit $M_RC (${TOTAL[$c]} ms: preflight ${PRE[$c]}, steps ${D[$c]})"
  [ $M_RC = 0 ] || sed 's/^/LAB   vbdctl stderr: /' "$VBDCTL_OUT/measure-$c.err" | tail -n 8 >&2
  [ "${D[$c]}" -gt 0 ] || D[$c]=1
}

# attempt LABEL CMD TARGET DS PDS FRAC TSV: kill CMD DS s after its anchor (a recover: after an
# upgrade-backend killed PDS s after its journal appeared), then recover and check; one row in TSV.
# RECOVER_MEASURE=1: the checked recover runs like measure (D[recover] from its anchor)
attempt() {
  local L=$1 c=$2 tgt=$3 ds=$4 pds=$5 frac=$6 tsv=$7 ta prep=- act pre step jop ap0 rc0 inst rc killed i d
  ta=$EPOCHREALTIME
  case $c in
    bind)   # unbind it first, un-killed: bind's journal is unbind's ("3 unbound")
      vb "$L-pre-unbind" unbind "$DOMID" "$tgt" --yes --timeout 120
      prep="unbind:$VB_RC"
      [ $VB_RC = 0 ] || lab_fail "$L: the un-killed unbind before the bind failed (exit $VB_RC)" ;;
    recover)   # an upgrade-backend killed inside its steps leaves the journal to recover
      cmd_args upgrade "$tgt"
      start_cmd "$L-pre-upgrade" "$VBDCTL_RAW" "${ARGS[@]}"
      wait_anchor 300; WJ=$?
      kill_at "$pds"
      lab_journal
      prep="upgrade:$RC@${JOURNAL_STEP// /:}"
      [ ${#JOURNAL_LINES[@]} = 0 ] || printf '%s\n' "${JOURNAL_LINES[@]}" > "$K_OUT/$L-pre-journal.json"
      echo "LAB killed: $L: upgrade-backend before the recover: SIGKILL $pds s after its journal appeared (killed=$KILLED, exit $RC); journal $JOURNAL_STEP" >&2 ;;
  esac
  cmd_args "$c" "$tgt"
  lab_log "$L: $c ${ARGS[*]:1}: SIGKILL $ds s after its anchor (frac $frac of ${D[$c]} ms)"
  start_cmd "$L-$c" "$VBDCTL_RAW" "${ARGS[@]}"
  wait_anchor 300; WJ=$?
  kill_at "$ds"
  rc=$RC killed=$KILLED
  # the state the kill left, builtins only (plus one xenstore-read)
  lab_journal; step=$JOURNAL_STEP jop=$JOURNAL_OP
  [ "$JOURNAL_RECOVERING" = true ] && jop+=/recovering
  if [ "$step" = none ]; then [ -n "$TJ" ] && step=after-steps || step=preflight; fi
  # inside steps: killed after its anchor, with its journal still there
  [ $killed = yes ] && [ -n "$TJ" ] && [ "$JOURNAL_STEP" != none ] && inst=yes || inst=no
  [ ${#JOURNAL_LINES[@]} = 0 ] || printf '%s\n' "${JOURNAL_LINES[@]}" > "$K_OUT/$L-journal.json"
  lab_vbd_summary; lab_autoprobe; loaded_kind
  ap0=$AUTOPROBE
  rc0=absent; read -r rc0 2>/dev/null < /sys/module/xen_blkback/refcnt
  if [ -n "$TJ" ]; then elapsed act "$TJ" "$TK"; elapsed pre "$T0" "$TJ"; else elapsed act "$T0" "$TK"; pre=-; fi
  BEFORE="cmd=$c step=$step op=$jop autoprobe=$ap0 module=$MOD refcnt=$rc0 vbds=$VS_DETAIL"
  echo "$BEFORE" > "$K_OUT/$L-before-recover.txt"
  echo "LAB killed: $L: $c: SIGKILL $act s after its anchor (preflight $pre s; killed=$killed, exit $rc); journal step reached: $step ($jop); before recover: $BEFORE" >&2
  if [ "$tsv" = "$KT" ]; then
    NA[$c]=$((NA[$c] + 1))
    if [ $killed = yes ]; then N_KILLS=$((N_KILLS + 1)) NK[$c]=$((NK[$c] + 1)); else lab_log "$L: the $c ended (exit $rc, anchor wait $WJ) before its SIGKILL: not a kill"; fi
  fi

  if [ "${RECOVER_MEASURE:-0}" = 1 ]; then
    measure recover -
    VB_T0=$T0 VB_T1=$TX VB_RC=$M_RC
    cp "$VBDCTL_OUT/measure-recover.json" "$VBDCTL_OUT/$L-recover.json"
  else
    vb "$L-recover" recover --yes ${RECOVER_TIMEOUT:+--timeout "$RECOVER_TIMEOUT"}
  fi
  RRC=$VB_RC
  elapsed RS "$VB_T0" "$VB_T1"
  lab_vbd_summary; lab_autoprobe; loaded_kind; lab_journal
  AP=$AUTOPROBE JA=$JOURNAL_STEP CONN=$VS_CONNECTED TOT=$VS_TOTAL FEC=$VS_FE_CONNECTED BAD=$VS_BAD
  [ $RRC = 0 ] && [ "$JA" = none ] && ROK=true || ROK=false
  [ "$tsv" = "$KT" ] && [ $ROK = true ] && N_REC=$((N_REC + 1))
  echo "LAB killed: $L: recover exit $RRC in $RS s; after: journal $JA, autoprobe $ap0 -> $AP, module $MOD, $CONN/$TOT vbds Connected${BAD:+, NOT: $BAD}" >&2
  ck $L.recover.exit0 "$RRC" "exit $RRC"
  # (no $(...) here: each one is a fork)
  [ "$JA" = none ]; ck $L.journal_gone $? "journal after recover: $JA"
  [ "$AP" = 1 ]; ck $L.autoprobe_1 $? "drivers_autoprobe $AP (before recover $ap0)"
  [ "$MOD" != none ]; ck $L.module_loaded $? "loaded $MOD"
  [ -z "$BAD" ]; ck $L.fe_connected_vbds_bound_and_connected $? "${BAD:-ok}; $VS_DETAIL"
  [ "$CONN" = 2 ] && [ "$TOT" = 2 ]; ck $L.both_disks_connected $? "$CONN/$TOT connected; $VS_DETAIL"
  # not Connected when recover returned: does it come later by itself? (information only)
  LATE=-
  if [ "$CONN" != "$TOT" ] || [ -n "$BAD" ]; then
    for ((i = 0; i < 60; i++)); do lab_vbd_summary; [ "$VS_CONNECTED" = "$VS_TOTAL" ] && [ -z "$VS_BAD" ] && break; lab_sleep 1; done
    LATE="after+${i}s:$VS_CONNECTED/$VS_TOTAL"
    lab_log "$L: $i s after recover: $VS_CONNECTED/$VS_TOTAL connected; $VS_DETAIL"
  fi
  # the JSON is checked by vbdcheck.py after the guest stopped (deferred_checks)
  vb $L-check check --samples "${CHECK_SAMPLES:-5}" --interval "${CHECK_INTERVAL:-500}"
  ck $L-check.exit "$VB_RC" "exit $VB_RC"
  TE=$VB_T1
  ms_between "$ta" "$TE"
  for d in xvdb xvdc; do
    printf '%s\t%s\t%s\t%s\t%s\n' "killed-$c" "vbd-$DOMID-${DEVID[$d]}" "$ta" "$TE" "$MS" >> "$DISRUPTIONS"
  done
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "${L#kill}" "$c" "$ds" "$frac" "$pre" "$act" "$tgt" "$prep" "$killed" "$rc" "$inst" "$step" "$jop" "$ap0" "$RRC" "$ROK" \
    "$CONN" "$TOT" "$FEC" "$AP" "$MOD" "$JA" "$RS" "${BAD:--}" "$LATE" "$ta" "$TE" >> "$tsv"
  if [ $ROK != true ]; then
    lab_log "$L: recover failed (exit $RRC, journal $JA): diagnostics in killed/; no further kills"
    cp "$VBDCTL_OUT/$L-recover.json" "$K_OUT/$L-recover-failed.json"
    cp "$JOURNAL" "$K_OUT/$L-journal-after-recover.json" 2>/dev/null
    { ls -la /run/vbdctl /run/vbdctl/rollback; lsmod | grep -i blk; cat /sys/module/xen_blkback/refcnt;
      xenstore-ls -f /local/domain/0/backend/vbd; dmesg | tail -n 60; } > "$K_OUT/$L-diagnostics.txt" 2>&1
    sed 's/^/LAB   recover json: /' "$VBDCTL_OUT/$L-recover.json" >&2
    sed 's/^/LAB   recover stderr: /' "$VBDCTL_OUT/$L-recover.err" >&2
    return 1
  fi
  return 0
}

print_table() {
  local h="%-7s %-7s %-7s %-8s %-8s %-7s %-12s %-22s %-7s %-9s %-9s %-8s\n" f
  # shellcheck disable=SC2059
  printf "LAB killed: $h" kill cmd target delay_s actual_s pre_s killed/exit step_reached recover connected autoprobe module >&2
  for f in "$MT" "$KT"; do
    # shellcheck disable=SC2059
    tail -n +2 "$f" | while IFS=$'\t' read -r k c dl _ pre act tg _ kd urc _ st jop ap0 rrc _ con tot _ ap mod _; do
      [ "$jop" = - ] || [ "$jop" = none ] || st="$st($jop)"
      printf "LAB killed: $h" "$k" "$c" "$tg" "$dl" "$act" "$pre" "$kd/$urc" "${st// /:}" "$rrc" "$con/$tot" "$ap0->$ap" "$mod" >&2
    done
  done
}

# deferred_checks: after the guest stopped (python is cheap again): per kill (and the measuring
# recover), recover's JSON (ok; its op/step = the journal's as the kill left it; "restored
# drivers_autoprobe to 1" in its actions where the kill left drivers_autoprobe 0), vbdcheck.py's
# check of `vbdctl check --json` (as vb_check does), the guest console lines (stamped by dom0 on
# arrival) in the kill's window; the measuring unbind and bind's JSON;
# "name<TAB>ok|fail<TAB>detail" -> ck_lines
deferred_checks() {
  python3 - "$KT" "$MT" "$VBDCTL_OUT" "$OUT/guest-console.stamped.log" "$LAB" <<'PY' | ck_lines
import contextlib, csv, io, json, os, re, sys
kt, mt, vout, stamped, lab = sys.argv[1:6]
sys.path.insert(0, lab)
import vbdcheck
BAD = re.compile(r"FIO [a-z]+ FAIL|PROBE [a-z]+ (MISMATCH|IOERR)|kernel BUG at|BUG: |Oops: |disabled for further use")
lines = vbdcheck.stamped_lines(stamped)
def out(name, ok, detail=""):
    print("%s\t%s\t%s" % (name, "ok" if ok else "fail", str(detail).replace("\t", " ").replace("\n", " ")[:600]))
def load(path):
    try:
        return json.load(open(path)), None
    except (OSError, ValueError) as e:
        return None, e
for name, expr in (("measure-unbind", lambda d: d.get("ok") is True),
                   ("measure-bind", lambda d: d.get("ok") is True and d.get("backend_state") == 4 and d.get("consistent") is True)):
    p = "%s/%s.json" % (vout, name)
    if os.path.exists(p):
        d, e = load(p)
        out(name + ".json_ok", d is not None and expr(d), "no JSON: %s" % e if d is None else
            "ok=%s backend_state=%s consistent=%s failure=%s" % (d.get("ok"), d.get("backend_state"), d.get("consistent"), (d.get("error") or {}).get("message")))
rows = list(csv.DictReader(open(mt), delimiter="\t")) + list(csv.DictReader(open(kt), delimiter="\t"))
for row in rows:
    k = row["kill"]
    lbl = k if not k.isdigit() else "kill" + k
    d, e = load("%s/%s-recover.json" % (vout, lbl))
    if d is None:
        out("%s.recover.json_ok" % lbl, False, "no JSON: %s" % e)
    else:
        acts = d.get("actions") or []
        out("%s.recover.json_ok" % lbl, d.get("ok") is True,
            "had_journal=%s op=%s step=%s actions=%s vbds=%s" % (d.get("had_journal"), d.get("op"), d.get("step"), acts, d.get("vbds")))
        m = re.match(r"(\d+) ", row["step"])
        if m:   # the kill left a journal: recover must have finished that run
            op = row["journal_op"].split("/")[0]
            out("%s.recover.journal_step" % lbl, d.get("had_journal") is True and d.get("op") == op and d.get("step") == int(m.group(1)),
                "journal at the kill: %s (%s); recover: had_journal=%s op=%s step=%s" % (row["step"], row["journal_op"], d.get("had_journal"), d.get("op"), d.get("step")))
        else:
            out("%s.recover.journal_step" % lbl, d.get("had_journal") is False,
                "no journal at the kill (%s); recover: had_journal=%s" % (row["step"], d.get("had_journal")))
        if row["autoprobe_before"] == "0":
            out("%s.recover.restored_autoprobe" % lbl, any(str(a).startswith("restored drivers_autoprobe to 1") for a in acts),
                "drivers_autoprobe 0 before recover; actions=%s" % acts)
        print("LAB killed: %s (%s %s): recover JSON ok=%s had_journal=%s op=%s step=%s actions=%s" % (
            lbl, row["cmd"], row["target"], d.get("ok"), d.get("had_journal"), d.get("op"), d.get("step"), acts), file=sys.stderr)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            vbdcheck.cmd_check("%s/%s-check.json" % (vout, lbl))
    except (OSError, ValueError) as e:
        buf.write("%s-check.json\tfail\tno JSON: %s\n" % (lbl, e))
    sys.stdout.write(buf.getvalue())
    t0, t1 = float(row["t0"]), float(row["tend"])
    bad = [t for st, t in lines if t0 <= st <= t1 and BAD.search(t)]
    out("%s.guest_console_clean" % lbl, not bad, "|".join(bad[:5]) or "clean (%d lines)" % sum(1 for st, _ in lines if t0 <= st <= t1))
PY
}

finish() {
  local c m="" kc=""
  dmesg | grep -iE 'blkback|blkfront|taint|verification' > "$OUT/dom0-dmesg-blkback.txt"
  lab_stop_guest
  deferred_checks
  local x; x=$(lab_vbdctl_checks_json)
  for c in "${ALL_CMDS[@]}"; do
    kc+="\"killed_$c\":${NK[$c]},"
    m+="$c:${D[$c]}:${PRE[$c]}:${TOTAL[$c]} "
  done
  lab_results killed "{\"cycles\":{\"upgrade\":$N_UP,${kc}\"recovered\":$N_REC},${x#\{}" > /dev/null
  python3 - "$OUT/results.json" "$KT" "$MT" "$SEED" "$KILLS" "$K_OUT/verdict.txt" "$(IFS=,; echo "${CMDS[*]}")" "$m" <<'PY'
import csv, json, sys
res, kt, mt, seed, kills, vpath, cmds, meas = sys.argv[1:9]
cmds = cmds.split(",")
r = json.load(open(res))
def rows_of(path):
    rows = list(csv.DictReader(open(path), delimiter="\t"))
    for x in rows:
        for k in ("kill", "cmd_rc", "recover_rc", "connected", "total", "fe_connected"):
            try:
                x[k] = int(x[k])
            except (TypeError, ValueError):
                pass
    return rows
rows = rows_of(kt)
measured = {}
for w in meas.split():
    c, d, pre, tot = w.split(":")
    if c in cmds or (c == "upgrade" and "recover" in cmds):
        measured[c] = {"steps_ms": int(d), "preflight_ms": int(pre), "total_ms": int(tot)}
r["seed"] = int(seed)
r["kills_requested"] = int(kills)
r["commands"] = cmds
# per command: anchor (its journal created or rewritten as its steps begin) -> exit = the
# range of the delays; start -> anchor; start -> exit
r["measured_ms"] = measured
if "upgrade" in measured:   # as before the other commands were added
    r["measured_upgrade_ms"] = measured["upgrade"]["steps_ms"]
    r["measured_preflight_ms"] = measured["upgrade"]["preflight_ms"]
    r["measured_total_ms"] = measured["upgrade"]["total_ms"]
r["kills"] = rows
r["measure_rows"] = rows_of(mt)
done = len(rows)
killed = [x for x in rows if x["killed"] == "yes"]
in_steps = [x for x in killed if x["in_steps"] == "yes"]
rec = sum(1 for x in rows if x["recover_rc"] == 0 and x["recover_ok"] == "true")
r["kills_done"] = len(killed)
r["kills_by_command"] = {c: sum(1 for x in killed if x["cmd"] == c) for c in cmds}
r["attempts_by_command"] = {c: sum(1 for x in rows if x["cmd"] == c) for c in cmds}
r["kills_in_steps"] = len(in_steps)
r["kills_in_steps_by_command"] = {c: sum(1 for x in in_steps if x["cmd"] == c) for c in cmds}
r["attempts"] = done
r["recovered"] = rec
m_ok = all(x["recover_ok"] == "true" for x in r["measure_rows"])
r["guest_ok"] = r.get("ok")
r["ok"] = bool(r.get("ok")) and len(killed) >= int(kills) and rec == done and m_ok
json.dump(r, open(res, "w"), indent=1, sort_keys=True)
open(res, "a").write("\n")
c = r.get("vbdctl_checks") or {}
bad = [k for k, v in c.items() if not v]
s = "%s: %d/%d SIGKILLs (kills by command: %s; %d inside steps: %s), recover ok %d/%d (seed %s, delays within D: %s), checks %d/%d, cycles %s, verify_errors %s io_errors %s mismatches %s" % (
    "PASS" if r["ok"] else "FAIL", len(killed), int(kills), ", ".join("%s %d" % (k, v) for k, v in r["kills_by_command"].items()),
    len(in_steps), ", ".join("%s@%s%s" % (x["cmd"], x["step"].replace(" ", ":"), "(r)" if x["journal_op"].endswith("/recovering") else "") for x in in_steps) or "-",
    rec, done, seed, ", ".join("%s %.1f s" % (k, v["steps_ms"] / 1000) for k, v in measured.items()), len(c) - len(bad), len(c),
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

# ------------------------------------------------------------------ 1. each command un-killed: D
other_ko
vb warmup-dry-run upgrade-backend --dry-run --module-file /lab-modules/$TARGET.ko
lab_journal
[ "$JOURNAL_STEP" = none ]; ck measure.no_journal_before $? "journal before the run: $JOURNAL_STEP"
if [ -n "${ON[upgrade]:-}${ON[recover]:-}" ]; then
  lab_log "killed: measuring one un-killed upgrade-backend --yes --json (-> $TARGET.ko), from its journal to its exit"
  measure upgrade "$TARGET"
  VB_T0=$T0 VB_T1=$TX VB_RC=$M_RC
  vb_upgrade_disruptions measure-upgrade upgrade
  [ $M_RC = 0 ] && N_UP=$((N_UP + 1))
  F=$VBDCTL_OUT/measure-upgrade.json
  mapfile -t R < <(python3 "$LAB/vbdcheck.py" get \
    "$F" 'd["ok"] is True and not d.get("rolled_back") and len(d["vbds"]) == 2 and all(v["backend_state"] == 4 and v["consistent"] is True for v in d["vbds"])' \
    "$F" '(d.get("error") or {}).get("message")' \
    "$F" "' '.join('%s:%s' % (s.get('name'), s.get('ms')) for s in d.get('steps') or []) + ' window_ms:%s' % d.get('window_ms')")
  loaded_kind; lab_journal; lab_autoprobe
  ck measure.ok "${R[0]:-}" "${R[1]:-}"
  ck measure.module "$([ "$MOD" = "$TARGET" ] && echo 0 || echo 1)" "loaded $MOD, wanted $TARGET"
  [ "$JOURNAL_STEP" = none ]; ck measure.journal_gone $? "journal after the run: $JOURNAL_STEP"
  [ "$AUTOPROBE" = 1 ]; ck measure.autoprobe_1 $? "drivers_autoprobe $AUTOPROBE"
  echo "upgrade measured_ms=${D[upgrade]} preflight_ms=${PRE[upgrade]} total_ms=${TOTAL[upgrade]} steps=${R[2]:-}" >> "$K_OUT/measured.txt"
  echo "LAB killed: un-killed upgrade: ${TOTAL[upgrade]} ms in all, preflight ${PRE[upgrade]} ms, journal to exit ${D[upgrade]} ms (the range of the delays); steps (ms): ${R[2]:-}" >&2
  lab_sleep "$GAP"
fi
if [ -n "${ON[unbind]:-}${ON[bind]:-}" ]; then
  MD=xvdc MV=$(lab_vbd xvdc)
  lab_log "killed: measuring one un-killed unbind and bind of $MD ($MV)"
  measure unbind "$MD"
  TU=$T0
  lab_journal; [ -L "$DEVS/$MV/driver" ] && UNB=1 || UNB=0
  ck measure-unbind.sysfs_unbound "$UNB" "driver link gone after unbind returned"
  [ "$JOURNAL_OP $JOURNAL_STEP" = "unbind 3 unbound" ]; ck measure-unbind.journal_unbound $? "journal after unbind: $JOURNAL_OP $JOURNAL_STEP"
  echo "unbind measured_ms=${D[unbind]} preflight_ms=${PRE[unbind]} total_ms=${TOTAL[unbind]} journal_after=$JOURNAL_OP:${JOURNAL_STEP// /:}" >> "$K_OUT/measured.txt"
  lab_sleep 2
  measure bind "$MD"
  lab_journal
  lab_connected "$MV"; ck measure-bind.connected $? "driver link + xenstore state 4 after bind returned"
  [ "$JOURNAL_STEP" = none ]; ck measure-bind.journal_gone $? "journal after bind: $JOURNAL_STEP"
  ms_between "$TU" "$TX"
  printf '%s\t%s\t%s\t%s\t%s\n' measure-unbind-bind "$MV" "$TU" "$TX" "$MS" >> "$DISRUPTIONS"
  echo "bind measured_ms=${D[bind]} preflight_ms=${PRE[bind]} total_ms=${TOTAL[bind]}" >> "$K_OUT/measured.txt"
  echo "LAB killed: un-killed unbind of $MD: ${TOTAL[unbind]} ms in all, preflight ${PRE[unbind]} ms, anchor to exit ${D[unbind]} ms; bind: ${TOTAL[bind]} ms, preflight ${PRE[bind]} ms, anchor to exit ${D[bind]} ms" >&2
  lab_sleep "$GAP"
fi
if [ -n "${ON[recover]:-}" ]; then
  # the longest recover follows a kill in step 5 (load): both vbds unbound, the module maybe
  # unloaded. Kill there (the middle of load by the measured upgrade's step times; 0.5 D without
  # them), else earlier if that upgrade left no journal (0.3, 0.1 D); rows m1.. in measure.tsv
  LOAD_AT=-1 t=0
  for w in ${R[2]:-}; do
    n=${w%%:*} v=${w#*:}
    case $v in ''|*[!0-9]*) continue ;; esac
    [ "$n" = load ] && { LOAD_AT=$((t + v / 2)); break; }
    t=$((t + v))
  done
  [ "$LOAD_AT" -ge 0 ] && [ "$LOAD_AT" -lt "${D[upgrade]}" ] && F=$((LOAD_AT * 1000 / D[upgrade])) || F=500
  n=0
  for F in $F 300 100; do
    n=$((n + 1))
    other_ko
    ms_s $((D[upgrade] * F / 1000)) PDS
    printf -v FR '0.%03d' "$F"
    lab_log "killed: measuring one un-killed recover, after upgrade-backend -> $TARGET.ko SIGKILLed $PDS s ($FR D) after its journal appeared"
    RECOVER_MEASURE=1 attempt m$n upgrade "$TARGET" "$PDS" - "$FR" "$MT" || { lab_fail "the measuring recover failed: no kills"; KILLS_OFF=1; break; }
    [ "${PRE[recover]}" != -1 ] && break
    lab_log "killed: that recover had no journal to take over; again, earlier"
    lab_sleep "$GAP"
  done
  echo "recover measured_ms=${D[recover]} preflight_ms=${PRE[recover]} total_ms=${TOTAL[recover]} after=upgrade-killed-at-$FR-D" >> "$K_OUT/measured.txt"
  echo "LAB killed: un-killed recover (after an upgrade killed at $FR D): ${TOTAL[recover]} ms in all, preflight ${PRE[recover]} ms, anchor to exit ${D[recover]} ms" >&2
fi

# the plan, from the seed: per attempt the command, the fraction of its D after its anchor, the
# disk (unbind, bind), the fraction of 0.9 D(upgrade) for the upgrade killed before a recover
RANDOM=$SEED
declare -a ACMD ADISK DELAY_MS FRAC PDELAY_MS PFRAC
DISKS=(xvdb xvdc)
MAX_ATTEMPTS=$((2 * KILLS))
PLAN=""
for ((k = 1; k <= MAX_ATTEMPTS; k++)); do
  r30=$(( (RANDOM << 15) | RANDOM ))
  ACMD[k]=${CMDS[RANDOM % ${#CMDS[@]}]}
  ADISK[k]=${DISKS[RANDOM % 2]}
  p30=$(( (RANDOM << 15) | RANDOM ))
  c=${ACMD[k]}
  DELAY_MS[k]=$(( r30 * D[$c] / 1073741824 ))
  printf -v "FRAC[$k]" '0.%03d' $(( r30 * 1000 / 1073741824 ))
  PDELAY_MS[k]=$(( p30 * (D[upgrade] * 9 / 10) / 1073741824 ))
  printf -v "PFRAC[$k]" '0.%03d' $(( p30 * 1000 / 1073741824 ))
  case $c in
    unbind|bind) PLAN+=" $k:$c:${ADISK[k]}:${FRAC[k]}=${DELAY_MS[k]}ms" ;;
    recover) PLAN+=" $k:$c:${FRAC[k]}=${DELAY_MS[k]}ms(upgrade:${PFRAC[k]}x0.9=${PDELAY_MS[k]}ms)" ;;
    *) PLAN+=" $k:$c:${FRAC[k]}=${DELAY_MS[k]}ms" ;;
  esac
done
echo "LAB killed: seed $SEED -> plan (attempt:command[:disk]:fraction of D=delay after its anchor):$PLAN (an attempt whose command finished before its kill does not count as a kill)" >&2
echo "seed=$SEED commands=$(IFS=,; echo "${CMDS[*]}") plan=$PLAN" > "$K_OUT/plan.txt"
lab_sleep "$GAP"

# ------------------------------------------------------------------ 2. kill, recover, verify
for ((k = 1; k <= MAX_ATTEMPTS && N_KILLS < KILLS && ${KILLS_OFF:-0} == 0; k++)); do
  if [ $((SECONDS + 420)) -ge "${SCENARIO_TIMEOUT:-1200}" ]; then
    lab_fail "stopping early after $N_KILLS kills ($((k - 1)) attempts): scenario time budget"
    break
  fi
  c=${ACMD[k]}
  case $c in
    upgrade|recover) other_ko; TGT=$TARGET ;;
    *) TGT=${ADISK[k]} ;;
  esac
  ms_s "${DELAY_MS[k]}" DS; ms_s "${PDELAY_MS[k]}" PDS
  [ $c = recover ] || PDS=-
  attempt "kill$k" "$c" "$TGT" "$DS" "$PDS" "${FRAC[k]}" "$KT" || break
  lab_sleep "$GAP"
done

# ------------------------------------------------------------------ 3. final state, fio, verdict
vb_list list-final
vb_check check-final
lab_wait_fio_pass 300 || lab_fail "no verified fio pass after the last recover"
finish
