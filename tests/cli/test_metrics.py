#!/usr/bin/env python3
"""vbdctl metrics: the Prometheus text exposition against simulated hosts.

Values: what the metrics say agrees with list/show --json, and follows what is done to the
world (an unbind, a stalled, corrupted or unreadable ring, a renamed guest, an upgrade).
Textfile: --textfile DIR replaces DIR/vbdctl.prom whole or not at all.
Promtool: `promtool check metrics` accepts every output (Debian 12: package prometheus; 13:
promtool). A missing promtool fails that class: it is no skip.

The parser here is strict on its own: every family has HELP and TYPE before its samples, and
a family's samples are contiguous. Label values are unescaped as the format says.

Run: python3 tests/cli/test_metrics.py --vbdctl build/cli/vbdctl [Values|Textfile|Promtool] [-v]
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unittest

import test_output  # its run(), World and main(): the vbdctl under test, simulated worlds

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], v)


def parse(text):
    """{family: {"help", "type", "samples": [(labels, value)]}}, checking the format's rules."""
    assert text.endswith("\n"), "the exposition must end with a line feed"
    families, order = {}, []
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, name, rest = line[2:6], *line[7:].split(" ", 1)
            if name not in families:
                families[name] = {"help": None, "type": None, "samples": []}
                order.append(name)
            f = families[name]
            assert order[-1] == name, f"{kind} of {name} away from its family"
            assert not f["samples"], f"{kind} of {name} after its samples"
            assert f[kind.lower()] is None, f"two {kind} lines for {name}"
            f[kind.lower()] = rest
            continue
        assert not line.startswith("#"), f"unexpected comment: {line!r}"
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels_text, value = m.groups()
        assert name in families, f"{name} has no HELP/TYPE"
        assert order[-1] == name, f"samples of {name} are not contiguous"
        labels = {}
        if labels_text:
            pos = 0
            while pos < len(labels_text):
                lm = LABEL.match(labels_text, pos)
                assert lm, f"bad labels in {line!r}"
                labels[lm.group(1)] = unescape(lm.group(2))
                pos = lm.end()
        families[name]["samples"].append((labels, float(value)))
    for name, f in families.items():
        assert f["help"] and f["type"] in ("gauge", "counter"), f"{name}: HELP {f['help']!r} TYPE {f['type']!r}"
        assert name.startswith("vbdctl_"), name
        assert name.endswith("_total") == (f["type"] == "counter"), f"{name} is a {f['type']}"
    return families


class World(test_output.World):
    def __call__(self, *args, ok=True):
        p = super().__call__(*args)
        if ok:
            assert p.returncode == 0, f"{args}: exit {p.returncode}\n{p.stderr}"
        return p

    def metrics(self, *args):
        p = self("metrics", *args)
        self.text = p.stdout
        return parse(p.stdout)

    def json(self, *args):
        return json.loads(self("--json", *args).stdout)


def of(families, name, **want):
    """The values of family `name` whose labels include `want`, keyed by the other labels."""
    return [(labels, v) for labels, v in families[name]["samples"]
            if all(labels.get(k) == str(x) for k, x in want.items())]


def one(families, name, **want):
    found = of(families, name, **want)
    assert len(found) == 1, f"{name} {want}: {found}"
    return found[0][1]


def vbd(domid, vdev):
    return {"domid": domid, "vdev": vdev}


class Values(unittest.TestCase):
    def test_default_world_agrees_with_list_and_show(self):
        w = World()
        m = w.metrics("--samples", "1")
        listed = w.json("list")["vbds"]
        self.assertEqual(len(listed), 6)
        for v in listed:
            key = dict(domid=v["domid"], devid=v["devid"], vdev=v["vdev"], guest=v["name"])
            with self.subTest(vbd=key):
                self.assertEqual(one(m, "vbdctl_vbd_bound", **key), int(v["bound"]))
                self.assertEqual(one(m, "vbdctl_vbd_backend_state", **key), v["backend_state"])
                self.assertEqual(one(m, "vbdctl_vbd_frontend_state", **key), v["frontend_state"])
                self.assertEqual(one(m, "vbdctl_vbd_check_ok", **key), 1)
                shown = w.json("show", str(v["domid"]), v["vdev"])["vbd"]
                queues = {} if v["frontend_state"] != 4 else {str(q["index"]): q for q in shown["queues"]}
                self.assertEqual({l["queue"] for l, _ in of(m, "vbdctl_ring_size_slots", **key)}, set(queues))
                for i, q in queues.items():
                    self.assertEqual(one(m, "vbdctl_ring_size_slots", queue=i, **key), q["ring_size"])
                    self.assertEqual(one(m, "vbdctl_ring_pages", queue=i, **key), q["ring_pages"])
                    self.assertEqual(one(m, "vbdctl_ring_pending_requests", queue=i, **key), q["pending"])
                    self.assertEqual(one(m, "vbdctl_ring_consistent", queue=i, **key), 1)
                    self.assertEqual(one(m, "vbdctl_ring_readable", queue=i, **key), 1)
        # the installer's frontend is Initialising: its vbd is there, no ring of it is
        self.assertEqual(one(m, "vbdctl_vbd_frontend_state", domid=4), 1)
        self.assertEqual(of(m, "vbdctl_ring_progress", domid=4), [])
        self.assertEqual(one(m, "vbdctl_scrape_ok"), 1)
        self.assertEqual(one(m, "vbdctl_blkback_loaded"), 1)
        self.assertEqual(one(m, "vbdctl_drivers_autoprobe"), 1)

    def test_progress_is_one_class_per_queue_as_check_says(self):
        w = World()
        m = w.metrics()
        checked = w.json("check")["vbds"]
        for v in checked:
            for q in v["queues"]:
                classes = {l["class"]: val for l, val in
                           of(m, "vbdctl_ring_progress", domid=v["domid"], devid=v["devid"], queue=q["index"])}
                self.assertEqual(sorted(classes), ["busy", "idle", "stuck", "unknown"])
                self.assertEqual([c for c, val in classes.items() if val == 1], [q["progress"]], (v["vdev"], q))
        # 3 samples 200 ms apart, on the simulator's clock
        self.assertGreaterEqual(one(m, "vbdctl_scrape_duration_seconds"), 0.4)
        self.assertLess(one(m, "vbdctl_scrape_duration_seconds"), 2)

    def test_an_unbound_vbd_says_bound_0_and_the_others_1(self):
        w = World()
        w("unbind", "1", "xvdb", "--yes")
        m = w.metrics()
        bound = {(l["domid"], l["vdev"]): v for l, v in m["vbdctl_vbd_bound"]["samples"]}
        self.assertEqual(bound.pop(("1", "xvdb")), 0)
        self.assertEqual(set(bound.values()), {1})
        self.assertEqual(one(m, "vbdctl_vbd_check_ok", **vbd(1, "xvdb")), 0)
        # nobody serves its ring: its requests wait, which is no stuck backend
        self.assertEqual(one(m, "vbdctl_ring_progress", queue=0, **{"class": "stuck"}, **vbd(1, "xvdb")), 0)
        self.assertEqual(one(m, "vbdctl_scrape_ok"), 1)

    def test_the_last_run_and_an_unfinished_one(self):
        w = World()
        m = w.metrics()
        self.assertNotIn("vbdctl_last_run_ok", m)  # nothing kept: absent, not made up
        self.assertEqual(one(m, "vbdctl_unfinished_run"), 0)
        w("unbind", "1", "xvdb", "--yes")
        m = w.metrics()
        run = w.json("history", "last")["run"]
        self.assertEqual(one(m, "vbdctl_last_run_ok", command="unbind"), 1)
        self.assertEqual(one(m, "vbdctl_last_run_start_timestamp_seconds", command="unbind"), run["started_ms"] / 1000)
        self.assertEqual(one(m, "vbdctl_last_run_end_timestamp_seconds", command="unbind"), run["ended_ms"] / 1000)
        self.assertEqual(one(m, "vbdctl_unfinished_run"), 0)  # left unbound on purpose
        w("bind", "1", "xvdb", "--yes")
        w("sim", "fault", "module-load-fail")
        w("upgrade-backend", "--yes", "--force", ok=False)
        self.assertEqual(one(w.metrics(), "vbdctl_last_run_ok", command="upgrade-backend"), 0)
        w("sim", "fault", "crash-after-step", "3")
        w("upgrade-backend", "--yes", "--force", ok=False)  # SIGKILLed: no report, a journal
        m = w.metrics()
        self.assertEqual(one(m, "vbdctl_unfinished_run"), 1)
        self.assertEqual(one(m, "vbdctl_last_run_ok", command="upgrade-backend"), 0)

    def test_a_stalled_ring_is_stuck(self):
        w = World()
        w("sim", "fault", "stall-ring", "2", "xvda")
        m = w.metrics()
        self.assertEqual(one(m, "vbdctl_ring_progress", queue=0, **{"class": "stuck"}, **vbd(2, "xvda")), 1)
        self.assertEqual(one(m, "vbdctl_ring_progress", queue=0, **{"class": "busy"}, **vbd(2, "xvda")), 0)
        self.assertEqual(one(m, "vbdctl_vbd_check_ok", **vbd(2, "xvda")), 0)
        stuck = [l for l, val in of(m, "vbdctl_ring_progress", **{"class": "stuck"}) if val == 1]
        self.assertEqual([(l["domid"], l["vdev"]) for l in stuck], [("2", "xvda")])
        self.assertGreater(one(m, "vbdctl_ring_pending_requests", queue=0, **vbd(2, "xvda")), 0)

    def test_a_corrupt_ring_is_inconsistent(self):
        w = World()
        w("sim", "fault", "corrupt-ring", "1", "xvda")
        m = w.metrics()
        self.assertEqual(one(m, "vbdctl_ring_consistent", queue=0, **vbd(1, "xvda")), 0)
        size = one(m, "vbdctl_ring_size_slots", queue=0, **vbd(1, "xvda"))
        self.assertGreater(one(m, "vbdctl_ring_pending_requests", queue=0, **vbd(1, "xvda")), size)
        self.assertEqual(one(m, "vbdctl_ring_consistent", queue=0, **vbd(2, "xvda")), 1)

    def test_an_unreadable_ring_keeps_its_vbd_and_the_scrape(self):
        w = World()
        # a grant the guest never gave: mapping it fails
        w("sim", "xs", "write", "/local/domain/3/device/vbd/51712/ring-ref", "9999")
        p = w("metrics")
        m = parse(p.stdout)
        key = vbd(3, "xvda")
        self.assertEqual(one(m, "vbdctl_vbd_bound", **key), 1)
        self.assertEqual(one(m, "vbdctl_vbd_backend_state", **key), 4)
        self.assertEqual(one(m, "vbdctl_vbd_check_ok", **key), 0)
        self.assertEqual(one(m, "vbdctl_ring_readable", queue=0, **key), 0)
        self.assertEqual(one(m, "vbdctl_ring_size_slots", queue=0, **key), 32)
        self.assertEqual(of(m, "vbdctl_ring_pending_requests", **key), [])
        self.assertEqual(of(m, "vbdctl_ring_consistent", **key), [])
        self.assertEqual(one(m, "vbdctl_ring_progress", queue=0, **{"class": "unknown"}, **key), 1)
        self.assertEqual(one(m, "vbdctl_scrape_ok"), 1)
        self.assertEqual(p.stderr, "")

    def test_a_scrape_that_cannot_list_the_vbds_says_so_and_exits_1(self):
        w = World()
        w("sim", "xs", "write", "/local/domain/0/domid", "abc")  # this domain's own id, garbled
        p = w("metrics", ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stderr, r"^vbdctl: error: xenstore domid: ")
        m = parse(p.stdout)  # what could be read is still there
        self.assertEqual(one(m, "vbdctl_scrape_ok"), 0)
        self.assertEqual(one(m, "vbdctl_blkback_loaded"), 1)
        self.assertEqual(m["vbdctl_vbd_bound"]["samples"], [])
        j = json.loads(w("--json", "metrics", ok=False).stdout)
        self.assertEqual((j["ok"], j["exit"], j["error"]["code"]), (False, 1, "bad_value"))
        self.assertEqual([f["samples"][0]["value"] for f in j["families"] if f["name"] == "vbdctl_scrape_ok"], [0])
        with tempfile.TemporaryDirectory() as d:
            p = w("metrics", "--textfile", d, ok=False)
            self.assertEqual((p.returncode, p.stdout), (1, ""))
            with open(os.path.join(d, "vbdctl.prom")) as f:
                self.assertEqual(one(parse(f.read()), "vbdctl_scrape_ok"), 0)

    def test_label_values_are_escaped(self):
        w = World()
        name = 'we"b\\01\nx'
        w("sim", "xs", "write", "/local/domain/1/name", name)
        m = w.metrics()
        self.assertIn('guest="we\\"b\\\\01\\nx"', w.text)
        self.assertEqual({l["guest"] for l, _ in of(m, "vbdctl_vbd_bound", domid=1)}, {name})

    def test_module_info_and_parameters_follow_an_upgrade(self):
        w = World()
        before = parse(w("metrics").stdout)
        w("upgrade-backend", "--yes", "--param", "max_ring_page_order=3")
        m = w.metrics()
        module = w.json("list")["module"]
        info = m["vbdctl_blkback_info"]["samples"]
        self.assertEqual(len(info), 1)
        labels, value = info[0]
        self.assertEqual(value, 1)
        self.assertEqual(labels, {"srcversion": module["srcversion"] or "", "version": module["version"] or "",
                                  "build_id": module["build_id"] or ""})
        self.assertNotEqual(labels, before["vbdctl_blkback_info"]["samples"][0][0])
        params = {l["name"]: l["value"] for l, v in m["vbdctl_blkback_param"]["samples"]}
        self.assertEqual(set(params), set(module["params"]))
        self.assertEqual(params["max_ring_page_order"], "3")
        self.assertEqual(params["feature_persistent"], "Y" if module["params"]["feature_persistent"] else "N")

    def test_json_has_the_same_samples(self):
        w = World()
        m = w.metrics()
        j = w.json("metrics")
        self.assertIsNone(j["textfile"])
        self.assertEqual([f["name"] for f in j["families"]], list(m))
        self.assertEqual(j["samples"], sum(len(f["samples"]) for f in m.values()))
        for f in j["families"]:
            self.assertEqual(f["help"], m[f["name"]]["help"])
            self.assertEqual(f["type"], m[f["name"]]["type"])
            self.assertEqual([(s["labels"], s["value"]) for s in f["samples"]], m[f["name"]]["samples"])


class Textfile(unittest.TestCase):
    def setUp(self):
        self.w = World()
        self.tmp = tempfile.TemporaryDirectory(prefix="vbdctl-textfile-")
        self.addCleanup(self.tmp.cleanup)
        self.dir = self.tmp.name

    def test_writes_the_whole_exposition_and_prints_nothing(self):
        out = os.path.join(self.dir, "vbdctl.prom")
        with open(out, "w") as f:
            f.write("stale\n")
        p = self.w("metrics", "--textfile", self.dir)
        self.assertEqual((p.stdout, p.stderr), ("", ""))
        self.assertEqual(os.listdir(self.dir), ["vbdctl.prom"])
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o644)
        with open(out) as f:
            text = f.read()
        self.assertEqual(text, self.w("metrics").stdout)
        samples = sum(len(f["samples"]) for f in parse(text).values())
        j = self.w.json("metrics", "--textfile", self.dir + "/")
        self.assertEqual((j["textfile"], j["samples"]), (out, samples))
        self.assertNotIn("families", j)

    def test_a_reader_never_sees_a_partial_file(self):
        out = os.path.join(self.dir, "vbdctl.prom")
        seen, stop, bad = [0], threading.Event(), []

        def reader():
            while not stop.is_set():
                try:
                    with open(out) as f:
                        text = f.read()
                except FileNotFoundError:
                    continue
                seen[0] += 1
                if not text.endswith("vbdctl_scrape_ok 1\n"):
                    bad.append(text[-200:])

        t = threading.Thread(target=reader)
        t.start()
        try:
            for _ in range(8):
                self.w("metrics", "--samples", "1", "--textfile", self.dir)
        finally:
            stop.set()
            t.join()
        self.assertEqual(bad, [])
        self.assertGreater(seen[0], 0)
        self.assertEqual(os.listdir(self.dir), ["vbdctl.prom"])

    def test_a_missing_directory_is_a_usage_error_and_writes_nothing(self):
        missing = os.path.join(self.dir, "no", "such")
        p = self.w("metrics", "--textfile", missing, ok=False)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, "")
        self.assertIn("does not exist", p.stderr)
        with open(os.path.join(self.dir, "file"), "w"):
            pass
        p = self.w("metrics", "--textfile", os.path.join(self.dir, "file"), ok=False)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(os.listdir(self.dir), ["file"])

    def test_an_io_failure_exits_1_and_leaves_nothing_behind(self):
        # the rename over DIR/vbdctl.prom fails when that is a directory
        os.mkdir(os.path.join(self.dir, "vbdctl.prom"))
        p = self.w("metrics", "--textfile", self.dir, ok=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertRegex(p.stderr, r"^vbdctl: error: .*vbdctl\.prom: cannot replace: Is a directory")
        self.assertEqual(os.listdir(self.dir), ["vbdctl.prom"])
        j = json.loads(self.w("--json", "metrics", "--textfile", self.dir, ok=False).stdout)
        self.assertEqual((j["exit"], j["error"]["code"]), (1, "io"))

    def test_an_unwritable_directory_exits_1(self):
        os.chmod(self.dir, 0o555)
        # Root writes anywhere: run as nobody. Where that cannot be done (a package build's
        # private build directory, fakeroot), this case cannot be made here.
        user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
        run_as = lambda *cmd: subprocess.run(user + list(cmd), capture_output=True, text=True,
                                             stdin=subprocess.DEVNULL, timeout=120)
        if run_as("sh", "-c", 'touch "$0/probe" && rm "$0/probe"', self.dir).returncode == 0:
            self.skipTest("this user can write into a 0555 directory")
        if run_as(test_output.VBDCTL, "--version").returncode != 0:
            self.skipTest("vbdctl does not run as nobody here (its build directory is private)")
        p = run_as(test_output.VBDCTL, "--host", "sim", "metrics", "--textfile", self.dir)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("Permission denied", p.stderr)
        self.assertEqual(os.listdir(self.dir), [])


class Promtool(unittest.TestCase):
    def setUp(self):
        self.promtool = shutil.which("promtool")
        if not self.promtool:
            self.fail("promtool not found: apt-get install prometheus (Debian 12) or promtool (Debian 13); "
                      "scripts/setup.sh installs it")

    def check(self, text, what):
        p = subprocess.run([self.promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""), what)

    def test_every_world_passes(self):
        w = World()
        self.check(w("metrics").stdout, "default world")
        w("unbind", "1", "xvdb", "--yes")
        w("sim", "fault", "stall-ring", "2", "xvda")
        w("sim", "fault", "corrupt-ring", "2", "xvdb")
        w("sim", "xs", "write", "/local/domain/3/device/vbd/51712/ring-ref", "9999")
        w("sim", "xs", "write", "/local/domain/4/name", 'in"st\\all\ner')
        self.check(w("metrics").stdout, "faults, unbound vbd, unreadable ring, odd guest name")
        w("rebind", "2", "xvda", "--yes", ok=False)
        self.check(w("metrics").stdout, "a last run")
        big = World("--guests", "20", "--vbds-per-guest", "3", "--blkback-param", "feature_persistent=N")
        self.check(big("metrics", "--samples", "2").stdout, "20 guests")

    def test_the_textfile_passes(self):
        w = World()
        w("upgrade-backend", "--yes")
        with tempfile.TemporaryDirectory() as d:
            w("metrics", "--textfile", d)
            with open(os.path.join(d, "vbdctl.prom")) as f:
                self.check(f.read(), "textfile after an upgrade")


if __name__ == "__main__":
    test_output.main()  # runs this file's tests
