#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""In the rxe VM (tests/test_fabric_ib.py boots it): two nodes, each a data
plane + shuntd with its own sockets and state directory, whose ib uplinks
are the soft-RoCE devices rxe0 and rxe1 (GID index 1, RoCE v2). Two
networks, each its own partition (P_Key, Q_Key, uplink): blue and red.

Checks: each uplink's own fabric address (uplink.list, shuntctl), peers
through shuntd, ping (IPv4, IPv6) and TCP between pods on the two nodes
over UD sends, red pods cannot reach blue pods (counted as `partition`),
P_Key and Q_Key mismatches refused by name, a peer removed under a ping
flood (no_route on one side, unknown_peer on the other, no crash, traffic
back after peer.add), bad device, port, GID index and a down port refused
with clear messages."""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import shunt  # noqa: E402
from shunt import (BUILD, RUN_ID, DataPlane, check, done, sh,  # noqa: E402
                   wait_for)
from agent import Agent, NetNS, expect_error  # noqa: E402

SHUNTCTL = os.path.join(BUILD, "control", "shuntctl")
E_PARAMS, E_DATAPLANE = -32602, 7
# The VM has 2 GB and no hugepages: small EAL memory per data plane.
EAL = ["--", "--no-huge", "--no-shconf", "-m", "768"]
NETS = {"blue": {"pkey": 0x8001, "v4": "10.61", "v6": "fd61"},
        "red": {"pkey": 0x8002, "v4": "10.71", "v6": None}}


class Node:
    def __init__(self, n, dev):
        self.n, self.dev = n, dev
        self.dp = DataPlane("ib-n%d-dp" % n, args=EAL).start()
        self.ag = Agent(self.dp, "ib-n%d" % n, args=["--veth-mode", "af_packet"]).start()
        self.pods = {}
        for net, c in NETS.items():
            pfx = ["%s.%d.0/24" % (c["v4"], n)] + (["%s:%d::/64" % (c["v6"], n)] if c["v6"] else [])
            self.ag.call("network.create", name=net, prefixes=pfx)
            space = ["%s.0.0/16" % c["v4"]] + (["%s::/16" % c["v6"]] if c["v6"] else [])
            self.ag.call("uplink.set", name="ib-" + net, kind="ib",
                         devargs="%s:1,gid_index=1,pkey=0x%x" % (dev, c["pkey"]),
                         prefixes=space)
            pod = NetNS("n%d%s" % (n, net))
            pod.ip4 = "%s.%d.2" % (c["v4"], n)
            pod.ip6 = "%s:%d::2" % (c["v6"], n) if c["v6"] else None
            pod.cid = "ib%s-n%d-%s" % (RUN_ID, n, net)
            ips = ["%s/24" % pod.ip4] + (["%s/64" % pod.ip6] if pod.ip6 else [])
            self.ag.call("attach", container_id=pod.cid, ifname="eth0", netns=pod.path,
                         network=net, ips=ips)
            self.pods[net] = pod

    def fabric(self, uplink):
        for u in self.ag.call("uplink.list")["uplinks"]:
            if u["name"] == uplink:
                return u.get("fabric")
        return None

    def ctl(self, *args):
        r = subprocess.run([SHUNTCTL, "--socket", self.ag.sock] + list(args),
                           capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout, r.stderr

    def port_stats(self, port):
        return self.dp.stats(port)

    def peer_add(self, other, net, **override):
        f = dict(other.fabric("ib-" + net))
        c = NETS[net]
        pfx = ["%s.%d.0/24" % (c["v4"], other.n)] + \
            (["%s:%d::/64" % (c["v6"], other.n)] if c["v6"] else [])
        fab = {"gid": f["gid"], "qpn": f["qpn"], "qkey": f["qkey"], "pkey": f["pkey"]}
        fab.update(override)
        return self.ag.call("peer.add", name="n%d-%s" % (other.n, net), uplink="ib-" + net,
                            prefixes=pfx, fabric=fab)

    def all_resolved(self):
        ps = self.ag.call("peer.list")["peers"]
        return ps and all(p["neighbour"]["state"] == "resolved" and
                          all(r["installed"] for r in p["routes"]) for p in ps)


t_start = time.time()
n1 = Node(1, "rxe0")
n2 = Node(2, "rxe1")

# --- the node's own fabric address ----------------------------------------
f = n1.fabric("ib-blue")
check(f is not None and f["gid"] == "::ffff:10.0.0.1" and f["gid_index"] == 1 and
      f["pkey"] == 0x8001 and 2 <= f["qpn"] < 1 << 24 and f["mtu"] == 4096 and
      f["pkey_enforced_by"] == "software" and f["link_layer"] == "ethernet",
      "uplink.list shows ib-blue's fabric address: %s" % json.dumps(f))
fr = n1.fabric("ib-red")
check(fr is not None and fr["qpn"] != f["qpn"] and fr["qkey"] != f["qkey"],
      "each network has its own QP and Q_Key (blue qpn %s qkey 0x%x, red qpn %s qkey 0x%x)" % (
          f["qpn"], f["qkey"], fr and fr["qpn"], fr and fr["qkey"]))
rc, out, err = n1.ctl("uplink", "list")
check(rc == 0 and "ib-blue fabric address: --gid ::ffff:10.0.0.1 --qpn %d" % f["qpn"] in out,
      "shuntctl uplink list prints the fabric address\n" + out + err)

# --- peers -----------------------------------------------------------------
expect_error(lambda: n1.peer_add(n2, "blue", pkey=0x8002), E_DATAPLANE, ["fabric", "P_Key", "0x8002"],
             "peer.add with another partition's P_Key")
expect_error(lambda: n1.peer_add(n2, "blue", qkey=0x1234), E_DATAPLANE, ["fabric", "Q_Key"],
             "peer.add with another Q_Key")
expect_error(lambda: n1.ag.call("peer.add", name="x", uplink="ib-blue", address="10.0.0.2",
                                prefixes=["10.61.9.0/24"],
                                fabric={"gid": "::1", "qpn": 5, "qkey": 1, "pkey": 0x8001}),
             E_PARAMS, ["address", "ib"], "peer.add with an address on an ib uplink")
expect_error(lambda: n1.ag.call("peer.add", name="x", uplink="ib-blue",
                                prefixes=["10.61.9.0/24"]),
             E_PARAMS, ["fabric"], "peer.add without fabric on an ib uplink")
for net in NETS:
    n1.peer_add(n2, net)
    n2.peer_add(n1, net)
check(wait_for(n1.all_resolved, 10) and wait_for(n2.all_resolved, 10),
      "peer.list: every peer has its address handle and routes on both nodes")
rc, out, err = n1.ctl("peer", "list")
check(rc == 0 and "n2-blue" in out and "installed" in out, "shuntctl peer list\n" + out + err)

# --- traffic ---------------------------------------------------------------
for net in NETS:
    for a, b in ((n1, n2), (n2, n1)):
        pa, pb = a.pods[net], b.pods[net]
        ok, out = pa.ping(pb.ip4, count=3)
        check(ok, "%s: ping node%d pod -> node%d pod over ib (IPv4)" % (net, a.n, b.n)) or print(out)
        if pb.ip6:
            ok, out = pa.ping(pb.ip6, count=3)
            check(ok, "%s: ping node%d pod -> node%d pod (IPv6)" % (net, a.n, b.n)) or print(out)

SIZE = 2 << 20
b1, b2 = n1.pods["blue"], n2.pods["blue"]
server = b2.popen([sys.executable, "-c", """
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("%s", 5201)); s.listen(1); s.settimeout(60)
c, _ = s.accept(); c.settimeout(60); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    n += len(b)
c.sendall(str(n).encode()); c.close()
""" % b2.ip4], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
time.sleep(0.5)
t0 = time.time()
client = b1.exec("""%s -c '
import socket
s = socket.create_connection(("%s", 5201), timeout=60)
buf = bytes(range(256)) * 256
for _ in range(%d): s.sendall(buf)
s.shutdown(socket.SHUT_WR)
print(s.recv(64).decode())
'""" % (sys.executable, b2.ip4, SIZE // 65536), check=False, timeout=120)
secs = time.time() - t0
server.wait(60)
got = client.stdout.strip()
check(client.returncode == 0 and got == str(SIZE),
      "TCP: %d bytes node1 blue pod -> node2 blue pod over ib, all received (%s) in %.2f s "
      "(%.0f Mb/s, emulated CPU)" % (SIZE, got or client.stderr.strip(), secs, SIZE * 8 / secs / 1e6))
s1 = n1.port_stats("ib-blue")
check(s1["tx_pkts"] > 1000 and s1["dropped"] == 0,
      "ib-blue on node1: %d sent, no drop (%s)" % (s1["tx_pkts"], {k: v for k, v in s1["drops"].items() if v}))

# --- partitions: red cannot reach blue ---------------------------------------
r1 = n1.pods["red"]
before = n1.port_stats("ib-blue")["drops"]["partition"]
ok, out = r1.ping(b2.ip4, count=3, timeout=4)
check(not ok, "red pod on node1 cannot ping the blue pod on node2")
after = n1.port_stats("ib-blue")["drops"]["partition"]
check(after - before >= 3, "node1's ib-blue counts them as `partition` (%d)" % (after - before))
ok, out = b1.ping(n2.pods["red"].ip4, count=2, timeout=3)
check(not ok, "blue pod on node1 cannot ping the red pod on node2")

# --- a peer removed under traffic ---------------------------------------------
flood = b1.popen(["ping", "-q", "-i", "0.005", "-w", "8", b2.ip4],
                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
time.sleep(1.5)
n2.ag.call("peer.del", name="n1-blue")  # node2 forgets node1 on blue
time.sleep(1.5)
n1.ag.call("peer.del", name="n2-blue")  # and node1 forgets node2
time.sleep(1.5)
flood.wait(30)
st2 = n2.port_stats("ib-blue")["drops"]
st1 = n1.port_stats(n1.ag.call("attachment.show", container_id=b1.cid,
                                ifname="eth0")["veth_port"])["drops"]
check(st2["unknown_peer"] > 0,
      "node2 drops packets from the removed peer as unknown_peer (%d)" % st2["unknown_peer"])
check(st1["no_route"] > 0, "node1 drops the flood as no_route after its peer.del (%d)" % st1["no_route"])
check(n1.dp.alive() and n2.dp.alive(), "both data planes alive")
for net, a, b in (("blue", n1, n2), ("blue", n2, n1)):
    a.peer_add(b, net)
check(wait_for(n1.all_resolved, 10) and wait_for(n2.all_resolved, 10), "peers added again")
ok, out = b1.ping(b2.ip4, count=3)
check(ok, "ping node1 blue -> node2 blue again after peer.add") or print(out)

# --- the data plane's own peer methods: unknown peer, bad input -------------------
c = n1.dp
expect_error(lambda: c.call("route.add", prefix="10.61.77.0/24", port="ib-blue", peer="nobody"),
             2, ["no peer", "nobody"], "data plane: route.add via an unknown peer")
expect_error(lambda: c.call("route.add", prefix="10.61.77.0/24", port="ib-blue",
                            via="10.0.0.2"),
             E_PARAMS, ["peer"], "data plane: route.add via an address on an ib uplink")
expect_error(lambda: c.call("peer.add", port="ib-blue", name="x", gid="zz", qpn=5, qkey=1,
                            pkey=0x8001), E_PARAMS, ["gid"], "data plane: peer.add with a bad gid")
expect_error(lambda: c.call("peer.del", port="ib-blue", name="nobody"), 2, ["nobody"],
             "data plane: peer.del of an unknown peer")

# --- shuntctl: an ib uplink and a peer without an address ------------------------
rc, out, err = n1.ctl("uplink", "set", "ib-green", "--ib", "rxe0:1,gid_index=1,pkey=0x8003",
                      "10.81.0.0/16")
check(rc == 0, "shuntctl uplink set NAME --ib DEVARGS PREFIXES\n" + out + err)
g = n1.fabric("ib-green") or {}
rc, out, err = n1.ctl("peer", "add", "g2", "ib-green", "10.81.2.0/24", "--gid", "::ffff:10.0.0.2",
                      "--qpn", "99", "--qkey", hex(g.get("qkey", 0)), "--pkey", "0x8003")
check(rc == 0 and any(p["name"] == "g2" and p["neighbour"]["state"] == "resolved"
                      for p in n1.ag.call("peer.list")["peers"]),
      "shuntctl peer add NAME IB_UPLINK PREFIXES --gid .. (no address)\n" + out + err)
rc1 = n1.ctl("peer", "del", "g2")[0]
rc2 = n1.ctl("uplink", "del", "ib-green")[0]
check(rc1 == 0 and rc2 == 0 and n1.fabric("ib-green") is None, "shuntctl peer del, uplink del")
st = n1.ag.read_state()
check(st["version"] == 4 and any(u.get("kind") == "ib" and u.get("prefixes") == ["10.61.0.0/16", "fd61::/16"]
          for u in st["uplinks"]) and
      any(p["name"] == "n2-blue" and "address" not in p and p["fabric"]["pkey"] == 0x8001
          for p in st["peers"]),
      "state.json (version 4) records the ib uplink (kind, prefixes) and the peer "
      "(fabric, no address)")

# --- bad devices ---------------------------------------------------------------
bad = [("rxe9:1,gid_index=1", ["no RDMA device 'rxe9'", "rxe0"]),
       ("rxe0:3,gid_index=1", ["rxe0", "port 3"]),
       ("rxe0:1,gid_index=7", ["GID index 7"]),
       ("rxe0:1,gid_index=1,pkey=0x0000", ["pkey"]),
       ("rxe0", None)]
for devargs, words in bad:
    if words is None:
        continue
    expect_error(lambda: n1.ag.call("uplink.set", name="ib-bad", kind="ib", devargs=devargs,
                                    prefixes=["10.99.0.0/16"]),
                 E_DATAPLANE, words, "uplink.set %s" % devargs)
check(all(u["name"] != "ib-bad" for u in n1.ag.call("uplink.list")["uplinks"]),
      "refused uplinks are not recorded")
expect_error(lambda: n1.ag.call("uplink.set", name="ib-bad", kind="ib", devargs="rxe0:1"),
             E_PARAMS, ["prefixes"], "uplink.set ib without prefixes")
expect_error(lambda: n1.ag.call("uplink.set", name="ib-bad", kind="ib", devargs="rxe0:1",
                                prefixes=["10.99.0.0/16"], ips=["10.0.0.1"]),
             E_PARAMS, ["ips"], "uplink.set ib with ips")

# --- a down port, last: it cuts the fabric --------------------------------------------
sh("ip link set veth0 down")
wait_for(lambda: "DOWN" in open("/sys/class/infiniband/rxe0/ports/1/state").read(), 5)
check(not n1.ag.call("uplink.list")["uplinks"][0]["up"], "uplink.list: up false while the port is down")
expect_error(lambda: n1.ag.call("uplink.set", name="ib-bad", kind="ib", devargs="rxe0:1,gid_index=1",
                                prefixes=["10.99.0.0/16"]),
             E_DATAPLANE, ["rxe0 port 1 is", "not ACTIVE"], "uplink.set on a down port")
ok, _ = b1.ping(b2.ip4, count=2, timeout=3)
check(not ok and n1.dp.alive() and n2.dp.alive(),
      "traffic while the port is down: lost, data planes alive")
sh("ip link set veth0 up && ip link set veth1 up")
wait_for(lambda: "ACTIVE" in open("/sys/class/infiniband/rxe0/ports/1/state").read(), 10)
ok, out = b1.ping(b2.ip4, count=3, timeout=15)
check(ok, "traffic back once the port is up again") or print(out)
check("QPN %d kept" % f["qpn"] in open(n1.dp.log, errors="replace").read() and
      n1.fabric("ib-blue")["qpn"] == f["qpn"],
      "node1 reset its queue pairs in error in place: the QPN (fabric address) is kept")
print("in-VM run: %.1f s" % (time.time() - t_start))
done()
