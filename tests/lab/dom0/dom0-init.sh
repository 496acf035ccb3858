#!/bin/bash
# Runs in dom0 from the payload disk (/lab), started by /sbin/lab-init (PID 1).
# Brings up the Xen toolstack, runs /lab/scenario.sh (which sources /lab/lib.sh),
# makes sure /lab/out/results.json exists, and returns (lab-init powers off).
# Xen's tools dir: /usr/lib/xen-4.17/bin (cell A), /usr/lib/xen-4.20/bin (cell B); not xen-common
XENBIN=$(ls -d /usr/lib/xen-[0-9]*/bin 2>/dev/null | sort -V | tail -n 1)
export PATH=${XENBIN:+$XENBIN:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LAB=/lab OUT=/lab/out
mkdir -p "$OUT"
# everything dom0 prints goes to its console (Xen com1 -> QEMU serial -> serial.log)
# and to out/dom0.log
exec > >(tee -a "$OUT/dom0.log") 2>&1
. /lab/run.env      # SCENARIO, SCENARIO_TIMEOUT, ... written by tests/lab/run
t() { awk '{print $1}' /proc/uptime; }
echo "LAB dom0-init start uptime=$(t) scenario=$SCENARIO"
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts
mount -t xenfs xenfs /proc/xen
hostname lab-dom0
for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xen-blkback loop; do modprobe $m || echo "LAB modprobe $m failed"; done
mkdir -p /run/xen /run/xenstored /var/log/xen/console /var/lib/xen /var/lib/xenstored /run/lock
xenstored --pid-file=/run/xenstored.pid
for i in $(seq 1 50); do [ -S /run/xenstored/socket ] && break; sleep 0.1; done
xen-init-dom0 || echo "LAB xen-init-dom0 failed"
xenconsoled --log=guest --timestamp=guest --pid-file=/run/xenconsoled.pid
echo "LAB toolstack ready uptime=$(t)"
uname -r > "$OUT/uname-r.txt"; cat /proc/version > "$OUT/proc-version.txt"
if [ -d /lab/debs ]; then
  # vbdctl as operators install it: its packages, Depends met by the image's own packages
  if dpkg -i /lab/debs/*.deb > "$OUT/vbdctl-dpkg.log" 2>&1; then
    export VBDCTL=/usr/bin/vbdctl
    dpkg-query -W -f '${Package} ${Version}: Depends ${Depends}\n' vbdctl libvbdctl0 > "$OUT/vbdctl-packages.txt"
    "$VBDCTL" --version > "$OUT/vbdctl-version.txt" 2>&1
    vrc=$?
    echo "LAB vbdctl installed: $(tr '\n' ';' < "$OUT/vbdctl-packages.txt") --version exit $vrc $(head -n1 "$OUT/vbdctl-version.txt")"
  else
    echo "LAB dpkg -i of vbdctl's packages failed: $(tail -n 3 "$OUT/vbdctl-dpkg.log" | tr '\n' ' ')"
  fi
fi

# the scenario, bounded so that dom0 always gets to power off by itself
cd /lab
# shellcheck disable=SC2086 # SCENARIO_ARGS: words given after "--" to tests/lab/run
timeout -k 10 "${SCENARIO_TIMEOUT:-1200}" bash /lab/scenario.sh ${SCENARIO_ARGS:-}
rc=$?
echo "LAB scenario exited rc=$rc uptime=$(t)"
if [ ! -s "$OUT/results.json" ]; then
  printf '{"scenario":"%s","ok":false,"error":"scenario exited with %s without results.json"}\n' "$SCENARIO" "$rc" > "$OUT/results.json"
fi
# best-effort: leave no guest behind, collect logs
xl destroy guest >/dev/null 2>&1
mkdir -p "$OUT/logs"
cp -r /var/log/xen "$OUT/logs/" 2>/dev/null
dmesg > "$OUT/logs/dom0-dmesg.txt"
xl dmesg > "$OUT/logs/xen-dmesg.txt" 2>/dev/null
echo "LAB dom0-init done uptime=$(t)"
sync
