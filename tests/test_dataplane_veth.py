#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""shunt-dataplane with veth pod ports and an eth uplink: IPv4/IPv6 ping
between pods, traffic to the uplink, anti-spoofing, port removal under
traffic."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from shunt import (DataPlane, Pod, CtlError, check, done, require_root, sh,  # noqa: E402
                   wait_for, RUN_ID, at_exit)

require_root()
mode = sys.argv[1] if len(sys.argv) > 1 else "auto"
dp = DataPlane("veth", cores=os.environ.get("SHUNT_CORES", "0,1")).start()
a = Pod(1, "10.50.0.2", "fd50::2")
b = Pod(2, "10.50.0.3", "fd50::3")
for p in (a, b):
    r = dp.call("port.add", name="pod%d" % p.idx, kind="veth", ifname=p.veth(),
                mode=mode, pod=p.port_params())
    print("port pod%d: driver %s" % (p.idx, r["driver"]))
    if mode != "auto":
        check(r["driver"] == mode, "pod%d uses %s" % (p.idx, mode))

ok, out = a.ping("10.50.0.3")
check(ok, "IPv4 ping pod1 -> pod2 through the data plane")
if not ok:
    print(out)
ok, out = b.ping("10.50.0.2")
check(ok, "IPv4 ping pod2 -> pod1")
ok, out = a.ping("fd50::3", six=True)
check(ok, "IPv6 ping pod1 -> pod2")
if not ok:
    print(out)
check(a.ping("169.254.1.1", count=2)[0], "the IPv4 gateway answers ping")
check(a.ping("fe80::1%eth0", count=2, six=True)[0], "the IPv6 gateway answers ping")
s1 = dp.stats("pod1")
check(s1["neigh_replies"] >= 2, "gateway ARP and ND answered (%d)" % s1["neigh_replies"])
check(s1["rx_pkts"] >= 9 and s1["tx_pkts"] >= 9, "pod1 counters move (rx %d tx %d)" % (
    s1["rx_pkts"], s1["tx_pkts"]))
r = a.exec("ip neigh show 169.254.1.1").stdout
check(dp.call("port.list")["ports"][0]["mac"].lower() in r, "pod's gateway MAC is the data plane's (%s)" % r.strip())

# --- uplink: an eth port on a veth whose peer is an external router ------
up = Pod(3, "10.99.0.1")
upl = "su%s" % RUN_ID
sh(["ip", "link", "add", upl, "type", "veth", "peer", "name", "up0", "netns", up.ns])
at_exit(lambda: sh(["ip", "link", "del", upl], check=False))
sh("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1 && ip link set %s up" % (upl, upl))
up.exec("ip link set up0 up && ip addr add 10.99.0.1/24 dev up0 && "
        "ip -6 addr add fd99::1/64 dev up0 nodad")
peer_mac = up.exec("cat /sys/class/net/up0/address").stdout.strip()
# The uplink has addresses of its own: the router behind it resolves the
# data plane by ARP/ND, and the data plane resolves the router's.
r = dp.call("port.add", name="uplink", kind="eth", devargs="net_af_packet_up,iface=%s" % upl,
            ips=["10.99.0.254", "fd99::254"])
up.exec("ip route add 10.50.0.0/24 via 10.99.0.254 && ip -6 route add fd50::/64 via fd99::254")
dp.call("route.add", prefix="10.99.0.0/24", port="uplink", via="10.99.0.1")
dp.call("route.add", prefix="fd99::/64", port="uplink", via="fd99::1")
ok, out = a.ping("10.99.0.1")
check(ok, "pod1 reaches a host behind the uplink (next hop learned by ARP)")
if not ok:
    print(out)
ok, out = a.ping("fd99::1", six=True)
check(ok, "pod1 reaches it over IPv6 (next hop learned by ND)")
if not ok:
    print(out)
neigh = {n["ip"]: n for n in dp.call("neigh.list")["neighbours"]}
check(neigh.get("10.99.0.1", {}).get("mac", "").lower() == peer_mac and
      neigh.get("fd99::1", {}).get("mac", "").lower() == peer_mac,
      "neighbours learned with the router's MAC: %s" % neigh)
lladdr = up.exec("ip neigh show 10.99.0.254").stdout
check(r["mac"].lower() in lladdr, "the router resolved the data plane's uplink address (%s)" % lladdr.strip())
check(dp.stats("uplink")["tx_pkts"] >= 6, "uplink transmitted")
# A static next hop still works, and a next hop nobody answers for stays
# out of the fib (no_route, not a frame to a zero MAC).
dp.call("route.add", prefix="10.97.0.0/24", port="uplink", via="10.99.0.77")
rt = {x["prefix"]: x for x in dp.call("route.list")["routes"]}
check(not rt["10.97.0.0/24"]["installed"], "a route via an unresolved next hop is not installed")
a.exec("ping -4 -c 1 -W 1 10.97.0.5", check=False)
check(dp.stats("pod1")["drops"]["no_route"] >= 1, "traffic to it counted as no_route")
dp.call("route.del", prefix="10.97.0.0/24")
check("10.99.0.77" not in [n["ip"] for n in dp.call("neigh.list")["neighbours"]],
      "the next hop no route uses any more is released (no more ARP for it)")
upl_port = [p for p in dp.call("port.list")["ports"] if p["name"] == "uplink"][0]
check(upl_port["ips"] == ["10.99.0.254", "fd99::254"], "port.list shows the uplink's own addresses")
try:
    dp.call("route.add", prefix="10.98.0.0/24", port="uplink")
    check(False, "uplink route without a next-hop MAC refused")
except CtlError as e:
    check("mac or via" in e.message, "uplink route without a next hop refused: %s" % e.message)
try:
    dp.call("route.add", prefix="10.98.0.0/24", port="pod1", via="10.50.0.3")
    check(False, "via on a pod port refused")
except CtlError as e:
    check("uplinks" in e.message, "via on a pod port refused: %s" % e.message)
routes = {r["prefix"]: r for r in dp.call("route.list")["routes"]}
check("10.50.0.2/32" in routes and routes["10.50.0.2/32"]["pod"], "pod address routes listed")
check("fd50::3/128" in routes, "pod IPv6 route listed")

# --- anti-spoofing -------------------------------------------------------
before = dp.stats("pod1")["drops"]
a.exec("ip addr add 10.50.0.9/32 dev eth0")
ok, _ = a.exec("ping -4 -c 3 -i 0.2 -W 1 -I 10.50.0.9 10.50.0.3", check=False).returncode == 0, None
check(not ok, "a pod cannot send from another pod's address")
after = dp.stats("pod1")["drops"]
check(after["spoof_ip"] - before["spoof_ip"] >= 3, "spoofed source IP dropped and counted (%d)" % (
    after["spoof_ip"] - before["spoof_ip"]))
# From another MAC: the ARP entry for the gateway stays, frames carry the new MAC.
a.exec("ip link set eth0 address 0a:58:00:00:ee:ee")
ok = a.exec("ping -4 -c 3 -i 0.2 -W 1 10.50.0.3", check=False).returncode == 0
check(not ok, "a pod cannot send from another MAC")
after2 = dp.stats("pod1")["drops"]
check(after2["spoof_mac"] - after["spoof_mac"] >= 2, "spoofed source MAC dropped and counted (%d)" % (
    after2["spoof_mac"] - after["spoof_mac"]))
a.exec("ip link set eth0 address %s" % a.mac)
check(a.ping("10.50.0.3")[0], "pod1 works again with its own MAC")

# TTL: a packet with TTL 1 dies in the data plane.
before = dp.stats("pod1")["drops"]["ttl_expired"]
a.exec("ping -4 -c 2 -i 0.2 -W 1 -t 1 10.50.0.3", check=False)
check(dp.stats("pod1")["drops"]["ttl_expired"] - before >= 2, "TTL 1 dropped and counted")

# --- port removal under traffic ------------------------------------------
flood = a.popen(["ping", "-4", "-f", "-w", "8", "10.50.0.3"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
time.sleep(1)
dp.call("port.del", name="pod2")
check(dp.alive(), "data plane alive after removing a port under traffic")
time.sleep(1)
nr = dp.stats("pod1")["drops"]["no_route"]
check(nr > 0, "traffic to the removed pod counted as no_route (%d)" % nr)
ports = [p["name"] for p in dp.call("port.list")["ports"]]
check("pod2" not in ports, "port list no longer has pod2")
# Re-adding AF_XDP on the same veth in one process fails in DPDK 22.11's
# af_xdp PMD (xsk_socket__create: EINVAL); "auto" falls back to AF_PACKET.
r = dp.call("port.add", name="pod2", kind="veth", ifname=b.host_if, mode="auto", pod=b.port_params())
flood.wait()
check(a.ping("10.50.0.3")[0], "pod2 reachable again after re-adding its port")

# A pod deleted with its namespace: the port stays, nothing crashes.
b.delete()
time.sleep(0.5)
check(a.ping("10.99.0.1")[0], "other traffic unaffected after a pod's netns is deleted")
dp.call("port.del", name="pod2")
check(dp.alive(), "data plane alive after deleting the dead pod's port")
rc = dp.stop()
check(rc == 0, "data plane exits cleanly on SIGTERM (rc %s)" % rc)
done()
