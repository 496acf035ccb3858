#!/usr/bin/env python3
"""The one output layer: under --json every command prints exactly one object, failures and
usage errors included, and that object is what cli/vbdctl.schema.json says. In text mode a
failure says so on stderr. Off a terminal, a mutating command says each step on stderr.

Run: python3 tests/cli/test_output.py --vbdctl build/cli/vbdctl [-v]
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import weakref

import jsonschema

VBDCTL = None
SCHEMA = json.load(open(os.path.join(os.path.dirname(__file__), "..", "..", "cli", "vbdctl.schema.json")))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def run(args, host=None, env=None):
    cmd = [VBDCTL] + (["--host", host] if host else []) + list(args)
    e = dict(os.environ)
    e.pop("VBDCTL_HOST", None)
    e.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, env=e)


class World:
    def __init__(self, *init_args):
        self.dir = tempfile.TemporaryDirectory(prefix="vbdctl-out-")
        weakref.finalize(self, self.dir.cleanup)
        self.host = "sim:" + os.path.join(self.dir.name, "world.state")
        p = run(["sim", "init"] + list(init_args), host=self.host)
        assert p.returncode == 0, p.stderr

    def __call__(self, *args, **kw):
        return run(args, host=self.host, **kw)


class JsonEnvelope(unittest.TestCase):
    def one_object(self, p, command, exit_code):
        """stdout is exactly one JSON object, valid against the schema, saying this exit."""
        self.assertEqual(p.returncode, exit_code, f"stdout:{p.stdout}\nstderr:{p.stderr}")
        try:
            j = json.loads(p.stdout)
        except json.JSONDecodeError as e:
            self.fail(f"stdout is not one JSON document ({e}):\n{p.stdout!r}\nstderr:{p.stderr}")
        errors = sorted(VALIDATOR.iter_errors(j), key=lambda e: list(e.absolute_path))
        self.assertEqual([f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]], [])
        self.assertEqual(j["command"], command)
        self.assertEqual(j["exit"], exit_code)
        self.assertEqual(j["ok"], exit_code == 0)
        if exit_code:
            # A refusal points at what this object holds, not at text that was not printed.
            self.assertNotIn("FAIL lines", json.dumps(j["error"]))
            self.assertNotIn("lines above", json.dumps(j["error"]))
        return j

    def test_every_command_succeeding(self):
        w = World("--guests", "2", "--vbds-per-guest", "2")
        cases = [
            (["list"], "list"), (["list", "1"], "list"), (["list", "99"], "list"),
            (["show", "1", "xvda"], "show"), (["check", "--samples", "2", "--interval", "5"], "check"),
            (["metrics"], "metrics"), (["metrics", "--textfile", w.dir.name], "metrics"),
            (["unbind", "1", "xvda", "--dry-run"], "unbind"), (["unbind", "1", "xvda", "--yes"], "unbind"),
            (["bind", "1", "xvda", "--yes"], "bind"),
            (["recover", "--yes"], "recover"), (["recover", "--dry-run", "--from-live"], "recover"),
            (["upgrade-backend", "--dry-run"], "upgrade-backend"),
            (["upgrade-backend", "--yes", "--force"], "upgrade-backend"),
            (["upgrade-backend", "--yes"], "upgrade-backend"),  # a no-op: nothing changes
            (["watch", "--timeout", "0.2"], "watch"),
            (["sim", "fault", "list"], "sim fault"), (["sim", "fault", "stall-ring", "2", "xvda"], "sim fault"),
            (["sim", "fault", "clear"], "sim fault"), (["sim", "guests"], "sim guests"),
            (["sim", "param", "log_stats", "1"], "sim param"),
            (["sim", "xs", "write", "/local/domain/1/data/x", "y"], "sim xs"),
            (["sim", "xs", "rm", "/local/domain/1/data/x"], "sim xs"),
            (["sim", "show-modules"], "sim show-modules"),
            (["status"], "status"), (["history"], "history"), (["history", "last"], "history"), (["history", "--limit", "1"], "history"),
        ]
        for args, command in cases:
            with self.subTest(args=args):
                # (watch with no event prints one object: its closing line)
                self.one_object(w("--json", *args), command, 0)
        self.one_object(run(["--json", "sim", "init", "--guests", "1"], host=w.host), "sim init", 0)

    def test_watch_events_are_what_the_schema_says(self):
        # One object per event (xenstore's and the kernel's uevents), then the closing one.
        w = World()
        e = dict(os.environ)
        e.pop("VBDCTL_HOST", None)
        watcher = subprocess.Popen([VBDCTL, "--host", w.host, "--json", "watch", "--timeout", "5"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
        time.sleep(0.5)
        for args in (["unbind", "1", "xvda"], ["bind", "1", "xvda"], ["upgrade-backend", "--force"]):
            self.assertEqual(w(*args, "--yes", env={"VBDCTL_SIM_PACE": "5"}).returncode, 0)
        out, err = watcher.communicate(timeout=60)
        self.assertEqual(watcher.returncode, 0, err)
        lines = [json.loads(line) for line in out.splitlines()]
        kinds = {j.get("kind") for j in lines}
        self.assertTrue({"unbind", "bind", "backend_state", "module_add", "module_remove"} <= kinds, kinds)
        for j in lines:
            errors = [x.message for x in VALIDATOR.iter_errors(j)]
            self.assertEqual(errors, [], j)
            self.assertEqual((j["command"], j["ok"], j["exit"]), ("watch", True, 0))
        self.assertEqual(lines[-1]["events"], len(lines) - 1)

    def test_failures_print_one_object(self):
        w = World("--guests", "2", "--vbds-per-guest", "2")
        cases = [
            (["list", "abc"], "list", 2),
            (["list", "70000"], "list", 2),
            (["show", "1", "xvdz"], "show", 2),
            (["show", "5", "xvda"], "show", 2),
            (["check", "1", "nope"], "check", 2),
            (["history", "nope"], "history", 2),
            (["unbind", "1", "xvda"], "unbind", 2),  # no terminal and no --yes
            (["bind", "1", "xvda", "--yes"], "bind", 1),  # already bound
            (["rebind", "2", "xvdb", "--dry-run"], "rebind", 1),  # healthy: nothing to repair
            (["upgrade-backend", "--param", "BAD"], "upgrade-backend", 2),
            (["upgrade-backend", "--yes", "--module-file", "/nonexistent.ko"], "upgrade-backend", 2),
            (["sim", "fault", "nonsense"], "sim fault", 2),
            (["sim", "xs", "write", "relative", "x"], "sim xs", 2),
            (["metrics", "--textfile", "/nonexistent-vbdctl-dir"], "metrics", 2),
            (["metrics", "--textfile", w.host[4:]], "metrics", 2),  # a file, not a directory
        ]
        for args, command, code in cases:
            with self.subTest(args=args):
                j = self.one_object(w("--json", *args), command, code)
                self.assertTrue(j["error"]["message"])

    def test_usage_errors_print_one_object(self):
        w = World("--guests", "1")
        cases = [
            (["list", "--no-such-flag"], "list"),
            (["show", "1"], "show"),
            (["check", "--samples", "0"], "check"),
            (["metrics", "--interval", "0"], "metrics"),
            (["upgrade-backend", "--timeout", "nan"], "upgrade-backend"),
            (["frobnicate"], None),
            ([], None),
        ]
        for args, command in cases:
            with self.subTest(args=args):
                j = self.one_object(w("--json", *args), command, 2)
                self.assertEqual(j["error"]["code"], "invalid_argument")
                self.assertIn("--help", j["error"]["hint"])
        # --json after the error, and an unknown host
        self.one_object(w("list", "--bogus", "--json"), "list", 2)
        j = self.one_object(run(["--json", "--host", "nowhere", "list"]), "list", 2)
        self.assertEqual(j["host"], "nowhere")

    def test_metrics_failures_are_one_object(self):
        w = World("--guests", "1")
        d = os.path.join(w.dir.name, "textfile")
        os.makedirs(os.path.join(d, "vbdctl.prom"))  # nothing can be renamed over it
        j = self.one_object(w("--json", "metrics", "--textfile", d), "metrics", 1)
        self.assertEqual(j["error"]["code"], "io")
        self.assertNotIn("samples", j)
        # a scrape that cannot list the vbds: exit 1, and the metrics it has
        w("sim", "xs", "write", "/local/domain/0/domid", "abc")
        j = self.one_object(w("--json", "metrics"), "metrics", 1)
        self.assertTrue(j["families"])

    def test_check_failure_points_into_the_object(self):
        w = World("--guests", "1", "--vbds-per-guest", "2")
        w("sim", "fault", "corrupt-ring", "1", "xvda")
        j = self.one_object(w("--json", "check"), "check", 1)
        self.assertEqual(j["error"]["code"], "failed")
        self.assertIn("vbds[]", j["error"]["hint"])
        bad = [v for v in j["vbds"] if not v["ok"]]
        self.assertEqual([(v["domid"], v["vdev"]) for v in bad], [(1, "xvda")])
        # and upgrade's refusal names its preflight entries
        j = self.one_object(w("--json", "upgrade-backend", "--yes", "--force"), "upgrade-backend", 1)
        self.assertEqual(j["error"]["code"], "refused")
        self.assertIn("preflight[]", j["error"]["hint"])
        self.assertTrue(any(not c["ok"] for c in j["preflight"]))

    def test_failed_upgrade_and_recover(self):
        w = World("--guests", "1", "--vbds-per-guest", "2")
        w("sim", "fault", "crash-after-step", "5")  # loaded, with drivers_autoprobe off
        p = w("--json", "upgrade-backend", "--yes", "--force")
        self.assertEqual(p.returncode, -9, p.stderr)  # SIGKILLed by the simulated crash
        j = self.one_object(w("--json", "recover", "--yes"), "recover", 0)
        self.assertTrue(j["had_journal"])
        # recover says every action it took, the autoprobe restore included
        self.assertTrue(any("drivers_autoprobe" in a for a in j["actions"]), j["actions"])


class TextFailures(unittest.TestCase):
    def test_failures_say_so_on_stderr(self):
        w = World("--guests", "1")
        for args in (["list", "abc"], ["show", "1", "xvdz"], ["--host", "nowhere", "list"], ["list", "--bogus"]):
            with self.subTest(args=args):
                p = w(*args)
                self.assertEqual(p.returncode, 2)
                self.assertEqual(p.stdout, "")
                self.assertRegex(p.stderr, r"^vbdctl: error: ")

    def test_list_of_a_domain_without_vbds_says_so(self):
        w = World("--guests", "1")
        p = w("list", "99")
        self.assertEqual(p.returncode, 0)
        self.assertIn("domain 99", p.stdout)
        self.assertIn("no vbds", p.stdout)
        self.assertNotIn("DOMID", p.stdout)


class Progress(unittest.TestCase):
    def test_off_a_terminal_each_step_is_one_line_on_stderr(self):
        w = World("--guests", "2", "--vbds-per-guest", "2")
        p = w("--json", "upgrade-backend", "--yes", "--force")
        self.assertEqual(p.returncode, 0, p.stderr)
        steps = [l for l in p.stderr.splitlines() if l.startswith("vbdctl: step ")]
        names = [l.split()[3].rstrip(":") for l in steps]
        self.assertEqual(names, ["plan", "unbind", "drain", "unload", "load", "bind", "verify"], p.stderr)
        self.assertTrue(steps[0].startswith("vbdctl: step 1/7 plan"), steps[0])
        # -q silences them
        p = w("-q", "--json", "upgrade-backend", "--yes", "--force")
        self.assertFalse([l for l in p.stderr.splitlines() if l.startswith("vbdctl: step ")], p.stderr)

    def test_a_killed_run_leaves_its_steps_on_stderr(self):
        w = World("--guests", "1", "--vbds-per-guest", "2")
        w("sim", "fault", "crash-after-step", "2")
        p = w("upgrade-backend", "--yes", "--force")
        self.assertEqual(p.returncode, -9)
        self.assertIn("vbdctl: step 2/7 unbind", p.stderr)


def main():
    global VBDCTL
    args = sys.argv[1:]
    if "--vbdctl" in args:
        i = args.index("--vbdctl")
        VBDCTL = os.path.abspath(args[i + 1])
        del args[i : i + 2]
    if not VBDCTL:
        sys.exit("usage: test_output.py --vbdctl PATH [unittest args]")
    unittest.main(argv=[sys.argv[0]] + args)


if __name__ == "__main__":
    main()
