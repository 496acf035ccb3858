#!/usr/bin/env python3
"""Scenario tests for the promise at its edges (issue 10): recover, drain limits, autoprobe,
damaged journals, stuck vbds, bad numbers, unusable frontend keys, crash points, dry runs.

Run: python3 tests/cli/test_edges.py --vbdctl build/cli/vbdctl [-v] [TestCase.test_name]
"""
import json
import os
import random
import signal
import subprocess
import sys
import time
import unittest

import test_cli
from test_cli import World, healthy


def world_bytes(w):
    if not os.path.exists(w.host[4:]):
        w("sim", "init", check=0)  # a read-only command creates nothing
    with open(w.host[4:], "rb") as f:
        return f.read()


def guest_writes(w, path, value=None):
    """A write (or, with value None, a removal of the subtree) made in xenstore by someone
    other than vbdctl: the guest's blkfront, or root with xenstore-write."""
    world_bytes(w)
    if value is None:
        w("sim", "xs", "rm", path, check=0)
    else:
        w("sim", "xs", "write", path, value, check=0)


def autoprobe(w):
    return w.json("list")["drivers_autoprobe"]


def journal(w):
    try:
        with open(w.journal_path()) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def bound_map(w):
    return {k: v["bound"] for k, v in w.vbds().items()}


def frontend(domid, devid, key):
    return f"/local/domain/{domid}/device/vbd/{devid}/{key}"


class RecoverVerifiesTheLiveHost(unittest.TestCase):
    """Issue 10, repro 1: recover reports success only when the live host agrees."""

    def test_recover_does_not_call_a_lost_disk_recovered(self):
        w = World()
        w("unbind", "1", "xvda", "--yes", check=0)
        w("sim", "fault", "reconnect-fatal", "1", "xvda", check=0)
        w("bind", "1", "xvda", "--yes", check=1)
        r = w.json("recover", "--yes", check=1)
        self.assertFalse(r["ok"], r)
        self.assertTrue(os.path.exists(w.journal_path()), "the journal must be kept")
        bad = [v for v in r["vbds"] if v["domid"] == 1 and v["devid"] == 51712][0]
        self.assertIn("xl block-detach", bad["error"])
        self.assertIn("lost", bad["error"])

    def test_recover_after_sigkill_mid_bind_leaves_everything_connected(self):
        w = World()
        w("list", check=0)
        p = subprocess.Popen([test_cli.VBDCTL, "--host", w.host, "upgrade-backend", "--yes"],
                             env=dict(os.environ, VBDCTL_SIM_PACE="50"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and p.poll() is None:
            j = journal(w)
            if j and j.get("step_name") == "bind":
                break
            time.sleep(0.02)
        time.sleep(0.1)  # some binds issued, their connects not yet seen
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.assertIsNotNone(journal(w), "killed before the bind step")
        self.assertFalse(autoprobe(w))  # the load step turned it off
        r = w.json("recover", "--yes")
        self.assertTrue(r["ok"], r)
        self.assertIn("restored drivers_autoprobe to 1", r["actions"])  # said, not silent
        healthy(self, w)
        self.assertTrue(autoprobe(w))

    def test_recover_with_a_journal_that_names_no_vbd_checks_the_whole_bus(self):
        w = World()
        w("sim", "fault", "crash-after-step", "3", check=0)  # after the drain: all unbound
        w("upgrade-backend", "--yes")
        j = journal(w)
        j["vbds"] = []
        with open(w.journal_path(), "w") as f:
            json.dump(j, f)
        r = w.json("recover", "--yes")
        self.assertTrue(r["ok"], r)
        healthy(self, w)


class DrainLimit(unittest.TestCase):
    """Issue 10, repro 2: past the drain limit nothing is rebound; recover resumes the wait."""

    def test_slow_drain_stops_safely_and_recover_resumes(self):
        w = World()
        w("sim", "fault", "slow-drain", "100", check=0)
        j = w.json("upgrade-backend", "--yes", check=1)
        self.assertFalse(j["ok"])
        self.assertFalse(j["rolled_back"], "a rollback would rebind before the drain")
        self.assertNotIn("bind", [s["name"] for s in j["steps"]])
        self.assertIn("drain", j["error"]["message"])
        self.assertTrue(all(not b for b in bound_map(w).values()), "nothing rebound")
        self.assertIsNotNone(journal(w))
        r = w.json("recover", "--yes", "--drain-timeout", "120")
        self.assertTrue(r["ok"], r)
        healthy(self, w)

    def test_drain_timeout_is_an_option(self):
        w = World()
        w("sim", "fault", "slow-drain", "5", check=0)
        j = w.json("upgrade-backend", "--yes", "--drain-timeout", "2", check=1)
        self.assertIn("drain", j["error"]["message"])
        w.json("recover", "--yes")
        healthy(self, w)
        w("sim", "fault", "slow-drain", "5", check=0)
        self.assertTrue(w.json("upgrade-backend", "--yes", "--force", "--drain-timeout", "10")["ok"])


class Autoprobe(unittest.TestCase):
    """Issue 10, repro 3: drivers_autoprobe is bus-wide and always comes back."""

    def test_failed_load_inside_recover_restores_autoprobe(self):
        w = World()
        w("sim", "fault", "crash-after-step", "4", check=0)  # after the unload
        w("upgrade-backend", "--yes")
        for _ in range(4):
            w("sim", "fault", "module-load-fail", check=0)
        r = w.json("recover", "--yes", check=1)
        self.assertFalse(r["ok"])
        self.assertTrue(autoprobe(w), "recover left drivers_autoprobe at 0")
        w("sim", "fault", "clear", check=0)
        r = w.json("recover", "--yes")
        self.assertTrue(r["ok"], r)
        self.assertTrue(autoprobe(w))
        healthy(self, w)


class DamagedJournal(unittest.TestCase):
    """Issue 10, repro 4: a damaged journal is not a dead end."""

    def damage_then_recover_from_live(self, damage):
        w = World()
        w("sim", "fault", "crash-after-step", "5", check=0)  # new module loaded, vbds unbound
        w("upgrade-backend", "--yes")
        damage(w.journal_path())
        p = w("recover", "--yes", check=1)
        self.assertIn("--from-live", p.stderr)
        p = w("unbind", "1", "xvda", "--yes", check=1)
        self.assertIn("recover --from-live", p.stderr)
        r = w.json("recover", "--from-live", "--yes")
        self.assertTrue(r["ok"], r)
        healthy(self, w)
        self.assertFalse(os.path.exists(w.journal_path()))

    def test_truncated_journal(self):
        def truncate(path):
            with open(path, "r+") as f:
                f.truncate(20)
        self.damage_then_recover_from_live(truncate)

    def test_unknown_journal_version(self):
        def bump(path):
            with open(path) as f:
                j = json.load(f)
            j["journal_version"] = 2
            with open(path, "w") as f:
                json.dump(j, f)
        self.damage_then_recover_from_live(bump)


class Rebind(unittest.TestCase):
    """Issue 10, repro 5: a vbd bound but not Connected under a Connected frontend."""

    def stuck_in_initwait(self):
        w = World()
        w("unbind", "1", "xvda", "--yes", check=0)
        w("sim", "fault", "hang-connect", "1", "xvda", check=0)
        w("bind", "1", "xvda", "--yes", "--timeout", "2", check=1)
        v = w.vbds()[(1, "xvda")]
        self.assertTrue(v["bound"])
        self.assertEqual((v["backend_state"], v["frontend_state"]), (2, 4))
        return w

    def test_rebind_repairs_a_vbd_stuck_in_initwait(self):
        w = self.stuck_in_initwait()
        self.assertIn("rebind", w("unbind", "1", "xvda", "--yes", check=1).stderr)
        self.assertIn("rebind", w("bind", "1", "xvda", "--yes", check=1).stderr)
        j = w.json("rebind", "1", "xvda", "--yes")
        self.assertTrue(j["ok"], j)
        healthy(self, w)
        self.assertFalse(os.path.exists(w.journal_path()))

    def test_rebind_does_not_pretend_to_repair_a_lost_disk(self):
        w = World()
        w("unbind", "1", "xvda", "--yes", check=0)
        w("sim", "fault", "reconnect-fatal", "1", "xvda", check=0)
        w("bind", "1", "xvda", "--yes", check=1)
        p = w("rebind", "1", "xvda", "--yes", check=1)
        self.assertIn("lost", p.stderr)
        self.assertIn("xl block-detach 1 xvda", p.stderr)
        self.assertIn("xl block-attach 1", p.stderr)

    def test_rebind_dry_run_changes_nothing(self):
        w = self.stuck_in_initwait()
        before = world_bytes(w)
        j = w.json("rebind", "1", "xvda", "--dry-run")
        self.assertTrue(j["dry_run"])
        self.assertEqual([s["name"] for s in j["plan"]], ["unbind", "drain", "bind", "verify"])
        self.assertEqual(before, world_bytes(w))


class BadInput(unittest.TestCase):
    """Issue 10, repro 6: bad numbers and forms exit 2 and change nothing."""

    def assert_usage(self, w, *args):
        before = bound_map(w)
        p = w(*args)
        self.assertEqual(p.returncode, 2, (args, p.stdout, p.stderr))
        self.assertIn("error", p.stderr)
        self.assertEqual(before, bound_map(w), args)
        self.assertIsNone(journal(w), args)

    def test_numbers(self):
        w = World()
        for value in ("nan", "inf", "-inf", "-1", "0", "1e400", ""):
            for cmd in (["unbind", "1", "xvda", "--yes"], ["bind", "1", "xvda", "--yes"],
                        ["recover", "--yes"], ["upgrade-backend", "--yes"], ["rebind", "1", "xvda", "--yes"]):
                self.assert_usage(w, *cmd, "--timeout", value)
            self.assert_usage(w, "upgrade-backend", "--yes", "--drain-timeout", value)
        for args in (["check", "--interval", "0"], ["check", "--interval", "nan"], ["check", "--samples", "0"],
                     ["watch", "--timeout", "nan"], ["upgrade-backend", "--yes", "--interval", "0"]):
            self.assert_usage(w, *args)

    def test_module_file_and_only_forms(self):
        w = World()
        self.assert_usage(w, "upgrade-backend", "--yes", "--module-file", "/nonexistent.ko")
        self.assert_usage(w, "upgrade-backend", "--yes", "--module-file", "/etc")
        for only in ("99", "1:xvdz", "abc", "1:", ":xvda", "1:xvda:x", "-1", "1:../x", ""):
            self.assert_usage(w, "upgrade-backend", "--yes", "--only", only)

    def test_sigterm_during_preflight_exits_130_and_changes_nothing(self):
        w = World()
        before = bound_map(w)
        p = subprocess.Popen([test_cli.VBDCTL, "--host", w.host, "upgrade-backend", "--yes"],
                             env=dict(os.environ, VBDCTL_SIM_PACE="100"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        self.assertIsNone(journal(w), "past the preflight already")
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 130, out + err)
        self.assertEqual(before, bound_map(w))
        self.assertIsNone(journal(w))


class FrontendKeys(unittest.TestCase):
    """Issue 10, repro 7: a Connected frontend whose keys blkback could not reconnect."""

    CASES = [
        ("ring-page-order 30", 2, 51712, "ring-page-order", "30"),
        ("ring-page-order 99", 1, 51712, "ring-page-order", "99"),
        ("ring-page-order abc", 1, 51712, "ring-page-order", "abc"),
        ("ring-ref zzz", 1, 51728, "queue-0/ring-ref", "zzz"),
        ("event-channel deleted", 1, 51728, "queue-0/event-channel", None),
        ("event-channel deleted, one queue", 1, 51712, "event-channel", None),
        ("protocol deleted", 1, 51712, "protocol", None),
    ]

    def test_check_fails_and_mutations_refuse(self):
        for label, domid, devid, key, value in self.CASES:
            with self.subTest(label):
                w = World()
                guest_writes(w, frontend(domid, devid, key), value)
                j = w.json("check", check=1)
                bad = [v for v in j["vbds"] if not v["ok"]]
                self.assertEqual([(v["domid"], v["devid"]) for v in bad], [(domid, devid)], label)
                self.assertTrue(bad[0]["problems"], label)
                self.assertIn(key.split("/")[-1], " ".join(bad[0]["problems"]), label)
                d = w.json("upgrade-backend", "--dry-run", check=1)
                self.assertTrue(d["refused"], label)
                vdev = {51712: "xvda", 51728: "xvdb"}[devid]
                w("unbind", str(domid), vdev, "--yes", check=1)
                self.assertTrue(all(bound_map(w).values()), label)

    def test_absent_protocol_can_be_named(self):
        w = World()
        guest_writes(w, frontend(1, 51712, "protocol"), None)
        w("unbind", "1", "xvda", "--yes", check=1)
        w("unbind", "1", "xvda", "--yes", "--protocol", "x86_64-abi", check=0)
        w("bind", "1", "xvda", "--yes", check=0)

    def test_initwait_under_a_connected_frontend_fails_check(self):
        w = World()
        w("unbind", "1", "xvda", "--yes", check=0)
        w("sim", "fault", "hang-connect", "1", "xvda", check=0)
        w("bind", "1", "xvda", "--yes", "--timeout", "1", check=1)
        j = w.json("check", "1", "xvda", check=1)
        self.assertIn("InitWait", " ".join(j["vbds"][0]["problems"]))

    def test_unbound_ring_is_not_called_stuck(self):
        w = World()
        w("unbind", "1", "xvda", "--yes", check=0)
        j = w.json("check", "1", "xvda", check=1)
        q = j["vbds"][0]["queues"][0]
        self.assertNotEqual(q["progress"], "stuck")
        self.assertIn("no backend bound", q["reason"])


class CrashPoints(unittest.TestCase):
    """Issue 10, repro 8: crash-after-step K kills after step K; the simulator refuses
    changes made without the lock, so a dry run that changed anything would fail."""

    def test_crash_after_unbind_has_unbound(self):
        w = World()
        w("sim", "fault", "crash-after-step", "2", check=0)
        self.assertEqual(w("upgrade-backend", "--yes").returncode, -9)
        self.assertEqual(journal(w)["step_name"], "unbind")
        self.assertFalse(any(bound_map(w).values()), "step 2 (unbind) did not run before the crash")

    def test_dry_runs_change_nothing(self):
        w = World("--guests", "0")
        before = world_bytes(w)
        w.json("upgrade-backend", "--dry-run")
        w.json("unbind", "1", "xvda", "--dry-run")
        w.json("recover", "--dry-run")
        after = world_bytes(w)
        self.assertEqual(before, after)
        self.assertIsNone(journal(w))


class CrashEveryStep(unittest.TestCase):
    """Issue 10, done-when: a crash after every journaled step, and at a random moment inside
    the steps, of every mutating command; then recover. Prints the table."""

    rows = []

    def settled(self, w, label, autoprobe_before=True):
        r = w.json("recover", "--yes")
        self.assertTrue(r["ok"], (label, r))
        healthy(self, w)  # every vbd bound; Connected frontends Connected and consistent
        self.assertEqual(autoprobe(w), autoprobe_before, label)
        self.assertIsNone(journal(w), label)
        vbds = w.vbds().values()
        CrashEveryStep.rows.append((label, r.get("op") or "-", r.get("step"),
                                    sum(v["bound"] for v in vbds), len(vbds),
                                    sum(v["frontend_state"] == 4 and v["backend_state"] == 4 for v in vbds),
                                    autoprobe(w)))

    def crash(self, w, k, *cmd):
        w("sim", "fault", "crash-after-step", str(k), check=0)
        p = w(*cmd)
        w("sim", "fault", "clear", check=0)
        return p.returncode

    def test_upgrade_backend(self):
        for k in range(1, 8):
            w = World()
            self.assertEqual(self.crash(w, k, "upgrade-backend", "--yes"), -9, k)
            self.settled(w, f"upgrade-backend, killed after step {k}")

    def test_unbind(self):
        # Step 3 only records the vbd as unbound: after it the run is over.
        for k in range(1, 3):
            w = World()
            self.assertEqual(self.crash(w, k, "unbind", "1", "xvda", "--yes"), -9, k)
            self.settled(w, f"unbind, killed after step {k}")

    def test_bind(self):
        for k in range(1, 3):
            w = World()
            w("unbind", "1", "xvda", "--yes", check=0)
            self.assertEqual(self.crash(w, k, "bind", "1", "xvda", "--yes"), -9, k)
            self.settled(w, f"bind, killed after step {k}")

    def test_rebind(self):
        for k in range(1, 5):
            w = World()
            w("unbind", "1", "xvda", "--yes", check=0)
            w("sim", "fault", "hang-connect", "1", "xvda", check=0)
            w("bind", "1", "xvda", "--yes", "--timeout", "1", check=1)
            self.assertEqual(self.crash(w, k, "rebind", "1", "xvda", "--yes"), -9, k)
            self.settled(w, f"rebind, killed after step {k}")

    def test_recover(self):
        for k in range(1, 5):
            w = World()
            self.assertEqual(self.crash(w, 4, "upgrade-backend", "--yes"), -9)  # module out
            self.assertEqual(self.crash(w, k, "recover", "--yes"), -9, k)
            self.settled(w, f"recover (of an upgrade killed after unload), killed after step {k}")

    def paced_kill(self, w, cmd, step, delay):
        """Runs cmd paced (virtual time passes for real, 10x slower) and SIGKILLs it delay
        seconds after its own journal first names step (recover's, not the one it recovers from).
        Returns where the journal says it died."""
        mine = lambda j: j.get("step_name") == step and bool(j.get("recovering")) == (cmd[0] == "recover")
        p = subprocess.Popen([test_cli.VBDCTL, "--host", w.host, *cmd],
                             env=dict(os.environ, VBDCTL_SIM_PACE="10"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seen = None
        while p.poll() is None:
            if seen is None and mine(journal(w) or {}):
                seen = time.monotonic()
            if seen is not None and time.monotonic() - seen >= delay:
                p.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        p.wait()
        j = journal(w)
        return f"{j['step_name']}{' (recovering)' if j.get('recovering') else ''}" if j else "finished"

    def test_random_moments_inside_steps(self):
        seed = int(os.environ.get("VBDCTL_CRASH_SEED", random.randrange(1 << 30)))
        rnd = random.Random(seed)
        print(f"\nrandom kills: seed {seed} (VBDCTL_CRASH_SEED={seed} repeats them)", file=sys.stderr)
        def interrupted_upgrade(w):  # killed after its unbind step: the old instances still draining
            self.assertEqual(self.crash(w, 2, "upgrade-backend", "--yes"), -9)

        def unbound(w):
            w("unbind", "1", "xvda", "--yes", check=0)

        def stuck_in_initwait(w):
            unbound(w)
            w("sim", "fault", "hang-connect", "1", "xvda", check=0)
            w("bind", "1", "xvda", "--yes", "--timeout", "1", check=1)

        runs = [(("upgrade-backend", "--yes"), None, ["unbind", "drain", "bind", "verify"]),
                (("unbind", "1", "xvdb", "--yes"), None, ["unbind", "drain"]),
                (("bind", "1", "xvda", "--yes"), unbound, ["bind"]),
                # Steps that take no virtual time cannot be killed inside: the verify steps of
                # rebind and recover only read, and recover's load is one init_module (the
                # simulator charges no time for it). test_rebind and test_recover kill right
                # after their journal names those steps.
                (("rebind", "1", "xvda", "--yes"), stuck_in_initwait, ["unbind", "drain", "bind"]),
                (("recover", "--yes"), interrupted_upgrade, ["drain", "bind"])]
        for cmd, setup, steps in runs:
            for step in steps:
                delay = rnd.uniform(0, 0.04)
                # A kill that came after the run finished tested nothing: kill sooner.
                for _ in range(6):
                    w = World()
                    w("list", check=0)
                    if setup:
                        setup(w)
                    where = self.paced_kill(w, cmd, step, delay)
                    if where != "finished":
                        break
                    delay /= 3
                self.assertNotEqual(where, "finished", (cmd, step))
                self.settled(w, f"{cmd[0]}, SIGKILL {delay * 1000:.1f} ms into step {step} (journal: {where})")

    @classmethod
    def tearDownClass(cls):
        print("\ncrash table (then `vbdctl recover`): run, recovered op/step, bound/total, "
              "Connected, autoprobe", file=sys.stderr)
        for r in cls.rows:
            print(f"  {r[0]}: recover of {r[1]} step {r[2]}: {r[3]}/{r[4]} bound, {r[5]} Connected, "
                  f"autoprobe {int(r[6])}", file=sys.stderr)


class StateFile(unittest.TestCase):
    """Issue 10: the simulator's state file is checked; `sim init` replaces a damaged one;
    a read-only command creates nothing."""

    def test_read_only_commands_create_nothing(self):
        w = World()
        for args in (["list"], ["check"], ["show", "1", "xvda"], ["sim", "fault", "list"], ["recover", "--dry-run"],
                     ["upgrade-backend", "--dry-run"], ["unbind", "1", "xvda", "--dry-run"]):
            w(*args)
            self.assertEqual(os.listdir(w.dir.name), [], args)

    def test_directory_device_and_damage(self):
        w = World()
        path = w.host[4:]
        os.makedirs(path)
        p = w("list")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("not a regular file", p.stderr)
        p = test_cli.run("list", host="sim:/dev/null")
        self.assertEqual(p.returncode, 2, p.stderr)
        os.rmdir(path)
        w("sim", "init", check=0)
        with open(path, "r+b") as f:
            f.truncate(1000)
        p = w("list", check=1)
        self.assertIn("truncated", p.stderr)
        self.assertIn("sim init", p.stderr)
        w("sim", "init", check=0)
        self.assertEqual(len(w.json("list")["vbds"]), 6)

    def test_damage_inside_each_section_is_named(self):
        # The header's sizes still match: only a section's own check can catch these.
        w = World()
        w("unbind", "1", "xvda", "--yes", check=0)
        path = w.host[4:]
        with open(path, "rb") as f:
            pristine = f.read()
        head, _, body = pristine.partition(b"\n")
        sizes = [int(n) for n in head.split()[2:]]
        starts = [sum(sizes[:k]) for k in range(len(sizes))]
        def corrupt(section, old, new):
            at = body.index(old, starts[section])
            self.assertLess(at, starts[section] + sizes[section])
            self.assertEqual(len(old), len(new))
            with open(path, "wb") as f:
                f.write(head + b"\n" + body[:at] + new + body[at + len(old):])
        for section, old, new, name in ((1, b"/local/domain/0/backend/vbd/1/51712/state\t", b"/local/domain/0/backend/vbd/1/51712/st te\t", "xenstore"),
                                        (3, b"vbd-1-51712 0 ", b"vbd-1-51712 7 ", "devices"),
                                        (4, b"1/51712/0 ", b"1/51712/0x", "rings")):
            corrupt(section, old, new)
            p = w("list", check=1)
            self.assertIn(f"its {name} section is damaged", p.stderr)
            self.assertIn("sim init", p.stderr)
        with open(path, "wb") as f:
            f.write(pristine)
        self.assertFalse(w.vbds()[(1, "xvda")]["bound"])

    def test_xenstore_refuses_paths_xenstored_refuses(self):
        w = World()
        for bad in ("/local/domain/0/a b", "/local//x", "/local/x/"):
            p = w("sim", "xs", "write", bad, "v", check=2)
            self.assertIn("invalid xenstore path", p.stderr)
        self.assertEqual(os.listdir(w.dir.name), [])


class DriverDomain(unittest.TestCase):
    """Issue 10: a driver domain (not dom0) serving 100 vbds, held to xenstored's 128-watch
    quota: reconnecting watches two root paths, not two per vbd."""

    def test_upgrade_and_rebind_in_a_driver_domain(self):
        w = World("--backend-domid", "7", "--guests", "50", "--vbds-per-guest", "2")
        vbds = w.json("list")["vbds"]
        self.assertEqual(len(vbds), 100)
        self.assertTrue(all(v["backend_domid"] == 7 for v in vbds))
        self.assertNotIn(7, {v["domid"] for v in vbds})
        j = w.json("upgrade-backend", "--yes")
        self.assertTrue(j["ok"], j.get("failure"))
        healthy(self, w)
        w("unbind", "1", "xvda", "--yes", check=0)
        w("bind", "1", "xvda", "--yes", check=0)
        self.assertEqual(w("sim", "init", "--backend-domid", "2", check=2).returncode, 2)


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--vbdctl" in args:
        i = args.index("--vbdctl")
        test_cli.VBDCTL = os.path.abspath(args[i + 1])
        del args[i:i + 2]
    unittest.main(argv=[sys.argv[0]] + args)
