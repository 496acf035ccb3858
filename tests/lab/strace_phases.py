#!/usr/bin/env python3
"""Where a command's time went, from `strace -f -ttt -T -o FILE CMD` (smoke's profile/*.strace).

Every syscall, and the user time since the previous one ended, is charged to what it works
on: the shared libraries mapped at exec, the rest of the process start (the C++ runtime,
parsing the command line), vbdctl's adapters (vbdctl/local.so and the parts it loads on
first use, with the libraries they pull in and their constructors), xenstore (its socket or /dev/xen/xenbus), sysfs, grant mapping (/dev/xen/gntdev),
hypercalls (/dev/xen/privcmd), output, the exit (exit_group to the process's end) or
other. A syscall on no file (an anonymous mmap, brk, munmap) goes where the last one went;
one on no known file before the first xenstore, sysfs, grant, hypercall or output syscall
is start-up.

  strace_phases.py FILE...          one table per file
  strace_phases.py --json FILE...   {file: {total_ms, categories: {name: {ms, calls}}}}
"""
import json
import re
import sys

LINE = re.compile(r"^(?:(\d+)\s+)?(\d+\.\d+) (.*)$")
CALL = re.compile(r"^(\w+)\((.*)\)\s+= (-?\d+|\?|0x[0-9a-f]+)(?: [A-Z]\w*.*?)?(?: <(\d+\.\d+)>)?$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)\)\s+= (-?\d+|\?|0x[0-9a-f]+).*?(?: <(\d+\.\d+)>)?$")
UNFINISHED = re.compile(r"^(\w+)\((.*) <unfinished \.\.\.>$")
PATH = re.compile(r'"([^"]*)"')
FD_FIRST = re.compile(r"^(-?\d+)")

WORK = ("xenstore", "sysfs", "grant mapping", "hypercalls", "output")
ORDER = ["libraries at exec", "process start", "adapters module (dlopen)", "xenstore", "sysfs", "grant mapping",
         "hypercalls", "procfs", "output", "other", "exit"]


def category_of_path(path, after_module):
    if path.endswith("vbdctl/local.so"):
        return "adapters module (dlopen)"
    if path == "/etc/ld.so.cache" or re.search(r"\.so(\.[\d.]+)?$", path):
        return "adapters module (dlopen)" if after_module else "libraries at exec"
    if path.startswith(("/run/xenstored", "/var/run/xenstored")) or path in ("/dev/xen/xenbus", "/proc/xen/xenbus"):
        return "xenstore"
    if path.startswith("/dev/xen/gntdev"):
        return "grant mapping"
    if path.startswith(("/dev/xen/privcmd", "/dev/xen/hypercall", "/dev/xen/evtchn", "/proc/xen/privcmd")):
        return "hypercalls"
    if path.startswith("/sys/"):
        return "sysfs"
    if path.startswith("/proc/"):
        return "procfs"
    return None


def analyse(lines):
    """{total_ms, categories: {name: {ms, calls}}} of one strace -f -ttt -T output."""
    fds = {}            # (pid, fd) -> category
    last = {}           # pid -> category of the last classified syscall
    prev_end = {}       # pid -> when its previous syscall ended
    pending = {}        # pid -> (name, args, start) of an unfinished syscall
    after_module = False
    working = False     # a syscall of WORK was seen: start-up is over
    cats = {}
    first = end = None

    def charge(cat, ms):
        c = cats.setdefault(cat, {"ms": 0.0, "calls": 0})
        c["ms"] += ms
        c["calls"] += 1

    for raw in lines:
        m = LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        pid, t, rest = m.group(1) or "0", float(m.group(2)), m.group(3)
        first = t if first is None else first
        if rest.startswith("+++ exited") or rest.startswith("+++ killed"):
            if pid in prev_end:
                charge("exit", (t - prev_end[pid]) * 1000)
                prev_end[pid] = t
            end = t
            continue
        if rest.startswith("---"):  # a signal
            continue
        u = UNFINISHED.match(rest)
        if u:
            pending[pid] = (u.group(1), u.group(2), t)
            continue
        r = RESUMED.match(rest)
        if r:
            name, args0, start = pending.pop(pid, (r.group(1), "", t))
            args, ret, dur = args0 + r.group(2), r.group(3), r.group(4)
            t = start
        else:
            c = CALL.match(rest)
            if not c:
                continue
            name, args, ret, dur = c.group(1), c.group(2), c.group(3), c.group(4)
        d = float(dur) if dur else 0.0
        gap = t - prev_end.get(pid, t)
        cat = None
        if name == "exit_group":
            cat = "exit"
        elif name in ("execve",):
            cat = "libraries at exec"
        elif name in ("openat", "open", "stat", "newfstatat", "access", "readlink", "readlinkat",
                      "statx", "lstat", "faccessat", "faccessat2", "mkdir", "unlink", "rename"):
            p = PATH.search(args)
            if p and not p.group(1) and (fd := FD_FIRST.match(args)):
                cat = fds.get((pid, int(fd.group(1))))  # fstat of an open file
            elif p:
                cat = category_of_path(p.group(1), after_module)
                if p.group(1).endswith("vbdctl/local.so"):
                    after_module = True
                if name in ("openat", "open") and ret.isdigit():
                    fds[(pid, int(ret))] = cat or "other"
        elif name == "socket" and ret.isdigit():
            fds[(pid, int(ret))] = "other"
            cat = last.get(pid, "other")
        elif name == "connect":
            fd, p = FD_FIRST.match(args), PATH.search(args)
            if fd and p:
                fds[(pid, int(fd.group(1)))] = category_of_path(p.group(1), after_module) or "other"
                cat = fds[(pid, int(fd.group(1)))]
        elif name == "mmap":
            parts = [a.strip() for a in args.split(",")]
            if len(parts) >= 5 and parts[4].lstrip("-").isdigit() and int(parts[4]) >= 0:
                cat = fds.get((pid, int(parts[4])))
        if cat is None:
            fd = FD_FIRST.match(args)
            if fd and name not in ("mmap", "munmap", "brk", "mprotect", "madvise", "mremap"):
                n = int(fd.group(1))
                cat = "output" if n in (1, 2) and name in ("write", "writev") else fds.get((pid, n))
        if name == "close" and (m2 := FD_FIRST.match(args)):
            fds.pop((pid, int(m2.group(1))), None)
        if cat is None and not working and name not in ("mmap", "munmap", "brk", "mprotect"):
            cat = "adapters module (dlopen)" if after_module else "process start"
        cat = cat or (last.get(pid, "libraries at exec") if name in ("mmap", "munmap", "brk", "mprotect")
                      else "other")
        working = working or cat in WORK
        if name == "clone" or name == "clone3":
            if ret.isdigit():
                prev_end[ret] = t + d
                last[ret] = cat
        charge(cat, (gap + d) * 1000)
        last[pid] = cat
        prev_end[pid] = t + d
        end = max(end or t, t + d)
    total = ((end or 0) - (first or 0)) * 1000
    return {"total_ms": round(total, 1),
            "categories": {k: {"ms": round(v["ms"], 1), "calls": v["calls"]}
                           for k, v in sorted(cats.items(), key=lambda kv: ORDER.index(kv[0]))}}


def table(name, a):
    out = [f"{name}: {a['total_ms']:.0f} ms under strace"]
    for k, v in a["categories"].items():
        share = 100 * v["ms"] / a["total_ms"] if a["total_ms"] else 0
        out.append(f"  {k:<26} {v['ms']:9.1f} ms {share:5.1f} %  {v['calls']:6d} syscalls")
    return "\n".join(out)


def main(argv):
    as_json = "--json" in argv
    files = [a for a in argv if a != "--json"]
    if not files:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    results = {}
    for f in files:
        try:
            with open(f) as fh:
                results[f] = analyse(fh)
        except OSError as e:
            print(f"strace_phases: {e}", file=sys.stderr)
            return 2
    if as_json:
        json.dump(results, sys.stdout, indent=1)
        print()
    else:
        print("\n\n".join(table(f, a) for f, a in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
