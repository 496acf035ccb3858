#!/usr/bin/env python3
"""How the simulated host's commands grow with the number of vbds (issue 10's targets).

Run: python3 tests/bench/sim_scale.py --vbdctl build/cli/vbdctl [--sizes 100,1000,10000]
                                      [--baseline OTHER/vbdctl]

Prints, per size N: `sim init`, `list --json` (median of 5), `list --json` of a guest with
no vbds (`load`: starting and loading the world, median of 5), `upgrade-backend --yes`, the
state file's size, and each time divided by N relative to the smallest size (1.0 is
linear). With --baseline, the other binary (an older build) runs the same commands in the
same run, interleaved, and the table gains its times and the ratio baseline/new: the machine
is shared, so compare ratios measured together. A state file is only read by the binary
that wrote it (its format may differ). `startup` is `vbdctl --version`, the floor of any
command. Targets: list --json over 1000 vbds under 20 ms; an upgrade of 10000 under 5 s.
Figures, not a test.
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time


def timed(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def measure(vbdctl, d, n, tag):
    state = f"{d}/{tag}{n}.state"
    host = ["--host", f"sim:{state}"]
    init = timed([vbdctl, *host, "sim", "init", "--guests", str(n // 2), "--vbds-per-guest", "2"])
    lst = statistics.median(timed([vbdctl, *host, "--json", "list"]) for _ in range(5))
    load = statistics.median(timed([vbdctl, *host, "--json", "list", "32000"]) for _ in range(5))
    upg = timed([vbdctl, *host, "upgrade-backend", "--yes", "--json"])
    return init, lst, load, upg, os.path.getsize(state)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vbdctl", required=True)
    ap.add_argument("--baseline")
    ap.add_argument("--sizes", default="100,1000,10000")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    bins = {"new": a.vbdctl} | ({"base": a.baseline} if a.baseline else {})
    rows = {tag: [] for tag in bins}
    startup = {tag: statistics.median(timed([b, "--version"]) for _ in range(9)) for tag, b in bins.items()}
    with tempfile.TemporaryDirectory(prefix="vbdctl-bench-") as d:
        for n in sizes:
            for tag, b in bins.items():
                rows[tag].append((n, *measure(b, d, n, tag)))
    for tag, b in bins.items():
        r = rows[tag]
        n0, i0, l0, _, u0, _ = r[0]
        print(f"{tag}: {b} (startup {startup[tag] * 1000:.1f} ms)")
        print(f"{'vbds':>6} {'sim init':>9} {'list --json':>12} {'load':>8} {'upgrade':>9} {'state':>9}   "
              f"per-vbd cost vs {n0} (init/list/upgrade)")
        for n, i, l, ld, u, size in r:
            f = n0 / n
            print(f"{n:>6} {i * 1000:>7.0f}ms {l * 1000:>10.1f}ms {ld * 1000:>6.1f}ms {u * 1000:>7.0f}ms "
                  f"{size / 1e6:>7.1f}MB   {i / i0 * f:.2f} / {l / l0 * f:.2f} / {u / u0 * f:.2f}")
    if a.baseline:
        print("baseline/new, same run:")
        for (n, i, l, ld, u, _), (_, bi, bl, bld, bu, _) in zip(rows["new"], rows["base"]):
            print(f"{n:>6}  init {bi / i:.2f}x  list {bl / l:.2f}x  load {bld / ld:.2f}x  upgrade {bu / u:.2f}x")
    by = {r[0]: r for r in rows["new"]}
    if 1000 in by:
        print(f"list --json at 1000 vbds: {by[1000][2] * 1000:.1f} ms (target 20 ms: {by[1000][2] * 1000 / 20:.1f}x)")
    if 10000 in by:
        print(f"upgrade at 10000 vbds: {by[10000][4]:.2f} s (target 5 s: {by[10000][4] / 5:.2f}x)")


if __name__ == "__main__":
    main()
