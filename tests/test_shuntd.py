#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""shuntd with a real data plane: attach two pods (veth) and ping between
them (IPv4, IPv6); idempotent attach; check; a memif attachment; detach,
also of a pod whose namespace is gone; persistence across a shuntd
restart; kill -9 of the data plane, restart, reconciliation (timed); gc."""
import os
import stat
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from shunt import DataPlane, check, done, require_root, sh, wait_for  # noqa: E402
from agent import Agent, NetNS, expect_error, host_if, host_links  # noqa: E402

require_root()
dp = DataPlane("agent-dp").start()
ag = Agent(dp).start()

mode = stat.S_IMODE(os.stat(ag.sock).st_mode)
check(mode == 0o660, "API socket mode is 0660 (%o)" % mode)

ag.call("network.create", name="n1", prefixes=["10.61.0.0/16", "fd61::/64"])
nets = ag.call("network.list")["networks"]
check([n["name"] for n in nets] == ["n1"] and nets[0]["mtu"] == 1500 and nets[0]["mode"] == "veth",
      "network n1 listed with defaults (mtu 1500, mode veth)")

a, b = NetNS("a"), NetNS("b")


def attach(ns, cid, ip4, ip6, **kw):
    return ag.call("attach", container_id=cid, ifname="eth0", netns=ns.path, network="n1",
                   ips=["%s/16" % ip4, "%s/64" % ip6], **kw)


ra = attach(a, "ca", "10.61.0.2", "fd61::2")
rb = attach(b, "cb", "10.61.0.3", "fd61::3")
check(ra["host_if"] == host_if("ca", "eth0") and ra["host_if"] in host_links(),
      "host end %s exists, named from container id and ifname" % ra["host_if"])
check(ra["mac"] == "0a:58:0a:3d:00:02", "MAC derived from the IPv4 address (%s)" % ra["mac"])
pod = a.exec("ip -o addr show dev eth0; ip route; ip -6 route").stdout
check("10.61.0.2/32" in pod and "fd61::2/128" in pod, "pod addresses are /32 and /128")
check("default via 169.254.1.1" in pod and "169.254.1.1 dev eth0" in pod and
      "default via fe80::1" in pod, "pod routes via the link-local gateways")
check(a.exec("cat /sys/class/net/eth0/address").stdout.strip() == ra["mac"], "pod MAC set")
v6off = sh("cat /proc/sys/net/ipv6/conf/%s/disable_ipv6" % ra["host_if"]).stdout.strip()
check(v6off == "1", "IPv6 disabled on the host end")
ports = {p["name"]: p for p in dp.call("port.list")["ports"]}
check(set(ports) == {ra["veth_port"], rb["veth_port"]} and
      ports[ra["veth_port"]]["pod_mac"].lower() == ra["mac"],
      "data plane has a veth port per pod with the pod's MAC")

ok, out = a.ping("10.61.0.3")
check(ok, "IPv4 ping pod a -> pod b through the data plane")
if not ok:
    print(out)
ok, out = b.ping("fd61::2")
check(ok, "IPv6 ping pod b -> pod a")
if not ok:
    print(out)

# --- idempotency, check ------------------------------------------------
again = attach(a, "ca", "10.61.0.2", "fd61::2")
check(again == ra, "a second identical attach returns the same result")
check(len(ag.attachments()) == 2 and len(dp.call("port.list")["ports"]) == 2,
      "and creates nothing new")
expect_error(lambda: attach(a, "ca", "10.61.0.9", "fd61::9"), 1, ["ips", "detach"],
             "the same key with other addresses refused")
expect_error(lambda: attach(NetNS("c"), "cc", "10.61.0.3", "fd61::33"), 1, ["ips[0]", "cb/eth0"],
             "an address in use by another pod refused")
expect_error(lambda: attach(a, "cz", "10.62.0.3", "fd61::34"), -32602, ["ips[0]", "outside"],
             "an address outside the network refused")
check(ag.call("check", container_id="ca", ifname="eth0") == {}, "check passes for a healthy pod")
a.exec("ip addr del 10.61.0.2/32 dev eth0")
expect_error(lambda: ag.call("check", container_id="ca", ifname="eth0"), 9, ["10.61.0.2"],
             "check names a missing address")
a.exec("ip addr add 10.61.0.2/32 dev eth0 && ip route replace 169.254.1.1 dev eth0 scope link"
       " && ip route replace default via 169.254.1.1 dev eth0")
check(ag.call("check", container_id="ca", ifname="eth0") == {}, "check passes once repaired")
left = host_links()

# A failed step is undone: ifname taken in the pod.
b.exec("ip link add net9 type veth peer name net9p")
expect_error(lambda: ag.call("attach", container_id="cb", ifname="net9", netns=b.path,
                             network="n1", ips=["10.61.0.40/16"]),
             4, ["veth", "exists", "undone"], "attach onto a taken interface name fails at step veth")
check(host_links() == left and len(ag.attachments()) == 2, "and leaves nothing behind")

# --- memif -------------------------------------------------------------
m = NetNS("m")
rm = ag.call("attach", container_id="cm", ifname="net1", netns=m.path, network="n1",
             mode="memif", ips=["10.61.0.20/16"])
check(rm["memif_socket"] == "/shunt/net1" and rm["host_if"] == "",
      "memif attachment: socket /shunt/net1, no veth")
ports = {p["name"]: p for p in dp.call("port.list")["ports"]}
mp = ports.get(rm["memif_port"], {})
check(mp.get("kind") == "memif" and mp.get("netns") == m.path and mp.get("socket") == "/shunt/net1",
      "data plane memif port in the pod's namespace")
check("@/shunt/net1" in m.exec("ss -xlp").stdout, "abstract socket listens inside the pod")
expect_error(lambda: ag.call("attach", container_id="cm2", ifname="eth0", netns=m.path,
                             network="n1", mode="veth+memif", ips=["10.61.0.21/16"]),
             -32602, ["memif_ips"], "veth+memif without memif_ips refused")
ag.call("detach", container_id="cm", ifname="net1")
check(rm["memif_port"] not in {p["name"] for p in dp.call("port.list")["ports"]},
      "detach removes the memif port")

# --- persistence across a shuntd restart --------------------------------
st = ag.read_state()
check(st["version"] == 1 and len(st["attachments"]) == 2 and
      all(x["state"] == "ready" for x in st["attachments"]), "state file: version 1, 2 ready")
rc = ag.stop()
check(rc == 0, "shuntd stops cleanly on SIGTERM (rc %s)" % rc)
ok, _ = a.ping("10.61.0.3", count=2)
check(ok, "pods keep working while shuntd is down")
ag.start()
check(sorted(x["container_id"] for x in ag.attachments()) == ["ca", "cb"],
      "attachments listed again after the restart")
check(ag.call("status")["dataplane"]["reconcile"]["last_added"] == 0,
      "a restart against a live data plane changes nothing")
check(a.ping("10.61.0.3", count=2)[0], "still pingable after the restart")

# --- kill -9 of the data plane ------------------------------------------
dp.stop(sig=9)
check(not dp.alive(), "data plane killed")
wait_for(lambda: not ag.call("status")["dataplane"]["connected"], timeout=5)
expect_error(lambda: ag.call("check", container_id="ca", ifname="eth0"), 9,
             ["data plane not connected"], "check reports the data plane away")
t0 = time.time()
dp.start()
ok = wait_for(lambda: a.ping("10.61.0.3", count=1, timeout=1, interval=0.2)[0] and
              b.ping("fd61::2", count=1, timeout=1)[0], timeout=20, step=0.01)
elapsed = time.time() - t0
check(ok, "pods talk again after the data plane restarts, without re-creation")
rec = ag.call("status")["dataplane"]["reconcile"]
print("RECONCILE: data plane start -> first ping both ways: %.0f ms "
      "(shuntd reconcile itself: %d ms, %d ports added)" % (
          elapsed * 1000, rec["last_ms"], rec["last_added"]))
check(rec["last_added"] == 2, "reconciliation re-added both ports")
check(ag.call("check", container_id="cb", ifname="eth0") == {}, "check passes after reconciliation")

# A port the state does not want is removed at the next reconciliation.
x = NetNS("x")
stray = "shx%d" % (os.getpid() % 1000000)
sh(["ip", "link", "add", stray, "type", "veth", "peer", "name", "eth0", "netns", x.ns])
sh("ip link set %s up" % stray)
dp.call("port.add", name="stray", kind="veth", ifname=stray, mode="af_packet",
        pod={"mac": "0a:58:00:00:00:99", "ips": ["10.61.0.99"]})
ag.stop()
ag.start()
check("stray" not in {p["name"] for p in dp.call("port.list")["ports"]},
      "reconciliation removes a pod port the state does not have")
sh(["ip", "link", "del", stray], check=False)

# --- detach, also of a vanished pod; gc ----------------------------------
b.delete()
wait_for(lambda: rb["host_if"] not in host_links(), timeout=5)
r = ag.call("detach", container_id="cb", ifname="eth0", netns=b.path)
check(r == {}, "detach succeeds when the pod's namespace is gone")
check(ag.call("detach", container_id="cb", ifname="eth0") == {}, "detach again: still fine")
check(rb["veth_port"] not in {p["name"] for p in dp.call("port.list")["ports"]},
      "its data plane port is gone")
c = NetNS("c2")
attach(c, "cc", "10.61.0.4", "fd61::4")
r = ag.call("gc", valid=[{"container_id": "cc", "ifname": "eth0"}])
check([x["container_id"] for x in r["removed"]] == ["ca"], "gc removes what is not valid (%s)" % r)
check([x["container_id"] for x in ag.attachments()] == ["cc"], "gc keeps what is valid")
check(ra["host_if"] not in host_links() and
      {p["name"] for p in dp.call("port.list")["ports"]} == {host_if("cc", "eth0")},
      "gc removed the veth and the data plane port")
expect_error(lambda: ag.call("network.delete", name="n1"), 6, ["in use", "cc/eth0"],
             "a network in use cannot be deleted")
ag.call("detach", container_id="cc", ifname="eth0")
ag.call("network.delete", name="n1")
check(ag.call("network.list")["networks"] == [], "network deleted once unused")
check(not (host_links() & {host_if(x, "eth0") for x in ("ca", "cb", "cc")}),
      "no host ends left")
check(dp.call("port.list")["ports"] == [], "no data plane ports left")
done()
