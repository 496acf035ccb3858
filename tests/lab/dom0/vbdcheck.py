#!/usr/bin/env python3
"""dom0-side checks of vbdctl's JSON against xenstore and sysfs read directly.

  vbdcheck.py list LIST.json DOMID          -> one "name<TAB>ok|fail<TAB>detail" line per check
  vbdcheck.py check CHECK.json              -> same, for `vbdctl check --json`
  vbdcheck.py build-id-loaded               -> hex GNU build-id of the loaded xen_blkback
  vbdcheck.py build-id-file KO              -> hex GNU build-id of a .ko file
  vbdcheck.py get JSONFILE EXPR [JSONFILE EXPR ...]
                                            -> print a value per pair, a line each (EXPR: python on `d`)
  vbdcheck.py checks-json TSV               -> {"vbdctl_checks": {name: bool}, "vbdctl_check_failures": {...}}
  vbdcheck.py cost REPS CMDLINE [CMDLINE ...]
                                            -> medians of each one's wall and CPU time, page faults
                                               and context switches, and the first one's time over
                                               each other's, round by round (the commands in turns)

xenstore is read with `xenstore-ls -f` before and after the list was taken (the
list file is passed in; the caller runs list between two `xenstore-ls` snapshots
it saves as LIST.json.xs-before / LIST.json.xs-after): a value is compared only
when it is the same in both snapshots (stable), which makes the comparison
"in the same moment" without racing live I/O.
"""
import json
import os
import shlex
import statistics
import struct
import sys
import time

DEVS = "/sys/bus/xen-backend/devices"
MOD = "/sys/module/xen_blkback"
RING_SIZE_PER_PAGE = 32      # blkif ring: 32 requests per 4 KiB page (x86_64 abi)


def out(name, ok, detail=""):
    print(f"{name}\t{'ok' if ok else 'fail'}\t{detail}")


def parse_xs(path):
    d = {}
    try:
        for line in open(path, errors="replace"):
            k, sep, v = line.rstrip("\n").partition(" = ")
            if sep:
                v = v.strip()
                if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
                    v = v[1:-1]
                d[k.strip()] = v
    except OSError:
        pass
    return d


def stable(a, b, key):
    """value of key if identical (or absent) in both snapshots, else the marker 'UNSTABLE'"""
    va, vb = a.get(key), b.get(key)
    return va if va == vb else "UNSTABLE"


def stamped_lines(path):
    """[(dom0 wall time, text)] of a console log stamped on arrival by `labtrace.py stamp-log`
    ("TIME<TAB>line" per line); unstamped lines are skipped, a missing file gives []"""
    out = []
    try:
        for line in open(path, errors="replace"):
            st, _, text = line.rstrip("\n").partition("\t")
            try:
                out.append((float(st), text))
            except ValueError:
                pass
    except OSError:
        pass
    return out


def read(p):
    try:
        with open(p) as f:
            return f.read().strip()
    except OSError:
        return None


def build_id_from_note(b):
    off = 0
    while off + 12 <= len(b):
        namesz, descsz, typ = struct.unpack_from("<III", b, off)
        off += 12
        name = b[off:off + namesz]
        off += (namesz + 3) & ~3
        desc = b[off:off + descsz]
        off += (descsz + 3) & ~3
        if typ == 3 and name.rstrip(b"\0") == b"GNU":
            return desc.hex()
    return None


def build_id_file(path):
    f = open(path, "rb").read()
    if f[:4] != b"\x7fELF" or f[4] != 2:
        return None
    shoff, = struct.unpack_from("<Q", f, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", f, 0x3A)
    def sh(i):
        o = shoff + i * shentsize
        name, typ, flags, addr, offset, size = struct.unpack_from("<IIQQQQ", f, o)
        return name, offset, size
    _, stroff, _ = sh(shstrndx)
    for i in range(shnum):
        name, offset, size = sh(i)
        n = f[stroff + name:f.index(b"\0", stroff + name)].decode()
        if n == ".note.gnu.build-id":
            return build_id_from_note(f[offset:offset + size])
    return None


def hexnum(s):
    """'7:0' / 'fd:1' -> (7, 0) / (253, 1); None when not parseable"""
    try:
        a, b = s.split(":")
        return int(a, 16), int(b, 16)
    except (AttributeError, ValueError):
        return None


def cmd_list(path, domid):
    d = json.load(open(path))
    xa, xb = parse_xs(path + ".xs-before"), parse_xs(path + ".xs-after")
    pre = path.rsplit("/", 1)[-1].replace(".json", "")
    vbds = {(v["domid"], v["devid"]): v for v in d.get("vbds", [])}
    # module
    m = d.get("module") or {}
    out(f"{pre}.module.loaded", m.get("loaded") is True and os.path.isdir(MOD), str(m.get("loaded")))
    rc_sys = read(MOD + "/refcnt")
    nb = sum(1 for v in os.listdir(DEVS) if v.startswith("vbd-") and os.path.islink(f"{DEVS}/{v}/driver"))
    out(f"{pre}.module.refcnt", str(m.get("refcnt")) == rc_sys or m.get("refcnt") == 2 * nb,
        f"vbdctl {m.get('refcnt')} sysfs {rc_sys} (2 x {nb} bound)")
    sv = read(MOD + "/srcversion")
    out(f"{pre}.module.srcversion", m.get("srcversion") == sv, f"vbdctl {m.get('srcversion')} sysfs {sv}")
    bid = None
    try:
        bid = build_id_from_note(open(MOD + "/notes/.note.gnu.build-id", "rb").read())
    except OSError:
        pass
    out(f"{pre}.module.build_id", m.get("build_id") == bid, f"vbdctl {m.get('build_id')} sysfs {bid}")
    pdir = MOD + "/parameters"
    params = {p: read(f"{pdir}/{p}") for p in sorted(os.listdir(pdir))} if os.path.isdir(pdir) else {}
    # vbdctl types them (schema 2): a bool parameter as true/false, an integer one as a number
    shown = {k: ("Y" if v is True else "N" if v is False else str(v)) for k, v in (m.get("params") or {}).items()}
    out(f"{pre}.module.params", shown == params,
        "" if shown == params else f"vbdctl {m.get('params')} sysfs {params}")
    for disk, devid, pages, nq in (("xvdb", 51728, 1, 1), ("xvdc", 51744, 4, 2)):
        v = vbds.get((int(domid), devid))
        n = f"{pre}.{disk}"
        if not v:
            out(f"{n}.present", False, "not in list")
            continue
        be, fe = f"/local/domain/0/backend/vbd/{domid}/{devid}", f"/local/domain/{domid}/device/vbd/{devid}"
        name = f"vbd-{domid}-{devid}"
        out(f"{n}.vdev", v.get("vdev") == disk, str(v.get("vdev")))
        for field, key in (("backend_state", be + "/state"), ("frontend_state", fe + "/state")):
            x = stable(xa, xb, key)
            out(f"{n}.{field}", x == "UNSTABLE" or str(v.get(field)) == x, f"vbdctl {v.get(field)} xenstore {x}")
            out(f"{n}.{field}_connected", v.get(field) == 4, str(v.get(field)))
        link = os.path.islink(f"{DEVS}/{name}/driver")
        out(f"{n}.bound", v.get("bound") is True and link, f"vbdctl {v.get('bound')} sysfs link {link}")
        pd = stable(xa, xb, be + "/physical-device")
        out(f"{n}.physical_device", v.get("physical_device") == pd or
            (hexnum(v.get("physical_device")) is not None and hexnum(v.get("physical_device")) == hexnum(pd)),
            f"vbdctl {v.get('physical_device')} xenstore {pd}")
        # sysfs physical_device attribute of the bound device (blkback: "%x:%x")
        spd = read(f"{DEVS}/{name}/physical_device")
        out(f"{n}.physical_device_sysfs", spd is None or hexnum(spd) == hexnum(v.get("physical_device")),
            f"vbdctl {v.get('physical_device')} sysfs {spd}")
        mode = stable(xa, xb, be + "/mode")
        out(f"{n}.mode", v.get("mode") == mode, f"vbdctl {v.get('mode')} xenstore {mode}")
        smode = read(f"{DEVS}/{name}/mode")
        out(f"{n}.mode_sysfs", smode is None or smode == v.get("mode"), f"vbdctl {v.get('mode')} sysfs {smode}")
        proto = stable(xa, xb, fe + "/protocol")
        out(f"{n}.protocol", v.get("protocol") == (proto or "x86_64-abi"), f"vbdctl {v.get('protocol')} xenstore {proto}")
        rpo = stable(xa, xb, fe + "/ring-page-order")
        exp_order = int(rpo) if rpo not in (None, "UNSTABLE") else 0
        out(f"{n}.ring_page_order", v.get("ring_page_order") == exp_order and 2 ** exp_order == pages,
            f"vbdctl {v.get('ring_page_order')} xenstore {rpo}")
        mq = stable(xa, xb, fe + "/multi-queue-num-queues")
        exp_q = int(mq) if mq not in (None, "UNSTABLE") else 1
        qs = v.get("queues") or []
        out(f"{n}.queues", len(qs) == exp_q == nq, f"vbdctl {len(qs)} xenstore {mq}")
        qok, det = True, []
        for q in qs:
            rs, rp = q.get("ring_size"), q.get("ring_pages")
            req, rsp, pend = q.get("req_prod"), q.get("rsp_prod"), q.get("pending")
            good = (rp == pages and rs == RING_SIZE_PER_PAGE * pages and q.get("consistent") is True
                    and isinstance(req, int) and isinstance(rsp, int) and isinstance(pend, int)
                    and 0 <= pend <= rs and (req - rsp) % 2 ** 32 == pend)
            qok &= good
            det.append(f"q{q.get('index')} pages={rp} size={rs} req={req} rsp={rsp} pending={pend} consistent={q.get('consistent')}")
        out(f"{n}.rings", qok and len(qs) > 0, "; ".join(det))
        out(f"{n}.no_problems", not v.get("problems") and not v.get("error"), f"{v.get('problems')} {v.get('error')}")


def cmd_check(path):
    d = json.load(open(path))
    pre = path.rsplit("/", 1)[-1].replace(".json", "")
    out(f"{pre}.ok", d.get("ok") is True, "")
    for v in d.get("vbds", []):
        progs = [q.get("progress") for q in v.get("queues") or []]
        out(f"{pre}.{v.get('vdev')}.progress", bool(progs) and all(p in ("busy", "idle") for p in progs)
            and v.get("ok") is True, f"{progs} reasons {[q.get('reason') for q in v.get('queues') or []]}")


def cost(reps, cmdlines):
    """What each command costs, from the kernel's accounting of the child (wait4): under TCG a
    PV dom0's page faults and context switches are trips through Xen, so counts say where wall
    time goes that a profile of the program cannot. The commands run in turns, each started
    first in every len(cmdlines)-th round (the host's speed drifts within a run).
    "medians": per command; "first_over": per other command, the median over rounds of the
    first command's wall and CPU (user + system) time over its own in the same round. A command
    that failed once has None (a figure of a command that did not work means nothing)."""
    runs = {c: [None] * reps for c in cmdlines}
    failed = set()
    for r in range(reps):
        for i in range(len(cmdlines)):
            c = cmdlines[(r + i) % len(cmdlines)]
            if c in failed:
                continue
            argv = shlex.split(c)
            with open(os.devnull, "wb") as null:
                t0 = time.monotonic()
                pid = os.posix_spawnp(argv[0], argv, os.environ,
                                      file_actions=[(os.POSIX_SPAWN_DUP2, null.fileno(), 1),
                                                    (os.POSIX_SPAWN_DUP2, null.fileno(), 2)])
                _, status, ru = os.wait4(pid, 0)
                wall = time.monotonic() - t0
            if os.waitstatus_to_exitcode(status) != 0:
                failed.add(c)
                continue
            runs[c][r] = {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "user_s": ru.ru_utime,
                          "sys_s": ru.ru_stime, "minflt": ru.ru_minflt, "majflt": ru.ru_majflt,
                          "vcsw": ru.ru_nvcsw, "ivcsw": ru.ru_nivcsw}

    def median(xs):  # None when no round gave a figure (a CPU time of 0 divides nothing)
        xs = list(xs)
        return round(statistics.median(xs), 4) if xs else None
    first = cmdlines[0]
    return {
        "medians": {c: None if c in failed else {k: median(x[k] for x in v) for k in v[0]}
                    for c, v in runs.items()},
        "first_over": {c: None if failed & {first, c} else
                       {k: median(a[k + "_s"] / b[k + "_s"] for a, b in zip(runs[first], v)
                                  if b[k + "_s"] > 0) for k in ("wall", "cpu")}
                       for c, v in runs.items() if c != first},
    }


def main():
    c = sys.argv[1]
    if c == "list":
        cmd_list(sys.argv[2], sys.argv[3])
    elif c == "check":
        cmd_check(sys.argv[2])
    elif c == "build-id-loaded":
        print(build_id_from_note(open(MOD + "/notes/.note.gnu.build-id", "rb").read()))
    elif c == "build-id-file":
        print(build_id_file(sys.argv[2]))
    elif c == "get":
        # pairs, one output line each: python starts take ~1.5 s in dom0 under TCG
        for f, expr in zip(sys.argv[2::2], sys.argv[3::2]):
            try:
                r = eval(expr, {"d": json.load(open(f))})
            except Exception as e:  # noqa: BLE001 - report, do not crash the scenario
                r = f"ERROR:{type(e).__name__}:{e}"
            r = json.dumps(r) if not isinstance(r, str) else r
            print(r.replace("\n", " "))
    elif c == "checks-json":
        checks, fails = {}, {}
        try:
            for line in open(sys.argv[2]):
                p = line.rstrip("\n").split("\t", 2)
                if len(p) < 2:
                    continue
                ok = p[1] == "ok"
                checks[p[0]] = checks.get(p[0], True) and ok
                if not ok:
                    fails[p[0]] = p[2] if len(p) > 2 else ""
        except OSError:
            pass
        print(json.dumps({"vbdctl_checks": checks, "vbdctl_check_failures": fails}))
    elif c == "cost":
        print(json.dumps(cost(int(sys.argv[2]), sys.argv[3:])))


if __name__ == "__main__":
    main()
