#!/bin/bash
# stress: N vbdctl unbind/bind cycles (alternating xvdb, xvdc) and M vbdctl
# upgrade-backend cycles (alternating --module-file updated.ko / stock.ko), under
# guest fio verify throughout; then one more verified fio pass on both disks.
# Args (after "--" to tests/lab/run, or $LAB_SCENARIO_ARGS):
#   --cycles N (default 100)  --upgrades M (default 20)  --unbound S (time unbound, default 1)
#   --gap S (between disruptions, default 2)
# results.json: counts, vbdctl_checks, disruptions, and `summary` per kind:
# n, median/max unbound_ms (vbdctl's figure) and guest_stall_ms.
set -u
. /lab/lib.sh
CYCLES=100 UPGRADES=20 GAP=2
CYCLE_UNBOUND_S=1
while [ $# -gt 0 ]; do
  case "$1" in
    --cycles) CYCLES=$2; shift 2 ;; --upgrades) UPGRADES=$2; shift 2 ;;
    --unbound) CYCLE_UNBOUND_S=$2; shift 2 ;; --gap) GAP=$2; shift 2 ;; *) shift ;;
  esac
done
N_UB=0 N_UP=0 F_UB=0 F_UP=0
[ -n "${VBDCTL:-}" ] || { lab_fail "stress needs the vbdctl packages (--debs, or their dpkg -i failed: vbdctl-dpkg.log)"; printf '{"scenario":"stress","ok":false,"error":"vbdctl is not installed"}\n' > "$OUT/results.json"; exit 1; }
# keep the check log small: only failures are kept per cycle
lab_start_guest || lab_abort stress
lab_wait_guest_io 300 || { lab_stop_guest; lab_results stress; exit 1; }
lab_check_geometry
lab_use_depmod updated
sleep 3
T_START=$SECONDS
# interleave: one upgrade after every CYCLES/UPGRADES unbind/bind cycles
every=$(( UPGRADES > 0 ? (CYCLES + UPGRADES - 1) / UPGRADES : CYCLES + 1 ))
[ $every -ge 1 ] || every=1
c=0 u=0
while [ $c -lt "$CYCLES" ] || [ $u -lt "$UPGRADES" ]; do
  if [ $c -lt "$CYCLES" ]; then
    c=$((c + 1))
    d=$([ $((c % 2)) = 1 ] && echo xvdb || echo xvdc)
    nf=$(grep -c $'\tfail\t' "$CHECKS" 2>/dev/null); nf=${nf:-0}
    vb_cycle "cycle$c-$d" "$d"
    if [ "$(grep -c $'\tfail\t' "$CHECKS" 2>/dev/null)" = "$nf" ]; then N_UB=$((N_UB + 1)); else F_UB=$((F_UB + 1)); fi
    sleep "$GAP"
  fi
  if [ $u -lt "$UPGRADES" ] && { [ $((c % every)) = 0 ] || [ $c -ge "$CYCLES" ]; }; then
    u=$((u + 1))
    ko=$([ $((u % 2)) = 1 ] && echo updated || echo stock)
    before=$(lab_module_id)
    vb_upgrade "upgrade$u-$ko" "upgrade-$ko" --module-file /lab-modules/$ko.ko
    F=$VBDCTL_OUT/upgrade$u-$ko.json
    ok=$(jget "$F" 'd["ok"] is True and not d.get("rolled_back") and len(d["vbds"]) == 2 and all(v["backend_state"] == 4 and v["consistent"] for v in d["vbds"])')
    ck "upgrade$u-$ko.ok" "$ok" "exit $VB_RC $(jget "$F" '(d.get("error") or {}).get("message")')"
    want=$([ $ko = stock ] && echo none || echo "$(jget "$F" 'd["module_after"]["srcversion"]')")
    ck "upgrade$u-$ko.module" "$([ "$(lab_module_id)" != "$before" ] && [ "$(lab_module_id | cut -d/ -f1)" = "$want" ] && echo 0 || echo 1)" "$before -> $(lab_module_id)"
    for v in $(lab_vbd xvdb) $(lab_vbd xvdc); do lab_connected "$v"; ck "upgrade$u-$ko.$v.connected" $?; done
    if [ "$ok" = true ]; then N_UP=$((N_UP + 1)); else F_UP=$((F_UP + 1)); fi
    sleep "$GAP"
  fi
  if [ $((SECONDS + 400)) -ge "${SCENARIO_TIMEOUT:-1200}" ]; then
    lab_fail "stopping early after $c cycles / $u upgrades: scenario time budget"
    break
  fi
done
lab_log "stress done: $N_UB/$CYCLES cycles ok, $N_UP/$UPGRADES upgrades ok in $((SECONDS - T_START)) s"
vb_list list-final
vb_check check-final
lab_use_depmod stock
lab_wait_fio_pass 300 || lab_fail "no verified fio pass after the last disruption"
lab_stop_guest
x=$(lab_vbdctl_checks_json)
# per-check details are long for 100 cycles: keep only failed ones (vbdctl_check_failures)
x=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); c=d["vbdctl_checks"]; d["vbdctl_checks"]={"total": len(c), "passed": sum(c.values())}; print(json.dumps(d))' "$x")
lab_results stress "{\"cycles\":{\"unbind_bind\":$N_UB,\"upgrade\":$N_UP},\"requested\":{\"unbind_bind\":$CYCLES,\"upgrade\":$UPGRADES},\"failed\":{\"unbind_bind\":$F_UB,\"upgrade\":$F_UP},\"duration_s\":$((SECONDS - T_START)),${x#\{}" > /dev/null
python3 - "$OUT/results.json" <<'PY'
import json, statistics, sys
p = sys.argv[1]; r = json.load(open(p))
s = {}
for d in r.get("disruptions", []):
    k = "unbind_bind" if d["kind"] == "unbind-bind" else "upgrade"
    o = s.setdefault(k, {"unbound_ms": [], "guest_stall_ms": []})
    o["unbound_ms"].append(d["unbound_ms"]); o["guest_stall_ms"].append(d["guest_stall_ms"])
r["summary"] = {k: {"n_vbd_disruptions": len(v["unbound_ms"]),
                    "median_unbound_ms": statistics.median(v["unbound_ms"]), "max_unbound_ms": max(v["unbound_ms"]),
                    "median_guest_stall_ms": statistics.median(v["guest_stall_ms"]), "max_guest_stall_ms": max(v["guest_stall_ms"])}
                for k, v in s.items()}
r["ok"] = r["ok"] and r["cycles"]["unbind_bind"] == r["requested"]["unbind_bind"] and r["cycles"]["upgrade"] == r["requested"]["upgrade"]
json.dump(r, open(p, "w"), indent=1, sort_keys=True)
print(json.dumps({k: r[k] for k in ("ok", "cycles", "summary")}))
PY
