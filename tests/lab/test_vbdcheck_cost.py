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
        c = vbdcheck.cost(3, ["true", TOUCH])
        self.assertEqual(list(c), ["true", TOUCH])
        self.assertGreaterEqual(c[TOUCH]["minflt"], 16384)
        self.assertLess(c["true"]["minflt"], 1000)
        self.assertGreater(c[TOUCH]["wall_s"], c["true"]["wall_s"])
        self.assertGreater(c[TOUCH]["user_s"] + c[TOUCH]["sys_s"], 0)

    def test_a_command_that_failed_has_no_figures(self):
        c = vbdcheck.cost(2, ["true", "false"])
        self.assertIsNone(c["false"])
        self.assertIsNotNone(c["true"])


if __name__ == "__main__":
    unittest.main()
