# dom0-side helpers for lab scenarios. Sourced by /lab/scenario.sh inside dom0.
# Conventions: $OUT (/lab/out) receives everything the runner copies back;
# times are wall clock seconds (bash $EPOCHREALTIME, no fork) unless noted.
# Xen's tools dir: /usr/lib/xen-4.17/bin (cell A), /usr/lib/xen-4.20/bin (cell B); not xen-common
XENBIN=$(ls -d /usr/lib/xen-[0-9]*/bin 2>/dev/null | sort -V | tail -n 1)
export PATH=${XENBIN:+$XENBIN:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
: "${LAB:=/lab}" "${OUT:=/lab/out}"
GUEST=guest
GUEST_LOG=/var/log/xen/console/guest-$GUEST.log
# lab_set_guest NAME SUFFIX: a second guest (bench); its console files get SUFFIX
lab_set_guest() { GUEST=$1; GSUF=$2; GUEST_LOG=/var/log/xen/console/guest-$GUEST.log; }
DISRUPTIONS=$OUT/disruptions.tsv        # kind vbd start end unbound_ms
DRV=/sys/bus/xen-backend/drivers/vbd
DEVS=/sys/bus/xen-backend/devices
KVER=$(uname -r)
declare -A DEVID=([xvdb]=51728 [xvdc]=51744 [xvdd]=51760 [xvde]=51776 [xvdf]=51792 [xvdg]=51808 [xvdh]=51824 [xvdi]=51840)
DOMID=
mkdir -p "$OUT"

lab_log() { echo "LAB [$(awk '{print $1}' /proc/uptime)] $*" >&2; }
lab_now() { echo "$EPOCHREALTIME"; }
lab_fail() { lab_log "FAIL: $*"; echo "$*" >> "$OUT/failures.txt"; }

# lab_devid NAME: DEVID[NAME] for any xvd name (bench): xvda..xvdp 202 << 8 | index << 4;
# from xvdq (index 16) on the extended form 1 << 28 | index << 8 (xvdz 25, xvdaa 26, ...)
lab_devid() {
  [ -n "${DEVID[$1]:-}" ] && return 0
  local l=${1#xvd} i=0 c k
  for ((k = 0; k < ${#l}; k++)); do
    printf -v c '%d' "'${l:k:1}"
    i=$((i * 26 + c - 96))
  done
  i=$((i - 1))
  if [ $i -lt 16 ]; then DEVID[$1]=$((202 << 8 | i << 4)); else DEVID[$1]=$((1 << 28 | i << 8)); fi
}
# vbd name in sysfs for a guest disk name: xvdb -> vbd-1-51728
lab_vbd() { lab_devid "$1"; echo "vbd-$DOMID-${DEVID[$1]}"; }
lab_be() { lab_devid "$1"; echo "/local/domain/0/backend/vbd/$DOMID/${DEVID[$1]}"; }
lab_fe() { lab_devid "$1"; echo "/local/domain/$DOMID/device/vbd/${DEVID[$1]}"; }

# lab_start_guest: two sparse 256 MiB disks over loop devices; guest created paused;
# xvdb's backend advertises one page / one queue before the guest connects.
lab_start_guest() {
  mkdir -p /var/lib/lab
  local d spec disks=() extra=() io=" ${LAB_IO_DISKS:-xvdb xvdc} "
  # LAB_DISKS: every disk the guest gets (bench adds idle ones: xvdd..); LAB_IO_DISKS: the
  # ones the guest runs fio + probe on (default: xvdb xvdc). Only the I/O disks are in the
  # config: libxl runs every disk's block hotplug script at create, they serialise on one
  # lock, and under TCG 8 of them outlived libxl's hotplug timeout. The idle ones are
  # attached afterwards, one `xl block-attach` at a time.
  for d in ${LAB_DISKS:-xvdb xvdc}; do
    case "$d" in xvdb|xvdc) truncate -s 256M /var/lib/lab/$GUEST-$d.img ;; *) truncate -s 16M /var/lib/lab/$GUEST-$d.img ;; esac
    spec="phy:$(losetup -f --show /var/lib/lab/$GUEST-$d.img),$d,w"
    if [[ $io == *" $d "* ]]; then disks+=("\"$spec\""); else extra+=("$spec"); fi
  done
  io=${io# }; io=${io% }
  cat > /var/lib/lab/$GUEST.cfg <<CFG
name = "$GUEST"
type = "pv"
kernel = "${LAB_GUEST_KERNEL:-/boot/vmlinuz-$KVER}"
ramdisk = "$LAB/guest-initrd.cpio"
extra = "console=hvc0 loglevel=4 labdisks=${io// /,}${LAB_GUEST_EXTRA:+ $LAB_GUEST_EXTRA}"
memory = 512
vcpus = 2
on_poweroff = "destroy"
on_crash = "preserve"
disk = [ $(IFS=,; echo "${disks[*]}") ]
CFG
  lab_log "xl create -p ($GUEST: disks ${LAB_DISKS:-xvdb xvdc}, I/O on $io)"
  xl create -p /var/lib/lab/$GUEST.cfg || { lab_fail "xl create failed"; return 1; }
  DOMID=$(xl domid $GUEST)
  export DOMID
  for d in "${extra[@]}"; do
    xl block-attach $GUEST "$d" || { lab_fail "xl block-attach $GUEST $d failed"; return 1; }
  done
  [ ${#extra[@]} = 0 ] || lab_log "attached ${#extra[@]} more disks"
  # blkfront uses min(its max_ring_page_order / max_queues, backend's advertised keys).
  # LAB_SMALL_RINGS (default xvdb): the disks limited so (bench adds its idle disks: each
  # ring of order 2 with 2 queues makes blkfront preallocate 8x the grant pages of one order-0 ring)
  local small=() names=""
  for d in ${LAB_SMALL_RINGS:-xvdb}; do
    small+=("$(lab_be "$d")/max-ring-page-order" 0 "$(lab_be "$d")/multi-queue-max-queues" 1)
    names+=" $d"
  done
  xenstore-write "${small[@]}"
  lab_log "guest domid $DOMID created paused,$names limited to order 0 / 1 queue; unpausing"
  # stamp every guest console line with dom0's wall clock as it arrives (clock comparison)
  python3 "$LAB/labtrace.py" stamp-log "$GUEST_LOG" "$OUT/guest-console${GSUF:-}.stamped.log" &
  STAMP_PID=$!
  xl unpause $GUEST
  GUEST_START_WALL=$(lab_now)
}

# lab_wait_guest_io [TIMEOUT]: until the guest's I/O loops run on both disks
lab_wait_guest_io() {
  local to=${1:-240} i
  for ((i = 0; i < to * 2; i++)); do
    if grep -q "GUEST IO RUNNING" "$GUEST_LOG" 2>/dev/null \
       && ! for d in ${LAB_IO_DISKS:-xvdb xvdc}; do grep -q "PROBE $d HB" "$GUEST_LOG" || echo missing; done | grep -q missing; then
      lab_log "guest I/O running ($(grep -c 'FIO .* OK' "$GUEST_LOG") fio passes so far)"
      return 0
    fi
    if ! xl domid $GUEST >/dev/null 2>&1; then lab_fail "guest died"; return 1; fi
    sleep 0.5
  done
  lab_fail "guest I/O not running after $to s"
  tail -n 30 "$GUEST_LOG" 2>/dev/null
  return 1
}

# lab_check_geometry: frontends must show xvdb: 1 page 1 queue, xvdc: order 2, 2 queues
lab_check_geometry() {
  local fb fc ok=1
  fb=$(lab_fe xvdb); fc=$(lab_fe xvdc)
  local b_order b_q c_order c_q
  b_order=$(xenstore-read "$fb/ring-page-order" 2>/dev/null || echo absent)
  b_q=$(xenstore-read "$fb/multi-queue-num-queues" 2>/dev/null || echo absent)
  c_order=$(xenstore-read "$fc/ring-page-order" 2>/dev/null || echo absent)
  c_q=$(xenstore-read "$fc/multi-queue-num-queues" 2>/dev/null || echo absent)
  [ "$b_order" = absent ] && [ "$b_q" = absent ] && xenstore-exists "$fb/ring-ref" || ok=0
  [ "$c_order" = 2 ] && [ "$c_q" = 2 ] || ok=0
  printf '{"xvdb":{"ring-page-order":"%s","multi-queue-num-queues":"%s"},"xvdc":{"ring-page-order":"%s","multi-queue-num-queues":"%s"},"ok":%s}\n' \
    "$b_order" "$b_q" "$c_order" "$c_q" "$([ $ok = 1 ] && echo true || echo false)" > "$OUT/geometry.json"
  lab_log "geometry: $(cat "$OUT/geometry.json")"
  [ $ok = 1 ] || lab_fail "ring geometry not as requested"
}

# lab_dmesg_mark: remember where dmesg is, so lab_wait_bound only looks at newer lines
lab_dmesg_mark() { DMESG_N=$(dmesg | wc -l); }
DMESG_N=0

# lab_wait_bound VBD... : until every VBD is bound AND reconnected; sets
# BOUND_AT[VBD] to the wall time each one was first seen reconnected (they are
# polled together, so one slow vbd does not delay another's timestamp).
# Neither the driver link nor the backend's xenstore state alone says so: right
# after bind the link exists while sysfs `state` and xenstore `state` still read
# Connected (4) from before the unbind, until probe writes InitWait (2). So wait
# for the link, for blkback's "backend/vbd/D/N: using K queues" dmesg line newer
# than lab_dmesg_mark, and then for xenstore state 4 (connect() writes it after
# that line). Timeout: $LAB_BIND_TIMEOUT seconds (default 120).
declare -A BOUND_AT
lab_wait_bound() {
  local v id be left=("$@") next deadline=$((SECONDS + ${LAB_BIND_TIMEOUT:-120})) msg
  declare -A seen=()
  while [ ${#left[@]} -gt 0 ] && [ $SECONDS -lt $deadline ]; do
    msg=""
    next=()
    for v in "${left[@]}"; do
      id=${v#vbd-}; be=/local/domain/0/backend/vbd/${id%%-*}/${id#*-}
      if [ -L "$DEVS/$v/driver" ]; then
        if [ -z "${seen[$v]:-}" ]; then
          [ -n "$msg" ] || msg=$(dmesg | tail -n +$((DMESG_N + 1)))
          grep -q "backend/vbd/${id%%-*}/${id#*-}: using" <<<"$msg" && seen[$v]=1
        fi
        if [ -n "${seen[$v]:-}" ] && [ "$(xenstore-read "$be/state" 2>/dev/null)" = 4 ]; then
          BOUND_AT[$v]=$EPOCHREALTIME
          continue
        fi
      fi
      next+=("$v")
    done
    left=("${next[@]}")
    [ ${#left[@]} -gt 0 ] && sleep 0.05
  done
  [ ${#left[@]} -eq 0 ] && return 0
  lab_fail "${left[*]} not bound+connected after ${LAB_BIND_TIMEOUT:-120} s"
  return 1
}

# lab_wait_unbound VBD: driver link gone
lab_wait_unbound() {
  local v=$1 deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do [ -L "$DEVS/$v/driver" ] || return 0; sleep 0.05; done
  lab_fail "$v still bound"; return 1
}

# lab_disruption KIND VBD START END: record a disruption window (wall clock s)
lab_disruption() {
  local ms
  ms=$(awk -v a="$3" -v b="$4" 'BEGIN{printf "%d", (b - a) * 1000}')
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$ms" >> "$DISRUPTIONS"
  lab_log "disruption $1 $2 unbound_ms=$ms"
}

# lab_unbind also marks dmesg: the next "using K queues" line for a vbd is its reconnect
lab_unbind() { lab_dmesg_mark; echo "$1" > "$DRV/unbind"; }
lab_bind() { echo "$1" > "$DRV/bind"; }

# lab_use_depmod stock|updated: switch which xen-blkback `modprobe` resolves by
# copying precomputed depmod outputs (depmod itself takes ~70 s in dom0 under TCG)
lab_use_depmod() {
  cp /lab-modules/depmod-$1/* /lib/modules/$KVER/
  lab_log "modprobe now resolves: $(modinfo -n xen-blkback)"
}

# lab_stop_guest: orderly shutdown (guest prints GUEST SUMMARY), then collect its log
lab_stop_guest() {
  lab_log "stopping guest"
  timeout "${LAB_SHUTDOWN_TIMEOUT:-180}" xl shutdown -w $GUEST || { lab_fail "xl shutdown did not finish"; xl destroy $GUEST; }
  sleep 1
  [ -n "${STAMP_PID:-}" ] && kill "$STAMP_PID" 2>/dev/null
  cp "$GUEST_LOG" "$OUT/guest-console${GSUF:-}.log" 2>/dev/null
  grep -E "GUEST (SUMMARY|DISKSTATE)|SUMMARY" "$OUT/guest-console${GSUF:-}.log" | sed 's/^/LAB guest: /'
}

# lab_abort SCENARIO: the guest could not be started: results.json with ok false and the
# failures so far, and end the scenario
lab_abort() { RESULTS=$OUT/results.json lab_results "$1" > /dev/null; exit 1; }

# lab_results SCENARIO [EXTRA_JSON]: match stalls to disruptions, write results.json
lab_results() {
  python3 "$LAB/analyze.py" --scenario "$1" --console "$OUT/guest-console${GSUF:-}.log" ${LAB_LATENCY:+--latency "$LAB_LATENCY"} \
    --disruptions "$DISRUPTIONS" --out "${RESULTS:-$OUT/results.json}" --domid "$DOMID" --disks "$(wc -w <<<"${LAB_IO_DISKS:-xvdb xvdc}")" \
    --extra "${2:-{\}}" --stamped "$OUT/guest-console${GSUF:-}.stamped.log" --failures "$OUT/failures.txt" --geometry "$OUT/geometry.json"
  cat "${RESULTS:-$OUT/results.json}"
}

# --- tracing (trace scenario) ----------------------------------------------
# lab_trace_start NAME: background tracer writing $TRACE_DIR/NAME.jsonl
# xs_ls FILE PATH...: `xenstore-ls -f` of each PATH into FILE. A failed xenstore-ls is tried
# again, up to three times, and logged: Xen 4.20's segfaulted once under TCG (smoke-B-8),
# and a half-written snapshot would count as vbdctl's error in the checks that use it.
xs_ls() {
  local file=$1 try p; shift
  for try in 1 2 3; do
    (for p in "$@"; do xenstore-ls -f "$p" || exit 1; done) > "$file" 2>&1 && return 0
    lab_log "xenstore-ls $* failed (try $try): $(tr '\n' ' ' < "$file" | head -c 200)"
  done
  return 1
}
lab_trace_start() {
  TRACE_NAME=$1
  TRACE_CTL=/run/trace-$1.fifo
  rm -f "$TRACE_CTL" "$TRACE_DIR/$1.jsonl.ready"
  mkfifo "$TRACE_CTL"
  xs_ls "$TRACE_DIR/$1.xenstore-backend.before.txt" /local/domain/0/backend/vbd
  xs_ls "$TRACE_DIR/$1.xenstore-frontend.before.txt" /local/domain/$DOMID/device/vbd
  python3 "$LAB/labtrace.py" trace "$TRACE_DIR/$1.jsonl" --domid "$DOMID" --ctl "$TRACE_CTL" --poll-ms 50 &
  TRACE_PID=$!
  local i
  for ((i = 0; i < 600; i++)); do [ -e "$TRACE_DIR/$1.jsonl.ready" ] && break; sleep 0.1; done
  rm -f "$TRACE_DIR/$1.jsonl.ready"
  sleep 0.5
}
# lab_mark TEXT: a timestamped marker in the running trace (no fork: builtins only)
lab_mark() { local up _; read -r up _ < /proc/uptime; echo "@$up $EPOCHREALTIME $*" > "$TRACE_CTL"; }
lab_trace_stop() {
  sleep "${1:-3}"
  echo STOP > "$TRACE_CTL"
  wait "$TRACE_PID"
  xs_ls "$TRACE_DIR/$TRACE_NAME.xenstore-backend.after.txt" /local/domain/0/backend/vbd
  xs_ls "$TRACE_DIR/$TRACE_NAME.xenstore-frontend.after.txt" /local/domain/$DOMID/device/vbd
  dmesg > "$TRACE_DIR/$TRACE_NAME.dmesg-after.txt"
  rm -f "$TRACE_CTL"
}

# --- module reload helpers ---------------------------------------------------
lab_nbound() { local n=0 v; for v in "$DEVS"/vbd-*; do [ -L "$v/driver" ] && n=$((n + 1)); done; echo $n; }
lab_refcnt() { cat /sys/module/xen_blkback/refcnt 2>/dev/null || echo absent; }

# lab_rmmod: rmmod xen-blkback, retrying while it is busy; prints the attempts
lab_rmmod() {
  local i err
  for ((i = 1; i <= 300; i++)); do
    if err=$(rmmod xen-blkback 2>&1); then echo "$i"; return 0; fi
    [ $i = 1 ] && lab_log "rmmod attempt 1 failed: $err (refcnt $(lab_refcnt))"
    sleep 0.1
  done
  lab_fail "rmmod xen-blkback failed 300 times: $err"
  echo "$i"; return 1
}

# lab_guest_passes DISK: number of completed (verified) fio passes on DISK so far
lab_guest_passes() { grep -c "FIO $1 OK" "$GUEST_LOG" 2>/dev/null || true; }

# lab_wait_fio_pass [TIMEOUT]: until every disk completes one more verified fio pass
lab_wait_fio_pass() {
  local to=${1:-240} b c i
  b=$(lab_guest_passes xvdb); c=$(lab_guest_passes xvdc)
  for ((i = 0; i < to; i++)); do
    [ "$(lab_guest_passes xvdb)" -gt "$b" ] && [ "$(lab_guest_passes xvdc)" -gt "$c" ] && return 0
    grep -q "FIO .* FAIL" "$GUEST_LOG" && break
    sleep 1
  done
  lab_log "no new verified fio pass on both disks within $to s"
  return 1
}

# --- vbdctl helpers (smoke, stress, bench) -----------------------------------
# Every check of vbdctl against the host goes to $CHECKS (name<TAB>ok|fail<TAB>detail);
# lab_vbdctl_checks_json turns it into results.json's vbdctl_checks / _failures.
CHECKS=$OUT/vbdctl-checks.tsv
VBDCTL_OUT=$OUT/vbdctl
mkdir -p "$VBDCTL_OUT"
# ck NAME OK(0|1 or true/false) [DETAIL]
ck() {
  local r=fail
  case "$2" in 0|true|ok) r=ok ;; esac
  printf '%s\t%s\t%s\n' "$1" "$r" "${3:-}" >> "$CHECKS"
  [ $r = ok ] || lab_fail "check $1: ${3:-}"
}
# ck_lines: read vbdcheck.py output (name ok|fail detail) from stdin into $CHECKS
ck_lines() {
  local n r d
  while IFS=$'\t' read -r n r d; do ck "$n" "$r" "$d"; done
}
# jget FILE EXPR: a value out of a JSON file (python expression on d)
jget() { python3 "$LAB/vbdcheck.py" get "$1" "$2"; }   # one value; several: call get with pairs
# vb NAME ARGS...: run $VBDCTL --json ARGS > $VBDCTL_OUT/NAME.json (stderr NAME.err); sets VB_RC, VB_T0, VB_T1
vb() {
  local name=$1; shift
  VB_T0=$EPOCHREALTIME
  "$VBDCTL" --json "$@" > "$VBDCTL_OUT/$name.json" 2> "$VBDCTL_OUT/$name.err"
  VB_RC=$?
  VB_T1=$EPOCHREALTIME
  lab_log "vbdctl $* -> exit $VB_RC ($(awk -v a="$VB_T0" -v b="$VB_T1" 'BEGIN{printf "%.1f", b - a}') s)"
  [ $VB_RC = 0 ] || sed 's/^/LAB   vbdctl stderr: /' "$VBDCTL_OUT/$name.err" | tail -n 8 >&2
  return $VB_RC
}
# vb_list NAME: list --json between two xenstore snapshots, then compare against them
vb_list() {
  local f=$VBDCTL_OUT/$1.json
  xs_ls "$f.xs-before" /local/domain/0/backend/vbd /local/domain/$DOMID/device/vbd
  vb "$1" list; ck "$1.exit" "$VB_RC" "exit $VB_RC"
  xs_ls "$f.xs-after" /local/domain/0/backend/vbd /local/domain/$DOMID/device/vbd
  python3 "$LAB/vbdcheck.py" list "$f" "$DOMID" | ck_lines
}
# vb_check NAME: check --json with enough samples for TCG
vb_check() {
  vb "$1" check --samples "${CHECK_SAMPLES:-5}" --interval "${CHECK_INTERVAL:-500}"
  ck "$1.exit" "$VB_RC" "exit $VB_RC"
  python3 "$LAB/vbdcheck.py" check "$VBDCTL_OUT/$1.json" | ck_lines
}
# lab_connected VBD: driver link present and xenstore backend state 4
lab_connected() {
  local id=${1#vbd-}
  [ -L "$DEVS/$1/driver" ] && [ "$(xenstore-read /local/domain/0/backend/vbd/${id%%-*}/${id#*-}/state 2>/dev/null)" = 4 ]
}
# vb_cycle NAME DISK: vbdctl unbind; 2 s; vbdctl bind, with checks; records the disruption when
# the vbd was unbound; status 0 when both commands succeeded
# (window = unbind start .. bind return; unbound_ms = vbdctl bind's unbound_ms)
vb_cycle() {
  local name=$1 d=$2 v t0 ub urc unb
  v=$(lab_vbd "$d")
  # only cheap builtins between unbind and bind: python in dom0 takes seconds under TCG and
  # would stretch the unbound window; the JSON is checked after the bind
  vb "$name-unbind" unbind "$DOMID" "$d" --yes --timeout 120
  t0=$VB_T0 urc=$VB_RC
  [ -L "$DEVS/$v/driver" ] && unb=1 || unb=0
  sleep "${CYCLE_UNBOUND_S:-2}"
  vb "$name-bind" bind "$DOMID" "$d" --yes --timeout 120
  local brc=$VB_RC
  lab_connected "$v"; ck "$name.bind.connected" $? "driver link + xenstore state 4 after bind returned"
  ck "$name.unbind.exit" "$urc" "exit $urc"
  ck "$name.unbind.sysfs_unbound" "$unb" "driver link gone after unbind returned"
  local r
  mapfile -t r < <(python3 "$LAB/vbdcheck.py" get "$VBDCTL_OUT/$name-unbind.json" 'd["ok"]' \
    "$VBDCTL_OUT/$name-bind.json" 'd["ok"] and d["backend_state"] == 4 and d["consistent"] is True' \
    "$VBDCTL_OUT/$name-bind.json" 'int(d["unbound_ms"])')
  ck "$name.unbind.ok" "${r[0]:-}"
  ck "$name.bind.exit" "$VB_RC" "exit $VB_RC"
  ck "$name.bind.ok" "${r[1]:-}" "$(head -c 600 "$VBDCTL_OUT/$name-bind.json" | tr '\n' ' ')"
  ub=${r[2]:-}
  case "$ub" in ''|*[!0-9]*) ub=$(awk -v a="$t0" -v b="$VB_T1" 'BEGIN{printf "%d", (b - a) * 1000}') ;; esac
  # a disruption only when the vbd was unbound; the cycle counts only when both commands succeeded
  if [ "$unb" = 0 ]; then
    printf '%s\t%s\t%s\t%s\t%s\n' unbind-bind "$v" "$t0" "$VB_T1" "$ub" >> "$DISRUPTIONS"
    lab_log "disruption unbind-bind $v unbound_ms=$ub (vbdctl)"
  fi
  [ "$urc" = 0 ] && [ "$brc" = 0 ]
}
# vb_upgrade NAME KIND ARGS...: vbdctl upgrade-backend --yes --json --timeout 120 ARGS; records
# one disruption per vbd from vbdctl's per-vbd unbound_ms (window = the command's run)
vb_upgrade() {
  local name=$1 kind=$2; shift 2
  vb "$name" upgrade-backend --yes --timeout 120 "$@"
  vb_upgrade_disruptions "$name" "$kind"
  return $VB_RC
}
# vb_upgrade_disruptions NAME KIND: one disruption per vbd of $VBDCTL_OUT/NAME.json (an
# upgrade-backend report), unbound_ms from the report, window VB_T0 .. VB_T1
vb_upgrade_disruptions() {
  local v ub p
  # one python start for all vbds: "vbd-D-N:unbound_ms ..."
  for p in $(jget "$VBDCTL_OUT/$1.json" \
      "' '.join('vbd-%d-%d:%s' % (v['domid'], v['devid'], v.get('unbound_ms')) for v in d.get('vbds') or [])"); do
    v=${p%%:*} ub=${p#*:}
    case "$v:$ub" in vbd-*-*:*[!0-9]*|vbd-*-*:) continue ;; vbd-*-*:*) ;; *) continue ;; esac
    printf '%s\t%s\t%s\t%s\t%s\n' "$2" "$v" "$VB_T0" "$VB_T1" "$ub" >> "$DISRUPTIONS"
  done
}
# module identity as seen in sysfs: srcversion (or none) + build-id
lab_module_id() { echo "$(cat /sys/module/xen_blkback/srcversion 2>/dev/null || echo none)/$(python3 "$LAB/vbdcheck.py" build-id-loaded 2>/dev/null)"; }
lab_vbdctl_checks_json() { python3 "$LAB/vbdcheck.py" checks-json "$CHECKS"; }

# --- recovery helpers (killed) ------------------------------------------------
# While the guest runs fio under TCG every fork in dom0 can cost a second or more (killed,
# 2026-12-02: ~15 forks + one python start took ~60 s): these helpers set variables instead of
# printing (call them directly, not in $(...)) and fork at most where noted.
# lab_vbdctl_bounded SECONDS: print the path of a wrapper that runs $VBDCTL under
# `timeout -k 5 SECONDS`, so a wedged command cannot eat the scenario's time budget
lab_vbdctl_bounded() {
  printf '#!/bin/sh\nexec timeout -k 5 %s %s "$@"\n' "$1" "$VBDCTL" > /run/vbdctl-bounded-$1
  chmod +x /run/vbdctl-bounded-$1
  echo /run/vbdctl-bounded-$1
}
# lab_sleep S: sleep S seconds (fractions too) without a fork: read -t on a private fifo
lab_sleep() {
  if [ -z "${LAB_SLEEP_FD:-}" ]; then
    [ -p /run/lab-sleep.fifo ] || mkfifo /run/lab-sleep.fifo
    exec {LAB_SLEEP_FD}<>/run/lab-sleep.fifo
  fi
  read -r -t "$1" -u "$LAB_SLEEP_FD" _
  return 0
}
# lab_autoprobe: AUTOPROBE = /sys/bus/xen-backend/drivers_autoprobe (1 or 0; "absent")
lab_autoprobe() { AUTOPROBE=absent; read -r AUTOPROBE < /sys/bus/xen-backend/drivers_autoprobe; } 2>/dev/null
# lab_journal: vbdctl's journal (/run/vbdctl/journal.json): JOURNAL_LINES (its lines; none
# without a journal), JOURNAL_STEP ("STEP STEP_NAME", or "none"), JOURNAL_OP (its "op":
# upgrade, unbind; "none") and JOURNAL_RECOVERING (true while a recover has taken it over)
lab_journal() {
  local l s='?' n='?' o='?' r=false re_s='^ *"step": *([0-9-]+)' re_n='^ *"step_name": *"([^"]*)"'
  local re_o='^ *"op": *"([^"]*)"' re_r='^ *"recovering": *true'
  JOURNAL_LINES=() JOURNAL_STEP=none JOURNAL_OP=none JOURNAL_RECOVERING=false
  [ -f /run/vbdctl/journal.json ] && { mapfile -t JOURNAL_LINES < /run/vbdctl/journal.json; } 2>/dev/null || return 0
  for l in "${JOURNAL_LINES[@]}"; do
    [[ $l =~ $re_s ]] && s=${BASH_REMATCH[1]}
    [[ $l =~ $re_n ]] && n=${BASH_REMATCH[1]}
    [[ $l =~ $re_o ]] && o=${BASH_REMATCH[1]}
    [[ $l =~ $re_r ]] && r=true
  done
  JOURNAL_STEP="$s $n" JOURNAL_OP=$o JOURNAL_RECOVERING=$r
}
# lab_vbd_summary: every vbd device in sysfs (all guests), read directly: driver link, backend
# and frontend xenstore state (one xenstore-read for all). Sets VS_TOTAL, VS_CONNECTED (bound,
# backend 4, frontend 4), VS_FE_CONNECTED (frontend 4), VS_BAD ("vbd-D-N:why ..." for each vbd
# whose frontend is Connected but that is unbound or whose backend is not 4), VS_DETAIL (all)
lab_vbd_summary() {
  local p v id i be fe b names=() paths=() vals=()
  VS_TOTAL=0 VS_CONNECTED=0 VS_FE_CONNECTED=0 VS_BAD="" VS_DETAIL=""
  for p in "$DEVS"/vbd-*; do
    [ -e "$p" ] || continue
    v=${p##*/}; id=${v#vbd-}
    names+=("$v")
    paths+=("/local/domain/0/backend/vbd/${id%%-*}/${id#*-}/state" "/local/domain/${id%%-*}/device/vbd/${id#*-}/state")
  done
  [ ${#names[@]} -gt 0 ] || return 0
  mapfile -t vals < <(xenstore-read "${paths[@]}" 2>/dev/null)
  if [ ${#vals[@]} != ${#paths[@]} ]; then   # one path missing: one read each
    vals=()
    for p in "${paths[@]}"; do vals+=("$(xenstore-read "$p" 2>/dev/null || echo absent)"); done
  fi
  for i in "${!names[@]}"; do
    v=${names[i]} be=${vals[2 * i]} fe=${vals[2 * i + 1]}
    [ -L "$DEVS/$v/driver" ] && b=bound || b=unbound
    VS_TOTAL=$((VS_TOTAL + 1))
    VS_DETAIL+="$v:$b/be$be/fe$fe "
    [ "$fe" = 4 ] || continue
    VS_FE_CONNECTED=$((VS_FE_CONNECTED + 1))
    if [ $b = bound ] && [ "$be" = 4 ]; then VS_CONNECTED=$((VS_CONNECTED + 1)); else VS_BAD+="$v:$b/backend-state-$be "; fi
  done
  VS_DETAIL=${VS_DETAIL% } VS_BAD=${VS_BAD% }
}
