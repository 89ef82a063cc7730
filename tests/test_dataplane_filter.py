#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""eBPF filters through the whole data plane: two pods, the shipped ACL
denies a UDP port (seen on both sides), rules changed without a reload, a
default-deny policy that still lets the pod reach its gateway, the
policer, the example filter, chains replaced under traffic, bad input."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from shunt import DataPlane, Pod, CtlError, check, done, require_root, BUILD  # noqa: E402

require_root()
FILTERS = os.path.join(BUILD, "ebpf")
if not os.path.exists(os.path.join(FILTERS, "acl.o")):
    print("SKIP: filters not built (clang missing?)")
    sys.exit(77)
dp = DataPlane("filter").start()
a = Pod(1, "10.54.0.2", "fd54::2")
b = Pod(2, "10.54.0.3", "fd54::3")
for p in (a, b):
    dp.call("port.add", name="pod%d" % p.idx, kind="veth", ifname=p.veth(), mode="af_packet",
            pod=p.port_params())
for name in ("acl", "policer", "observe", "example"):
    r = dp.call("filter.load", name=name, path=os.path.join(FILTERS, name + ".o"))
    check(r["jit"], "%s loaded and JIT-compiled (%d insns)" % (name, r["insns"]))

RECV = ("import socket,sys,select\n"
        "s=socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.bind((sys.argv[1], int(sys.argv[2]))); n=0\n"
        "while select.select([s],[],[],1.5)[0]: s.recv(2000); n+=1\n"
        "print(n)\n")
SEND = ("import socket,sys,time\n"
        "s=socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)\n"
        "len(sys.argv) > 5 and s.bind(('', int(sys.argv[5])))\n"
        "for i in range(int(sys.argv[3])):\n"
        "    s.sendto(b'x'*int(sys.argv[4]), (sys.argv[1], int(sys.argv[2]))); time.sleep(0.002)\n")


def udp(dst, port, count=20, size=100, src=a, rcv=b, sport=0):
    r = rcv.popen(["python3", "-c", RECV, dst, str(port)], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    src.exec("python3 -c \"%s\" %s %d %d %d %d" % (SEND.replace('"', '\\"'), dst, port, count,
                                                   size, sport))
    out, _ = r.communicate(timeout=30)
    return int(out.strip() or 0)


check(udp("10.54.0.3", 5000) == 20, "no filter: UDP to port 5000 arrives")

acl = {"default": "allow", "rules": [{"action": "deny", "proto": 17, "dport": 5000}]}
dp.call("filter.attach", port="pod2", dir="to_pod", filters=[{"filter": "acl", "rules": acl}])
got5000, got5001 = udp("10.54.0.3", 5000), udp("10.54.0.3", 5001)
check(got5000 == 0, "ACL on pod2 (to_pod) denies UDP 5000: %d received" % got5000)
check(got5001 == 20, "and lets UDP 5001 through: %d received" % got5001)
check(udp("fd54::3", 5001) == 20 and udp("fd54::3", 5000) == 0, "the same over IPv6 (rule without a family)")
check(a.ping("10.54.0.3")[0], "ping still passes")
st = dp.stats("pod2")["drops"]["filter"]
check(st >= 40, "drops counted on the port as 'filter' (%d)" % st)
lst = dp.call("filter.list")["attached"]
el = [x for x in lst if x["port"] == "pod2"][0]["chain"][0]
check(el["filter"] == "acl" and sum(el["drops"].values()) >= 40, "filter.list shows the ACL's drops (%s)" % el["drops"])

# Rules change without a reload.
dp.call("filter.rules", port="pod2", dir="to_pod",
        rules={"default": "allow", "rules": [{"action": "deny", "proto": 17, "dport": [5001, 5002]}]})
check(udp("10.54.0.3", 5000) == 20 and udp("10.54.0.3", 5001) == 0,
      "filter.rules swaps the rule set in place (5000 passes, 5001 denied)")

# The verdict cache: one flow (a fixed source port) passes, its verdict is
# cached; new rules deny it from the next frame on, and allow it again.
c0 = dp.call("filter.list")["cache"]
check(udp("10.54.0.3", 5000, sport=40000) == 20, "a flow to 5000 passes")
c1 = dp.call("filter.list")["cache"]
el = [x for x in dp.call("filter.list")["attached"] if x["port"] == "pod2"][0]["chain"][0]
check(c1["enabled"] and el["flow_cached"] and c1["hits"] - c0["hits"] >= 15,
      "its frames were verdicts from the cache (%d hits, %d misses; element flow_cached %s)"
      % (c1["hits"] - c0["hits"], c1["misses"] - c0["misses"], el["flow_cached"]))
dp.call("filter.rules", port="pod2", dir="to_pod",
        rules={"default": "allow", "rules": [{"action": "deny", "proto": 17, "dport": 5000}]})
check(udp("10.54.0.3", 5000, sport=40000) == 0, "the same flow is denied once the rules deny it")
dp.call("filter.rules", port="pod2", dir="to_pod", rules={"default": "allow"})
check(udp("10.54.0.3", 5000, sport=40000) == 20, "and passes again when they allow it")
dp.call("filter.attach", port="pod2", dir="to_pod", filters=[{
    "filter": "acl", "flow_cache": False,
    "rules": {"default": "allow", "rules": [{"action": "deny", "proto": 17, "dport": 5001}]}}])
c0 = dp.call("filter.list")["cache"]
check(udp("10.54.0.3", 5000, sport=40000) == 20 and udp("10.54.0.3", 5001, sport=40000) == 0,
      "flow_cache false: the ACL still decides")
c1 = dp.call("filter.list")["cache"]
el = [x for x in dp.call("filter.list")["attached"] if x["port"] == "pod2"][0]["chain"][0]
check(not el["flow_cached"] and c1["hits"] == c0["hits"] and c1["misses"] == c0["misses"],
      "and runs on every frame, the cache untouched (%s)" % c1)
w = dp.call("stats")["workers"]
check(len(w) >= 1 and w[0]["busy_rounds"] > 0 and 0 < w[0]["busy_tsc"] and w[0]["tsc_hz"] > 0,
      "stats give the workers' rounds and busy time (%s)" % w[0])

# A default-deny policy from the pod: only ICMP and TCP allowed; the
# gateway (ARP/ND answered by the data plane) stays reachable.
dp.call("filter.detach", port="pod2", dir="to_pod")
deny = {"default": "deny", "rules": [{"action": "allow", "proto": 1},
                                     {"action": "allow", "proto": 58},
                                     {"action": "allow", "proto": 6}]}
dp.call("filter.attach", port="pod1", dir="from_pod", filters=[{"filter": "acl", "rules": deny}])
a.exec("ip neigh flush dev eth0")
check(a.ping("10.54.0.3")[0], "default deny + allow ICMP: ping passes (after re-resolving the gateway)")
check(a.ping("fd54::3", six=True)[0], "and ICMPv6 too")
check(udp("10.54.0.3", 5003) == 0, "UDP denied by default")
dp.call("filter.detach", port="pod1", dir="from_pod")

# Policer: 20 kB/s, 5 kB burst; 100 packets of 1000 B in 0.2 s.
dp.call("filter.attach", port="pod1", dir="from_pod",
        filters=[{"filter": "policer", "rate": {"bytes_per_s": 20000, "burst": 5000}}])
got = udp("10.54.0.3", 5004, count=100, size=1000)
check(0 < got < 30, "policer lets about burst + rate through (%d of 100)" % got)
dp.call("filter.detach", port="pod1", dir="from_pod")

# Example + observe watching its drops, in one chain.
dp.call("filter.attach", port="pod1", dir="from_pod",
        filters=[{"filter": "example"}, {"filter": "observe", "watch_drops": True}])
check(udp("10.54.0.3", 9) == 0 and udp("10.54.0.3", 10) == 20, "example drops UDP to port 9 only")
chain = [x for x in dp.call("filter.list")["attached"] if x["port"] == "pod1"][0]["chain"]
oc = chain[1]["counters"]
check(oc["udp"] >= 20 and oc["dropped_seen"] >= 20,
      "observe counted what passed and what example dropped (%s)" % oc)

# Replace the chain 200 times under a ping flood: nothing breaks.
flood = a.popen(["ping", "-4", "-i", "0.005", "-w", "8", "10.54.0.3"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
for i in range(200):
    dp.call("filter.attach", port="pod1", dir="from_pod",
            filters=[{"filter": "example"}] if i % 2 else [{"filter": "acl", "rules": {"default": "allow"}}])
out, _ = flood.communicate(timeout=30)
loss = [l for l in out.splitlines() if "packet loss" in l]
check(dp.alive() and loss and " 0% packet loss" in loss[0],
      "200 chain replacements under a ping flood: %s" % (loss[0] if loss else "?"))

# Bad input: each refused with a message naming it; nothing else changes.
def refused(method, word, **params):
    try:
        dp.call(method, **params)
        check(False, "%s %s refused" % (method, params))
    except CtlError as e:
        check(word in e.message, "%s refused: %s" % (method, e.message))


refused("filter.load", "no-such", name="x", path="/no-such.o")
bad = "/tmp/shunt-not-elf-%d.o" % os.getpid()
open(bad, "w").write("hello")
refused("filter.load", "ELF", name="x", path=bad)
os.unlink(bad)
refused("filter.load", "loaded", name="acl", path=os.path.join(FILTERS, "acl.o"))
refused("filter.attach", "dir", port="pod1", dir="sideways", filters=[{"filter": "acl"}])
refused("filter.attach", "nope", port="pod1", dir="to_pod", filters=[{"filter": "nope"}])
refused("filter.attach", "rules[0]", port="pod1", dir="to_pod",
        filters=[{"filter": "acl", "rules": {"rules": [{"action": "maybe"}]}}])
check(a.ping("10.54.0.3")[0], "traffic unaffected by the refused requests")
dp.call("port.del", name="pod1")
check(dp.alive(), "a port with a chain attached is removed cleanly")
done()
