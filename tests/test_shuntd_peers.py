#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Two nodes on one machine, each a data plane + shuntd with its own
sockets and state directory, joined by a veth pair (the fabric) that their
eth uplinks (AF_PACKET) sit on. shuntd owns the uplinks and the peers:
pod-to-pod ping and TCP across the two data planes (IPv4, and IPv6
through a second pair of peers on the uplinks' IPv6 addresses), peer.list,
peer.del under a ping flood (no_route, no crash), peer.add again, kill -9
of node 2's data plane with reconciliation, bad input naming the field,
every shuntctl uplink/peer verb with and without -j."""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import shunt  # noqa: E402
from shunt import (BUILD, RUN_ID, DataPlane, at_exit, check, done,  # noqa: E402
                   require_root, sh, wait_for)
from agent import Agent, NetNS, expect_error  # noqa: E402

SHUNTCTL = os.path.join(BUILD, "control", "shuntctl")
E_PARAMS, E_EXISTS, E_NOT_FOUND, E_BUSY, E_DATAPLANE = -32602, 1, 2, 6, 7

require_root()
R = int(RUN_ID, 16) % 250 + 1  # 10.255.R.0/24 and fd:255:R:: on the fabric

# --- the fabric: a veth pair in the host namespace --------------------------
E1, E2 = "sf%s1" % RUN_ID, "sf%s2" % RUN_ID
sh(["ip", "link", "add", E1, "type", "veth", "peer", "name", E2])
at_exit(lambda: sh(["ip", "link", "del", E1], check=False))
for e in (E1, E2):
    # The kernel must not talk on the fabric (RS, MLD): only the data planes.
    sh("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1 && ip link set %s up" % (e, e))


class Node:
    def __init__(self, n, iface):
        self.n = n
        self.ip4 = "10.255.%d.%d" % (R, n)
        self.ip6 = "fd:255:%x::%d" % (R, n)
        self.devargs = "net_af_packet_n%d,iface=%s" % (n, iface)
        self.dp = DataPlane("peer-n%d-dp" % n).start()
        self.ag = Agent(self.dp, "peer-n%d" % n).start()
        self.net4, self.net6 = "10.62.%d.0/24" % n, "fd62:%d::/64" % n
        self.ag.call("network.create", name="pods", prefixes=[self.net4, self.net6])
        r = self.ag.call("uplink.set", name="fabric0", devargs=self.devargs,
                         ips=[self.ip4, self.ip6])
        check(r["name"] == "fabric0" and r["ips"] == [self.ip4, self.ip6],
              "node%d: uplink.set answers the uplink" % n)
        self.pod = NetNS("n%d" % n)
        self.cid = "peer%s-n%d" % (RUN_ID, n)
        self.pod4, self.pod6 = "10.62.%d.2" % n, "fd62:%d::2" % n
        self.ag.call("attach", container_id=self.cid, ifname="eth0", netns=self.pod.path,
                     network="pods", ips=["%s/24" % self.pod4, "%s/64" % self.pod6])

    def ctl(self, *args):
        r = subprocess.run([SHUNTCTL, "--socket", self.ag.sock] + list(args),
                           capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout, r.stderr

    def pod_port(self):
        return self.ag.call("attachment.show", container_id=self.cid,
                            ifname="eth0")["veth_port"]

    def peers(self):
        return {p["name"]: p for p in self.ag.call("peer.list")["peers"]}

    def all_installed(self):
        ps = self.peers()
        return ps and all(r["installed"] for p in ps.values() for r in p["routes"])


n1 = Node(1, E1)
n2 = Node(2, E2)


def add_peers(a, b):
    a.ag.call("peer.add", name="node%d" % b.n, uplink="fabric0", address=b.ip4,
              prefixes=[b.net4])
    a.ag.call("peer.add", name="node%d-v6" % b.n, uplink="fabric0", address=b.ip6,
              prefixes=[b.net6])


add_peers(n1, n2)
add_peers(n2, n1)
check(wait_for(n1.all_installed, 10) and wait_for(n2.all_installed, 10),
      "peer.list: every peer route installed on both nodes (next hops resolved)")

# --- traffic across the two data planes -----------------------------------
for src, dst in ((n1, n2), (n2, n1)):
    ok, out = src.pod.ping(dst.pod4, count=3)
    check(ok, "ping node%d pod -> node%d pod (IPv4)" % (src.n, dst.n)) or print(out)
    ok, out = src.pod.ping(dst.pod6, count=3)
    check(ok, "ping node%d pod -> node%d pod (IPv6)" % (src.n, dst.n)) or print(out)

SIZE = 4 << 20
server = n2.pod.popen([sys.executable, "-c", """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("%s", 5201)); s.listen(1); s.settimeout(30)
c, _ = s.accept(); c.settimeout(30); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    n += len(b)
c.sendall(str(n).encode()); c.close()
""" % n2.pod4], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
time.sleep(0.5)
t0 = time.time()
client = n1.pod.exec("""%s -c '
import socket
s = socket.create_connection(("%s", 5201), timeout=30)
buf = bytes(range(256)) * 256
for _ in range(%d): s.sendall(buf)
s.shutdown(socket.SHUT_WR)
print(s.recv(64).decode())
'""" % (sys.executable, n2.pod4, SIZE // len(bytes(range(256)) * 256)), check=False, timeout=60)
secs = time.time() - t0
server.wait(30)
got = client.stdout.strip()
check(client.returncode == 0 and got == str(SIZE),
      "TCP: %d bytes node1 pod -> node2 pod, all received (%s) in %.2f s (%.0f Mb/s)" % (
          SIZE, got or client.stderr.strip(), secs, SIZE * 8 / secs / 1e6))

# --- what the agents show --------------------------------------------------
p = n1.peers()
check(set(p) == {"node2", "node2-v6"} and p["node2"]["address"] == n2.ip4 and
      p["node2"]["routes"] == [{"prefix": n2.net4, "in_dataplane": True, "installed": True}],
      "peer.list: prefixes with the installed route")
mac2 = [x for x in n2.dp.call("port.list")["ports"] if x["name"] == "fabric0"][0]["mac"]
check(p["node2"]["neighbour"]["state"] == "resolved" and
      p["node2"]["neighbour"]["mac"].lower() == mac2.lower(),
      "peer.list: neighbour resolved to node2's uplink MAC (%s)" % p["node2"]["neighbour"])
u = n1.ag.call("uplink.list")["uplinks"]
check(len(u) == 1 and u[0]["in_dataplane"] and u[0]["peers"] == 2 and u[0]["devargs"] == n1.devargs,
      "uplink.list: in the data plane, used by 2 peers")
st = n1.ag.read_state()
check(st["version"] == 3 and st["uplinks"][0]["name"] == "fabric0" and
      len(st["peers"]) == 2, "state file version 3 with uplinks and peers")
check(n1.ag.call("uplink.set", name="fabric0", devargs=n1.devargs,
                 ips=[n1.ip4, n1.ip6])["name"] == "fabric0",
      "uplink.set with the same parameters: idempotent")

# --- peer.del under a ping flood -------------------------------------------
port1 = n1.pod_port()
before = n1.dp.stats(port1)["drops"]["no_route"]
flood = n1.pod.popen(["ping", "-4", "-q", "-i", "0.005", "-w", "3", n2.pod4],
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
time.sleep(1)
n1.ag.call("peer.del", name="node2")
out = flood.communicate(timeout=30)[0]
after = n1.dp.stats(port1)["drops"]["no_route"]
check(after - before >= 50, "after peer.del the flood is dropped as no_route on node1 "
      "(%d)" % (after - before))
check(n1.dp.alive() and n2.dp.alive(), "both data planes alive")
check(not n1.pod.ping(n2.pod4, count=2, timeout=3)[0], "node2's pod unreachable without the peer")
check(n1.pod.ping(n2.pod6, count=2)[0], "the IPv6 peer still routes")
check(n2.pod4 not in json.dumps(n1.dp.call("route.list")) and
      not any(r["prefix"] == n2.net4 for r in n1.dp.call("route.list")["routes"]),
      "the route is gone from the data plane")
n1.ag.call("peer.add", name="node2", uplink="fabric0", address=n2.ip4, prefixes=[n2.net4])
ok, out = n1.pod.ping(n2.pod4, count=3)
check(ok, "peer.add again: traffic resumes") or print(out)

# --- kill -9 of node 2's data plane ----------------------------------------
n2.ag.call("uplink.set", name="up9", devargs="net_null_up9", ips=["10.9.9.9"])
n2.dp.stop(signal.SIGKILL)
wait_for(lambda: not n2.ag.call("status")["dataplane"]["connected"], 5)
expect_error(lambda: n2.ag.call("uplink.del", name="up9"), E_DATAPLANE,
             ["up9", "left behind"], "uplink.del while the data plane is away")
# Changes while the data plane is away are recorded, applied on its return.
n2.ag.call("peer.del", name="node1-v6")
n2.ag.call("peer.add", name="node1-v6", uplink="fabric0", address=n1.ip6, prefixes=[n1.net6])
p = n2.peers()["node1-v6"]
check(p["neighbour"]["state"] == "unknown" and not p["routes"][0]["in_dataplane"],
      "peer.list while the data plane is away: %s" % {k: p[k] for k in ("routes", "neighbour")})
t0 = time.time()
n2.dp.start()
n2.ag.wait_reconciled(runs=2)
check(wait_for(n2.all_installed, 10), "node2 reconciled: uplink and peer routes back "
      "(%.2f s after the restart)" % (time.time() - t0))
ok = wait_for(lambda: n1.pod.ping(n2.pod4, count=1, timeout=2)[0], 15, step=0.2)
check(ok, "ping node1 pod -> node2 pod again %.2f s after node2's data plane restart" % (
    time.time() - t0))
check(n2.pod.ping(n1.pod6, count=2)[0], "and back over IPv6")
check({x["name"] for x in n2.dp.call("port.list")["ports"]} >= {"fabric0", "up9"},
      "both of node2's uplinks are back in the new data plane")
n2.ag.call("uplink.del", name="up9")
check("up9" not in {x["name"] for x in n2.dp.call("port.list")["ports"]},
      "uplink.del once it is back")

# --- uplink.set with other addresses: the port and its routes come back ----
n1.ag.call("uplink.set", name="fabric0", devargs=n1.devargs,
           ips=[n1.ip4, n1.ip6, "10.255.%d.101" % R])
check(wait_for(n1.all_installed, 10), "uplink replaced: the peers' routes are back")
ok = wait_for(lambda: n1.pod.ping(n2.pod4, count=1, timeout=2)[0], 10, step=0.2)
check(ok, "traffic through the replaced uplink")

# --- shuntd restart: the peers persist, nothing re-added; a stray route on
# the uplink goes, an operator's eth port and its route stay ----------------
n1.ag.stop()
n1.dp.call("route.add", prefix="10.80.0.0/24", port="fabric0", via=n2.ip4)
n1.dp.call("port.add", name="op0", kind="eth", devargs="net_null_op0", ips=["10.81.0.1"])
n1.dp.call("route.add", prefix="10.81.1.0/24", port="op0", mac="02:00:00:00:00:01")
n1.ag.start()
rec = n1.ag.call("status")["dataplane"]["reconcile"]
check(set(n1.peers()) == {"node2", "node2-v6"} and rec["last_added"] == 0 and
      rec["last_failed"] == 0, "shuntd restart: peers loaded, the data plane kept as it was "
      "(%s)" % rec)
routes = {r["prefix"]: r for r in n1.dp.call("route.list")["routes"]}
check("10.80.0.0/24" not in routes, "a route through the uplink that no peer has: deleted")
check("10.81.1.0/24" in routes and any(x["name"] == "op0" for x in n1.dp.call("port.list")["ports"]),
      "an eth port the state does not name, and its route: left alone")
n1.dp.call("port.del", name="op0")
check(n1.pod.ping(n2.pod4, count=2)[0], "traffic after shuntd's restart")

# --- bad input names the field ---------------------------------------------
c = n1.ag.call
expect_error(lambda: c("peer.add", name="x", uplink="fabric0", address=n2.ip4,
                       prefixes=["10.62.2.128/25"]), E_EXISTS,
             ["prefixes[0]", "10.62.2.128/25", "peer 'node2'"], "overlap with another peer")
expect_error(lambda: c("peer.add", name="x", uplink="fabric0", address=n2.ip4,
                       prefixes=["10.70.0.0/24", "10.62.1.128/25"]), E_EXISTS,
             ["prefixes[1]", "10.62.1.128/25", "network 'pods'"],
             "overlap with the node's own network")
expect_error(lambda: c("peer.add", name="x", uplink="fabric0", address="10.255.0.300",
                       prefixes=["10.70.0.0/24"]), E_PARAMS, ["'address'"], "bad address")
expect_error(lambda: c("peer.add", name="x", uplink="nope", address=n2.ip4,
                       prefixes=["10.70.0.0/24"]), E_NOT_FOUND, ["'uplink'", "nope"],
             "unknown uplink")
expect_error(lambda: c("peer.add", name="x", uplink="fabric0", address=n2.ip4,
                       prefixes=["fd70::/64"]), E_PARAMS, ["prefixes[0]", "IPv6"],
             "prefix of the other family than the address")
expect_error(lambda: c("peer.add", name="x", uplink="fabric0", address=n2.ip4,
                       prefixes=["10.70.0.1/24"]), E_PARAMS, ["prefixes[0]", "host bits"],
             "prefix with host bits")
expect_error(lambda: c("peer.add", name="node2", uplink="fabric0", address=n2.ip4,
                       prefixes=["10.70.0.0/24"]), E_EXISTS, ["node2", "other parameters"],
             "same name, other parameters")
fab = {"gid": "fe80::1", "qpn": 0x1234, "qkey": 0x11111111, "pkey": 0xffff}
for bad, words in (({"gid": "zz"}, ["fabric.gid"]), ({"qpn": 1 << 24}, ["qpn"]),
                   ({"qpn": 1}, ["fabric.qpn", "reserved"]),
                   ({"qkey": 1 << 32}, ["qkey"]), ({"pkey": 0x8000}, ["fabric.pkey"]),
                   ({"pkey": 0x10000}, ["pkey"])):
    expect_error(lambda: c("peer.add", name="x", uplink="fabric0", address=n2.ip4,
                           prefixes=["10.70.0.0/24"], fabric=dict(fab, **bad)),
                 E_PARAMS, words, "fabric %s" % bad)
r = c("peer.add", name="ib1", uplink="fabric0", address="10.255.%d.9" % R,
      prefixes=["10.70.0.0/24"], fabric=fab)
check(r["fabric"] == fab, "fabric stored as given (%s)" % r.get("fabric"))
expect_error(lambda: c("network.create", name="n70", prefixes=["10.70.0.0/16"]),
             E_EXISTS, ["prefixes[0]", "peer 'ib1'"], "network overlapping a peer refused")
expect_error(lambda: c("uplink.del", name="fabric0"), E_BUSY, ["peer"], "uplink in use")
expect_error(lambda: c("uplink.set", name="sh0123456789", devargs="net_null9", ips=["10.0.0.1"]),
             E_PARAMS, ["'name'"], "uplink with a pod port's name")
expect_error(lambda: c("uplink.set", name="up2", devargs="net_null9", ips=["10.0.0.1/24"]),
             E_PARAMS, ["ips[0]"], "uplink address with a length")
expect_error(lambda: c("uplink.set", name="up2", devargs="net_bogus_x0", ips=["10.0.0.1"]),
             E_DATAPLANE, ["up2", "refused"], "devargs the data plane refuses")
expect_error(lambda: c("uplink.set", name="fabric0", devargs=n1.devargs, ips=[n1.ip6]),
             E_BUSY, ["'ips'", "node2", "IPv4"], "uplink.set dropping a family a peer uses")
check([x["name"] for x in c("uplink.list")["uplinks"]] == ["fabric0"],
      "refused uplinks left nothing behind")
c("peer.del", name="ib1")
expect_error(lambda: c("peer.del", name="ib1"), E_NOT_FOUND, ["ib1"], "peer.del of an unknown peer")

# --- shuntctl ----------------------------------------------------------------
rc, out, err = n1.ctl("peer", "list")
lines = out.splitlines()
check(rc == 0 and lines[0].split() == ["NAME", "UPLINK", "ADDRESS", "NEIGHBOUR", "PREFIX",
                                       "ROUTE", "FABRIC"] and
      any(n2.net4 in ln and "installed" in ln for ln in lines) and
      len({ln.index("PREFIX") if "PREFIX" in ln else None for ln in lines[:1]}) == 1,
      "shuntctl peer list: a table\n" + out)
rc, out, err = n1.ctl("-j", "peer", "list")
check(rc == 0 and {x["name"] for x in json.loads(out)["peers"]} == {"node2", "node2-v6"},
      "shuntctl -j peer list")
rc, out, err = n1.ctl("uplink", "list")
check(rc == 0 and "fabric0" in out and n1.devargs in out and " up " in out,
      "shuntctl uplink list\n" + out)
rc, out, err = n1.ctl("-j", "uplink", "list")
check(rc == 0 and json.loads(out)["uplinks"][0]["name"] == "fabric0", "shuntctl -j uplink list")
rc, out, err = n1.ctl("peer", "add", "ib2", "fabric0", "10.255.%d.8" % R, "10.71.0.0/24,10.72.0.0/24",
                      "--gid", "fe80::2", "--qpn", "0x99", "--qkey", "0x11111111", "--pkey", "0x8001")
check(rc == 0 and out == "", "shuntctl peer add with a fabric address (%s)" % err.strip())
rc, out, err = n1.ctl("-j", "peer", "list")
ib2 = [x for x in json.loads(out)["peers"] if x["name"] == "ib2"]
check(ib2 and ib2[0]["prefixes"] == ["10.71.0.0/24", "10.72.0.0/24"] and
      ib2[0]["fabric"] == {"gid": "fe80::2", "qpn": 0x99, "qkey": 0x11111111, "pkey": 0x8001},
      "  ... recorded: %s" % (ib2 and ib2[0]))
rc, out, err = n1.ctl("-j", "peer", "del", "ib2")
check(rc == 0 and json.loads(out) == {}, "shuntctl -j peer del")
rc, out, err = n1.ctl("peer", "add", "x", "fabric0", n2.ip4, "10.62.2.0/26")
check(rc == 1 and "overlaps" in err and "prefixes[0]" in err,
      "shuntctl peer add overlap: exit 1 with the agent's message (%s)" % err.strip())
rc, out, err = n1.ctl("peer", "add", "x", "fabric0", n2.ip4, "10.73.0.0/24", "--qpn", "5")
check(rc == 2 and "together" in err, "shuntctl: fabric options go together")
rc, out, err = n1.ctl("peer", "add", "x", "fabric0")
check(rc == 2 and "usage" not in out and "peer add NAME" in err, "shuntctl peer add: usage")
rc, out, err = n1.ctl("uplink", "set", "fabric0", n1.devargs, "%s,%s" % (n1.ip4, n1.ip6))
check(rc == 0, "shuntctl uplink set (the same again)")
rc, out, err = n1.ctl("-j", "uplink", "set", "fabric0", n1.devargs, "%s,%s" % (n1.ip4, n1.ip6))
check(rc == 0 and json.loads(out)["devargs"] == n1.devargs, "shuntctl -j uplink set")
rc, out, err = n1.ctl("uplink", "set", "up3", "net_null_up3", "10.0.3.1")
check(rc == 0, "shuntctl uplink set: a second uplink (%s)" % err.strip())
rc, out, err = n1.ctl("uplink", "del", "up3")
check(rc == 0 and [x["name"] for x in n1.ag.call("uplink.list")["uplinks"]] == ["fabric0"],
      "shuntctl uplink del")
rc, out, err = n1.ctl("uplink", "del", "fabric0")
check(rc == 1 and "in use" in err, "shuntctl uplink del of a used uplink: exit 1 (%s)" % err.strip())
for args in (["peer", "--help"], ["uplink", "--help"], ["peer", "add", "--help"],
             ["uplink", "set", "-h"], ["peer", "list", "--help"]):
    rc, out, err = n1.ctl(*args)
    verb = args[1] if not args[1].startswith("-") else "add" if args[0] == "peer" else "set"
    check(rc == 0 and "%s %s" % (args[0], verb) in out, "shuntctl %s" % " ".join(args))
rc, out, err = n1.ctl("status")
check(rc == 0 and "1 uplink(s), 2 peer(s)" in out, "shuntctl status counts uplinks and peers")
rc, out, err = n1.ctl("--help")
check("peer add" in out and "uplink set" in out, "shuntctl --help lists the peer and uplink verbs")

# --- the peers go, the uplink goes: the state is version 1 again ------------
for name in ("node2", "node2-v6"):
    n1.ag.call("peer.del", name=name)
n1.ag.call("uplink.del", name="fabric0")
check(not any(x["name"] == "fabric0" for x in n1.dp.call("port.list")["ports"]),
      "uplink.del removed the data plane port")
check(n1.ag.read_state()["version"] == 1 and "peers" not in n1.ag.read_state(),
      "without uplinks and peers the state is written as version 1")
check(n1.dp.alive() and n2.dp.alive(), "no crash")
done()
