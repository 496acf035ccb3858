#!/usr/bin/env python3
"""Fleet test: the vbdctl.xen collection's rolling_upgrade playbook, run for real by
ansible-playbook (connection local) over 10 hosts, each its own simulated world.

Run: python3 tests/fleet/run_fleet_test.py --vbdctl build/cli/vbdctl [--keep] [-v]
     (or VBDCTL=build/cli/vbdctl python3 tests/fleet/run_fleet_test.py)

Scenarios, each judged through vbdctl's own JSON and the worlds' state files:
  1. rolling upgrade of 10 healthy hosts: every host upgraded and healthy afterwards;
  2. fresh worlds, reconnect-fatal on host 4: hosts 1-3 upgraded, host 4 rolled back (the
     guest loses the disk whose reconnect was fatal, as blkfront does) and reported, hosts 5-10 untouched (state files byte-identical), playbook fails;
  3. --check: nothing changes on any host;
  4. the module alone: honest `changed` (same module again, recover without journal, new
     params), facts, check mode, a stuck ring failing state=checked, a bad option failing
     with the tool's message and exit code.
Exits 0 when every assertion held, 1 otherwise. Needs ansible-core (ansible-playbook).
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
COLLECTIONS = os.path.join(REPO, "ansible")
PLAYBOOK = os.path.join(COLLECTIONS, "ansible_collections", "vbdctl", "xen", "playbooks", "rolling_upgrade.yml")
NHOSTS = 10
FAULT_HOST = 4

VBDCTL = None
VERBOSE = False
failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if cond:
        if VERBOSE:
            print(f"    ok   {what}")
    else:
        failures.append(what)
        print(f"    FAIL {what}")
    return cond


def vbdctl(host, *args, expect=0):
    cmd = [VBDCTL, "--host", host] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    if expect is not None and p.returncode != expect:
        raise RuntimeError(f"{cmd} exited {p.returncode}, wanted {expect}\n{p.stdout}\n{p.stderr}")
    return p


def vbdctl_json(host, *args, expect=0):
    return json.loads(vbdctl(host, "--json", *args, expect=expect).stdout)


class Fleet:
    def __init__(self, root, name):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.names = [f"host{i:02d}" for i in range(1, NHOSTS + 1)]
        self.files = {n: os.path.join(self.dir, f"host_{i}.json") for i, n in enumerate(self.names, 1)}
        for n in self.names:
            vbdctl(self.host(n), "sim", "init")
        self.inventory = os.path.join(self.dir, "inventory.yml")
        with open(self.inventory, "w") as f:
            f.write("vbdctl_fleet:\n  vars:\n")
            f.write("    ansible_connection: local\n")
            f.write("    ansible_python_interpreter: '{{ ansible_playbook_python }}'\n")
            f.write(f"    vbdctl_binary: {json.dumps(VBDCTL)}\n")
            f.write("    vbdctl_check_samples: 2\n    vbdctl_check_interval: 100\n")
            f.write("  hosts:\n")
            for n in self.names:
                f.write(f"    {n}:\n      vbdctl_host: {json.dumps(self.host(n))}\n")

    def host(self, name):
        return "sim:" + self.files[name]

    def snapshot(self, name):
        """What the host looks like: the loaded module (vbdctl's own view, read only), every
        vbd from list --json, and the state file's bytes."""
        h = self.host(name)
        plan = vbdctl_json(h, "upgrade-backend", "--dry-run")
        vbds = vbdctl_json(h, "list")["vbds"]
        with open(self.files[name], "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        return {"module": plan["module_before"], "target": plan["target"], "vbds": vbds, "sha256": digest,
                "journal": os.path.exists(self.files[name] + ".d/journal.json")}

    def snapshots(self):
        return {n: self.snapshot(n) for n in self.names}

    def playbook(self, *extra, log):
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
            "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCAL_TEMP": os.path.join(self.dir, "ansible-tmp"),
            "ANSIBLE_REMOTE_TEMP": os.path.join(self.dir, "ansible-tmp"),
            "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        })
        env.pop("VBDCTL_HOST", None)
        cmd = ["ansible-playbook", "-i", self.inventory, PLAYBOOK] + list(extra)
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=self.dir, timeout=600)
        took = time.monotonic() - t0
        with open(log, "w") as f:
            f.write(p.stdout + p.stderr)
        print(f"  $ {' '.join(os.path.relpath(c, REPO) if c.startswith(REPO) else c for c in cmd)}")
        print(f"    exit {p.returncode} in {took:.1f}s (log {log})")
        return p.returncode, p.stdout + p.stderr


def summary_lines(output):
    """The msg list of the last 'Summary of the roll' task: {host: line}."""
    idx = output.rfind("Summary of the roll")
    block = output[idx:]
    lines = {}
    for m in re.finditer(r"^    - '(host\d+): (.*?)'$", block, re.M | re.S):
        lines[m.group(1)] = " ".join(m.group(2).split())
    return lines, block


def print_summary(output):
    lines, _ = summary_lines(output)
    print("    playbook summary:")
    for h, line in lines.items():
        print(f"      {h}: {line}")
    return lines


def summary_tasks_printed(output):
    return len(re.findall(r"^TASK \[.*Summary of the roll.*\n(?:ok|changed): ", output, re.M))


def healthy(snap):
    """Every vbd bound; backend Connected wherever the frontend is Connected; rings consistent."""
    bad = []
    for v in snap["vbds"]:
        name = f"d{v['domid']}/{v['vdev']}"
        if not v["bound"]:
            bad.append(name + " unbound")
        if v["frontend_state"] == 4 and v["backend_state"] != 4:
            bad.append(f"{name} backend {v['backend_state']}")
        if any(not q["consistent"] for q in v["queues"]):
            bad.append(name + " inconsistent ring")
    return bad


def connected_count(snap):
    return sum(1 for v in snap["vbds"] if v["frontend_state"] == 4 and v["backend_state"] == 4)


def scenario_all_upgraded(root):
    print("[1] rolling upgrade of 10 healthy hosts")
    fleet = Fleet(root, "s1")
    before = fleet.snapshots()
    rc, out = fleet.playbook(log=os.path.join(root, "s1.log"))
    check(rc == 0, "playbook exits 0")
    lines = print_summary(out)
    check(summary_tasks_printed(out) == 1, "the summary is printed exactly once")
    after = fleet.snapshots()
    for n in fleet.names:
        b, a = before[n], after[n]
        check(a["module"]["srcversion"] != b["module"]["srcversion"]
              and a["module"]["srcversion"] == b["target"]["srcversion"],
              f"{n}: srcversion {b['module']['srcversion']} -> {a['module']['srcversion']} (the target's)")
        check(not healthy(a), f"{n}: all vbds bound, Connected where the frontend is, rings consistent {healthy(a)}")
        check(connected_count(a) == connected_count(b) == 5, f"{n}: {connected_count(a)} vbds Connected")
        check(vbdctl(fleet.host(n), "--json", "check", expect=None).returncode == 0, f"{n}: vbdctl check passes")
        check(not a["journal"], f"{n}: no journal left")
        line = lines.get(n, "")
        check(line.startswith("upgraded,") and "rolled back: no" in line and re.search(r"window \d+ ms", line)
              and a["module"]["srcversion"] in line, f"{n}: summary says upgraded with its window: {line!r}")


def scenario_fault_on_host4(root):
    print(f"[2] fresh worlds, reconnect-fatal on host {FAULT_HOST}: the roll stops there")
    fleet = Fleet(root, "s2")
    bad = fleet.names[FAULT_HOST - 1]
    vbdctl(fleet.host(bad), "sim", "fault", "reconnect-fatal", "2", "xvda")
    before = fleet.snapshots()
    rc, out = fleet.playbook(log=os.path.join(root, "s2.log"))
    check(rc != 0, f"playbook fails (exit {rc})")
    lines = print_summary(out)
    check(summary_tasks_printed(out) == 1, "the summary is printed exactly once")
    after = fleet.snapshots()
    for i, n in enumerate(fleet.names, 1):
        b, a = before[n], after[n]
        line = lines.get(n, "")
        if i < FAULT_HOST:
            check(a["module"]["srcversion"] == b["target"]["srcversion"] != b["module"]["srcversion"],
                  f"{n}: upgraded, srcversion {b['module']['srcversion']} -> {a['module']['srcversion']}")
            check(not healthy(a) and connected_count(a) == 5, f"{n}: healthy after the upgrade")
            check(line.startswith("upgraded,"), f"{n}: summary says upgraded: {line!r}")
        elif i == FAULT_HOST:
            check(a["module"]["srcversion"] == b["module"]["srcversion"],
                  f"{n}: module srcversion unchanged ({a['module']['srcversion']})")
            check(a["module"]["build_id"] == b["module"]["build_id"], f"{n}: the old build is loaded again")
            # blkfront closes a disk whose backend went Closing (XEN-FACTS): that one is lost;
            # the rollback gives every other vbd back.
            lost = [v for v in a["vbds"] if (v["domid"], v["vdev"]) == (2, "xvda")][0]
            check(not healthy(a) and lost["frontend_state"] == 6 and connected_count(a) == 4,
                  f"{n}: every other vbd bound and Connected after the rollback; 2/xvda lost by its guest")
            check(not a["journal"], f"{n}: no journal left")
            check(line.startswith("rolled back,") and "rolled back: yes" in line and "reconnect-fatal" in line,
                  f"{n}: summary reports the rollback and why: {line!r}")
            check(re.search(rf"fatal: \[{n}\].*\n(?:.*\n)*?.*rolled_back: true", out) is not None,
                  f"{n}: the upgrade task failed with rolled_back: true")
        else:
            check(a["sha256"] == b["sha256"], f"{n}: state file untouched (sha256 {a['sha256'][:12]})")
            check(a["module"] == b["module"] and a["module"]["srcversion"] is None,
                  f"{n}: module unchanged (srcversion {a['module']['srcversion']})")
            check(line == "not reached (untouched)", f"{n}: summary says not reached: {line!r}")
            check(re.search(rf"^TASK .*\n(?:ok|changed|fatal): \[{n}\]", out, re.M) is None,
                  f"{n}: no task ran on it")
    check(re.search(r"^host0?[5-9]|^host10", out.split("PLAY RECAP")[-1], re.M) is None,
          "PLAY RECAP lists no host after host04")


def scenario_check_mode(root):
    print("[3] --check changes nothing")
    fleet = Fleet(root, "s3")
    before = fleet.snapshots()
    rc, out = fleet.playbook("--check", log=os.path.join(root, "s3.log"))
    check(rc == 0, "playbook --check exits 0")
    lines = print_summary(out)
    after = fleet.snapshots()
    for n in fleet.names:
        b, a = before[n], after[n]
        check(a["module"] == b["module"], f"{n}: module unchanged (srcversion {a['module']['srcversion']})")
        check(a["vbds"] == b["vbds"], f"{n}: list --json identical")
        check(a["sha256"] == b["sha256"], f"{n}: state file identical")
        check(lines.get(n, "").startswith("would upgrade (dry run),"), f"{n}: summary says would upgrade: {lines.get(n)!r}")
    check(re.search(r"^changed: \[host\d+\]", out, re.M) is not None, "check mode reports the upgrade as a change")


def module_run(workdir, host, args, check_mode=False, diff=False):
    """Run the module once through ansible ad-hoc; return (rc, result dict)."""
    env = dict(os.environ)
    # ansible-core's own tree callback writes the result as JSON, one file per host (the
    # json stdout callback lives in ansible.posix, which ansible-core alone does not have)
    tree = tempfile.mkdtemp(prefix="tree-", dir=workdir)
    env.update({"ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "minimal",
                "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.tree", "ANSIBLE_CALLBACK_TREE_DIR": tree,
                "ANSIBLE_LOCAL_TEMP": os.path.join(workdir, "ansible-tmp"),
                "ANSIBLE_PYTHON_INTERPRETER": "auto_silent"})
    env.pop("VBDCTL_HOST", None)
    margs = " ".join([f"binary={VBDCTL}", f"host={host}"] + args)
    cmd = ["ansible", "localhost", "-c", "local", "-m", "vbdctl.xen.vbdctl", "-a", margs]
    if check_mode:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=120)
    try:
        with open(os.path.join(tree, "localhost")) as f:
            res = json.load(f)
        # the tree file leaves out "failed": the minimal callback's status line has it
        res.setdefault("failed", "localhost | FAILED!" in p.stdout)
        res["_stdout"] = p.stdout  # where --diff output goes (the tree file leaves it out)
    except (OSError, ValueError) as e:
        raise RuntimeError(f"{cmd} left no result ({e}); exit {p.returncode}\n{p.stdout}\n{p.stderr}") from e
    return p.returncode, res


def scenario_module(root):
    print("[4] the module alone: changed, facts, check mode, failures")
    d = os.path.join(root, "s4")
    os.makedirs(d)
    host = "sim:" + os.path.join(d, "w.json")
    vbdctl(host, "sim", "init")

    rc, r = module_run(d, host, ["state=facts"])
    check(rc == 0 and len(r["ansible_facts"]["vbdctl_inventory"]["vbds"]) == 6 and not r["changed"],
          "state=facts returns the 6 vbds as facts, unchanged")
    health, mod = r["ansible_facts"]["vbdctl_health"], r["ansible_facts"]["vbdctl_module"]
    check(health["healthy"] and health["vbds"]["total"] == 6 and health["last_run"] is None
          and mod["loaded"] and mod["params"]["max_ring_page_order"] == 4 and mod["params_changed"] == []
          and mod["file"]["srcversion"] == "8C1F2D3E4A5B6C7D8E9F0A1",
          f"state=facts: module and health facts of a healthy host: {health} {mod}")
    sick = "sim:" + os.path.join(d, "sick.json")
    vbdctl(sick, "sim", "init")
    vbdctl(sick, "sim", "fault", "stall-ring", "2", "xvda")
    vbdctl(sick, "sim", "param", "feature_persistent", "N")
    rc, r = module_run(d, sick, ["state=facts"])
    health, mod = r["ansible_facts"]["vbdctl_health"], r["ansible_facts"]["vbdctl_module"]
    check(rc == 0 and not health["healthy"] and health["failing_rings"] == ["vbd-2-51712"]
          and mod["params_changed"] == [{"name": "feature_persistent", "value": "N", "default": "Y"}],
          f"state=facts: a stuck ring and a parameter off its default: {health['problems']}")
    rc, r = module_run(d, host, ["state=upgraded"], check_mode=True)
    check(rc == 0 and r["changed"] and r["dry_run"] and vbdctl_json(host, "upgrade-backend", "--dry-run")
          ["module_before"]["srcversion"] is None, "check mode: would change, nothing loaded")
    rc, r = module_run(d, host, ["state=upgraded"])
    check(rc == 0 and r["changed"] and r["srcversion_after"] == "8C1F2D3E4A5B6C7D8E9F0A1"
          and isinstance(r["window_ms"], int) and r["vbdctl"]["schema_version"] == 5,
          f"state=upgraded: changed, srcversion {r.get('srcversion_before')} -> {r.get('srcversion_after')}, "
          f"window {r.get('window_ms')} ms")
    rc, r = module_run(d, host, ["state=upgraded"])
    check(rc == 0 and not r["changed"] and r["vbdctl"]["noop"] is True and "window_ms" not in r,
          "state=upgraded again (same srcversion and params): nothing reloaded, not a change")
    rc, r = module_run(d, host, ["state=upgraded"], check_mode=True)
    check(rc == 0 and not r["changed"], "check mode of a no-op upgrade: not a change")
    rc, r = module_run(d, host, ["state=upgraded", "params={\"max_ring_page_order\":3}"], check_mode=True, diff=True)
    check(rc == 0 and r["changed"] and "-max_ring_page_order: 4" in r["_stdout"]
          and "+max_ring_page_order: 3" in r["_stdout"], f"--diff shows the parameter change: {r['_stdout'][:400]}")
    rc, r = module_run(d, host, ["state=upgraded", "canary=true", "only=1,2:xvdb",
                                 "params={\"max_ring_page_order\":3}"])
    check(rc == 0 and r["changed"] and r["module_after"]["params"]["max_ring_page_order"] == 3
          and r["cmd"].count("--only") == 2 and "--canary" in r["cmd"]
          and "max_ring_page_order=3" in r["cmd"], "state=upgraded with new params, canary, only: changed")
    rc, r = module_run(d, host, ["state=recovered"])
    check(rc == 0 and not r["changed"] and r["had_journal"] is False, "state=recovered without journal: not a change")
    rc, r = module_run(d, host, ["state=checked"])
    check(rc == 0 and not r["changed"] and r["ok"], "state=checked passes on a healthy world")

    crashed = "sim:" + os.path.join(d, "crashed.json")
    vbdctl(crashed, "sim", "init")
    vbdctl(crashed, "sim", "fault", "crash-after-step", "3")
    vbdctl(crashed, "--json", "upgrade-backend", "--yes", expect=None)  # killed mid-run: a journal stays
    check(os.path.exists(crashed[4:] + ".d/journal.json"), "a crashed upgrade leaves a journal")
    rc, r = module_run(d, crashed, ["state=recovered"], check_mode=True)
    check(rc == 0 and r["changed"] and os.path.exists(crashed[4:] + ".d/journal.json"),
          "state=recovered in check mode: would change, journal kept")
    rc, r = module_run(d, crashed, ["state=recovered"])
    check(rc == 0 and r["changed"] and r["had_journal"] and not os.path.exists(crashed[4:] + ".d/journal.json"),
          "state=recovered with a journal: changed, journal gone")
    vbdctl(host, "sim", "fault", "stall-ring", "1", "xvda")
    rc, r = module_run(d, host, ["state=checked"])
    check(rc != 0 and r.get("failed") and r["rc"] == 1 and "stuck" in r["msg"],
          f"state=checked fails the host on a stuck ring: {r.get('msg')!r}")
    rc, r = module_run(d, host, ["state=upgraded", "only=notadomid"])
    check(rc != 0 and r.get("failed") and r["rc"] == 2 and "vbdctl" in r["msg"],
          f"a bad --only fails with the tool's message and exit code 2: {r.get('msg')!r}")


def main():
    global VBDCTL, VERBOSE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vbdctl", default=os.environ.get("VBDCTL"), help="path to the built vbdctl (or $VBDCTL)")
    ap.add_argument("--keep", action="store_true", help="keep the worlds and logs")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every passing check too")
    ap.add_argument("scenario", nargs="*", type=int, help="only these scenarios (1-4)")
    a = ap.parse_args()
    if not a.vbdctl:
        ap.error("give --vbdctl PATH or set VBDCTL")
    VBDCTL = os.path.abspath(a.vbdctl)
    VERBOSE = a.verbose
    if not os.access(VBDCTL, os.X_OK):
        ap.error(f"{VBDCTL} is not executable")
    if not shutil.which("ansible-playbook"):
        print("ansible-playbook not found (apt-get install ansible-core)", file=sys.stderr)
        return 1

    root = tempfile.mkdtemp(prefix="vbdctl-fleet-")
    print(f"vbdctl {VBDCTL}\ncollections {COLLECTIONS}\nworlds and logs in {root}")
    t0 = time.monotonic()
    scenarios = {1: scenario_all_upgraded, 2: scenario_fault_on_host4, 3: scenario_check_mode, 4: scenario_module}
    try:
        for n, fn in scenarios.items():
            if a.scenario and n not in a.scenario:
                continue
            try:
                fn(root)
            except Exception as e:  # a crash is a failure of that scenario, not of the others
                failures.append(f"scenario {n} crashed: {e!r}")
                print(f"    FAIL scenario {n} crashed: {e!r}")
    finally:
        if not a.keep and not failures:
            shutil.rmtree(root, ignore_errors=True)
    took = time.monotonic() - t0
    if failures:
        print(f"\nFAILED: {len(failures)} of {checks} checks in {took:.0f}s (kept {root}):")
        for f in failures:
            print(f"  - {f}")
        return 1
    print(f"\nOK: {checks} checks passed in {took:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
