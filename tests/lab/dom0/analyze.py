#!/usr/bin/env python3
"""Turn the guest console log and dom0's disruption windows into results.json.

Guest console lines (xenconsoled --timestamp=guest prefixes each with dom0's wall
clock "[YYYY-mm-dd HH:MM:SS...] "):
  PROBE <dev> STALL start=<wall> end=<wall> ms=<n>
  PROBE <dev> MISMATCH / IOERR ...
  FIO <dev> FAIL ... / FIO <dev> OK ...
  GUEST SUMMARY verify_errors=.. io_errors=.. probe_mismatches=.. disks=..
  GUEST CLOCK wall=<guest wall>      (used to compare guest and dom0 wall clocks)
disruptions.tsv (dom0): kind vbd start end unbound_ms  (wall clock seconds)

The guest's wall clock is NOT dom0's (see README.md): guest times are converted
to dom0 wall time with offsets measured from console lines stamped by dom0 on
arrival. A guest stall is matched to a disruption of the same disk when the
stalled probe I/O overlaps [start - 0.6 s, end + 2 s]; guest_stall_ms is the longest such stall
(0 if none was seen: then no probe I/O happened to wait, or I/O was not stalled).
"""
import argparse
import bisect
import calendar
import json
import re
import time

def devname(devid):
    """xen vbd devid -> guest disk name (xvd, major 202: 202 << 8 | letter index << 4;
    extended, disks 16 and up: 1 << 28 | index << 8; xvdz is 25, xvdaa 26)"""
    try:
        n = int(devid)
    except ValueError:
        return devid
    if n >> 8 == 202:
        return "xvd" + chr(ord("a") + ((n & 0xff) >> 4))
    if n >> 28 == 1:
        i = (n >> 8) & 0xfffff
        name = ""
        i += 1
        while i:
            i, r = divmod(i - 1, 26)
            name = chr(ord("a") + r) + name
        return "xvd" + name
    return devid


def pct(xs, p):
    """nearest-rank percentile of a sorted list (None when empty)"""
    if not xs:
        return None
    k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))
    return xs[k]


def stats(xs):
    xs = sorted(xs)
    return {"n": len(xs), "p50": pct(xs, 50), "p99": pct(xs, 99), "max": xs[-1] if xs else None}
TS = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d+))?\S*\] ?(.*)$")


def kv(s):
    return dict(re.findall(r"(\w+)=(\S+)", s))


LAT_BEFORE, LAT_AFTER = 0.2, 1.0     # a disruption's latency window: [start - 0.2 s, end + 1 s]
BASE_GUARD = (0.6, 2.0)              # baseline I/Os keep this far from every disruption window


def latency(a, res, offset_at):
    """Every probe I/O's latency (guest lat-DEV files) against the disruption windows: per
    disruption row (one vbd) the I/Os overlapping its window and a baseline of the same disk
    (the baseline_s before it, clear of every window); per event (rows of one kind and
    start) the same pooled over its vbds, and the worst per-vbd stall (largest max)."""
    import glob
    import os
    lat = {}
    cache = {}

    def off(gw):        # offset_at scans every clock sample: once per 5 s of guest time
        k = int(gw // 5)
        if k not in cache:
            cache[k] = offset_at(k * 5 + 2.5)
        return cache[k]
    for f in sorted(glob.glob(os.path.join(a.latency, "lat-*"))):
        dev = os.path.basename(f)[4:]
        recs = []
        for line in open(f, errors="replace"):
            p = line.split()
            if len(p) != 2:
                continue
            try:
                gw, ms = float(p[0]), float(p[1])
            except ValueError:
                continue
            st = gw + off(gw)
            recs.append((st, st + ms / 1000.0, ms))
        lat[dev] = recs
    # every disruption window, widened by BASE_GUARD, merged into disjoint sorted intervals
    merged = []
    for w0, w1 in sorted((d["start_wall"] - BASE_GUARD[0], d["end_wall"] + BASE_GUARD[1]) for d in res["disruptions"]):
        if merged and w0 <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], w1)
        else:
            merged.append([w0, w1])
    mstarts = [w[0] for w in merged]

    def clear(s, e):
        i = bisect.bisect_right(mstarts, e) - 1      # the last window starting before e
        return i < 0 or merged[i][1] < s
    for recs in lat.values():
        recs.sort()
    starts = {dev: [r[0] for r in recs] for dev, recs in lat.items()}
    events = {}
    for d in res["disruptions"]:
        recs = lat.get(d["disk"])
        if recs is None:
            continue
        w0, w1 = d["start_wall"] - LAT_BEFORE, d["end_wall"] + LAT_AFTER
        st = starts[d["disk"]]
        # an I/O overlapping the window started before w1; one in flight at w0 started at most
        # its own length before (look back 120 s: the lab's bind timeout)
        lo, hi = bisect.bisect_left(st, w0 - 120), bisect.bisect_right(st, w1)
        inw = [ms for s, e, ms in recs[lo:hi] if e >= w0]
        b0 = bisect.bisect_left(st, d["start_wall"] - a.baseline_s)
        b1 = bisect.bisect_right(st, d["start_wall"])
        base = [ms for s, e, ms in recs[b0:b1] if clear(s, e)]
        d["latency_ms"] = stats(inw)
        d["baseline_ms"] = stats(base)
        ev = events.setdefault((d["kind"], d["start_wall"]), {"in": [], "base": [], "vbd_max": []})
        ev["in"] += inw
        ev["base"] += base
        if inw:
            ev["vbd_max"].append((max(inw), d["disk"]))
    out = []
    for (kind, start), ev in sorted(events.items(), key=lambda x: x[0][1]):
        worst = max(ev["vbd_max"], default=(None, None))
        vm = sorted(m for m, _ in ev["vbd_max"])
        out.append({"kind": kind, "start_wall": start, "vbds": len(ev["vbd_max"]),
                    "latency_ms": stats(ev["in"]), "baseline_ms": stats(ev["base"]),
                    "worst_vbd_stall_ms": worst[0], "worst_vbd": worst[1],
                    "median_vbd_stall_ms": pct(vm, 50)})
    allbase = {}
    for dev, recs in lat.items():
        allbase[dev] = stats([ms for s, e, ms in recs if clear(s, e)])
    res["latency"] = {"disks": sorted(lat), "records": sum(len(r) for r in lat.values()),
                      "events": out, "baseline_by_disk": allbase,
                      "window": "I/Os overlapping [start - %.1f s, end + %.1f s]; baseline: the same disk's I/Os "
                                "that start in the %.0f s before, %.1f s / %.1f s clear of every window"
                                % (LAT_BEFORE, LAT_AFTER, a.baseline_s, BASE_GUARD[0], BASE_GUARD[1])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--disks", type=int, default=2, help="data disks the guest must still have at the end")
    for a in ("--scenario", "--console", "--stamped", "--disruptions", "--out", "--domid", "--extra", "--failures", "--geometry"):
        ap.add_argument(a)
    ap.add_argument("--latency", help="directory of the probes' lat-DEV files (every probe I/O: start wall, ms)")
    ap.add_argument("--baseline-s", type=float, default=10.0, help="baseline window before each disruption")
    a = ap.parse_args()
    res = {"scenario": a.scenario, "ok": False, "verify_errors": None, "io_errors": None,
           "probe_mismatches": None, "cycles": {}, "disruptions": []}
    # Prefer the log stamped by dom0 as lines arrive (50 ms polling, ms resolution);
    # fall back to xenconsoled's own timestamps (whole seconds).
    entries = []          # (dom0 wall or None, text)
    src = None
    try:
        for raw in open(a.stamped, errors="replace"):
            st, _, text = raw.rstrip("\n").partition("\t")
            m = TS.match(text)
            entries.append((float(st), m.group(3) if m else text))
        src = "stamped"
    except (OSError, TypeError, ValueError):
        entries = []
    if not entries:
        try:
            for raw in open(a.console, errors="replace").read().splitlines():
                m = TS.match(raw)
                if m:
                    d0 = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + 0.5
                    entries.append((d0, m.group(3)))
                else:
                    entries.append((None, raw))
            src = "xenconsoled-seconds"
        except OSError:
            pass
    stalls, fio_fail, clock = [], [], []
    summary = None
    diskstate = {}
    for d0, text in entries:
        f = kv(text)
        if d0 is not None and "wall" in f and (text.startswith("GUEST ") or " HB " in text or text.startswith("FIO ")):
            try:
                clock.append((float(f["wall"]), d0 - float(f["wall"])))
            except ValueError:
                pass
        if text.startswith("PROBE ") and " STALL " in text:
            stalls.append({"dev": text.split()[1], "start": float(f["start"]), "end": float(f["end"]), "ms": float(f["ms"])})
            if d0 is not None:
                clock.append((float(f["end"]), d0 - float(f["end"])))
        elif text.startswith("FIO ") and " FAIL " in text:
            fio_fail.append(text)
        elif text.startswith("GUEST SUMMARY"):
            summary = f
        elif text.startswith("GUEST DISKSTATE"):
            diskstate[text.split()[2]] = f

    def offset_at(gw):
        """dom0 wall - guest wall near guest time gw: the smallest sample within
        60 s (a sample = log latency + true offset; the smallest has the least latency)."""
        near = [o for t, o in clock if abs(t - gw) <= 60] or [o for t, o in clock]
        return min(near) if near else 0.0

    for st in stalls:
        off = offset_at(st["start"])
        st["start_dom0"] = st["start"] + off
        st["end_dom0"] = st["end"] + off
    res["clock"] = {"source": src, "samples": len(clock)}
    if clock:
        clock.sort()
        first = [o for t, o in clock if t - clock[0][0] <= 60]
        last = [o for t, o in clock if clock[-1][0] - t <= 60]
        span = clock[-1][0] - clock[0][0]
        res["clock"].update({
            "dom0_minus_guest_s_first_minute": round(min(first), 3),
            "dom0_minus_guest_s_last_minute": round(min(last), 3),
            "span_s": round(span, 1),
            "drift_ppm": round((min(last) - min(first)) / span * 1e6) if span > 60 else None,
            "note": "guest stall times are converted to dom0 wall clock with the nearest offset estimate"})
    if summary:
        res["verify_errors"] = int(summary["verify_errors"])
        res["io_errors"] = int(summary["io_errors"])
        res["probe_mismatches"] = int(summary["probe_mismatches"])
        res["guest_disks_at_end"] = int(summary["disks"])
    res["guest_diskstate"] = diskstate
    res["fio_failures"] = fio_fail[:20]
    used = set()
    try:
        rows = [l.rstrip("\n").split("\t") for l in open(a.disruptions) if l.strip()]
    except OSError:
        rows = []
    for kind, vbd, start, end, ms in rows:
        start, end = float(start), float(end)
        dev = devname(vbd.rsplit("-", 1)[-1])
        best = None
        for i, s in enumerate(stalls):
            if s["dev"] == dev and s["end_dom0"] >= start - 0.6 and s["start_dom0"] <= end + 2.0:
                used.add(i)
                if best is None or s["ms"] > best["ms"]:
                    best = s
        d = {"kind": kind, "vbd": vbd, "disk": dev, "unbound_ms": int(ms),
             "guest_stall_ms": int(best["ms"]) if best else 0,
             "start_wall": round(start, 3), "end_wall": round(end, 3)}
        if best:
            # positive: the guest's stalled I/O completed after dom0 saw the vbd re-bound
            d["stall_end_minus_rebind_ms"] = int((best["end_dom0"] - end) * 1000)
            d["stall_start_minus_unbind_ms"] = int((best["start_dom0"] - start) * 1000)
        res["disruptions"].append(d)
    if a.latency:
        latency(a, res, offset_at)
    res["stalls_total"] = len(stalls)
    un = [s for i, s in enumerate(stalls) if i not in used]
    res["stalls_unmatched"] = {"count": len(un), "max_ms": max([s["ms"] for s in un], default=0),
                               "longest": sorted(un, key=lambda s: -s["ms"])[:5]}
    extra = json.loads(a.extra or "{}")
    res.update(extra)
    fails = []
    try:
        fails = [l.strip() for l in open(a.failures) if l.strip()]
    except OSError:
        pass
    try:
        res["geometry"] = json.load(open(a.geometry))
    except (OSError, ValueError):
        res["geometry"] = None
    res["failures"] = fails
    res["ok"] = bool(summary) and res["verify_errors"] == 0 and res["io_errors"] == 0 \
        and res["probe_mismatches"] == 0 and res.get("guest_disks_at_end") == a.disks \
        and all(v.get("present") == "1" for v in diskstate.values()) and len(diskstate) == a.disks \
        and not fails and not fio_fail
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
