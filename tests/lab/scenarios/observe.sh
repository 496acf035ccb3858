#!/bin/bash
# observe: what an operator sees of vbdctl on a real host, under guest fio verify (issue 13's
# lab evidence). The lab's dom0 runs neither journald nor a syslog daemon, so a small receiver
# listens on /dev/log first (vbdctl's audit trail then goes to syslog(3), as on such a host).
#  1. `vbdctl watch --json` in the background through: vbdctl unbind + bind of xvdb, then
#     upgrade-backend --force (the module unloaded and loaded again). The stream is
#     observe/watch.jsonl; checked: xvdb's unbind before its bind, a module remove before a
#     module add, every line one JSON object with a timestamp.
#  2. `vbdctl metrics` (observe/metrics.prom; promtool checks it on the host, see README.md),
#     `vbdctl status --json`, `vbdctl history --json`.
#  3. an upgrade-backend SIGKILLed once its journal reaches step 3, then `vbdctl recover --yes`.
#  4. the syslog lines (observe/syslog.log): the upgrade's plan, steps and result; the killed
#     upgrade's plan and the steps it reached, and no result of its own; recover's result.
set -u
. /lab/lib.sh
[ -n "${VBDCTL:-}" ] || { lab_fail "observe needs the vbdctl packages (--debs)"; printf '{"scenario":"observe","ok":false,"error":"vbdctl is not installed"}\n' > "$OUT/results.json"; exit 1; }
O=$OUT/observe
mkdir -p "$O"

# /dev/log: one datagram per message, written as it arrives with dom0's wall clock
cat > /run/syslog-sink.py <<'PY'
import os, socket, sys, time
path, out = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
with open(out, "a", buffering=1) as f:
    while True:
        msg = s.recv(65536).decode("utf-8", "replace").rstrip("\n")
        f.write("%.3f %s\n" % (time.time(), msg))
PY
python3 /run/syslog-sink.py /dev/log "$O/syslog.log" &
SINK_PID=$!
for _ in $(seq 50); do [ -S /dev/log ] && break; sleep 0.1; done
[ -S /dev/log ]; ck syslog.receiver $? "/dev/log is a socket"

finish() {
  [ -n "${WATCH_PID:-}" ] && kill -9 "$WATCH_PID" 2>/dev/null
  lab_stop_guest
  kill "$SINK_PID" 2>/dev/null
  local x; x=$(lab_vbdctl_checks_json)
  lab_results observe "{${x#\{}"
}
lab_start_guest || lab_abort observe
lab_wait_guest_io 300 || { finish; exit 1; }
sleep 3

# 1. the event stream
"$VBDCTL" --json watch > "$O/watch.jsonl" 2> "$O/watch.err" &
WATCH_PID=$!
sleep 5 # its watches and the uevent socket are set up before anything happens
vb_cycle cycle-xvdb xvdb
sleep 3
vb_upgrade upgrade-force upgrade --force
ck upgrade-force.exit "$VB_RC" "exit $VB_RC"
sleep 5
# SIGTERM: a background job of a non-interactive shell ignores SIGINT (the first run of this
# scenario waited here until its timeout)
kill -TERM "$WATCH_PID" 2>/dev/null
for _ in $(seq 50); do kill -0 "$WATCH_PID" 2>/dev/null || break; lab_sleep 0.2; done
kill -9 "$WATCH_PID" 2>/dev/null
wait "$WATCH_PID" 2>/dev/null
WATCH_PID=""
VBD_XVDB=$(lab_vbd xvdb)
python3 - "$O/watch.jsonl" "$VBD_XVDB" > "$O/watch-checks.tsv" <<'PY'
import json, sys
path, xvdb = sys.argv[1], sys.argv[2]
events, bad = [], 0
for line in open(path):
    try:
        e = json.loads(line)
    except ValueError:
        bad += 1
        continue
    if isinstance(e, dict) and "kind" in e:
        events.append(e)
def first(pred):
    return next((i for i, e in enumerate(events) if pred(e)), None)
def vbd_of(e):
    v = e.get("vbd")
    return v.get("sysfs_name", v.get("name")) if isinstance(v, dict) else v
kinds = [(vbd_of(e), e["kind"]) for e in events]
ub = first(lambda e: vbd_of(e) == xvdb and e["kind"] == "unbind")
b = first(lambda e: vbd_of(e) == xvdb and e["kind"] == "bind")
mr = first(lambda e: e["kind"] in ("module_remove", "module-remove"))
ma = first(lambda e: e["kind"] in ("module_add", "module-add"))
def row(name, ok, detail=""):
    print("%s\t%s\t%s" % (name, "ok" if ok else "fail", detail))
row("watch.json_lines", bad == 0 and events, "%d events, %d unparsable lines" % (len(events), bad))
row("watch.timestamps", all("timestamp" in e or "time" in e or "ts" in e for e in events))
row("watch.unbind_then_bind", ub is not None and b is not None and ub < b, "unbind at %s, bind at %s" % (ub, b))
row("watch.module_remove_then_add", mr is not None and ma is not None and mr < ma, "remove at %s, add at %s" % (mr, ma))
row("watch.kinds", True, " ".join("%s:%s" % k for k in kinds)[:1500])
PY
ck_lines < "$O/watch-checks.tsv"

# 2. metrics, status, history
"$VBDCTL" metrics > "$O/metrics.prom" 2> "$O/metrics.err"
ck metrics.exit $? "$(head -c 300 "$O/metrics.err")"
grep -q '^vbdctl_' "$O/metrics.prom"; ck metrics.samples $? "$(wc -l < "$O/metrics.prom") lines"
vb status status; ck status.exit "$VB_RC"
ck status.healthy "$(jget "$VBDCTL_OUT/status.json" 'd["healthy"] is True')" "$(jget "$VBDCTL_OUT/status.json" 'd["problems"]')"
vb history history; ck history.exit "$VB_RC"
ck history.runs "$(jget "$VBDCTL_OUT/history.json" '[r["command"] for r in d["runs"]] == ["unbind", "bind", "upgrade-backend"]')" \
  "$(jget "$VBDCTL_OUT/history.json" '[r["command"] for r in d["runs"]]')"

# 3. a SIGKILLed upgrade, then recover
MARK=$(wc -l < "$O/syslog.log")
"$VBDCTL" upgrade-backend --yes --force --timeout 120 > "$O/killed-upgrade.out" 2> "$O/killed-upgrade.err" &
UP_PID=$!
for _ in $(seq 1200); do
  lab_journal
  case "$JOURNAL_STEP" in [3-9]\ *) break ;; esac
  kill -0 "$UP_PID" 2>/dev/null || break
  lab_sleep 0.05
done
kill -9 "$UP_PID" 2>/dev/null
wait "$UP_PID" 2>/dev/null
KILLED_AT=$JOURNAL_STEP
lab_log "upgrade-backend SIGKILLed at journal step $KILLED_AT"
echo "$KILLED_AT" > "$O/killed-at.txt"
KILL_MARK=$(wc -l < "$O/syslog.log")
vb recover recover --yes --timeout 120
ck recover.exit "$VB_RC" "exit $VB_RC"
for v in $(lab_vbd xvdb) $(lab_vbd xvdc); do lab_connected "$v"; ck "recover.$v.connected" $?; done
sleep 1

# 4. the audit trail in syslog
python3 - "$O/syslog.log" "$MARK" "$KILL_MARK" > "$O/syslog-checks.tsv" <<'PY'
import sys
path, mark, kill_mark = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = [l.rstrip("\n") for l in open(path)]
ours = [l for l in lines if "vbdctl" in l]
def row(name, ok, detail=""):
    print("%s\t%s\t%s" % (name, "ok" if ok else "fail", detail[:600]))
before, killed, after = lines[:mark], lines[mark:kill_mark], lines[kill_mark:]
row("syslog.lines", len(ours) > 0, "%d lines from vbdctl" % len(ours))
# syslog(3) lines: "<PRI>Mon DD HH:MM:SS vbdctl[PID]: OP: MESSAGE", the message starting with
# its event: "plan: ...", "step N NAME: ...", "undo NAME: ...", "result: ..."
has = lambda ls, text: any(text in l for l in ls)
row("syslog.upgrade_plan_and_result", has(before, "]: upgrade: plan: ") and has(before, "]: upgrade: result: done"),
    " | ".join(l for l in before if "]: upgrade: plan: " in l or "]: upgrade: result: " in l))
row("syslog.killed_plan_and_steps", has(killed, "]: upgrade: plan: ") and has(killed, "]: upgrade: step "), " | ".join(killed))
row("syslog.killed_no_result", not has(killed, "]: upgrade: result: "), " | ".join(killed[-2:]))
row("syslog.recover_result", has(after, "]: recover: result: done"), " | ".join(after[-2:]))
PY
ck_lines < "$O/syslog-checks.tsv"
vb history-after history
vb status-after status

lab_wait_fio_pass 300 || lab_fail "no verified fio pass after the last disruption"
finish
