#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""memif pod ports with DPDK's memif client in the pod: ping memif<->memif
and memif<->veth (IPv4 and IPv6), then pods killed under load, many times:
the data plane must not crash, stall or leak."""
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from shunt import DataPlane, Pod, check, done, require_root, wait_for, reap  # noqa: E402
from memifpod import testpmd, stop  # noqa: E402

require_root()
KILLS = int(os.environ.get("SHUNT_KILLS", "50"))
dp = DataPlane("memif", cores=os.environ.get("SHUNT_CORES", "0,1")).start()
a = Pod(1, "10.53.0.2", "fd53::2")
b = Pod(2, "10.53.0.3", "fd53::3")
c = Pod(3, "10.53.0.4", "fd53::4")


def memif_port(pod, name):
    sock = "/shunt-%s" % name
    r = dp.call("port.add", name=name, kind="memif", socket=sock, netns=pod.netns_path,
                pod=pod.port_params())
    return sock, r


sa, pa = memif_port(a, "ma")
sb, pb = memif_port(b, "mb")
dp.call("port.add", name="vc", kind="veth", ifname=c.veth(), mode="af_packet",
        pod=c.port_params())
procs = [testpmd(a, sa), testpmd(b, sb)]
up = wait_for(lambda: all(p["up"] for p in dp.call("port.list")["ports"]), timeout=20)
check(up, "DPDK memif clients connected to shunt's memif server")
for pod in (a, b):
    wait_for(lambda: pod.exec("ip link show eth0", check=False).returncode == 0, timeout=10)
    pod.address("eth0")

ok, out = a.ping("10.53.0.3", count=3, timeout=20)
check(ok, "IPv4 ping memif pod -> memif pod")
if not ok:
    print(out)
ok, out = a.ping("fd53::3", count=3, timeout=20, six=True)
check(ok, "IPv6 ping memif pod -> memif pod")
ok, out = a.ping("10.53.0.4", count=3, timeout=20)
check(ok, "IPv4 ping memif pod -> veth pod")
ok, out = c.ping("fd53::2", count=3, timeout=20, six=True)
check(ok, "IPv6 ping veth pod -> memif pod")
st = dp.stats("ma")
check(st["rx_pkts"] > 0 and st["tx_pkts"] > 0, "memif port counters (rx %d tx %d)" % (
    st["rx_pkts"], st["tx_pkts"]))
for p in procs:
    stop(p)

# --- kill the pod under load ---------------------------------------------
# Pod b's client floods pod c with UDP from its own address (rx path of the
# data plane), while c floods b with pings (tx path into b's rings). The
# client is SIGKILLed at a random moment, KILLS times.
pid = dp.proc.pid
fds0 = len(os.listdir("/proc/%d/fd" % pid))
# The clients' shared memory arrives as memfds: a leaked region would stay
# mapped as one ("/memfd:... (deleted)"). Other mappings (malloc arenas
# and the like) come and go with load and say nothing about regions.
def regions():
    return sum("memfd:" in l for l in open("/proc/%d/maps" % pid))


maps0 = regions()
flood = c.popen(["ping", "-4", "-f", "-w", str(KILLS * 6 + 30), "10.53.0.3"],
                stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))
before = {p["name"]: p for p in dp.call("port.list")["ports"]}["mb"]["memif"]
mid_traffic = 0
random.seed(int(os.environ.get("SHUNT_SEED", "1")))
for i in range(KILLS):
    p = testpmd(b, sb, mode="txonly", mac=b.mac, ip_src=b.ip4, ip_dst=c.ip4,
                peer_mac=pb["mac"])
    t0 = dp.stats("mb")["rx_pkts"]
    if wait_for(lambda: dp.stats("mb")["rx_pkts"] > t0 + 1000, timeout=15, step=0.05):
        mid_traffic += 1
    time.sleep(random.uniform(0, 0.3))
    reap(p)
    if not dp.alive():
        break
check(dp.alive(), "data plane alive after %d pod kills under load" % KILLS)
check(mid_traffic == KILLS, "every kill happened mid-traffic (%d of %d)" % (mid_traffic, KILLS))
after = wait_for(lambda: (lambda m: m if m["disconnects"] - before["disconnects"] >= KILLS else None)(
    {p["name"]: p for p in dp.call("port.list")["ports"]}["mb"]["memif"]), timeout=10)
after = after or {p["name"]: p for p in dp.call("port.list")["ports"]}["mb"]["memif"]
check(after["connects"] - before["connects"] == KILLS and
      after["disconnects"] - before["disconnects"] == KILLS,
      "every kill seen: %d connects, %d disconnects" % (
          after["connects"] - before["connects"], after["disconnects"] - before["disconnects"]))
fds1 = len(os.listdir("/proc/%d/fd" % pid))
maps1 = regions()
check(fds1 == fds0, "no fd leaked (%d before, %d after)" % (fds0, fds1))
check(maps1 == maps0, "no client region left mapped (%d memfd mappings before, %d after)" % (
    maps0, maps1))
reap(flood)

# The pod comes back and works.
p = testpmd(b, sb)
wait_for(lambda: {q["name"]: q for q in dp.call("port.list")["ports"]}["mb"]["up"], timeout=15)
wait_for(lambda: b.exec("ip link show eth0", check=False).returncode == 0, timeout=10)
time.sleep(0.5)  # testpmd sets the tap's MAC when it starts the port
b.address("eth0")
ok, out = c.ping("10.53.0.3", count=3, timeout=20)
check(ok, "a new client on the same port works after the kills")
if not ok:
    print(out, dp.call("port.list"), dp.stats("mb"), b.exec("ip addr; ip neigh").stdout)
stop(p)

# Port removal while a client is connected, then the name is free again.
p = testpmd(b, sb)
wait_for(lambda: {q["name"]: q for q in dp.call("port.list")["ports"]}["mb"]["up"], timeout=15)
dp.call("port.del", name="mb")
sb, pb = memif_port(b, "mb")
check(pb["socket"] == sb, "memif port re-created with the same socket name")
stop(p)
check(dp.alive(), "data plane alive")
done()
