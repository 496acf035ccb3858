#!/usr/bin/env python3
"""vbdcheck.py cost: medians of what the kernel counted for each command, commands in turns."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "dom0"))
import vbdcheck  # noqa: E402

# Writes one byte into each page of 64 MiB: at least 16384 page faults.
TOUCH = f"{sys.executable} -c \"b = bytearray(64 << 20); b[::4096] = bytes(16384)\""


class Cost(unittest.TestCase):
    def test_faults_and_time_are_the_childs(self):
        c = vbdcheck.cost(3, [TOUCH, "true"])
        m = c["medians"]
        self.assertEqual(list(m), [TOUCH, "true"])
        self.assertGreaterEqual(m[TOUCH]["minflt"], 16384)
        self.assertLess(m["true"]["minflt"], 1000)
        self.assertGreater(m[TOUCH]["wall_s"], m["true"]["wall_s"])
        # CPU is user + system within a round (medians over rounds need not add up: one round).
        one = vbdcheck.cost(1, [TOUCH])["medians"][TOUCH]
        self.assertAlmostEqual(one["cpu_s"], one["user_s"] + one["sys_s"], delta=0.0002)
        self.assertGreater(one["cpu_s"], 0)
        # 16384 faults and 64 MiB zeroed take longer than exec'ing true, round after round.
        self.assertEqual(list(c["first_over"]), ["true"])
        self.assertGreater(c["first_over"]["true"]["wall"], 1)

    def test_a_command_that_failed_has_no_figures(self):
        c = vbdcheck.cost(2, ["true", "false"])
        self.assertIsNone(c["medians"]["false"])
        self.assertIsNone(c["first_over"]["false"])
        self.assertIsNotNone(c["medians"]["true"])


if __name__ == "__main__":
    unittest.main()
