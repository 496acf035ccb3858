#!/usr/bin/env python3
"""Scenario tests: the built vbdctl binary against simulated hosts, checked through its JSON.

Run: python3 tests/cli/test_cli.py --vbdctl build/cli/vbdctl [-v] [TestCase.test_name]
"""
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import weakref

VBDCTL = None


def run(*args, host=None, check=None, input_tty=False, timeout=120):
    cmd = [VBDCTL]
    if host:
        cmd += ["--host", host]
    cmd += list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)
    if check is not None and p.returncode != check:
        raise AssertionError(f"{cmd} exited {p.returncode}, wanted {check}\nstdout:{p.stdout}\nstderr:{p.stderr}")
    return p


def run_json(*args, host=None, check=0):
    p = run("--json", *args, host=host, check=check)
    return json.loads(p.stdout)


class World:
    """A simulated world kept in a temporary file."""

    def __init__(self, *init_args):
        self.dir = tempfile.TemporaryDirectory(prefix="vbdctl-test-")
        # Removed when the world goes (or at exit), explicitly: no ResourceWarning per test.
        weakref.finalize(self, self.dir.cleanup)
        self.host = "sim:" + os.path.join(self.dir.name, "world.state")
        if init_args:
            run("sim", "init", *init_args, host=self.host, check=0)

    def __call__(self, *args, check=None):
        return run(*args, host=self.host, check=check)

    def json(self, *args, check=0):
        return run_json(*args, host=self.host, check=check)

    def vbds(self):
        return {(v["domid"], v["vdev"]): v for v in self.json("list")["vbds"]}

    def journal_path(self):
        return self.host[4:] + ".d/journal.json"


def healthy(testcase, world, allow_gone=()):
    """Every vbd of a running guest is bound; connected frontends have Connected backends
    and consistent rings; check passes."""
    for key, v in world.vbds().items():
        testcase.assertTrue(v["bound"], f"{key} unbound: {v}")
        if v["frontend_state"] == 4:
            testcase.assertEqual(v["backend_state"], 4, f"{key}: {v}")
            for q in v["queues"]:
                testcase.assertTrue(q["consistent"], f"{key}: {q}")
    world("check", "--samples", "2", "--interval", "50", check=0)


class ReadOnly(unittest.TestCase):
    def test_default_world_shape(self):
        j = run_json("list", host="sim")
        self.assertEqual(j["schema_version"], 5)
        vbds = j["vbds"]
        self.assertGreaterEqual(len(vbds), 6)
        for d in (1, 2, 3):
            self.assertTrue(any(v["domid"] == d and v["vdev"] == "xvda" and v["name"] for v in vbds), d)
        self.assertTrue(any(len(v["queues"]) == 4 for v in vbds), "a 4-queue frontend")
        self.assertTrue(any(v["ring_page_order"] == 2 and v["queues"][0]["ring_size"] == 128 for v in vbds))
        self.assertTrue(any(v["protocol"] == "x86_32-abi" for v in vbds))
        self.assertTrue(any(v["frontend_state"] != 4 for v in vbds), "a frontend not Connected")
        for v in vbds:
            for key in ("domid", "devid", "backend_state"):
                self.assertIsInstance(v[key], int)
            self.assertIsInstance(v["bound"], bool)
            for q in v["queues"]:
                for key in ("ring_pages", "ring_size", "req_prod", "rsp_prod", "pending"):
                    self.assertIsInstance(q[key], int)
                self.assertEqual((q["req_prod"] - q["rsp_prod"]) % 2**32, q["pending"])

    def test_list_json_streamed_reads_as_one_indented_document(self):
        # list --json prints its vbds one at a time; the text must still be the document
        # every other command prints (sorted keys, indent 2), empty list included.
        w = World()
        for args in (("list",), ("list", "2"), ("list", "99")):
            out = w("--json", *args, check=0).stdout
            self.assertEqual(out, json.dumps(json.loads(out), indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        self.assertEqual(json.loads(w("--json", "list", "99", check=0).stdout)["vbds"], [])

    def test_check_passes_then_flags_corrupt_ring(self):
        w = World()
        j = w.json("check")
        self.assertTrue(j["ok"])
        progress = {q["progress"] for v in j["vbds"] for q in v["queues"]}
        self.assertLessEqual(progress, {"busy", "idle"})
        w("sim", "fault", "corrupt-ring", "2", "xvda", check=0)
        j = w.json("check", check=1)
        self.assertFalse(j["ok"])
        bad = [v for v in j["vbds"] if not v["ok"]]
        self.assertEqual([(v["domid"], v["vdev"]) for v in bad], [(2, "xvda")])
        self.assertIn("exceeds ring size 128", bad[0]["queues"][0]["reason"])
        p = w("check", "2", "xvda", check=1)
        self.assertIn("inconsistent", p.stdout)

    def test_stuck_ring_is_flagged(self):
        w = World()
        w("sim", "fault", "stall-ring", "1", "xvda", check=0)
        j = w.json("check", "1", "xvda", check=1)
        self.assertEqual(j["vbds"][0]["queues"][0]["progress"], "stuck")

    def test_bad_input_exits_2(self):
        for args in (["show", "1", "../../x"], ["show", "99999", "xvda"], ["show", "1", "xvdA"],
                     ["list", "-1"], ["check", "1", "vbd-2-51712"], ["list", "--bogus"]):
            p = run(*args, host="sim")
            self.assertEqual(p.returncode, 2, (args, p.stdout, p.stderr))
            self.assertIn("vbdctl: error:" if args[-1] != "--bogus" else "", p.stderr)
        p = run("show", "1", "../../x", host="sim")
        self.assertIn("invalid vdev '../../x'", p.stderr)
        p = run("show", "99999", "xvda", host="sim")
        self.assertIn("invalid domid '99999'", p.stderr)

    def test_version_wins_and_help_lists_every_command(self):
        # --version is answered without building the commands' parsers (cli/main.cpp
        # add_commands): whatever else the line holds, it prints what CLI11 printed with them.
        for args in (["--version"], ["--version", "--bogus"], ["--help", "--version"],
                     ["--host", "sim", "--version"], ["-q", "--version", "--json"], ["--version=1"]):
            p = run(*args)
            self.assertEqual(p.returncode, 0, (args, p.stdout, p.stderr))
            self.assertRegex(p.stdout, r"\Avbdctl \d+\.\d+\.\d+\n\Z", args)
        p = run("--help", check=0)
        for c in ("status", "list", "show", "check", "metrics", "watch", "unbind", "bind", "rebind",
                  "recover", "upgrade-backend", "history", "sim"):
            self.assertRegex(p.stdout, rf"\n  {c} ", c)
        p = run("--versio")
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_show_forms_agree(self):
        a = run_json("show", "2", "xvda", host="sim")["vbd"]
        b = run_json("show", "2", "51712", host="sim")["vbd"]
        c = run_json("show", "2", "vbd-2-51712", host="sim")["vbd"]
        self.assertEqual(a["devid"], 51712)
        self.assertEqual(a["backend_nodes"], b["backend_nodes"])
        self.assertEqual(b["frontend_nodes"], c["frontend_nodes"])
        self.assertEqual(a["frontend_nodes"]["ring-page-order"], "2")
        self.assertEqual(len(a["queues"][0]["ring_refs"]), 4)
        p = run("show", "1", "xvdz", host="sim")
        self.assertEqual(p.returncode, 2)
        self.assertIn("no such vbd", p.stderr)
        p = run("unbind", "7", "xvda", "--yes", host="sim")
        self.assertEqual(p.returncode, 2)
        self.assertIn("domain 7 has no vbd here", p.stderr)

    def test_local_host_off_xen_says_what_is_missing(self):
        if os.path.exists("/proc/xen/capabilities") or os.path.isdir("/sys/bus/xen-backend"):
            self.skipTest("this machine is a Xen domain")
        p = run("list", host="local")
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a Xen backend domain", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1)

    def test_thousand_vbds(self):
        w = World("--guests", "100", "--vbds-per-guest", "10")
        self.assertEqual(len(w.json("list")["vbds"]), 1000)

    def test_watchers_never_read_a_half_replaced_state_file(self):
        # A writer replaces the state file by rename while watchers reload it on every
        # change; a reader that sized the file by name and then opened it could pair one
        # file's size with the next file's bytes (CI saw "sizes do not match the file").
        w = World("--guests", "20", "--vbds-per-guest", "2")
        watchers = [subprocess.Popen([VBDCTL, "--host", w.host, "--json", "watch", "--timeout", "6"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                    for _ in range(3)]
        time.sleep(0.3)
        subprocess.run([VBDCTL, "--host", w.host, "upgrade-backend", "--yes"], check=True,
                       env=dict(os.environ, VBDCTL_SIM_PACE="5"), capture_output=True)
        for p in watchers:
            _, err = p.communicate(timeout=30)
            self.assertNotIn("state", err)
            self.assertEqual(p.returncode, 0, err)


class Watch(unittest.TestCase):
    """Issue 13: watch shows everything that happens to a vbd, xenstore's changes and the
    kernel's uevents in one ordered stream, while another process acts."""

    def watcher(self, w, *args):
        p = subprocess.Popen([VBDCTL, "--host", w.host, "--json", "watch", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        return p

    def events(self, p):
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        *events, end = [json.loads(line) for line in out.splitlines()]
        return events, end

    def test_count_1_fires_on_an_unbind(self):
        # An unbind writes nothing to xenstore: only its uevent tells.
        w = World()
        p = self.watcher(w, "1", "xvda", "--count", "1", "--timeout", "20")
        w("unbind", "1", "xvda", "--yes", check=0)
        events, end = self.events(p)
        self.assertEqual((end["events"], end["ended"]), (1, "count"))
        e = events[0]
        self.assertEqual((e["kind"], e["vbd"], e["domid"], e["devid"], e["previous"], e["value"], e["bound"]),
                         ("unbind", "vbd-1-51712", 1, 51712, "vbd", None, False))
        self.assertRegex(e["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        text = subprocess.Popen([VBDCTL, "--host", w.host, "watch", "1", "xvda", "--count", "1", "--timeout", "20"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        w("bind", "1", "xvda", "--yes", check=0)
        out, _ = text.communicate(timeout=60)
        self.assertRegex(out, r"^\+\d+ms vbd-1-51712 bound to vbd\n$")

    def test_watch_follows_another_process(self):
        w = World()
        p = self.watcher(w, "1", "xvda", "--count", "4", "--timeout", "20")
        w("unbind", "1", "xvda", "--yes", check=0)
        # Paced, the simulated kernel takes real time and saves every step, as a demo would.
        subprocess.run([VBDCTL, "--host", w.host, "bind", "1", "xvda", "--yes"], check=True,
                       env=dict(os.environ, VBDCTL_SIM_PACE="50"), capture_output=True)
        events, end = self.events(p)
        # blkback's probe writes InitWait before the driver core sends the bind uevent.
        self.assertEqual([(e["kind"], e["previous"], e["value"]) for e in events],
                         [("unbind", "vbd", None), ("backend_state", 4, 2), ("bind", None, "vbd"),
                          ("backend_state", 2, 4)])
        self.assertEqual((end["events"], end["ended"]), (4, "count"))
        times = [e["time_ms"] for e in events]
        self.assertEqual(times, sorted(times))

    def test_a_reload_in_the_kernels_order(self):
        w = World()
        p = self.watcher(w, "--timeout", "4")
        subprocess.run([VBDCTL, "--host", w.host, "upgrade-backend", "--yes"], check=True,
                       env=dict(os.environ, VBDCTL_SIM_PACE="5"), capture_output=True)
        events, end = self.events(p)
        kinds = [(e["vbd"], e["kind"]) for e in events]
        first = {k: kinds.index(k) for k in reversed(kinds)}
        module = [e for e in events if e["vbd"] is None]
        self.assertEqual([(e["kind"], e["module"]) for e in module],
                         [("module_remove", "xen_blkback"), ("module_add", "xen_blkback")])
        self.assertRegex(module[1]["value"], r"^[0-9A-F]+$")  # the new module's srcversion
        vbds = {v for v, _ in kinds if v}
        self.assertEqual(len(vbds), 6, kinds)
        for v in vbds:
            self.assertLess(first[(v, "unbind")], first[(None, "module_remove")], v)
            self.assertLess(first[(None, "module_add")], first[(v, "bind")], v)
        self.assertEqual(end["events"], len(events))

    def test_a_guest_created_while_watching(self):
        # Its vbd joins the bus (add), is bound, and its frontend's state is watched from then on.
        w = World()
        w("sim", "fault", "create-guest", "9", "--at-step", "5", check=0)
        p = self.watcher(w, "9", "--timeout", "4")
        subprocess.run([VBDCTL, "--host", w.host, "upgrade-backend", "--yes"], check=True,
                       env=dict(os.environ, VBDCTL_SIM_PACE="5"), capture_output=True)
        events, _ = self.events(p)
        # The module's events concern every vbd, so a watch of one guest shows them too.
        self.assertEqual([e["kind"] for e in events if e["vbd"] is None], ["module_remove", "module_add"])
        events = [e for e in events if e["vbd"]]
        kinds = [e["kind"] for e in events]
        self.assertEqual({e["vbd"] for e in events}, {"vbd-9-51712"})
        self.assertLess(kinds.index("add"), kinds.index("bind"), kinds)
        self.assertIn(("frontend_state", 4), [(e["kind"], e["value"]) for e in events])


    def test_the_real_hosts_stream_replays(self):
        # tests/data/lab-traces/cell-*/watch/observe.jsonl: `watch --json` on real Xen (cell A:
        # Xen 4.17, Linux 6.1; cell C: Xen 4.20, Linux 7.3) through unbind + bind of xvdb
        # (vbd-1-51728) and upgrade-backend --force. The simulator, doing the same, shows that
        # vbd's events and the module's in the same order.
        def project(events):
            out = []
            for e in events:
                if e["vbd"] == "vbd-1-51728":
                    out.append((e["kind"], e["previous"], e["value"], e["bound"]))
                elif e["vbd"] is None:
                    out.append((e["kind"],))
            return out
        for cell in ("cell-A", "cell-C"):
            with self.subTest(cell=cell):
                lab = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                   f"../data/lab-traces/{cell}/watch/observe.jsonl")
                with open(lab) as f:
                    real = project([json.loads(line) for line in f if '"kind"' in line])
                self.assertEqual(len(real), 10)
                w = World()
                p = self.watcher(w, "1", "xvdb", "--count", str(len(real)), "--timeout", "60")
                pace = dict(os.environ, VBDCTL_SIM_PACE="20")
                for args in (["unbind", "1", "xvdb"], ["bind", "1", "xvdb"], ["upgrade-backend", "--force"]):
                    subprocess.run([VBDCTL, "--host", w.host, *args, "--yes"], check=True, env=pace,
                                   capture_output=True)
                events, _ = self.events(p)
                self.assertEqual(project(events), real)


class GuestNames(unittest.TestCase):
    """Wherever a DOMID is taken, a guest's name is too; an unknown or ambiguous name is a
    usage error that changes nothing."""

    def test_names_work_where_domids_do(self):
        w = World("--guests", "3")
        by_id, by_name = w.json("list", "2"), w.json("list", "guest2")
        self.assertEqual(by_name["vbds"], by_id["vbds"])
        self.assertEqual(w.json("show", "guest3", "xvda")["vbd"]["domid"], 3)
        self.assertEqual({v["domid"] for v in w.json("check", "guest1")["vbds"]}, {1})
        j = w.json("unbind", "guest1", "xvdb", "--yes")
        self.assertEqual((j["domid"], j["devid"]), (1, 51728))
        w.json("bind", "guest1", "xvdb", "--yes")
        j = w.json("upgrade-backend", "--dry-run", "--only", "guest2:xvda")
        self.assertEqual([(v["domid"], v["vdev"]) for v in j["planned_vbds"] if v["gated"]], [(2, "xvda")])
        self.assertEqual(w("__complete", "vbds", "guest2", check=0).stdout.split(), ["xvda", "xvdb"])
        offered = w("__complete", "domids", check=0).stdout.split()
        self.assertEqual(offered, ["1", "2", "3", "guest1", "guest2", "guest3"])

    def test_unknown_and_ambiguous_names_change_nothing(self):
        w = World("--guests", "3")
        before = open(w.host[4:], "rb").read()
        j = w.json("unbind", "nobody", "xvda", "--yes", check=2)
        self.assertIn("no domain is named 'nobody'", j["error"]["message"])
        # `xl rename` of guest 3 to guest2 (xenstore's name node): two domains answer to it
        w("sim", "xs", "write", "/local/domain/3/name", "guest2", check=0)
        before = open(w.host[4:], "rb").read()
        for args in (["unbind", "guest2", "xvda", "--yes"], ["list", "guest2"],
                     ["upgrade-backend", "--yes", "--only", "guest2"]):
            with self.subTest(args=args):
                j = w.json(*args, check=2)
                self.assertIn("'guest2' names 2 domains (2, 3)", j["error"]["message"])
        self.assertEqual(open(w.host[4:], "rb").read(), before, "a refused name changed the world")
        self.assertEqual(w.json("list", "3")["vbds"][0]["name"], "guest2")


class AuditTrail(unittest.TestCase):
    """Every mutation leaves its plan, its steps as they begin and end, its undos and its
    result in the system log (the simulator's: STATE.d/audit.log, one JSON object per line,
    the fields the real host gives the journal); nothing else writes there."""

    def records(self, w):
        path = w.host[4:] + ".d/audit.log"
        if not os.path.exists(path):
            return []
        return [json.loads(l) for l in open(path)]

    def test_an_upgrade_and_a_killed_one(self):
        w = World("--guests", "1")
        w("upgrade-backend", "--yes", "--force", check=0)
        r = self.records(w)
        self.assertEqual([(x["event"], x["step"]) for x in r],
                         [("plan", 0)] + [(e, k) for k in range(1, 8) for e in ("step", "step_end")] + [("result", 0)])
        self.assertTrue(all(x["op"] == "upgrade" and x["ok"] for x in r))
        self.assertEqual(r[0]["vbds"], ["vbd-1-51712", "vbd-1-51728"])
        self.assertIn("7 verify", r[0]["message"])
        # SIGKILLed after step 3: the plan and the steps reached are there, no result
        w("sim", "fault", "crash-after-step", "3", check=0)
        self.assertEqual(w("upgrade-backend", "--yes", "--force").returncode, -9)
        killed = self.records(w)[len(r):]
        self.assertEqual([(x["event"], x["step"]) for x in killed],
                         [("plan", 0)] + [(e, k) for k in range(1, 4) for e in ("step", "step_end")])
        w("recover", "--yes", check=0)
        rec = self.records(w)[len(r) + len(killed):]
        self.assertEqual({x["op"] for x in rec}, {"recover"})
        self.assertEqual((rec[-1]["event"], rec[-1]["ok"]), ("result", True))

    def test_a_one_vbd_command_names_its_vbd_in_the_plan(self):
        w = World("--guests", "1")
        w("unbind", "1", "xvda", "--yes", check=0)
        plan = self.records(w)[0]
        self.assertEqual((plan["event"], plan["vbds"]), ("plan", ["vbd-1-51712"]))
        self.assertIn("(1 vbds)", plan["message"])
        self.assertTrue(all(r["message"].startswith(("plan: ", "step ", "undo ", "result: ")) for r in self.records(w)))
        w("bind", "1", "xvda", "--yes", check=0)  # it finishes unbind's journal, and is still a bind
        self.assertEqual({r["op"] for r in self.records(w)}, {"unbind", "bind"})
        self.assertEqual(self.records(w)[-1]["op"], "bind")

    def test_recover_logs_what_it_restored(self):
        w = World("--guests", "1")
        w("sim", "fault", "crash-after-step", "5", check=0)  # loaded, with drivers_autoprobe off
        self.assertEqual(w("upgrade-backend", "--yes", "--force").returncode, -9)
        before = len(self.records(w))
        w("recover", "--yes", check=0)
        result = self.records(w)[before:][-1]
        self.assertEqual((result["op"], result["event"], result["ok"]), ("recover", "result", True))
        self.assertIn("restored drivers_autoprobe to 1", result["message"])

    def test_a_rollback_logs_each_undo_and_the_failure(self):
        w = World("--guests", "1")
        w("sim", "fault", "module-load-fail", check=0)
        w("upgrade-backend", "--yes", "--force", check=1)
        r = self.records(w)
        undos = [x["step_name"] for x in r if x["event"] == "undo"]
        self.assertIn("unload", undos)
        self.assertTrue(all(x["ok"] for x in r if x["event"] == "undo"))
        self.assertEqual((r[-1]["event"], r[-1]["ok"]), ("result", False))
        self.assertIn("simulated module-load-fail", r[-1]["message"])
        self.assertIn("undone", r[-1]["message"])

    def test_nothing_is_written_outside_a_mutation(self):
        w = World("--guests", "1")
        for args in (["list"], ["show", "1", "xvda"], ["check", "--samples", "1"], ["upgrade-backend", "--dry-run"],
                     ["unbind", "1", "xvda", "--dry-run"], ["recover", "--yes"], ["recover", "--dry-run", "--from-live"],
                     ["bind", "1", "xvda", "--yes"]):  # refused: already bound
            w(*args)
        self.assertEqual(self.records(w), [])


class History(unittest.TestCase):
    """The report of every mutating run is kept (STATE.d/runs on the simulator, as
    /var/lib/vbdctl/runs on a real host), the last 50; `history` lists and shows them."""

    def runs_dir(self, w):
        return w.host[4:] + ".d/runs"

    def test_each_mutation_keeps_the_report_it_printed(self):
        w = World("--guests", "1")
        printed = [w.json("unbind", "1", "xvda", "--yes"), w.json("bind", "1", "xvda", "--yes")]
        w("sim", "fault", "module-load-fail", check=0)
        printed.append(w.json("upgrade-backend", "--yes", "--force", check=1))
        h = w.json("history")
        self.assertEqual([r["command"] for r in h["runs"]], ["unbind", "bind", "upgrade-backend"])
        self.assertEqual([r["exit"] for r in h["runs"]], [0, 0, 1])
        self.assertIn("simulated module-load-fail", h["runs"][2]["message"])
        self.assertTrue(all(r["started_ms"] <= r["ended_ms"] for r in h["runs"]))
        for summary, report in zip(h["runs"], printed):
            kept = w.json("history", summary["id"])["run"]
            self.assertEqual(kept["report"], report)
        self.assertEqual(w.json("history", "last")["run"]["id"], h["runs"][-1]["id"])
        self.assertEqual(len(w.json("history", "--limit", "2")["runs"]), 2)
        # text: one row per run, and a run's own text
        self.assertEqual(len(w("history", check=0).stdout.splitlines()), 4)
        last = w("history", "last", check=0).stdout
        self.assertIn("exit 1: upgrade failed", last.splitlines()[0])
        self.assertIn("step 1 plan: ok", last)

    def test_only_the_last_50_are_kept(self):
        w = World("--guests", "1")
        for _ in range(26):
            w("unbind", "1", "xvda", "--yes", "-q", check=0)
            w("bind", "1", "xvda", "--yes", "-q", check=0)
        ids = [r["id"] for r in w.json("history")["runs"]]
        self.assertEqual(len(ids), 50)
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(sorted(os.listdir(self.runs_dir(w))), [i + ".json" for i in ids])

    def test_nothing_is_kept_outside_a_mutation(self):
        w = World("--guests", "1")
        for args in (["list"], ["check", "--samples", "1"], ["upgrade-backend", "--dry-run"],
                     ["unbind", "1", "xvda", "--dry-run"], ["recover", "--yes"],
                     ["bind", "1", "xvda", "--yes"],  # refused: already bound
                     ["unbind", "1", "xvda"]):        # refused: no --yes off a terminal
            w(*args)
        self.assertEqual(w.json("history")["runs"], [])
        self.assertFalse(os.path.exists(self.runs_dir(w)))

    def test_bad_ids_and_damaged_files(self):
        w = World("--guests", "1")
        for bad in ("nope", "../world.state", "last"):
            p = w("history", bad, check=2)
            self.assertIn("run", p.stderr)
        w("unbind", "1", "xvda", "--yes", "-q", check=0)
        with open(os.path.join(self.runs_dir(w), "19690101T000000.000Z-unbind.json"), "w") as f:
            f.write("{not json")
        runs = w.json("history")["runs"]
        self.assertIn("damaged", runs[0])
        self.assertEqual(runs[1]["command"], "unbind")
        w("history", "19690101T000000.000Z-unbind", check=1)


class Status(unittest.TestCase):
    """`status`: kernel, module, vbds by state, failing rings, journal, lock, last run, and
    the problems to act on, checked against the simulated host."""

    def test_a_healthy_host(self):
        w = World()
        s = w.json("status")
        self.assertTrue(s["healthy"], s["problems"])
        self.assertEqual(s["problems"], [])
        self.assertEqual(s["vbds"], {"total": 6, "bound": 6, "unbound": 0,
                                     "by_backend_state": {"Connected": 5, "InitWait": 1}})
        self.assertTrue(s["kernel"]["rebind_supported"])
        self.assertEqual(s["params_changed"], [])
        self.assertEqual((s["journal"], s["last_run"], s["lock"]["held"]), (None, None, False))
        self.assertIn("healthy", w("status", check=0).stdout.splitlines()[-1])

    def test_what_an_operator_must_act_on(self):
        w = World()
        w("unbind", "1", "xvda", "--yes", check=0)
        w("sim", "fault", "stall-ring", "2", "xvda", check=0)
        w("sim", "param", "feature_persistent", "N", check=0)
        s = w.json("status")
        self.assertFalse(s["healthy"])
        self.assertEqual(s["vbds"]["unbound"], 1)
        self.assertEqual(s["params_changed"], [{"name": "feature_persistent", "value": "N", "default": "Y"}])
        self.assertEqual([(r["domid"], r["vdev"]) for r in s["failing_rings"]], [(2, "xvda")])
        self.assertEqual(s["failing_rings"][0]["queues"][0]["progress"], "stuck")
        self.assertEqual((s["journal"]["op"], s["journal"]["vbds"], s["journal"]["in_progress"]),
                         ("unbind", ["vbd-1-51712"], False))
        self.assertEqual(s["last_run"]["command"], "unbind")
        self.assertEqual(len(s["problems"]), 3, s["problems"])
        text = w("status", check=0).stdout
        self.assertIn("feature_persistent=N (default Y)", text)
        self.assertIn("vbdctl history " + s["last_run"]["id"], text)

    def test_a_run_in_progress_is_not_a_problem(self):
        w = World("--guests", "1")
        w("unbind", "1", "xvda", "--yes", check=0)
        lock = w.host[4:] + ".d/lock"
        with open(lock, "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write("4242\n")
            f.flush()
            s = w.json("status")
        self.assertEqual((s["lock"]["held"], s["journal"]["in_progress"]), (True, True))
        self.assertIn("4242", s["lock"]["holder"])
        self.assertFalse(any("left unbound" in p for p in s["problems"]), s["problems"])


class Lifecycle(unittest.TestCase):
    def test_unbind_then_bind(self):
        w = World()
        j = w.json("unbind", "1", "xvda", "--yes")
        self.assertEqual(j["backend_state"], 4)
        v = w.vbds()[(1, "xvda")]
        self.assertFalse(v["bound"])
        self.assertEqual(v["backend_state"], 4)
        self.assertEqual(v["frontend_state"], 4)
        # Only bind (or recover) may run while a vbd is left unbound.
        p = w("upgrade-backend", "--yes")
        self.assertEqual(p.returncode, 1)
        self.assertIn("recover", p.stdout + p.stderr)
        j = w.json("bind", "1", "xvda", "--yes")
        self.assertEqual(j["backend_state"], 4)
        self.assertTrue(j["consistent"])
        self.assertGreater(j["unbound_ms"], 0)
        self.assertFalse(os.path.exists(w.journal_path()))
        healthy(self, w)

    def test_unbind_refusals_change_nothing(self):
        w = World()
        p = w("unbind", "4", "xvda", "--yes")  # frontend never connected
        self.assertEqual(p.returncode, 1)
        self.assertIn("only a Connected vbd", p.stderr)
        w("unbind", "1", "xvda", "--yes", check=0)
        p = w("unbind", "1", "xvda", "--yes")
        self.assertIn("already unbound", p.stderr)
        p = w("bind", "1", "xvdb", "--yes")
        self.assertIn("already bound", p.stderr)
        w("sim", "fault", "corrupt-ring", "2", "xvda", check=0)
        p = w("unbind", "2", "xvda", "--yes")
        self.assertIn("inconsistent", p.stderr)
        self.assertTrue(w.vbds()[(2, "xvda")]["bound"])

    def test_needs_yes_without_tty(self):
        w = World()
        p = w("unbind", "1", "xvda")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--yes", p.stderr)
        self.assertTrue(w.vbds()[(1, "xvda")]["bound"])

    def test_pre_5_5_kernel_is_refused(self):
        w = World("--kernel", "4.19.0")
        p = w("unbind", "1", "xvda", "--yes")
        self.assertEqual(p.returncode, 1)
        self.assertIn("older than 5.5", p.stderr)
        j = w.json("upgrade-backend", "--yes", check=1)
        self.assertTrue(j["refused"])
        self.assertTrue(all(v["bound"] for v in w.vbds().values()))

    def test_assumed_backport_on_old_kernel(self):
        w = World("--kernel", "4.19.0")
        # 4.19.0 also predates the rebind fixes: refused, nothing unbound.
        p = w("unbind", "1", "xvda", "--yes", "--assume-rebind-support", check=1)
        self.assertIn("xsa-350", p.stderr)
        self.assertTrue(w.vbds()[(1, "xvda")]["bound"])
        # The simulated 4.19 really lacks the feature: unbind closes the device, loudly.
        p = w("unbind", "1", "xvda", "--yes", "--assume-rebind-support", "--accept-hazard", "xsa-350",
              "--accept-hazard", "xsa-371", "--accept-hazard", "single-page-ring")
        self.assertEqual(p.returncode, 1)
        self.assertIn("GUEST LOST ITS DISK", p.stderr)


class Upgrade(unittest.TestCase):
    def test_upgrade_default_world(self):
        w = World()
        j = w.json("upgrade-backend", "--yes")
        self.assertTrue(j["ok"])
        self.assertNotEqual(j["module_after"]["srcversion"], j["module_before"]["srcversion"])
        self.assertEqual([s["name"] for s in j["steps"]],
                         ["plan", "unbind", "drain", "unload", "load", "bind", "verify"])
        self.assertGreater(j["window_ms"], 0)
        for v in j["vbds"]:
            self.assertIn(v["backend_state"], (2, 4))
            self.assertTrue(v["consistent"])
            self.assertGreater(v["unbound_ms"], 0)
        healthy(self, w)
        self.assertFalse(os.path.exists(w.journal_path()))

    def test_canary(self):
        w = World()
        j = w.json("upgrade-backend", "--yes", "--canary")
        self.assertTrue(j["ok"])
        healthy(self, w)

    def test_dry_run_changes_nothing(self):
        w = World()
        before = w.json("list")["vbds"]
        j = w.json("upgrade-backend", "--dry-run")
        self.assertTrue(j["dry_run"])
        self.assertTrue(all(c["ok"] for c in j["preflight"]), j["preflight"])
        self.assertEqual(len(j["plan"]), 7)
        self.assertEqual(before, w.json("list")["vbds"])
        self.assertFalse(os.path.exists(w.journal_path()))

    def refused_with_nothing_unbound(self, w, *args, expect):
        j = w.json("upgrade-backend", "--yes", *args, check=1)
        self.assertTrue(j["refused"])
        failed = [c for c in j["preflight"] if not c["ok"]]
        self.assertTrue(any(expect in c["detail"] for c in failed), failed)
        self.assertTrue(all(v["bound"] for v in w.vbds().values()))
        self.assertFalse(os.path.exists(w.journal_path()))

    def test_refusals(self):
        w = World()
        self.refused_with_nothing_unbound(w, "--param", "max_ring_page_order=1",
                                          expect="vbd-2-51712: frontend ring-page-order 2 exceeds max_ring_page_order 1")
        self.refused_with_nothing_unbound(w, "--param", "max_queues=2",
                                          expect="vbd-1-51728: frontend uses 4 queues, max_queues allows 2")
        self.assertIn("no parameter", w("upgrade-backend", "--yes", "--param", "no_such_param=1", check=2).stderr)
        self.refused_with_nothing_unbound(w, "--module-file", "/var/lib/vbdctl-sim/xen-blkback-4.19.0-27.ko",
                                          expect="does not match the running kernel")
        self.assertIn("no such module file", w("upgrade-backend", "--yes", "--module-file", "/nonexistent.ko", check=2).stderr)
        w("sim", "fault", "stall-ring", "3", "xvda", check=0)
        self.refused_with_nothing_unbound(w, expect="stuck")
        p = w("upgrade-backend", "--yes", "--param", "bad name")
        self.assertEqual(p.returncode, 2)

    def test_second_concurrent_upgrade_refuses(self):
        w = World()
        w("list", check=0)  # creates the world and its state dir
        os.makedirs(w.host[4:] + ".d", exist_ok=True)
        with open(w.host[4:] + ".d/lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # as a first vbdctl holding the lock would
            j = w.json("upgrade-backend", "--yes", check=1)
            lock = [c for c in j["preflight"] if c["check"] == "lock"][0]
            self.assertFalse(lock["ok"])
            self.assertIn("another vbdctl", lock["detail"])
            p = w("unbind", "1", "xvda", "--yes")
            self.assertEqual(p.returncode, 1)
        self.assertTrue(all(v["bound"] for v in w.vbds().values()))

    def test_module_load_failure_rolls_back(self):
        w = World()
        w("sim", "fault", "module-load-fail", check=0)
        j = w.json("upgrade-backend", "--yes", check=1)
        self.assertFalse(j["ok"])
        self.assertTrue(j["rolled_back"])
        self.assertIn("simulated module-load-fail", j["error"]["message"])
        self.assertEqual(j["module_after"]["srcversion"], j["module_before"]["srcversion"])
        healthy(self, w)
        self.assertFalse(os.path.exists(w.journal_path()))

    def test_reconnect_fatal_rolls_back(self):
        # A fatal reconnect closes the backend, and blkfront closes the disk in turn
        # (XEN-FACTS): the rollback restores every other vbd and says plainly which disk
        # the guest lost and how the toolstack gives it back.
        w = World()
        w("sim", "fault", "reconnect-fatal", "2", "xvda", check=0)
        j = w.json("upgrade-backend", "--yes", check=1)
        self.assertTrue(j["rolled_back"])
        self.assertIn("vbd-2-51712", j["error"]["message"])
        lost = [v for v in j["vbds"] if (v["domid"], v["vdev"]) == (2, "xvda")][0]
        self.assertIn("lost", lost["error"])
        self.assertIn("xl block-attach 2", lost["error"])
        g = [g for g in w.json("sim", "guests")["guests"] if g["domid"] == 2][0]
        self.assertTrue([d for d in g["disks"] if d["devid"] == 51712][0]["disabled"])
        healthy(self, w)

    def test_destroyed_guest_does_not_fail_the_upgrade(self):
        w = World()
        w("sim", "fault", "destroy-guest", "3", "--at-step", "2", check=0)
        j = w.json("upgrade-backend", "--yes")
        self.assertTrue(j["ok"])
        gone = [v for v in j["vbds"] if v["gone"]]
        self.assertEqual([v["domid"] for v in gone], [3])
        self.assertNotIn(3, {v["domid"] for v in w.json("list")["vbds"]})
        healthy(self, w)

    def test_slow_drain_is_waited_for(self):
        w = World()
        w("sim", "fault", "slow-drain", "3", check=0)
        j = w.json("upgrade-backend", "--yes")
        self.assertTrue(j["ok"])
        drain = [s for s in j["steps"] if s["name"] == "drain"][0]
        self.assertGreaterEqual(drain["ms"], 3000)
        healthy(self, w)

    def test_crash_after_every_step_then_recover(self):
        rows = []
        for k in range(1, 8):
            w = World()
            w("sim", "fault", "crash-after-step", str(k), check=0)
            p = w("upgrade-backend", "--yes")
            self.assertEqual(p.returncode, -9, f"step {k}: {p.stderr}")  # killed, as a crash
            self.assertTrue(os.path.exists(w.journal_path()), k)
            p = w("unbind", "1", "xvda", "--yes")
            self.assertEqual(p.returncode, 1, k)
            self.assertIn("recover", p.stderr)
            r = w.json("recover", "--yes")
            self.assertTrue(r["ok"], (k, r))
            healthy(self, w)
            self.assertFalse(os.path.exists(w.journal_path()))
            after = w.json("list")["vbds"]
            rows.append((k, r["step"], sum(v["bound"] for v in after), len(after),
                         r["module_after"]["srcversion"]))
        print("\ncrash-after-step table (step, journaled step, bound/total, srcversion after recover):",
              file=sys.stderr)
        for row in rows:
            print(f"  crash after step {row[0]} ({row[1]}): {row[2]}/{row[3]} bound, Connected, "
                  f"consistent; module {row[4]}", file=sys.stderr)

    def test_sigterm_mid_upgrade_reaches_safe_state(self):
        w = World()
        w("list", check=0)
        # Paced 100x, the simulated kernel takes real time, so the signal lands mid-run.
        p = subprocess.Popen([VBDCTL, "--host", w.host, "upgrade-backend", "--yes"],
                             env=dict(os.environ, VBDCTL_SIM_PACE="100"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        step = 0
        while step < 3 and time.time() < deadline and p.poll() is None:
            try:
                with open(w.journal_path()) as f:
                    step = json.load(f)["step"]
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        self.assertGreaterEqual(step, 3, "the upgrade never reached the drain step")
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 130, out + err)
        self.assertIn("safe state", err)
        healthy(self, w)
        self.assertFalse(os.path.exists(w.journal_path()))

    def test_recover_without_journal(self):
        w = World()
        p = w("recover", "--yes", check=0)
        self.assertIn("nothing to recover", p.stdout)


class GuestsComeAndGo(unittest.TestCase):
    """Issue 11, section 5 and the detach rule of section 4: the toolstack acts during a run."""

    def test_guest_created_while_the_module_is_out_is_bound(self):
        w = World()
        w("sim", "fault", "create-guest", "9", "--at-step", "5", check=0)  # as the new module loads
        j = w.json("upgrade-backend", "--yes")
        self.assertTrue(j["ok"], j)
        new = [v for v in j["vbds"] if v["domid"] == 9]
        self.assertEqual(len(new), 1, j["vbds"])
        self.assertEqual(new[0]["note"], "appeared during the run")
        v = w.vbds()[(9, "xvda")]
        self.assertTrue(v["bound"])
        self.assertEqual((v["backend_state"], v["frontend_state"]), (4, 4))
        healthy(self, w)

    def test_guest_created_before_the_unload_rolls_back_safely(self):
        # The old module binds it (autoprobe is still on), so rmmod fails: roll back, no loss.
        w = World()
        w("sim", "fault", "create-guest", "9", "--at-step", "4", check=0)
        j = w.json("upgrade-backend", "--yes", check=1)
        self.assertTrue(j["rolled_back"])
        self.assertIn("delete_module", j["error"]["message"])
        healthy(self, w)

    def test_disk_detached_during_the_run_is_left_to_the_toolstack(self):
        w = World()
        w("sim", "fault", "detach", "2", "xvdb", "--at-step", "3", check=0)
        j = w.json("upgrade-backend", "--yes")
        self.assertTrue(j["ok"], j)
        d = [v for v in j["vbds"] if (v["domid"], v["devid"]) == (2, 51728)][0]
        self.assertTrue(d["gone"])
        self.assertIn("detached during the run", d["note"])
        self.assertFalse(w.vbds()[(2, "xvdb")]["bound"])  # vbdctl did not bind it again
        # Detached before the unbind: vbdctl does not unbind it; blkback closes it and the
        # toolstack removes it, which lets the module go.
        w2 = World()
        w2("sim", "fault", "detach", "1", "xvdb", "--at-step", "1", check=0)
        j = w2.json("upgrade-backend", "--yes")
        self.assertTrue(j["ok"], j)
        self.assertTrue([v for v in j["vbds"] if (v["domid"], v["devid"]) == (1, 51728)][0]["gone"])
        self.assertNotIn((1, "xvdb"), w2.vbds())
        healthy(self, w2)

    def test_disk_being_detached_is_never_unbound_or_rebound(self):
        w = World()
        w("unbind", "1", "xvda", "--yes", check=0)
        w("sim", "fault", "detach", "1", "xvda", "--at-step", "1", check=0)
        w("unbind", "3", "xvda", "--yes", check=0)  # its journal step: xl block-detach 1 xvda
        self.assertIn("detaching", w("bind", "1", "xvda", "--yes", check=1).stderr)
        self.assertIn("detaching", w("unbind", "1", "xvda", "--yes", check=1).stderr)
        j = w.json("upgrade-backend", "--dry-run", check=1)
        self.assertIn("detaching vbd-1-51712", [c["check"] for c in j["preflight"] if not c["ok"]])
        w("bind", "3", "xvda", "--yes", check=0)


class ModuleParameters(unittest.TestCase):
    """The parameters of a reload: carried over, typed, checked against what the kernel
    would punish (issue 11, sections 1 and 2)."""

    def disabled_disks(self, w):
        """Disks a guest has lost, from inside the guests (blkfront stopped them)."""
        return [(g["domid"], d["vdev"]) for g in w.json("sim", "guests")["guests"]
                for d in g["disks"] if d["disabled"]]

    def assert_nothing_changed(self, w, params_before):
        self.assertTrue(all(v["bound"] for v in w.vbds().values()), w.vbds())
        self.assertEqual(w.json("sim", "show-modules")["loaded"]["params"], params_before)
        self.assertEqual(self.disabled_disks(w), [])
        self.assertFalse(os.path.exists(w.journal_path()))

    def test_plain_upgrade_keeps_persistent_grants_off(self):
        # The hazard seen on real Xen: loaded with feature_persistent=0, guests connected, a
        # plain upgrade loaded the defaults (Y) and every busy guest lost its disk.
        w = World("--blkback-param", "feature_persistent=N", "--blkback-param", "log_stats=1")
        j = w.json("upgrade-backend", "--yes")
        self.assertTrue(j["ok"], j)
        self.assertIs(j["module_after"]["params"]["feature_persistent"], False)
        self.assertEqual(j["module_after"]["params"]["log_stats"], 1)
        self.assertEqual(j["module_after"]["params"]["max_queues"], 4)
        self.assertEqual([c for c in j["param_changes"]], [], j["param_changes"])
        w("sim", "param", "max_buffer_pages", "512", check=0)  # runtime write, carried too
        j = w.json("upgrade-backend", "--yes", "--module-file",
                   "/lib/modules/6.1.0-sim-amd64/kernel/drivers/block/xen-blkback/xen-blkback.ko")
        self.assertEqual(j["module_after"]["params"]["max_buffer_pages"], 512)
        self.assertEqual(self.disabled_disks(w), [])
        healthy(self, w)

    def test_turning_persistent_grants_on_is_refused(self):
        w = World("--blkback-param", "feature_persistent=N")
        before = w.json("sim", "show-modules")["loaded"]["params"]
        for extra in (["--param", "feature_persistent=Y"], ["--reset-params"]):
            j = w.json("upgrade-backend", "--yes", *extra, check=1)
            self.assertTrue(j["refused"], j)
            failed = [p for p in j["preflight"] if not p["ok"]]
            self.assertEqual([p["check"] for p in failed], ["persistent grants"], failed)
            for vbd in ("vbd-1-51712", "vbd-2-51712", "vbd-3-51712"):
                self.assertIn(vbd, failed[0]["detail"])
            self.assertNotIn("vbd-4-51712", failed[0]["detail"])  # its frontend never connected
            row = [c for c in j["param_changes"] if c["name"] == "feature_persistent"]
            self.assertEqual(row, [{"name": "feature_persistent", "type": "bool", "before": False,
                                    "after": True if extra[0] == "--param" else None,
                                    "source": "--param" if extra[0] == "--param" else "default"}])
            self.assert_nothing_changed(w, before)
        # The dry run says the same, and a config file that turns them on is refused too.
        j = w.json("upgrade-backend", "--dry-run", "--param", "feature_persistent=1", check=1)
        self.assertTrue(j["refused"])
        os.makedirs(w.host[4:] + ".d/modprobe.d")
        with open(w.host[4:] + ".d/modprobe.d/blkback.conf", "w") as f:
            f.write("options xen-blkback feature_persistent=Y\n")
        j = w.json("upgrade-backend", "--yes", check=1)
        self.assertEqual([c["source"] for c in j["param_changes"] if c["name"] == "feature_persistent"],
                         ["modprobe.d"])
        self.assert_nothing_changed(w, before)
        # Turning them off is safe.
        os.remove(w.host[4:] + ".d/modprobe.d/blkback.conf")
        w2 = World()
        j = w2.json("upgrade-backend", "--yes", "--param", "feature_persistent=N")
        self.assertIs(j["module_after"]["params"]["feature_persistent"], False)
        self.assertEqual(self.disabled_disks(w2), [])
        healthy(self, w2)

    def test_bind_refused_after_runtime_write(self):
        # feature_persistent is 0644 and read at every connect: a bind is a reconnect too.
        w = World("--blkback-param", "feature_persistent=N")
        w("unbind", "1", "xvda", "--yes", check=0)
        w("sim", "param", "feature_persistent", "Y", check=0)
        j = w.json("bind", "1", "xvda", "--yes", check=1)
        self.assertFalse(j["ok"])
        self.assertIn("persistent grants", j["error"]["message"])
        self.assertFalse(w.vbds()[(1, "xvda")]["bound"])
        w("sim", "param", "feature_persistent", "N", check=0)
        w("bind", "1", "xvda", "--yes", check=0)
        self.assertEqual(self.disabled_disks(w), [])
        healthy(self, w)

    def test_runtime_max_queues_below_frontend_refused_at_bind(self):
        w = World()
        w("unbind", "1", "xvdb", "--yes", check=0)  # 4 queues
        w("sim", "param", "max_queues", "2", check=0)
        j = w.json("bind", "1", "xvdb", "--yes", check=1)
        self.assertIn("max_queues", j["error"]["message"])
        self.assertFalse(w.vbds()[(1, "xvdb")]["bound"])

    def test_parameters_survive_a_second_upgrade(self):
        # Issue 11, section 1: the second run used to load the defaults silently.
        w = World()
        w("upgrade-backend", "--yes", "--param", "max_queues=8", "--param", "feature_persistent=N", check=0)
        j = w.json("upgrade-backend", "--yes", "--module-file",
                   "/lib/modules/6.1.0-sim-amd64/kernel/drivers/block/xen-blkback/xen-blkback.ko")
        self.assertEqual(j["module_after"]["params"]["max_queues"], 8)
        self.assertIs(j["module_after"]["params"]["feature_persistent"], False)
        # --reset-params: defaults (max_queues 0 = online CPUs), each change shown.
        # (with N kept: the guests connected while the backend advertised them off)
        j = w.json("upgrade-backend", "--yes", "--reset-params", "--param", "feature_persistent=N")
        self.assertEqual(j["module_after"]["params"]["max_queues"], 4)
        rows = {c["name"]: c for c in j["param_changes"]}
        self.assertEqual(rows["max_queues"]["before"], 8)
        self.assertEqual(rows["max_queues"]["source"], "default")
        text = w("upgrade-backend", "--dry-run", "--param", "log_stats=1", check=0).stdout
        self.assertIn("log_stats: 0 -> 1 (--param)", text)

    def test_modprobe_d_options_apply(self):
        w = World()
        os.makedirs(w.host[4:] + ".d/modprobe.d")
        with open(w.host[4:] + ".d/modprobe.d/tuning.conf", "w") as f:
            f.write("# site tuning\noptions xen_blkback max_persistent_grants=2048 log_stats=1\n")
        j = w.json("upgrade-backend", "--yes", "--param", "log_stats=0")
        self.assertEqual(j["module_after"]["params"]["max_persistent_grants"], 2048)
        self.assertEqual(j["module_after"]["params"]["log_stats"], 0)  # --param wins
        self.assertEqual([(c["name"], c["source"]) for c in j["param_changes"]],
                         [("max_persistent_grants", "modprobe.d")])

    def test_upgrade_to_the_loaded_module_is_a_noop(self):
        # Issue 11, section 3: it reloaded anyway, stalling every guest, and Ansible then
        # reloaded on every play.
        w = World()
        stock = "/lib/modules/6.1.0-sim-amd64/kernel/drivers/block/xen-blkback/xen-blkback.ko"
        consoles = lambda: [g["console"] for g in w.json("sim", "guests")["guests"]]
        before = consoles()
        j = w.json("upgrade-backend", "--yes", "--module-file", stock)
        self.assertTrue(j["ok"])
        self.assertIs(j["changed"], False)
        self.assertTrue(j["noop"])
        self.assertNotIn("steps", j)
        self.assertEqual(consoles(), before)  # no frontend saw its backend reconnect
        self.assertFalse(os.path.exists(w.journal_path()))
        self.assertIn("nothing to do", w("upgrade-backend", "--yes", "--module-file", stock, check=0).stdout)
        # Another parameter value is a change; so is --force.
        j = w.json("upgrade-backend", "--yes", "--module-file", stock, "--param", "log_stats=1")
        self.assertIs(j["changed"], True)
        j = w.json("upgrade-backend", "--yes", "--module-file", stock, "--force")
        self.assertIs(j["changed"], True)
        self.assertNotEqual(consoles(), before)
        # After a real upgrade, the same command again does nothing.
        self.assertIs(w.json("upgrade-backend", "--yes")["changed"], True)
        self.assertIs(w.json("upgrade-backend", "--yes")["changed"], False)
        self.assertTrue(w.json("upgrade-backend", "--dry-run")["noop"])
        healthy(self, w)

    def test_yes_does_not_waive_the_rollback_copy(self):
        # --yes answers the confirmation only; going on without a rollback copy has its own flag.
        w = World()
        other = "/var/lib/vbdctl-sim/xen-blkback-4.19.0-27.ko"  # no other file is this build
        w("upgrade-backend", "--yes", "--force-vermagic", "--module-file", other, check=0)
        j = w.json("upgrade-backend", "--yes", check=1)
        rollback = [c for c in j["preflight"] if c["check"] == "rollback"][0]
        self.assertFalse(rollback["ok"])
        self.assertIn("--without-rollback", rollback["detail"])
        j = w.json("upgrade-backend", "--yes", "--without-rollback")
        self.assertTrue(j["ok"] and j["changed"])

    def test_builtin_blkback(self):
        # Issue 11, section 4: unbind reported "drained in 0 ms" with no evidence, and the
        # upgrade has nothing it could unload.
        w = World("--builtin-blkback")
        self.assertTrue(w.json("list")["module"]["builtin"])
        j = w.json("unbind", "1", "xvda", "--yes")
        self.assertIn("built in", j["drain_evidence"])
        self.assertIn("no module refcount", j["drain_evidence"])
        w("bind", "1", "xvda", "--yes", check=0)
        j = w.json("upgrade-backend", "--yes", check=1)
        failed = [c for c in j["preflight"] if not c["ok"]]
        self.assertEqual([c["check"] for c in failed], ["module built in"], failed)
        healthy(self, w)
        self.assertIn("refcount fell", World().json("unbind", "1", "xvda", "--yes")["drain_evidence"])

    def test_unsigned_module_refused_where_the_kernel_enforces_signatures(self):
        stock = "/lib/modules/6.1.0-sim-amd64/kernel/drivers/block/xen-blkback/xen-blkback.ko"
        for mode, why in ((["--sig-enforce"], "sig_enforce"), (["--lockdown", "integrity"], "lockdown integrity")):
            w = World(*mode)
            j = w.json("upgrade-backend", "--yes", check=1)  # the locally built update is unsigned
            sig = [c for c in j["preflight"] if c["check"] == "signature"][0]
            self.assertFalse(sig["ok"])
            self.assertIn("unsigned", sig["detail"])
            self.assertIn(why, sig["detail"])
            self.assertTrue(all(v["bound"] for v in w.vbds().values()))
            j = w.json("upgrade-backend", "--yes", "--force", "--module-file", stock)
            sig = [c for c in j["preflight"] if c["check"] == "signature"][0]
            self.assertIn("signed by Debian Secure Boot CA", sig["detail"])
        j = World().json("upgrade-backend", "--dry-run")
        sig = [c for c in j["preflight"] if c["check"] == "signature"][0]
        self.assertTrue(sig["ok"])
        self.assertIn("does not enforce", sig["detail"])

    def test_kernel_older_than_a_rebind_fix_is_refused_unless_accepted(self):
        w = World("--kernel", "5.10.0")
        j = w.json("upgrade-backend", "--dry-run", check=1)
        failed = [c["check"] for c in j["preflight"] if not c["ok"]]
        self.assertEqual(failed, ["kernel fix xsa-350", "kernel fix xsa-371", "kernel fix single-page-ring"])
        p = w("unbind", "1", "xvda", "--yes", check=1)
        self.assertIn("xsa-350", p.stderr)
        self.assertIn("hint, not proof", p.stderr)
        self.assertTrue(w.vbds()[(1, "xvda")]["bound"])
        accept = ["--accept-hazard", "xsa-350", "--accept-hazard", "xsa-371", "--accept-hazard", "single-page-ring"]
        w("unbind", "1", "xvda", "--yes", *accept, check=0)
        w("bind", "1", "xvda", "--yes", check=0)
        j = w.json("upgrade-backend", "--yes", *accept)
        self.assertTrue(j["ok"])
        w("upgrade-backend", "--yes", "--accept-hazard", "no-such-fix", check=2)
        ok = [c for c in World().json("upgrade-backend", "--dry-run")["preflight"] if c["check"] == "kernel fixes"]
        self.assertTrue(ok[0]["ok"])

    def test_compressed_in_tree_module_is_kept_for_rollback(self):
        # Debian 13: /usr/lib/modules, xen-blkback.ko.xz. The old hard-coded candidate
        # (/lib/modules/R/kernel/.../xen-blkback.ko) found nothing: "rollback impossible".
        w = World("--compressed-modules", "--kernel", "6.12.57+deb13-amd64")
        j = w.json("upgrade-backend", "--dry-run")
        rb = [c for c in j["preflight"] if c["check"] == "rollback"][0]
        self.assertTrue(rb["ok"], rb)
        self.assertIn("/usr/lib/modules/6.12.57+deb13-amd64/kernel/drivers/block/xen-blkback/xen-blkback.ko.xz",
                      rb["detail"])
        self.assertIn("(same build-id)", rb["detail"])  # read through xz, as the lab's cell B shows
        w("sim", "fault", "reconnect-fatal", "2", "xvda", check=0)
        j = w.json("upgrade-backend", "--yes", check=1)
        self.assertTrue(j["rolled_back"])
        self.assertTrue(any(r.startswith("unload: load the rollback copy") for r in j["restored"]), j["restored"])
        self.assertTrue(w.json("sim", "show-modules")["loaded"]["srcversion"] is None)
        self.assertIsNone(w.json("list")["module"]["srcversion"])  # the in-tree build again
        healthy(self, w)

    def test_bad_parameters_exit_2_and_change_nothing(self):
        w = World()
        before = w.json("sim", "show-modules")["loaded"]["params"]
        for p in ("max_queues=abc", "max_queues=-1", "max_ring_page_order=5", "feature_persistent=maybe",
                  "no_such_param=1", "log_stats=99999999999", "max_buffer_pages=1 2", "=3", "x"):
            p_ = w("upgrade-backend", "--yes", "--param", p, check=2)
            self.assertIn("error", p_.stderr)
        w("sim", "param", "max_ring_page_order", "2", check=2)  # 0444: not writable at runtime
        w("sim", "param", "feature_persistent", "maybe", check=2)
        self.assert_nothing_changed(w, before)


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--vbdctl" in args:
        i = args.index("--vbdctl")
        VBDCTL = os.path.abspath(args[i + 1])
        del args[i:i + 2]
    VBDCTL = VBDCTL or os.environ.get("VBDCTL", "build/cli/vbdctl")
    unittest.main(argv=[sys.argv[0]] + args)
