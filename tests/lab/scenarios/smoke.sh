#!/bin/bash
# smoke (CI): vbdctl against the live host under guest fio verify.
#  1. list/show/check --json compared with xenstore and sysfs read directly
#  2. vbdctl unbind/bind: 2 cycles on xvdb, 1 on xvdc
#  3. upgrade-backend refusals (wrong vermagic, max_ring_page_order=1 below xvdc's 2):
#     exit 1, refused, nothing unbound, module unchanged
#  4. upgrade-backend to the updated module (depmod output switched): new srcversion,
#     stock module identified by build-id (rollback copy kept), both vbds Connected
#  5. upgrade-backend --canary back to the stock module (--module-file)
#  6. list/check again; one more verified fio pass on both disks; stop the guest.
set -u
. /lab/lib.sh
N_UB=0 N_UP=0 LIST_PAIRS=null LIST_COST=null
[ -n "${VBDCTL:-}" ] || { lab_fail "smoke needs the vbdctl packages (--debs, or their dpkg -i failed: vbdctl-dpkg.log)"; printf '{"scenario":"smoke","ok":false,"error":"vbdctl is not installed"}\n' > "$OUT/results.json"; exit 1; }
finish() {
  lab_stop_guest
  local x; x=$(lab_vbdctl_checks_json)
  lab_results smoke "{\"cycles\":{\"unbind_bind\":$N_UB,\"upgrade\":$N_UP},\"list_pairs\":$LIST_PAIRS,\"list_cost\":$LIST_COST,${x#\{}"
}
lab_start_guest || lab_abort smoke
lab_wait_guest_io 300 || { finish; exit 1; }
lab_check_geometry
sleep 3
STOCK_BID=$(python3 "$LAB/vbdcheck.py" build-id-file /lab-modules/stock.ko)
UPD_BID=$(python3 "$LAB/vbdcheck.py" build-id-file /lab-modules/updated.ko)
lab_log "build-ids: stock.ko $STOCK_BID updated.ko $UPD_BID loaded $(lab_module_id)"
[ "$(lab_module_id)" = "none/$STOCK_BID" ]; ck host.stock_loaded_by_build_id $? "loaded $(lab_module_id) stock.ko $STOCK_BID"

# 1. read-only commands
vb_list list-initial
for d in xvdb xvdc; do
  vb show-$d show "$DOMID" "$d"; ck show-$d.exit $VB_RC "exit $VB_RC"
  ck show-$d.content "$(jget "$VBDCTL_OUT/show-$d.json" "d['vbd']['backend_nodes']['state'] == '4' and d['vbd']['backend_state'] == 4 and d['vbd']['vdev'] == '$d'")"
done
vb_check check-initial
# The guest by its name (libxenlight's domain list, then each name node), as by its domid.
vb list-by-name list "$GUEST"; ck list-by-name.exit $VB_RC "exit $VB_RC"
ck list-by-name.content "$(jget "$VBDCTL_OUT/list-by-name.json" "sorted(v['vdev'] for v in d['vbds'] if v['domid'] == $DOMID) == ['xvdb', 'xvdc'] and all(v['domid'] == $DOMID for v in d['vbds'])")"

# Figures, not checks (vbdcheck.py cost: the commands in turns, each started first in turn, as
# the host's speed drifts under TCG; wall and CPU time, page faults and context switches by the
# kernel's count; null when a run failed: a figure of a command that did not work means
# nothing). `vbdctl list` against `xl block-list` over the same guest, 15 rounds, the median of
# the rounds' ratios; then where vbdctl's time goes against /bin/true (the exec floor), `xl
# list`, `vbdctl --version` (starting) and `vbdctl list 99` (opening the host, no vbds),
# medians of 5.
LIST_PAIRS=$(python3 "$LAB/vbdcheck.py" cost 15 "$VBDCTL list" "xl block-list guest") || LIST_PAIRS=null
lab_log "vbdctl list against xl block-list (15 rounds): $LIST_PAIRS"
LIST_COST=$(python3 "$LAB/vbdcheck.py" cost 5 /bin/true "$VBDCTL --version" "$VBDCTL list 99" "$VBDCTL list" "xl block-list guest" "xl list") || LIST_COST=null
lab_log "list cost (medians of 5): $LIST_COST"
# Where the time goes: one run of each listing under strace -f -ttt -T (every syscall with
# its time; tests/lab/strace_phases.py splits it into loader, adapters, xenstore, sysfs, grant
# mapping, output). strace slows every syscall, so these give shares, the medians above the
# totals.
if command -v strace >/dev/null; then
  mkdir -p "$OUT/profile"
  strace -f -ttt -T -o "$OUT/profile/vbdctl-list.strace" "$VBDCTL" list >/dev/null 2>&1
  strace -f -ttt -T -o "$OUT/profile/vbdctl-list-json.strace" "$VBDCTL" list --json >/dev/null 2>&1
  strace -f -ttt -T -o "$OUT/profile/vbdctl-version.strace" "$VBDCTL" --version >/dev/null 2>&1
  strace -f -ttt -T -o "$OUT/profile/xl-block-list.strace" xl block-list guest >/dev/null 2>&1
  strace -f -ttt -T -o "$OUT/profile/xl-list.strace" xl list >/dev/null 2>&1
else
  lab_log "no strace in dom0: no profile"
fi

# 2. unbind/bind cycles
for c in 1:xvdb 2:xvdb 3:xvdc; do
  vb_cycle cycle${c%%:*}-${c#*:} "${c#*:}" && N_UB=$((N_UB + 1))
  sleep 3
done
vb_list list-after-cycles

# 3. refusals: nothing may be unbound, the module must not change
refused() {   # NAME ARGS...
  local name=$1 before after; shift
  before=$(lab_module_id)
  vb_upgrade "$name" refused "$@"
  ck "$name.exit1" "$([ $VB_RC = 1 ] && echo 0 || echo 1)" "exit $VB_RC"
  ck "$name.refused" "$(jget "$VBDCTL_OUT/$name.json" 'd.get("refused") is True and d.get("ok") is False')" \
    "$(jget "$VBDCTL_OUT/$name.json" '[p for p in d.get("preflight", []) if not p.get("ok")]')"
  after=$(lab_module_id)
  ck "$name.module_unchanged" "$([ "$before" = "$after" ] && echo 0 || echo 1)" "$before -> $after"
  ck "$name.nothing_unbound" "$([ "$(lab_nbound)" = 2 ] && lab_connected "$(lab_vbd xvdb)" && lab_connected "$(lab_vbd xvdc)" && echo 0 || echo 1)" "bound $(lab_nbound)"
  vb_list "list-after-$name"
  ck "$name.list_both_bound" "$(jget "$VBDCTL_OUT/list-after-$name.json" 'sum(1 for v in d["vbds"] if v["bound"] and v["backend_state"] == 4) == 2')"
}
refused refuse-wrong-vermagic --module-file /lab-modules/wrong-vermagic.ko
refused refuse-ring-order --param max_ring_page_order=1

# 4. upgrade to the updated module (what modprobe resolves after the depmod switch)
lab_use_depmod updated
vb_upgrade upgrade-updated upgrade && N_UP=$((N_UP + 1))
F=$VBDCTL_OUT/upgrade-updated.json
ck upgrade-updated.exit $VB_RC "exit $VB_RC"
ck upgrade-updated.ok "$(jget "$F" 'd["ok"] is True and not d.get("refused") and not d.get("rolled_back")')" "$(jget "$F" '(d.get("error") or {}).get("message")')"
ck upgrade-updated.srcversion_changed "$(jget "$F" 'd["module_after"]["srcversion"] != d["module_before"]["srcversion"] and d["module_after"]["srcversion"] is not None')" \
  "$(jget "$F" '[d["module_before"]["srcversion"], d["module_after"]["srcversion"]]')"
ck upgrade-updated.before_build_id_is_stock "$(jget "$F" "d['module_before'].get('build_id') == '$STOCK_BID'")" "$(jget "$F" 'd["module_before"].get("build_id")') vs stock.ko $STOCK_BID"
ck upgrade-updated.sysfs_new_module "$([ "$(cat /sys/module/xen_blkback/version 2>/dev/null)" = vbdctl-lab-1 ] && echo 0 || echo 1)" "version $(cat /sys/module/xen_blkback/version 2>/dev/null)"
ck upgrade-updated.vbds_connected "$(jget "$F" 'len(d["vbds"]) == 2 and all(v["backend_state"] == 4 and v["consistent"] is True for v in d["vbds"])')" "$(jget "$F" 'd["vbds"]')"
ck upgrade-updated.rollback_copy "$(jget "$F" '[p for p in d["preflight"] if p["check"] == "rollback"][0]["ok"] is True')" "$(jget "$F" '[p for p in d["preflight"] if p["check"] == "rollback"]')"
! grep -q "rollback impossible" "$F" "$VBDCTL_OUT/upgrade-updated.err"; ck upgrade-updated.no_rollback_impossible $?
# The stock module is the kernel's own (no srcversion): its file, a .ko.xz on cells B and C,
# must be matched to it by build-id, not by being in-tree and untainted.
ck upgrade-updated.rollback_by_build_id "$(jget "$F" '"(same build-id)" in [p for p in d["preflight"] if p["check"] == "rollback"][0]["detail"]')" \
  "$(jget "$F" '[p["detail"] for p in d["preflight"] if p["check"] == "rollback"]')"
ls -la /run/vbdctl /run/vbdctl/rollback > "$VBDCTL_OUT/run-vbdctl.txt" 2>&1
ck upgrade-updated.rollback_dir "$([ -n "$(ls -A /run/vbdctl/rollback 2>/dev/null)" ] && echo 0 || echo 1)" "$(ls /run/vbdctl/rollback 2>&1 | tr '\n' ' ')"
for v in $(lab_vbd xvdb) $(lab_vbd xvdc); do lab_connected "$v"; ck "upgrade-updated.$v.connected" $?; done
ck upgrade-updated.window_ms "$(jget "$F" 'isinstance(d.get("window_ms"), int) and d["window_ms"] > 0')" "window_ms $(jget "$F" 'd.get("window_ms")')"
sleep 5
vb_check check-after-upgrade

# 5. canary upgrade back to the stock module (depmod still resolves the updated one, whose
#    file is then the rollback copy)
vb_upgrade upgrade-canary-stock upgrade-canary --canary --module-file /lab-modules/stock.ko && N_UP=$((N_UP + 1))
F=$VBDCTL_OUT/upgrade-canary-stock.json
ck upgrade-canary.exit $VB_RC "exit $VB_RC"
ck upgrade-canary.ok "$(jget "$F" 'd["ok"] is True and not d.get("refused") and not d.get("rolled_back")')" "$(jget "$F" '(d.get("error") or {}).get("message")')"
ck upgrade-canary.back_to_stock "$(jget "$F" "d['module_after'].get('build_id') == '$STOCK_BID' and d['module_after']['srcversion'] is None and d['module_before']['srcversion'] is not None")" \
  "$(jget "$F" '[d["module_before"].get("build_id"), d["module_after"].get("build_id")]')"
ck upgrade-canary.sysfs_stock "$([ "$(lab_module_id)" = "none/$STOCK_BID" ] && echo 0 || echo 1)" "$(lab_module_id)"
ck upgrade-canary.vbds_connected "$(jget "$F" 'len(d["vbds"]) == 2 and all(v["backend_state"] == 4 and v["consistent"] is True for v in d["vbds"])')" "$(jget "$F" 'd["vbds"]')"
ck upgrade-canary.rollback_copy "$(jget "$F" '[p for p in d["preflight"] if p["check"] == "rollback"][0]["ok"] is True')" "$(jget "$F" '[p for p in d["preflight"] if p["check"] == "rollback"]')"
ck upgrade-canary.canary_plan "$(jget "$F" 'any("canary" in p["does"] for p in d["plan"])')" "$(jget "$F" 'd["plan"]')"
lab_use_depmod stock
sleep 5

# 6. final state
vb_list list-final
vb_check check-final
lab_wait_fio_pass 300 || lab_fail "no verified fio pass after the last disruption"
dmesg | grep -iE 'blkback|blkfront|taint|verification' > "$OUT/dom0-dmesg-blkback.txt"
finish
