#!/usr/bin/env python3
"""dom0-side tracing helpers for the vbdctl lab (python3 stdlib only).

  labtrace.py trace OUT.jsonl --domid D --ctl FIFO [--poll-ms 50]
      Records, until "STOP" is written to FIFO, as JSON lines:
        {"t_ms": ..., "wall": ..., "src": "xs", "path": P, "value": V}  one per xenstore
            watch event under /local/domain/0/backend/vbd, /local/domain/D/device/vbd and
            /local/domain/0/error (libxenstore through ctypes; value read right after the
            event arrives, null if the node is gone);
        {"t_ms": ..., "src": "sysfs", ...}  the polled sysfs state (every POLL ms) each time
            it differs from the previous poll: per vbd device: driver link present, its
            target, `state`; plus /sys/module/xen_blkback/refcnt (null if absent) and
            whether /sys/bus/xen-backend/drivers/vbd exists;
        {"t_ms": ..., "src": "mark", "text": T, "shell_uptime_ms": U, "shell_wall": W}
            every other line written to FIFO by lab_mark ("@UPTIME WALL TEXT"); t_ms is
            when the tracer read it (it may be processed after events that the
            operation right behind it caused); shell_uptime_ms (/proc/uptime, 10 ms
            resolution) and shell_wall are when the scenario wrote it.
      t_ms is CLOCK_MONOTONIC in ms (the same clock as dmesg's timestamps, roughly),
      wall is the wall clock (seconds since the epoch).
      Writes "READY" to OUT.ready when the watches are armed and the initial watch
      firings have been consumed.

  labtrace.py snap-sysfs DEST
      Copies /sys/bus/xen-backend and /sys/module/xen_blkback (and, for every
      xen-backend device, its real directory under /sys/devices) into DEST/sys/...
      as plain files (contents read with read(), sysfs sizes lie) and symlinks
      (recreated with readlink, so relative links resolve inside the copy).
      Unreadable and write-only files are skipped; notes/ and sections/ are listed
      (names only) in NAME.LISTING files instead of being copied.

  labtrace.py stamp-log IN OUT
      Follows the file IN (xenconsoled's guest log) and writes every new line to OUT
      prefixed with dom0's wall clock at the moment it was read ("%.3f<TAB>line"),
      polling every 50 ms. Runs until killed.

  labtrace.py sysfs-state
      Prints the current polled state (one JSON object).
"""
import ctypes
import json
import os
import select
import sys
import time

BUS = "/sys/bus/xen-backend"
MOD = "/sys/module/xen_blkback"


def now():
    return round(time.monotonic() * 1000.0, 1), round(time.time(), 3)


def readfile(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").rstrip("\n")
    except OSError:
        return None


def sysfs_state():
    devs = {}
    try:
        names = sorted(n for n in os.listdir(BUS + "/devices") if n.startswith("vbd-"))
    except OSError:
        names = []
    for n in names:
        d = BUS + "/devices/" + n
        drv = d + "/driver"
        devs[n] = {
            "driver": os.path.islink(drv),
            "driver_target": os.readlink(drv) if os.path.islink(drv) else None,
            "state": readfile(d + "/state"),
            "statistics": os.path.isdir(d + "/statistics"),
        }
    return {
        "vbds": devs,
        "refcnt": readfile(MOD + "/refcnt"),
        "module": os.path.isdir(MOD),
        "drivers_vbd": os.path.isdir(BUS + "/drivers/vbd"),
        "bound": sum(1 for v in devs.values() if v["driver"]),
    }


class XS:
    def __init__(self):
        self.lib = ctypes.CDLL("libxenstore.so.4", use_errno=True)
        self.libc = ctypes.CDLL("libc.so.6")
        L = self.lib
        L.xs_open.restype = ctypes.c_void_p
        L.xs_open.argtypes = [ctypes.c_ulong]
        L.xs_watch.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        L.xs_watch.restype = ctypes.c_bool
        L.xs_fileno.argtypes = [ctypes.c_void_p]
        L.xs_check_watch.argtypes = [ctypes.c_void_p]
        L.xs_check_watch.restype = ctypes.POINTER(ctypes.c_char_p)
        L.xs_read.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint)]
        L.xs_read.restype = ctypes.c_void_p
        self.libc.free.argtypes = [ctypes.c_void_p]
        self.h = L.xs_open(0)
        if not self.h:
            raise OSError("xs_open failed")

    def watch(self, path, token):
        if not self.lib.xs_watch(self.h, path.encode(), token.encode()):
            raise OSError("xs_watch %s failed" % path)

    def fileno(self):
        return self.lib.xs_fileno(self.h)

    def check_watch(self):
        vec = self.lib.xs_check_watch(self.h)
        if not vec:
            return None
        path, token = vec[0].decode(), vec[1].decode()
        self.libc.free(ctypes.cast(vec, ctypes.c_void_p))
        return path, token

    def read(self, path):
        ln = ctypes.c_uint(0)
        p = self.lib.xs_read(self.h, 0, path.encode(), ctypes.byref(ln))
        if not p:
            return None
        v = ctypes.string_at(p, ln.value).decode("utf-8", "replace")
        self.libc.free(p)
        return v


def trace(out, domid, ctl, poll_ms):
    xs = XS()
    paths = ["/local/domain/0/backend/vbd", "/local/domain/%d/device/vbd" % domid, "/local/domain/0/error"]
    watch_errors = []
    for i, p in enumerate(paths):
        try:
            xs.watch(p, "t%d" % i)
        except OSError as e:
            watch_errors.append(str(e))
    fd = xs.fileno()
    if not os.path.exists(ctl):
        os.mkfifo(ctl)
    cfd = os.open(ctl, os.O_RDONLY | os.O_NONBLOCK)
    # keep a writer open ourselves so the FIFO never reports EOF between writers
    keep = os.open(ctl, os.O_WRONLY)
    buf = b""
    f = open(out, "w", buffering=1)

    def emit(rec):
        f.write(json.dumps(rec, sort_keys=True) + "\n")

    # consume the initial firing of each new watch (xenstored fires once at once)
    t_end = time.monotonic() + 1.0
    initial = 0
    while time.monotonic() < t_end:
        r, _, _ = select.select([fd], [], [], 0.1)
        while r and xs.check_watch():
            initial += 1
        if initial >= len(paths):
            break
    t, w = now()
    emit({"t_ms": t, "wall": w, "src": "start", "watches": paths, "poll_ms": poll_ms,
          "initial_watch_events_skipped": initial, "watch_errors": watch_errors})
    last = sysfs_state()
    emit(dict({"t_ms": t, "wall": w, "src": "sysfs"}, **last))
    with open(out + ".ready", "w") as r:
        r.write("READY\n")
    polls = 0
    next_poll = time.monotonic() + poll_ms / 1000.0
    stop = False
    while not stop:
        timeout = max(0.0, next_poll - time.monotonic())
        r, _, _ = select.select([fd, cfd], [], [], timeout)
        if cfd in r:
            buf += os.read(cfd, 4096)
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode().strip()
                t, w = now()
                if text == "STOP":
                    stop = True
                    continue
                rec = {"t_ms": t, "wall": w, "src": "mark", "text": text}
                # lab_mark sends "@<uptime s> <wall s> text": when the shell wrote it
                parts = text.split(" ", 2)
                if len(parts) == 3 and parts[0].startswith("@"):
                    try:
                        rec = {"t_ms": t, "wall": w, "src": "mark", "text": parts[2],
                               "shell_uptime_ms": round(float(parts[0][1:]) * 1000.0, 1),
                               "shell_wall": round(float(parts[1]), 3)}
                    except ValueError:
                        pass
                emit(rec)
        if fd in r:
            while True:
                ev = xs.check_watch()
                if not ev:
                    break
                t, w = now()
                emit({"t_ms": t, "wall": w, "src": "xs", "path": ev[0], "value": xs.read(ev[0])})
        if time.monotonic() >= next_poll:
            polls += 1
            st = sysfs_state()
            if st != last:
                t, w = now()
                emit(dict({"t_ms": t, "wall": w, "src": "sysfs"}, **st))
                last = st
            next_poll += poll_ms / 1000.0
            if next_poll < time.monotonic():
                next_poll = time.monotonic() + poll_ms / 1000.0
    t, w = now()
    emit({"t_ms": t, "wall": w, "src": "stop", "polls": polls})
    f.close()
    os.close(keep)
    os.close(cfd)


SKIP_LIST_DIRS = {"notes", "sections"}


def copy_tree(src, dst, follow_top=False):
    """Copy one sysfs directory as files and symlinks (no following of links)."""
    os.makedirs(dst, exist_ok=True)
    try:
        entries = sorted(os.listdir(src))
    except OSError:
        return
    for n in entries:
        s, d = os.path.join(src, n), os.path.join(dst, n)
        if os.path.islink(s):
            os.symlink(os.readlink(s), d)
        elif os.path.isdir(s):
            if n in SKIP_LIST_DIRS:
                try:
                    names = sorted(os.listdir(s))
                except OSError:
                    names = []
                with open(d + ".LISTING", "w") as f:
                    f.write("".join(x + "\n" for x in names))
                continue
            copy_tree(s, d)
        else:
            try:
                with open(s, "rb") as f:
                    data = f.read()
            except OSError:
                continue        # write-only (bind, unbind, uevent) or unreadable
            with open(d, "wb") as f:
                f.write(data)


def snap_sysfs(dest):
    root = os.path.join(dest, "sys")
    copy_tree(BUS, os.path.join(root, "bus/xen-backend"))
    if os.path.isdir(MOD):
        copy_tree(MOD, os.path.join(root, "module/xen_blkback"))
    # the real device directories the bus's device links point to
    try:
        devs = os.listdir(BUS + "/devices")
    except OSError:
        devs = []
    for n in devs:
        real = os.path.realpath(os.path.join(BUS, "devices", n))
        if real.startswith("/sys/"):
            copy_tree(real, os.path.join(root, real[len("/sys/"):]))


def stamp_log(src, dst):
    out = open(dst, "a", buffering=1)
    f = None
    part = ""
    while True:
        if f is None:
            try:
                f = open(src, errors="replace")
            except OSError:
                time.sleep(0.1)
                continue
        data = f.read()
        if data:
            w = time.time()
            part += data
            while "\n" in part:
                line, part = part.split("\n", 1)
                out.write("%.3f\t%s\n" % (w, line.rstrip("\r")))
        else:
            time.sleep(0.05)


def main():
    a = sys.argv[1:]
    if not a:
        print(__doc__)
        return 2
    if a[0] == "trace":
        out = a[1]
        domid = int(a[a.index("--domid") + 1])
        ctl = a[a.index("--ctl") + 1]
        poll = int(a[a.index("--poll-ms") + 1]) if "--poll-ms" in a else 50
        trace(out, domid, ctl, poll)
    elif a[0] == "snap-sysfs":
        snap_sysfs(a[1])
    elif a[0] == "stamp-log":
        stamp_log(a[1], a[2])
    elif a[0] == "sysfs-state":
        print(json.dumps(sysfs_state(), sort_keys=True))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
