#!/bin/bash
# manual: raw kernel operations under guest fio verify (no vbdctl):
#   2 x (unbind; sleep 3; bind) per disk, then unbind all + rmmod + modprobe (stock),
#   then the same with the UPDATED module (depmod output switched, see README.md).
set -u
. /lab/lib.sh
N_UB=0 N_RELOAD=0 N_UP=0
lab_start_guest || lab_abort manual
lab_wait_guest_io 300 || { lab_stop_guest; lab_results manual; exit 1; }
lab_check_geometry
sleep 5

for cycle in 1 2; do
  for d in xvdb xvdc; do
    v=$(lab_vbd $d)
    t0=$(lab_now)
    lab_unbind $v
    lab_wait_unbound $v
    sleep 3
    lab_bind $v
    lab_wait_bound $v && lab_disruption unbind-bind $v $t0 ${BOUND_AT[$v]} && N_UB=$((N_UB + 1))
    sleep 4
  done
done

# reload: unbind everything, rmmod, modprobe (modprobe auto-binds: drivers_autoprobe=1)
reload() {   # reload KIND
  local kind=$1 v t0 att
  t0=$(lab_now)
  for v in $(lab_vbd xvdb) $(lab_vbd xvdc); do lab_unbind $v; done
  for v in $(lab_vbd xvdb) $(lab_vbd xvdc); do lab_wait_unbound $v; done
  att=$(lab_rmmod) || return 1
  lab_log "$kind: rmmod succeeded at attempt $att"
  modprobe xen-blkback || { lab_fail "$kind: modprobe failed"; return 1; }
  lab_wait_bound $(lab_vbd xvdb) $(lab_vbd xvdc) || return 1
  for v in $(lab_vbd xvdb) $(lab_vbd xvdc); do lab_disruption $kind $v $t0 ${BOUND_AT[$v]}; done
  lab_log "$kind: loaded $(modinfo -n xen-blkback) srcversion=$(cat /sys/module/xen_blkback/srcversion 2>/dev/null || echo none) version=$(cat /sys/module/xen_blkback/version 2>/dev/null || echo none) taint=$(cat /sys/module/xen_blkback/taint)"
}
lab_use_depmod stock
reload reload-stock && N_RELOAD=$((N_RELOAD + 1))
[ -e /sys/module/xen_blkback/srcversion ] && lab_fail "stock module shows a srcversion"
sleep 5
lab_use_depmod updated
reload upgrade && N_UP=$((N_UP + 1))
[ "$(cat /sys/module/xen_blkback/version 2>/dev/null)" = vbdctl-lab-1 ] || lab_fail "updated module not loaded"
[ -e /sys/module/xen_blkback/srcversion ] || lab_fail "updated module has no srcversion"

# let both disks finish one more full write+verify pass after the last disruption
lab_wait_fio_pass 300 || lab_fail "no verified fio pass after the upgrade"
dmesg | grep -iE 'blkback|blkfront|taint|verification' > "$OUT/dom0-dmesg-blkback.txt"
lab_stop_guest
lab_results manual "{\"cycles\":{\"unbind_bind\":$N_UB,\"reload_stock\":$N_RELOAD,\"upgrade\":$N_UP}}"
