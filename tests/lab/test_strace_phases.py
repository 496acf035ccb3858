#!/usr/bin/env python3
"""strace_phases.py charges each syscall, and the time before it, to what it works on."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import strace_phases  # noqa: E402

# A shortened `strace -f -ttt -T` of `vbdctl list` in dom0: exec and its libraries, the
# adapters module, a xenstore request, a sysfs read, a grant mapped and unmapped, output, exit.
TRACE = """\
700  100.000000 execve("/usr/bin/vbdctl", ["vbdctl", "list"], 0x7ffc /* 9 vars */) = 0 <0.010000>
700  100.020000 openat(AT_FDCWD, "/lib/x86_64-linux-gnu/libstdc++.so.6", O_RDONLY|O_CLOEXEC) = 3 <0.001000>
700  100.030000 newfstatat(3, "", {st_mode=S_IFREG|0644, st_size=2190440, ...}, AT_EMPTY_PATH) = 0 <0.001000>
700  100.040000 mmap(NULL, 2196528, PROT_READ, MAP_PRIVATE|MAP_DENYWRITE, 3, 0) = 0x7f00 <0.005000>
700  100.050000 close(3)                = 0 <0.001000>
700  100.100000 getrandom("\\xa7", 8, GRND_NONBLOCK) = 8 <0.001000>
700  100.200000 openat(AT_FDCWD, "/usr/lib/x86_64-linux-gnu/vbdctl/local.so", O_RDONLY|O_CLOEXEC) = 3 <0.001000>
700  100.210000 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 3, 0) = 0x7f01 <0.001000>
700  100.220000 close(3)                = 0 <0.001000>
700  100.230000 openat(AT_FDCWD, "/lib/x86_64-linux-gnu/libxenlight.so.4.17", O_RDONLY|O_CLOEXEC) = 3 <0.001000>
700  100.300000 prctl(PR_CAPBSET_READ, CAP_MAC_OVERRIDE) = 1 <0.001000>
700  100.400000 socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0) = 4 <0.001000>
700  100.410000 connect(4, {sa_family=AF_UNIX, sun_path="/run/xenstored/socket"}, 110) = 0 <0.001000>
700  100.420000 write(4, "\\1\\0", 16) = 16 <0.001000>
700  100.430000 read(4, "\\1\\0", 16) = 16 <0.009000>
700  100.500000 openat(AT_FDCWD, "/sys/bus/xen-backend/devices/vbd-1-51728/state", O_RDONLY) = 5 <0.001000>
700  100.510000 read(5, "4\\n", 4096) = 2 <0.001000>
700  100.520000 close(5)                = 0 <0.001000>
700  100.600000 openat(AT_FDCWD, "/dev/xen/gntdev", O_RDWR|O_CLOEXEC) = 6 <0.001000>
700  100.610000 ioctl(6, _IOC(_IOC_NONE, 0x47, 0, 0x18), 0x7ffd) = 0 <0.001000>
700  100.620000 mmap(NULL, 4096, PROT_READ, MAP_SHARED, 6, 0) = 0x7f02 <0.050000>
700  100.680000 munmap(0x7f02, 4096)    = 0 <0.020000>
700  100.710000 write(1, "DOMID NAME", 10) = 10 <0.001000>
700  100.720000 exit_group(0)           = ?
700  100.900000 +++ exited with 0 +++
"""


class Phases(unittest.TestCase):
    def setUp(self):
        self.a = strace_phases.analyse(TRACE.splitlines(keepends=True))
        self.c = self.a["categories"]

    def ms(self, cat):
        return self.c[cat]["ms"]

    def test_total_runs_from_exec_to_the_end(self):
        self.assertAlmostEqual(self.a["total_ms"], 900.0, places=1)

    def test_every_millisecond_is_charged_once(self):
        self.assertAlmostEqual(sum(v["ms"] for v in self.c.values()), self.a["total_ms"], delta=0.5)

    def test_libraries_at_exec_until_main(self):
        # execve 10; libstdc++'s open 10 + 1, fstat 9 + 1, mmap 9 + 5, close 5 + 1
        self.assertAlmostEqual(self.ms("libraries at exec"), 51.0, places=1)
        self.assertAlmostEqual(self.ms("process start"), 50.0, places=1)  # 49 + getrandom's 1

    def test_the_adapters_module_holds_its_libraries_and_constructors(self):
        # local.so 100, its mmap 10 and close 10, libxenlight 10, a constructor's prctl 70,
        # the socket() before its connect says what it is for 100
        self.assertAlmostEqual(self.ms("adapters module (dlopen)"), 300.0, places=1)

    def test_xenstore_by_its_socket(self):
        self.assertEqual(self.c["xenstore"]["calls"], 3)
        self.assertAlmostEqual(self.ms("xenstore"), 38.0, places=1)  # 10 + 10 + (1 + 9 + 8)

    def test_sysfs_grants_output_and_exit(self):
        self.assertAlmostEqual(self.ms("sysfs"), 82.0, places=1)  # 62 + 10 + 10
        # the anonymous munmap of the mapped grant stays with the grant
        self.assertEqual(self.c["grant mapping"]["calls"], 4)
        self.assertAlmostEqual(self.ms("grant mapping"), 179.0, places=1)  # 80 + 10 + 59 + 30
        self.assertAlmostEqual(self.ms("output"), 11.0, places=1)
        self.assertAlmostEqual(self.ms("exit"), 189.0, places=1)  # 9 + 180 to the end

    def test_unfinished_and_resumed_calls_join(self):
        lines = [
            '701  5.000000 execve("/usr/sbin/xl", ["xl"], 0x1 /* 1 vars */) = 0 <0.001000>\n',
            '701  5.100000 openat(AT_FDCWD, "/dev/xen/privcmd", O_RDWR) = 3 <0.001000>\n',
            '701  5.200000 ioctl(3, IOCTL_PRIVCMD_HYPERCALL <unfinished ...>\n',
            '702  5.250000 read(9, "", 1) = 0 <0.001000>\n',
            '701  5.300000 <... ioctl resumed>, 0x7ffd) = 0 <0.100000>\n',
            '701  5.400000 exit_group(0) = ?\n',
            '701  5.500000 +++ exited with 0 +++\n',
        ]
        c = strace_phases.analyse(lines)["categories"]
        self.assertEqual(c["hypercalls"]["calls"], 2)
        # privcmd's open 99 + 1; the ioctl from its start: 99 before it, 100 in it
        self.assertAlmostEqual(c["hypercalls"]["ms"], 299.0, places=1)


if __name__ == "__main__":
    unittest.main()
