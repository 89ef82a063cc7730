#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""ncclperf (tools/ncclperf): every collective x type x op against the
serial reference for 1 to 8 ranks on 127.0.0.1; the nccl-tests output
layout and the -J JSON; a rank SIGKILLed mid-run; bootstrap timeouts;
wrong results (the NCCLPERF_TEST_CORRUPT hook) giving a non-zero exit;
and the launcher running ranks in two network namespaces joined by a veth
pair (root only; skipped otherwise).

NCCLPERF_TEST_QUICK=1 runs fewer rank counts; NCCLPERF_TEST_ONLY=format,kill
runs only those parts (wrong, format, kill, netns, correctness)."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from shunt import BUILD, RUN_ID, at_exit, check, done, sh  # noqa: E402

NCCLPERF = os.path.join(BUILD, "tools", "ncclperf", "ncclperf")
COLLS = ["all_reduce", "all_gather", "reduce_scatter", "alltoall", "sendrecv", "broadcast", "reduce"]
REDUCING = {"all_reduce", "reduce_scatter", "reduce", "sendrecv"}   # loop over -o (nccl-tests)
ROOTED = {"broadcast", "reduce"}
NTYPES, NOPS = 8, 4
BUSBW = {"all_reduce": lambda n: 2 * (n - 1) / n, "all_gather": lambda n: (n - 1) / n,
         "reduce_scatter": lambda n: (n - 1) / n, "alltoall": lambda n: (n - 1) / n,
         "sendrecv": lambda n: 1, "broadcast": lambda n: 1, "reduce": lambda n: 1}

# The nccl-tests layout, restated: a row is size (12 wide), count (12),
# type (8), redop (6), root (6), then for out-of-place and in-place: time
# (7), algbw (6), busbw (6), #wrong (6); every field right-aligned and
# separated by two spaces.
ROW_WIDTHS = [12, 12, 8, 6, 6] + [7, 6, 6, 6] * 2
HDR_NAMES = ["size", "count", "type", "redop", "root"] + ["time", "algbw", "busbw", "#wrong"] * 2
HDR_UNITS = ["(B)", "(elements)", "", "", ""] + ["(us)", "(GB/s)", "(GB/s)", ""] * 2
NUM = re.compile(r"^(\d+(\.\d+)?|\d\.\de[+-]\d+|\de[+-]\d+)$")


def fixed(fields, widths):
    return "  ".join(f.rjust(w) for f, w in zip(fields, widths))


def parse_row(line):
    """The fields of a result row, or None when the widths are not the layout's."""
    # nccl-tests' quirk: an unchecked #wrong prints as "    N/A", one short
    line = line.replace("    N/A", "     N/A")
    if len(line) != sum(ROW_WIDTHS) + 2 * (len(ROW_WIDTHS) - 1):
        return None
    out, pos = [], 0
    for i, w in enumerate(ROW_WIDTHS):
        if i:
            if line[pos:pos + 2] != "  ":
                return None
            pos += 2
        f = line[pos:pos + w]
        if not f.strip() or f != f.strip().rjust(w):
            return None
        out.append(f.strip())
        pos += w
    return out


def run(args, timeout=300, env=None, **kw):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([NCCLPERF] + args, capture_output=True, text=True,
                          timeout=timeout, env=e, **kw)


def rows_of(out):
    return [parse_row(l) for l in out.splitlines() if l and not l.startswith("#")]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def test_correctness():
    quick = os.environ.get("NCCLPERF_TEST_QUICK")
    ranks = [1, 2, 3, 5, 8] if quick else range(1, 9)
    for coll in COLLS:
        for n in ranks:
            args = [coll, "--np", str(n), "--counts", "1,7,1003", "-d", "all", "-n", "1", "-w", "0"]
            if coll in REDUCING:
                args += ["-o", "all"]
            if coll in ROOTED:
                args += ["-r", "-1"]
            r = run(args)
            rows = rows_of(r.stdout)
            want = 3 * NTYPES * (NOPS if coll in REDUCING else 1) * (n if coll in ROOTED else 1)
            good = (r.returncode == 0 and len(rows) == want and all(rows) and
                    all(x[8] == "0" and x[12] == "0" for x in rows) and
                    "# Out of bounds values : 0 OK" in r.stdout)
            check(good, "%s, %d rank(s): %d rows (types x ops x roots x counts 1,7,1003), none wrong"
                  % (coll, n, want))
            if not good:
                print(r.stdout[-3000:], r.stderr[-2000:])
        # large odd counts, every rank count that does not divide them
        for n in (3, 7):
            for d, o in (("float", "sum"), ("int8", "prod"), ("int64", "max"), ("double", "min")):
                args = [coll, "--np", str(n), "--counts", "1000003", "-d", d, "-o", o,
                        "-n", "1", "-w", "0", "-r", str(n - 1)]
                r = run(args)
                rows = rows_of(r.stdout)
                check(r.returncode == 0 and len(rows) == 1 and rows[0] and rows[0][8] == "0"
                      and rows[0][12] == "0",
                      "%s, %d ranks, 1000003 %s %s: correct" % (coll, n, d, o))
                if r.returncode:
                    print(r.stderr[-2000:])


def test_format():
    tmp = tempfile.mkdtemp(prefix="ncclperf-")
    at_exit(lambda: sh(["rm", "-rf", tmp], check=False))
    n = 3
    for coll in COLLS:
        js = os.path.join(tmp, coll + ".json")
        r = run([coll, "--np", str(n), "-b", "8", "-e", "1M", "-f", "4", "-J", js])
        lines = r.stdout.splitlines()
        check(r.returncode == 0, "%s: 3 ranks, -b 8 -e 1M -f 4 -J: exit 0" % coll)
        if r.returncode:
            print(r.stdout, r.stderr)
            continue
        check("# Collective test starting: %s_perf" % coll in lines, "%s: 'Collective test starting'" % coll)
        check(any(re.fullmatch(r"# nThread 1 nGpus 1 minBytes 8 maxBytes 1048576 step: 4\(factor\) "
                               r"warmup iters: 1 iters: 20 agg iters: 1 validation: 1 graph: 0"
                               r"( unalign: 0)?", l) for l in lines), "%s: parameter line" % coll)
        i = lines.index("# Using devices") if "# Using devices" in lines else -1
        devs = lines[i + 1:i + 1 + n] if i >= 0 else []
        check(len(devs) == n and all(re.fullmatch(
            r"#  Rank +%d Group +0 Pid +\d+ on +\S+ device +-1 \[netns [^\]]+\] host memory, "
            r"socket 127\.0\.0\.1:\d+" % k, l) for k, l in enumerate(devs)),
            "%s: one device line per rank (host memory, netns, transport)" % coll)
        hdr = "# " + fixed(HDR_NAMES, [10] + ROW_WIDTHS[1:]) + " "
        units = "# " + fixed(HDR_UNITS, [10] + ROW_WIDTHS[1:]) + " "
        check(hdr in lines and units in lines, "%s: two-line column header" % coll)
        check(any(re.fullmatch(r"# +out-of-place +in-place +", l) for l in lines),
              "%s: out-of-place / in-place banner" % coll)
        rows = rows_of(r.stdout)
        check(rows and all(rows), "%s: every row has the column widths" % coll)
        if not rows or not all(rows):
            print(r.stdout)
            continue
        sizes = [int(x[0]) for x in rows]
        check(all(NUM.match(f) for x in rows for f in x[5:8] + x[9:12]), "%s: numbers in time/algbw/busbw" % coll)
        ok_footer = [l for l in lines if re.fullmatch(r"# Out of bounds values : \d+ (OK|FAILED)", l)]
        avg = [l for l in lines if re.fullmatch(r"# Avg bus bandwidth    : [0-9.e+-]+ ", l)]
        check(ok_footer == ["# Out of bounds values : 0 OK"] and len(avg) == 1, "%s: footer" % coll)

        d = json.load(open(js))
        res = d.get("results", [])
        check(d.get("version") == 3 and d["config"]["nthreads"] == 1 and d["config"]["ngpus"] == 1
              and d["config"]["minimum_bytes"] == 8 and d["config"]["maximum_bytes"] == 1048576
              and d["config"]["step_factor"] == 4 and d["config"]["iterations"] == 20
              and len(d["config"]["devices"]) == n,
              "%s: JSON parameters" % coll)
        check([x["size"] for x in res] == sizes and [x["count"] for x in res] == [int(x[1]) for x in rows],
              "%s: JSON has every row" % coll)
        f = BUSBW[coll](n)
        ratios = [x[p]["bus_bw"] / x[p]["alg_bw"] for x in res for p in ("out_of_place", "in_place")
                  if x[p]["alg_bw"] > 0]
        check(ratios and all(abs(q - f) < 1e-9 for q in ratios), "%s: busbw = algbw x %.4f" % (coll, f))
        algs = [(x[p]["alg_bw"], x["size"] / 1e3 / x[p]["time"]) for x in res
                for p in ("out_of_place", "in_place") if x[p]["time"] > 0]
        check(all(abs(a - b) <= 1e-9 * max(1, b) for a, b in algs), "%s: algbw = size / time" % coll)
        bws = [x[p]["bus_bw"] for x in res for p in ("out_of_place", "in_place")]
        footer_bw = float(avg[0].split(":")[1])
        check(abs(footer_bw - sum(bws) / len(bws)) <= 1e-5 * max(1, footer_bw),
              "%s: 'Avg bus bandwidth' is the mean busbw of all rows" % coll)
        check(d["out_of_bounds"] == {"count": 0, "okay": True}, "%s: JSON out_of_bounds" % coll)
        check(all(x[p]["nwrong"] == 0 for x in res for p in ("out_of_place", "in_place")),
              "%s: JSON nwrong 0" % coll)
    plot = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "ncclperf", "ncclperf-plot")
    if subprocess.run(["/usr/bin/python3", "-c", "import matplotlib"], capture_output=True).returncode == 0:
        svg = os.path.join(tmp, "busbw.svg")
        r = subprocess.run([plot, "-o", svg] + [os.path.join(tmp, c + ".json") for c in COLLS[:3]],
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0 and "<svg" in open(svg).read(), "ncclperf-plot draws 3 JSON files to SVG")
    else:
        print("SKIP: ncclperf-plot (no python3-matplotlib)")
    r = run(["all_reduce", "--np", "2", "-b", "8", "-e", "64", "-f", "2", "-c", "0"])
    rows = rows_of(r.stdout)
    check(r.returncode == 0 and rows and all(x and x[8] == "N/A" and x[12] == "N/A" for x in rows),
          "-c 0: #wrong is N/A")
    link = os.path.join(tmp, "all_gather_perf")
    os.symlink(NCCLPERF, link)
    r = subprocess.run([link, "--np", "2", "-b", "1K", "-e", "1K"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and "# Collective test starting: all_gather_perf" in r.stdout,
          "the program name all_gather_perf selects the collective")


def test_wrong():
    tmp = tempfile.mkdtemp(prefix="ncclperf-")
    at_exit(lambda: sh(["rm", "-rf", tmp], check=False))
    js = os.path.join(tmp, "w.json")
    r = run(["all_reduce", "--np", "3", "-b", "1K", "-e", "4K", "-f", "2", "-J", js],
            env={"NCCLPERF_TEST_CORRUPT": "1"})
    rows = rows_of(r.stdout)
    check(r.returncode == 1, "one corrupted element on rank 1: exit 1 (got %d)" % r.returncode)
    check(rows and all(x and x[8] == "1" and x[12] == "1" for x in rows), "#wrong is 1 in every row")
    check("# Out of bounds values : %d FAILED" % (2 * len(rows)) in r.stdout, "footer says FAILED")
    d = json.load(open(js))
    check(d["out_of_bounds"]["okay"] is False, "JSON out_of_bounds not okay")
    r = run(["reduce_scatter", "--np", "4", "-b", "4K", "-e", "4K", "-o", "max"],
            env={"NCCLPERF_TEST_CORRUPT": "3"})
    check(r.returncode == 1 and "FAILED" in r.stdout, "reduce_scatter, rank 3 corrupted: exit 1")


def wait_exit(procs, limit):
    t0 = time.time()
    for p in procs:
        try:
            p.wait(timeout=max(0.1, limit - (time.time() - t0)))
        except subprocess.TimeoutExpired:
            pass
    return time.time() - t0


def test_kill():
    # ranks started by hand (no launcher): the survivors must notice alone
    for coll, victim in (("all_reduce", 1), ("broadcast", 2), ("alltoall", 0)):
        port = free_port()
        procs = [subprocess.Popen([NCCLPERF, coll, "--rank", str(r), "--nranks", "4",
                                   "--root", "127.0.0.1:%d" % port, "-b", "32M", "-e", "32M",
                                   "-n", "100000", "-w", "0"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for r in range(4)]
        at_exit(lambda ps=procs: [p.kill() for p in ps if p.poll() is None])
        time.sleep(2.5)
        alive = all(p.poll() is None for p in procs)
        procs[victim].send_signal(signal.SIGKILL)
        others = [p for r, p in enumerate(procs) if r != victim]
        took = wait_exit(others, 20)
        codes = [p.poll() for p in others]
        errs = [p.stderr.read() for p in others]
        check(alive and all(c is not None and c != 0 for c in codes),
              "%s: rank %d SIGKILLed mid-run, the other 3 exit non-zero in %.1f s (%s)"
              % (coll, victim, took, codes))
        check(all(re.search(r"\brank %d\b" % victim, e) for e in errs),
              "%s: each survivor's error names rank %d" % (coll, victim))
        if not all(re.search(r"\brank %d\b" % victim, e) for e in errs):
            print(errs)
    # through the launcher: its status is non-zero and it names the rank
    p = subprocess.Popen([NCCLPERF, "all_reduce", "--np", "3", "-b", "32M", "-e", "32M", "-n", "100000"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    at_exit(lambda: p.poll() is None and p.kill())
    time.sleep(2.5)
    kids = [int(x) for x in sh(["pgrep", "-P", str(p.pid)], check=False).stdout.split()]
    check(len(kids) == 3, "launcher: 3 ranks running")
    rank1 = [k for k in kids if "--rank\x001\x00" in open("/proc/%d/cmdline" % k).read()]
    if rank1:
        os.kill(rank1[0], signal.SIGKILL)
    took = wait_exit([p], 30)
    err = p.stderr.read() if p.poll() is not None else ""
    check(p.poll() not in (None, 0) and "rank 1" in err,
          "launcher: rank 1 killed, exit %s in %.1f s, error names rank 1" % (p.poll(), took))
    # bootstrap timeouts: nobody at the root, a rank that never comes
    port = free_port()
    t0 = time.time()
    r = run(["all_reduce", "--rank", "1", "--nranks", "2", "--root", "127.0.0.1:%d" % port,
             "--timeout", "2"], timeout=30)
    check(r.returncode != 0 and "cannot reach the root" in r.stderr and time.time() - t0 < 10,
          "rank 1 without a root: error after --timeout 2 (%.1f s)" % (time.time() - t0))
    t0 = time.time()
    r = run(["all_reduce", "--rank", "0", "--nranks", "3", "--root", "127.0.0.1:%d" % port,
             "--timeout", "2"], timeout=30)
    check(r.returncode != 0 and "did not connect" in r.stderr and time.time() - t0 < 10,
          "root without its ranks: error after --timeout 2 (%.1f s)" % (time.time() - t0))


def test_netns():
    if os.geteuid() != 0:
        print("SKIP: netns launcher test needs root")
        return
    a, b = "npf-%s-a" % RUN_ID, "npf-%s-b" % RUN_ID
    va, vb = "npf%sa" % RUN_ID, "npf%sb" % RUN_ID
    for ns in (a, b):
        sh(["ip", "netns", "add", ns])
        at_exit(lambda ns=ns: sh(["ip", "netns", "del", ns], check=False))
    sh(["ip", "link", "add", va, "type", "veth", "peer", "name", vb])
    sh(["ip", "link", "set", va, "netns", a])
    sh(["ip", "link", "set", vb, "netns", b])
    for ns, dev, ip in ((a, va, "10.199.0.1"), (b, vb, "10.199.0.2")):
        sh(["ip", "-n", ns, "addr", "add", ip + "/24", "dev", dev])
        sh(["ip", "-n", ns, "link", "set", dev, "up"])
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])
    r = run(["all_reduce", "--pod", "netns=" + a, "--pod", "netns=%s,sockbuf=2097152" % b,
             "-b", "8", "-e", "4M", "-f", "4"], timeout=120)
    rows = rows_of(r.stdout)
    check(r.returncode == 0 and len(rows) == 10 and all(x and x[8] == "0" and x[12] == "0" for x in rows),
          "launcher: all_reduce between two netns over a veth pair, 10 rows correct")
    check(re.search(r"#  Rank +0 .*\[netns %s\] host memory, socket 10\.199\.0\.1:\d+" % a, r.stdout) and
          re.search(r"#  Rank +1 .*\[netns %s\] host memory, socket 10\.199\.0\.2:\d+" % b, r.stdout),
          "device lines: each rank in its netns, on its veth address")
    if r.returncode:
        print(r.stdout, r.stderr)
    # killing the launcher kills the ranks
    p = subprocess.Popen([NCCLPERF, "all_reduce", "--pod", "netns=" + a, "--pod", "netns=" + b,
                          "-b", "32M", "-e", "32M", "-n", "100000"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.5)
    kids = sh(["pgrep", "-f", "--", "--netns-name %s" % b], check=False).stdout.split()
    p.kill()
    p.wait()
    t0 = time.time()
    while time.time() - t0 < 5 and sh(["pgrep", "-f", "--", "--netns-name npf-%s" % RUN_ID], check=False).stdout:
        time.sleep(0.1)
    check(kids and not sh(["pgrep", "-f", "--", "--netns-name npf-%s" % RUN_ID], check=False).stdout,
          "SIGKILL of the launcher takes its ranks with it")
    r = run(["all_reduce", "--pod", "netns=npf-%s-missing" % RUN_ID, "--pod", "netns=" + b,
             "--root", "10.199.0.2:%d" % free_port(), "--timeout", "3", "-b", "8", "-e", "8"], timeout=60)
    check(r.returncode != 0 and "cannot enter netns" in r.stderr, "a missing netns fails the run")


if not os.access(NCCLPERF, os.X_OK):
    print("SKIP: %s not built" % NCCLPERF)
    sys.exit(77)
ONLY = os.environ.get("NCCLPERF_TEST_ONLY", "wrong,format,kill,netns,correctness").split(",")
for name in ONLY:
    globals()["test_" + name]()
done()
