#!/bin/bash
# trace: record what the real kernel does (no vbdctl), for tests/data/:
#   lab-sysfs/{bound,unbound,unloaded,updated}/sys/...  sysfs trees as files+symlinks
#   lab-traces/NN-OP.jsonl  xenstore watch events + 50 ms sysfs polls per operation
#   lab-traces/NN-OP.xenstore-{backend,frontend}.{before,after}.txt, NN-OP.dmesg-after.txt
#   lab-traces/refcnt.txt, modinfo-*.txt, insmod-*.txt, uname-r.txt, proc-version.txt
# The guest runs fio verify + probes on both disks the whole time.
set -u
. /lab/lib.sh
TRACE_DIR=$OUT/lab-traces
SYSFS_DIR=$OUT/lab-sysfs
mkdir -p "$TRACE_DIR" "$SYSFS_DIR"
REF=$TRACE_DIR/refcnt.txt
record_ref() {   # record_ref LABEL
  printf '%-58s bound_vbds=%s refcnt=%s holders=[%s]\n' "$1" "$(lab_nbound)" "$(lab_refcnt)" \
    "$(ls /sys/module/xen_blkback/holders 2>/dev/null | tr '\n' ' ')" >> "$REF"
}
snap() { python3 "$LAB/labtrace.py" snap-sysfs "$SYSFS_DIR/$1"; lab_log "sysfs snapshot $1"; }

uname -r > "$TRACE_DIR/uname-r.txt"
cat /proc/version > "$TRACE_DIR/proc-version.txt"
for f in stock updated wrong-vermagic wrong-vermagic-flags; do
  modinfo /lab-modules/$f.ko > "$TRACE_DIR/modinfo-$f.txt" 2>&1
done
{ echo "# modinfo -n xen-blkback with depmod-stock active:"; modinfo -n xen-blkback; } > "$TRACE_DIR/modinfo-resolve.txt"
cat /sys/bus/xen-backend/drivers_autoprobe > "$TRACE_DIR/drivers_autoprobe.txt" 2>&1
record_ref "dom0 toolstack up, no guest"

lab_start_guest || lab_abort trace
lab_wait_guest_io 300 || { lab_stop_guest; lab_results trace; exit 1; }
lab_check_geometry
B=$(lab_vbd xvdb); C=$(lab_vbd xvdc)
xenstore-ls -f /local/domain/0/backend/vbd > "$TRACE_DIR/xenstore-backend.initial.txt"
xenstore-ls -f /local/domain/$DOMID/device/vbd > "$TRACE_DIR/xenstore-frontend.initial.txt"
record_ref "guest running, both vbds bound"
snap bound

# 1: unbind one vbd ---------------------------------------------------------
lab_trace_start 01-unbind-xvdb
t0=$(lab_now)
lab_mark "echo $B > unbind: begin"
lab_unbind $B
lab_mark "echo $B > unbind: returned"
lab_wait_unbound $B
lab_mark "driver link gone (seen by the scenario)"
lab_trace_stop 3
record_ref "xvdb unbound 3 s, xvdc bound"
snap unbound
sleep 2
record_ref "xvdb unbound 5 s, xvdc bound"

# 2: bind it again ----------------------------------------------------------
lab_trace_start 02-bind-xvdb
lab_mark "echo $B > bind: begin"
lab_bind $B
lab_mark "echo $B > bind: returned"
lab_wait_bound $B
t1=${BOUND_AT[$B]:-$(lab_now)}
lab_mark "driver link back and backend state 4 (seen by the scenario)"
lab_trace_stop 3
lab_disruption unbind-bind $B $t0 $t1
record_ref "both bound again"
sleep 3

# 3: unbind all + rmmod ------------------------------------------------------
lab_trace_start 03-unbind-all-rmmod
t0=$(lab_now)
lab_mark "unbind $B: begin"; lab_unbind $B; lab_mark "unbind $B: returned"
record_ref "right after unbinding xvdb (xvdc bound)"
lab_mark "unbind $C: begin"; lab_unbind $C; lab_mark "unbind $C: returned"
record_ref "right after unbinding xvdc (0 bound)"
lab_wait_unbound $B; lab_wait_unbound $C
lab_mark "both driver links gone"
sleep 1
record_ref "0 bound, 1 s later"
lab_mark "rmmod xen-blkback: begin"
att=$(lab_rmmod)
lab_mark "rmmod xen-blkback: succeeded at attempt $att"
lab_trace_stop 3
record_ref "after rmmod"
snap unloaded

# wrong-vermagic copies (module unloaded; the kernel auto-binds if one loads)
for f in wrong-vermagic-flags wrong-vermagic; do
  {
    echo "# insmod /lab-modules/$f.ko  (vermagic: $(modinfo -F vermagic /lab-modules/$f.ko))"
    n=$(dmesg | wc -l)
    insmod /lab-modules/$f.ko 2>&1; echo "exit status: $?"
    echo "# new dmesg lines:"; dmesg | tail -n +$((n + 1))
    if [ -d /sys/module/xen_blkback ]; then
      echo "# LOADED: srcversion=$(cat /sys/module/xen_blkback/srcversion 2>/dev/null) version=$(cat /sys/module/xen_blkback/version 2>/dev/null) taint=$(cat /sys/module/xen_blkback/taint)"
      lab_wait_bound $B $C
      echo "# bound vbds after load: $(lab_nbound); unbinding and unloading again"
      lab_unbind $B; lab_unbind $C; lab_wait_unbound $B; lab_wait_unbound $C
      echo "# rmmod attempts: $(lab_rmmod)"
    else
      echo "# NOT LOADED"
    fi
  } > "$TRACE_DIR/insmod-$f.txt" 2>&1
  lab_log "insmod $f: $(grep -E '^# (LOADED|NOT LOADED)' "$TRACE_DIR/insmod-$f.txt")"
done

# trace_modprobe TRACE KIND: trace a modprobe that auto-binds both vbds; the disruption
# window of each runs from $t0 (the first unbind) until it was seen reconnected
trace_modprobe() {
  lab_trace_start "$1"
  lab_mark "modprobe xen-blkback (resolves $(modinfo -n xen-blkback)): begin"
  modprobe xen-blkback
  lab_mark "modprobe: returned"
  lab_wait_bound $B $C
  lab_mark "both bound and backend state 4 (seen by the scenario)"
  lab_trace_stop 3
  lab_disruption "$2" $B $t0 ${BOUND_AT[$B]:-$(lab_now)}; lab_disruption "$2" $C $t0 ${BOUND_AT[$C]:-$(lab_now)}
}

# 4: modprobe (stock) ---------------------------------------------------------
trace_modprobe 04-modprobe-stock reload-stock
record_ref "stock module reloaded, both bound"
sleep 3

# 5: upgrade: unbind all, rmmod, switch depmod output, modprobe (updated) ------
t0=$(lab_now)
lab_unbind $B; lab_unbind $C; lab_wait_unbound $B; lab_wait_unbound $C
lab_rmmod > /dev/null
lab_use_depmod updated
modinfo -n xen-blkback >> "$TRACE_DIR/modinfo-resolve.txt"
trace_modprobe 05-modprobe-updated upgrade
record_ref "updated module loaded, both bound"
snap updated
{ for f in srcversion version taint refcnt initstate coresize; do echo "$f: $(cat /sys/module/xen_blkback/$f 2>&1)"; done; } > "$TRACE_DIR/updated-module-sysfs.txt"

# 6: per-vbd references with the updated module -------------------------------
lab_unbind $C; lab_wait_unbound $C; sleep 1; record_ref "updated: xvdc unbound 1 s"
lab_unbind $B; lab_wait_unbound $B; sleep 1; record_ref "updated: both unbound 1 s"
lab_bind $B; lab_wait_bound $B; record_ref "updated: xvdb bound again"
lab_bind $C; lab_wait_bound $C; record_ref "updated: both bound again"
xenstore-ls -f /local/domain/0/backend/vbd > "$TRACE_DIR/xenstore-backend.final.txt"
xenstore-ls -f /local/domain/$DOMID/device/vbd > "$TRACE_DIR/xenstore-frontend.final.txt"
dmesg > "$TRACE_DIR/dom0-dmesg-final.txt"

lab_wait_fio_pass 300 || lab_fail "no verified fio pass after the last operation"
lab_stop_guest
cp "$OUT/guest-console.log" "$TRACE_DIR/guest-console.log"
lab_results trace
