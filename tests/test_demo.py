#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The README's main job (tools/demo.py, which tools/demo runs after
installing and building): data plane, shuntd and the CNI plugin, two
veth+memif pods, ncclperf all_reduce over memif and over socket with
results checked, and nothing left behind: after a normal run, and after
Ctrl-C in the middle of one."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from shunt import check, done, require_root, sh, BUILD  # noqa: E402

require_root()
DEMO = os.path.join(os.path.dirname(__file__), "..", "tools", "demo.py")
if not os.path.exists("/usr/lib/cni/host-local"):
    print("SKIP: containernetworking-plugins (host-local) not installed")
    sys.exit(77)


def leftovers():
    ns = [n.split()[0] for n in sh(["ip", "netns", "list"]).stdout.splitlines()
          if "demo-" in n]
    links = [l for l in sh(["ip", "-o", "link"]).stdout.splitlines()
             if re.search(r"^\d+: sh[0-9a-f]{10}[@:]", l)]
    procs = sh(["pgrep", "-f", "shunt-demo-"], check=False).stdout.split()
    return ns, links, procs


before = leftovers()
t = time.time()
r = subprocess.run(["/usr/bin/python3", DEMO, "--build", BUILD, "-b", "8", "-e", "1M", "-f", "8",
                    "-w", "2", "-n", "5"], capture_output=True, text=True, timeout=300)
out = r.stdout
print(out[-3000:], r.stderr[-2000:])
check(r.returncode == 0, "the main job exits 0 (%d) in %.0f s" % (r.returncode, time.time() - t))
tables = out.split("## ncclperf all_reduce")[1:]
check(len(tables) == 2 and "transport memif" in tables[0] and "transport socket" in tables[1],
      "two ncclperf runs: memif, then socket")
for name, tab in zip(("memif", "socket"), tables):
    rows = [l for l in tab.splitlines() if re.match(r"^\s+\d+\s+\d+\s+float\s+sum", l)]
    check(len(rows) == 6 and all(l.split()[8] == "0" and l.split()[12] == "0" for l in rows),
          "%s: 6 sizes from 8 B to 256 KB, none wrong (%d rows)" % (name, len(rows)))
    check("# Out of bounds values : 0 OK" in tab, "%s: footer says 0 OK" % name)
check(re.search(r"host memory, memif @/shunt/eth0 10\.77\.0\.\d+:7470", tables[0] if tables else ""),
      "the memif ranks name their memif socket and address")
check(leftovers() == before, "nothing left after a normal run: %s" % (leftovers(),))

# Every other collective over memif (the demo runs all_reduce), results
# checked, int32 max, sizes that are not powers of two, same stack.
r = subprocess.run(["/usr/bin/python3", DEMO, "--build", BUILD, "--collectives",
                    "all_gather,reduce_scatter,alltoall,sendrecv,broadcast,reduce",
                    "--transports", "memif", "-b", "12", "-e", "3M", "-f", "17", "-w", "1",
                    "-n", "3", "-d", "int32", "-o", "max"],
                   capture_output=True, text=True, timeout=300)
runs = r.stdout.split("## ncclperf ")[1:]
print(r.stdout[-2000:], r.stderr[-2000:])
check(r.returncode == 0 and len(runs) == 6, "six more collectives over memif exit 0 (%d, %d runs)"
      % (r.returncode, len(runs)))
for tab in runs:
    name = tab.split(",")[0]
    rows = [l for l in tab.splitlines() if re.match(r"^\s+\d+\s+\d+\s+int32", l)]
    check(len(rows) == 5 and "# Out of bounds values : 0 OK" in tab,
          "%s over memif: 5 sizes from 12 B to 1002252 B (x17), none wrong (%d rows)"
          % (name, len(rows)))
check(leftovers() == before, "nothing left: %s" % (leftovers(),))

# Ctrl-C while ncclperf runs: everything goes as well.
p = subprocess.Popen(["/usr/bin/python3", DEMO, "--build", BUILD, "-b", "8", "-e", "64M", "-f", "2",
                      "-n", "50"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
seen = ""
end = time.time() + 120
while time.time() < end:
    line = p.stdout.readline()
    if not line:
        break
    seen += line
    if re.match(r"^\s+\d+\s+\d+\s+float", line):
        break
p.send_signal(signal.SIGINT)
try:
    rest, _ = p.communicate(timeout=60)
except subprocess.TimeoutExpired:
    p.kill()
    rest = p.communicate()[0]
check("transport memif" in seen, "the interrupted run had started ncclperf")
check(p.returncode != 0, "Ctrl-C: the main job exits non-zero (%s)" % p.returncode)
time.sleep(1)
check(leftovers() == before, "nothing left after Ctrl-C: %s" % (leftovers(),))
done()
