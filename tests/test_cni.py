#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The CNI plugin `shunt`, executed the way a container runtime executes it
(SPEC.md: environment + network configuration on stdin), with Debian's
host-local IPAM and tuning plugins, a real shuntd and data plane."""
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from shunt import DataPlane, check, done, require_root, sh, BUILD, at_exit  # noqa: E402
from agent import Agent, NetNS, host_links  # noqa: E402

require_root()
PLUGIN = os.path.join(BUILD, "cni", "shunt")
CNI_PATH = "/usr/lib/cni"
if not os.path.exists(os.path.join(CNI_PATH, "host-local")):
    print("SKIP: containernetworking-plugins (host-local) not installed")
    sys.exit(77)

dp = DataPlane("cni").start()
agent = Agent(dp, "cni").start()
ipam_dir = tempfile.mkdtemp(prefix="shunt-cni-ipam-")
delq = tempfile.mkdtemp(prefix="shunt-cni-delq-")
at_exit(lambda: sh(["rm", "-rf", ipam_dir, delq], check=False))


def conf(version="1.1.0", **extra):
    c = {"cniVersion": version, "name": "cninet", "type": "shunt",
         "socket": agent.sock,
         "ipam": {"type": "host-local", "dataDir": ipam_dir,
                  "ranges": [[{"subnet": "10.70.0.0/16"}], [{"subnet": "fd70::/64"}]]}}
    c.update(extra)
    return c


made_links = set()


def cni(command, config, cid="c1", ifname="eth0", netns=None, env_drop=(), raw=None):
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_IFNAME": ifname,
           "CNI_PATH": CNI_PATH, "SHUNT_CNI_DEL_QUEUE": delq, "PATH": os.environ["PATH"]}
    if netns:
        env["CNI_NETNS"] = netns
    for k in env_drop:
        env.pop(k, None)
    data = raw if raw is not None else json.dumps(config)
    r = subprocess.run([PLUGIN], input=data, capture_output=True, text=True, env=env,
                       timeout=60)
    out = json.loads(r.stdout) if r.stdout.strip() else None
    if command == "ADD" and r.returncode == 0:
        made_links.update(i["name"] for i in out["interfaces"] if "sandbox" not in i)
    return r.returncode, out


def allocated():
    d = os.path.join(ipam_dir, "cninet")
    return sorted(f for f in os.listdir(d) if f[0].isdigit() or ":" in f) if os.path.isdir(d) else []


rc, out = cni("VERSION", None, raw='{"cniVersion":"1.1.0"}')
check(rc == 0 and out["supportedVersions"] == ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
      "VERSION lists 0.3.0 to 1.1.0")

# --- ADD in each result format, ping between pods ------------------------
pods = {}
for i, version in enumerate(["1.1.0", "1.0.0", "0.4.0", "0.3.1"]):
    ns = NetNS("cni%d" % i)
    rc, out = cni("ADD", conf(version), cid="c%d" % i, netns=ns.path)
    ok = rc == 0 and out and out["cniVersion"] == version
    check(ok, "ADD with cniVersion %s (%s)" % (version, out if not ok else "ok"))
    if not ok:
        continue
    pods[version] = (ns, out)
    ips = out["ips"]
    check(len(ips) == 2 and all(("version" in ip) == (version < "1.0.0") for ip in ips),
          "%s: ips carry 'version' only before 1.0.0" % version)
    check(any(ip["gateway"] == "169.254.1.1" for ip in ips) and
          any(ip["gateway"] == "fe80::1" for ip in ips), "%s: gateways are the link-local ones" % version)
    sandbox = [x for x in out["interfaces"] if x.get("sandbox")]
    check(sandbox and sandbox[0]["name"] == "eth0" and sandbox[0]["sandbox"] == ns.path,
          "%s: the pod interface with its sandbox" % version)
    check(("mtu" in sandbox[0]) == (version == "1.1.0"), "%s: interface mtu only in 1.1.0" % version)
a_ns, a_out = pods["1.1.0"]
b_ns, b_out = pods["0.4.0"]
b4 = [ip["address"].split("/")[0] for ip in b_out["ips"] if ":" not in ip["address"]][0]
b6 = [ip["address"].split("/")[0] for ip in b_out["ips"] if ":" in ip["address"]][0]
check(a_ns.ping(b4)[0], "pod reaches pod over IPv4 through shunt")
check(a_ns.ping(b6)[0], "pod reaches pod over IPv6 through shunt")
# TCP: the pod's kernel must finish its own checksums and not hand the
# veth TSO super-frames (shuntd turns TX offload off on the pod end).
TCP_SRV = ("import socket,sys\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
           "s.bind((sys.argv[1], 7000)); s.listen(1); s.settimeout(20); c,_=s.accept(); n=0\n"
           "while True:\n    d=c.recv(65536)\n    if not d: break\n    n+=len(d)\nprint(n)\n")
srv = b_ns_proc = subprocess.Popen(["ip", "netns", "exec", b_ns.ns, "python3", "-c", TCP_SRV, b4],
                                   stdout=subprocess.PIPE, text=True)
time.sleep(0.5)
a_ns.exec("python3 -c 'import socket; s=socket.create_connection((\"%s\", 7000), 10); "
          "s.sendall(b\"x\" * 4000000); s.close()'" % b4, check=False, timeout=60)
got = srv.communicate(timeout=60)[0].strip()
check(got == "4000000", "4 MB over TCP between pods (%s bytes)" % got)
check(len(allocated()) == 8, "host-local holds 8 addresses (%d)" % len(allocated()))

# ADD again (runtimes retry after a timeout): same result, no allocation.
rc, again = cni("ADD", conf("1.1.0"), cid="c0", netns=a_ns.path)
check(rc == 0 and again["ips"] == a_out["ips"], "a repeated ADD returns the same addresses")
check(len(allocated()) == 8, "and allocates nothing more (%d)" % len(allocated()))

# CHECK with prevResult.
rc, out = cni("CHECK", conf("1.1.0", prevResult=a_out), cid="c0", netns=a_ns.path)
check(rc == 0, "CHECK passes (%s)" % out)
a_ns.exec("ip addr flush dev eth0")
rc, out = cni("CHECK", conf("1.1.0", prevResult=a_out), cid="c0", netns=a_ns.path)
check(rc != 0 and out and "address" in out["msg"], "CHECK fails when an address is gone: %s" % (out or {}).get("msg"))

# Chained after shunt: Debian's tuning plugin gets our result as prevResult.
t = {"cniVersion": "0.4.0", "name": "cninet", "type": "tuning",
     "sysctl": {"net.ipv4.conf.eth0.accept_local": "1"}, "prevResult": b_out}
env = dict(os.environ, CNI_COMMAND="ADD", CNI_CONTAINERID="c2", CNI_IFNAME="eth0",
           CNI_NETNS=b_ns.path, CNI_PATH=CNI_PATH)
r = subprocess.run([os.path.join(CNI_PATH, "tuning")], input=json.dumps(t), capture_output=True,
                   text=True, env=env)
check(r.returncode == 0 and b_ns.exec("sysctl -n net.ipv4.conf.eth0.accept_local").stdout.strip() == "1",
      "tuning chained after shunt applies its sysctl")
if r.returncode:
    print(r.stdout)

# shunt chained after another plugin keeps its prevResult.
prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "other0"}], "ips": [], "routes": []}
ns_c = NetNS("cni9")
rc, out = cni("ADD", conf("1.0.0", prevResult=prev), cid="c9", netns=ns_c.path)
check(rc == 0 and out["interfaces"][0]["name"] == "other0" and
      all(ip["interface"] >= 1 for ip in out["ips"]), "prevResult extended, interface indexes shifted")

# --- DEL: twice, after the netns is gone, while shuntd is down ------------
before = len(allocated())
rc, _ = cni("DEL", conf("1.0.0"), cid="c9", netns=ns_c.path)
rc2, _ = cni("DEL", conf("1.0.0"), cid="c9", netns=ns_c.path)
check(rc == 0 and rc2 == 0, "DEL twice succeeds both times")
check(len(allocated()) == before - 2, "DEL released the addresses")
ns1, _ = pods["1.0.0"]
ns1.delete()
rc, out = cni("DEL", conf("1.0.0"), cid="c1", netns=ns1.path)
check(rc == 0, "DEL after the netns is gone (%s)" % out)
agent.stop()
n_att = None
rc, out = cni("DEL", conf("0.3.1"), cid="c3", netns=pods["0.3.1"][0].path)
check(rc == 0, "DEL while shuntd is down succeeds (%s)" % out)
check(len(os.listdir(delq)) == 1, "the DEL was queued on disk")
check(not any(a.startswith("10.70.") and open(os.path.join(ipam_dir, "cninet", a)).read().startswith("c3")
              for a in allocated()), "IPAM released for the queued DEL")
rc, out = cni("STATUS", conf())
check(rc == 1 and out["code"] == 50, "STATUS says 50 while shuntd is down (%s)" % out)
agent.start()
rc, out = cni("STATUS", conf())
check(rc == 0, "STATUS ready once shuntd is back")
check(len(os.listdir(delq)) == 0, "the queued DEL was replayed")
check(not any(a["container_id"] == "c3" for a in agent.attachments()), "c3's attachment is gone")
dp.stop()
rc, out = cni("STATUS", conf())
check(rc == 1 and out["code"] == 51, "STATUS says 51 while the data plane is down (%s)" % out)
dp.start()
agent.wait_reconciled(runs=2)

# --- errors -----------------------------------------------------------------
rc, out = cni("ADD", conf(), cid="e1", netns=a_ns.path, env_drop=["CNI_IFNAME"])
check(rc == 1 and out["code"] == 4 and "CNI_IFNAME" in out["msg"], "missing CNI_IFNAME: code 4 (%s)" % out["msg"])
rc, out = cni("ADD", conf(), cid="e1", env_drop=["CNI_NETNS"])
check(rc == 1 and out["code"] == 4 and "CNI_NETNS" in out["msg"], "missing CNI_NETNS: code 4")
rc, out = cni("DEL", conf(), cid="e1", env_drop=["CNI_NETNS"])
check(rc == 0, "DEL without CNI_NETNS is legal")
rc, out = cni("ADD", None, cid="e1", netns=a_ns.path, raw="{not json")
check(rc == 1 and out["code"] == 6, "undecodable config: code 6 (%s)" % out["msg"])
rc, out = cni("ADD", conf("9.9.9"), cid="e1", netns=a_ns.path)
check(rc == 1 and out["code"] == 1 and "9.9.9" in out["msg"], "unsupported version: code 1")
rc, out = cni("ADD", conf(mode="tunnel"), cid="e1", netns=a_ns.path)
check(rc == 1 and out["code"] == 7 and "tunnel" in out["msg"], "bad mode: code 7 naming it (%s)" % out["msg"])
rc, out = cni("ADD", conf(mtu="big"), cid="e1", netns=a_ns.path)
check(rc == 1 and out["code"] == 7 and "mtu" in out["msg"], "bad mtu: code 7")
n = len(allocated())
rc, out = cni("ADD", conf(), cid="e1", ifname="x" * 20, netns=a_ns.path)
check(rc == 1 and len(allocated()) == n, "a failed attach releases its addresses (%s)" % out["msg"])

# --- parallel ADD / DEL -----------------------------------------------------
N = int(os.environ.get("SHUNT_CNI_PARALLEL", "24"))
nss = [NetNS("par%d" % i) for i in range(N)]
with concurrent.futures.ThreadPoolExecutor(N) as ex:
    res = list(ex.map(lambda i: cni("ADD", conf(), cid="p%d" % i, netns=nss[i].path), range(N)))
oks = [r for r in res if r[0] == 0]
check(len(oks) == N, "%d parallel ADDs succeed (%d)" % (N, len(oks)))
addrs = [ip["address"] for _, o in oks for ip in o["ips"]]
check(len(set(addrs)) == len(addrs), "all addresses unique")
target = [ip["address"].split("/")[0] for ip in oks[0][1]["ips"] if ":" not in ip["address"]][0]
unreach = [i for i in range(1, N) if not nss[i].ping(target, count=1, timeout=3)[0]]
check(not unreach, "every parallel pod reaches the first (unreachable: %s)" % unreach)
with concurrent.futures.ThreadPoolExecutor(N) as ex:
    res = list(ex.map(lambda i: cni("DEL", conf(), cid="p%d" % i, netns=nss[i].path), range(N)))
check(all(r[0] == 0 for r in res), "%d parallel DELs succeed" % N)
left = [a for a in agent.attachments() if a["container_id"].startswith("p")]
check(not left, "no attachment left (%d)" % len(left))
ports = [p for p in dp.call("port.list")["ports"] if p["name"].startswith("sh")]
check(len(ports) == 2, "only the two remaining pods' ports left in the data plane (%d)" % len(ports))

# 100 at once: veth pods stop at DPDK's 32 ethdevs, memif pods do not.
M = 100
mns = [NetNS("mp%d" % i) for i in range(M)]
with concurrent.futures.ThreadPoolExecutor(50) as ex:
    res = list(ex.map(lambda i: cni("ADD", conf(mode="memif"), cid="mp%d" % i,
                                    netns=mns[i].path), range(M)))
oks = [r for r in res if r[0] == 0]
check(len(oks) == M, "%d parallel memif ADDs succeed (%d)" % (M, len(oks)))
addrs = [ip["address"] for _, o in oks for ip in o["ips"]]
check(len(set(addrs)) == len(addrs) == 2 * M, "all %d addresses unique" % len(addrs))
socks = [i.get("socketPath") for _, o in oks for i in o["interfaces"] if "socketPath" in i]
listening = [i for i in range(0, M, 10) if mns[i].exec("ss -xlH").stdout.count("@/shunt/eth0 ") == 1]
check(len(socks) == M and socks[0] == "@/shunt/eth0" and len(listening) == 10,
      "each result names its memif socket, listening in its pod (%d of 10 sampled)" % len(listening))
with concurrent.futures.ThreadPoolExecutor(50) as ex:
    res = list(ex.map(lambda i: cni("DEL", conf(mode="memif"), cid="mp%d" % i,
                                    netns=mns[i].path), range(M)))
check(all(r[0] == 0 for r in res), "%d parallel DELs succeed" % M)
check(not [a for a in agent.attachments() if a["container_id"].startswith("mp")],
      "no memif attachment left")
check(not [p for p in dp.call("port.list")["ports"] if p["kind"] == "memif"],
      "no memif port left in the data plane")

# --- veth+memif: the memif app gets addresses of its own ---------------------
vm_ns = NetNS("vm0")
before = len(allocated())
rc, out = cni("ADD", conf(mode="veth+memif"), cid="vm0", netns=vm_ns.path)
ok = rc == 0 and out is not None
check(ok, "veth+memif ADD (%s)" % (out if not ok else "ok"))
if ok:
    names = [i["name"] for i in out["interfaces"]]
    mif = [k for k, i in enumerate(out["interfaces"]) if "socketPath" in i]
    pod = [k for k, i in enumerate(out["interfaces"]) if i["name"] == "eth0"]
    check(mif and pod and "mac" in out["interfaces"][mif[0]] and
          out["interfaces"][mif[0]]["name"] == "eth0-memif",
          "veth+memif: interfaces eth0 and eth0-memif with its mac and socket (%s)" % names)
    by_if = {}
    for ip in out["ips"]:
        by_if.setdefault(ip["interface"], []).append(ip["address"])
    check(mif and pod and len(by_if.get(mif[0], [])) == 2 and len(by_if.get(pod[0], [])) == 2 and
          not set(by_if[mif[0]]) & set(by_if[pod[0]]),
          "veth+memif: two addresses each, distinct (%s)" % by_if)
    check(len(allocated()) == before + 4, "veth+memif: host-local holds 4 more addresses (%d)"
          % (len(allocated()) - before))
    att = [a for a in agent.attachments() if a["container_id"] == "vm0"]
    check(att and sorted(a.split("/")[0] for a in att[0].get("memif_ips", [])) ==
          sorted(a.split("/")[0] for a in by_if.get(mif[0], [])),
          "veth+memif: shuntd holds the memif addresses")
    rc, _ = cni("DEL", conf(mode="veth+memif"), cid="vm0", netns=vm_ns.path)
    check(rc == 0 and len(allocated()) == before, "veth+memif DEL releases all four addresses (%d left over)"
          % (len(allocated()) - before))

# --- GC -----------------------------------------------------------------------
valid = {"cniVersion": "1.1.0", "name": "cninet", "type": "shunt", "socket": agent.sock,
         "ipam": conf()["ipam"],
         "cni.dev/valid-attachments": [{"containerID": "c2", "ifname": "eth0"}]}
rc, out = cni("GC", valid, cid="", env_drop=["CNI_CONTAINERID", "CNI_IFNAME"])
check(rc == 0, "GC runs (%s)" % out)
left = sorted(a["container_id"] for a in agent.attachments())
check(left == ["c2"], "GC kept only the valid attachment (%s)" % left)
check(len(allocated()) == 2, "GC released the others' addresses (%s left)" % [
    (f, open(os.path.join(ipam_dir, "cninet", f)).read().split()[0]) for f in allocated()])
rc, out = cni("DEL", conf(), cid="c2", netns=b_ns.path)
check(rc == 0 and not allocated(), "last DEL releases the last addresses (%s)" % out)
check(made_links and not (made_links & host_links()), "no host veth left of %d made (%s)" % (
    len(made_links), made_links & host_links()))
check(dp.alive() and agent.alive(), "data plane and shuntd alive")
done()
