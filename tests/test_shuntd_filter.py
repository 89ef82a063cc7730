#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""eBPF filters through shuntd: two pods attached by shuntd, the shipped
ACL loaded and attached by the API, UDP 5000 denied and 5001 passing (seen
on both sides), rules changed without a reload, kept across a shuntd
restart and reconciled after kill -9 of the data plane; every shuntctl
filter verb with and without -j; a CNI ADD whose config has `filters`;
bad input refused naming the field."""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from shunt import DataPlane, CtlError, check, done, require_root, sh, wait_for, BUILD, at_exit  # noqa: E402
from agent import Agent, NetNS, expect_error  # noqa: E402

require_root()
ACL = os.path.join(BUILD, "ebpf", "acl.o")
POLICER = os.path.join(BUILD, "ebpf", "policer.o")
SHUNTCTL = os.path.join(BUILD, "control", "shuntctl")
PLUGIN = os.path.join(BUILD, "cni", "shunt")
if not os.path.exists(ACL):
    print("SKIP: filters not built (clang missing?)")
    sys.exit(77)

dp = DataPlane("fagent-dp").start()
ag = Agent(dp, "fagent").start()
ag.call("network.create", name="nf", prefixes=["10.63.0.0/16"])
a, b = NetNS("fa"), NetNS("fb")
for ns, cid, ip in ((a, "fa", "10.63.0.2"), (b, "fb", "10.63.0.3")):
    ag.call("attach", container_id=cid, ifname="eth0", netns=ns.path, network="nf",
            ips=["%s/16" % ip])
check(a.ping("10.63.0.3")[0], "two pods attached by shuntd talk")

RECV = ("import socket,sys,select\n"
        "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.bind((sys.argv[1], int(sys.argv[2]))); n=0\n"
        "while select.select([s],[],[],1.5)[0]: s.recv(2000); n+=1\n"
        "print(n)\n")
SEND = ("import socket,sys,time\n"
        "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "for i in range(int(sys.argv[3])):\n"
        "    s.sendto(b'x'*100, (sys.argv[1], int(sys.argv[2]))); time.sleep(0.002)\n")


def udp(port, dst="10.63.0.3", count=20, src=a, rcv=b):
    """Packets the receiver got of count sent (the receiver's side)."""
    r = rcv.popen(["python3", "-c", RECV, dst, str(port)], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    src.popen(["python3", "-c", SEND, dst, str(port), str(count)]).wait(30)
    out, _ = r.communicate(timeout=30)
    return int(out.strip() or 0)


def ctl(*args):
    r = subprocess.run([SHUNTCTL, "--socket", ag.sock] + list(args), capture_output=True,
                       text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def port_drops(port):
    return dp.stats(port)["drops"].get("filter", 0)


check(udp(5000) == 20, "no filter: UDP 5000 arrives")

# --- load, attach, verified on both sides --------------------------------
r = ag.call("filter.load", name="acl", path=ACL)
check(r == {"name": "acl", "path": ACL}, "filter.load acl from %s" % ACL)
check(ag.call("filter.load", name="acl", path=ACL) == r, "filter.load again: idempotent")
DENY5000 = {"default": "allow", "rules": [{"action": "deny", "proto": 17, "dport": 5000}]}
ag.call("filter.attach", container_id="fb", ifname="eth0", dir="to_pod",
        filters=[{"filter": "acl", "rules": DENY5000}])
bport = ag.call("attachment.show", container_id="fb", ifname="eth0")["veth_port"]
aport = ag.call("attachment.show", container_id="fa", ifname="eth0")["veth_port"]
d0 = port_drops(bport)
got5000, got5001 = udp(5000), udp(5001)
check(got5000 == 0, "ACL to pod fb denies UDP 5000: receiver got %d" % got5000)
check(got5001 == 20, "and lets UDP 5001 through: receiver got %d" % got5001)
check(port_drops(bport) - d0 >= 20, "sender side: the data plane dropped them at fb's port "
      "(filter drops +%d)" % (port_drops(bport) - d0))
fl = ag.call("filter.list")
att = fl["attached"]
check(len(att) == 1 and att[0]["container_id"] == "fb" and att[0]["dir"] == "to_pod" and
      att[0]["ports"][0]["port"] == bport and att[0]["ports"][0]["chain"][0]["runs"] > 0,
      "filter.list: fb's chain joined with the data plane's stats by port")
check(fl["loaded"][0]["in_dataplane"] and fl["loaded"][0]["attached"] == 1,
      "filter.list: acl loaded, used by 1 chain")
st = ag.read_state()
check(st["version"] == 2 and st["filters"] == [{"name": "acl", "path": ACL}] and
      [x for x in st["attachments"] if x["container_id"] == "fb"][0]["filters"][0]["dir"] == "to_pod",
      "persisted (state version 2: filters and the chain)")
expect_error(lambda: ag.call("filter.unload", name="acl"), 6, ["acl", "fb/eth0", "to_pod"],
             "unload while attached is refused (busy)")

# --- rules without a reload ----------------------------------------------
DENY5001 = {"default": "allow", "rules": [{"action": "deny", "proto": 17, "dport": [5001, 5002]}]}
ag.call("filter.rules", container_id="fb", ifname="eth0", dir="to_pod", rules=DENY5001)
check(udp(5000) == 20 and udp(5001) == 0, "filter.rules: 5000 passes, 5001 denied, no reload")
ch = ag.call("attachment.show", container_id="fb", ifname="eth0")["filters"][0]["filters"][0]
check(ch["rules"] == DENY5001, "the new rules are recorded in the attachment")

# --- shuntd restart keeps it ------------------------------------------------
ag.stop()
check(udp(5001) == 0, "while shuntd is down the chain keeps denying")
ag.start()
check(udp(5001) == 0 and udp(5000) == 20, "after a shuntd restart: still 5001 denied, 5000 passes")

# --- data plane kill -9 + restart: reconciled chain ---------------------------
dp.stop(sig=9)
wait_for(lambda: not ag.call("status")["dataplane"]["connected"], timeout=5)
DENY5002 = {"default": "allow", "rules": [{"action": "deny", "proto": 17, "dport": 5002}]}
ag.call("filter.attach", container_id="fa", ifname="eth0", dir="from_pod",
        filters=[{"filter": "acl", "rules": DENY5002}])
check([x["ports"][0]["chain"] for x in ag.call("filter.list")["attached"]
       if x["container_id"] == "fa"] == [None],
      "filter.attach while the data plane is away: recorded, no live chain yet")
dp.start()
ag.wait_reconciled(runs=2)
ok = wait_for(lambda: a.ping("10.63.0.3", count=1, timeout=1)[0], timeout=20)
check(ok, "pods talk again after the data plane restart")
dl = dp.call("filter.list")
check([x["name"] for x in dl["loaded"]] == ["acl"] and
      sorted((x["port"], x["dir"]) for x in dl["attached"]) ==
      sorted([(bport, "to_pod"), (aport, "from_pod")]),
      "reconciliation loaded acl and re-attached both chains")
check(udp(5001) == 0 and udp(5000) == 20, "the reconciled chain denies 5001 and passes 5000")
check(udp(5002) == 0, "the chain attached while the data plane was away is applied (fa denies 5002)")

# --- shuntctl ---------------------------------------------------------------
tmp = tempfile.mkdtemp(prefix="shunt-fctl-")
at_exit(lambda: sh(["rm", "-rf", tmp], check=False))
rules_file = os.path.join(tmp, "deny5000.json")
json.dump(DENY5000, open(rules_file, "w"))
rc, out, err = ctl("filter", "load", "policer", os.path.relpath(POLICER))
check(rc == 0 and out == "", "shuntctl filter load (relative path) %s" % err.strip())
rc, out, err = ctl("filter", "list")
lines = out.splitlines()
check(rc == 0 and lines[0].split() == ["FILTER", "JIT", "INSNS", "LOADED", "CHAINS", "PATH"] and
      any(l.split() and l.split()[0] == "policer" and
          os.path.realpath(l.split()[-1]) == os.path.realpath(POLICER) for l in lines),
      "shuntctl filter list: aligned table, policer recorded with its absolute path")
rc, out, err = ctl("filter", "attach", "fa", "eth0", "from_pod", "acl,policer",
                   "--rules", rules_file, "--rate", "100000000:200000")
check(rc == 0, "shuntctl filter attach acl,policer --rules --rate %s" % err.strip())
check(udp(5000) == 0 and udp(5001) == 0, "fa from_pod denies 5000 (and fb's to_pod 5001)")
print(ctl("filter", "list")[1])
rc, out, err = ctl("-j", "filter", "list")
j = json.loads(out)
fa = [x for x in j["attached"] if x["container_id"] == "fa"][0]
check(rc == 0 and [e["filter"] for e in fa["filters"]] == ["acl", "policer"] and
      fa["filters"][1]["rate"] == {"bytes_per_s": 100000000, "burst": 200000},
      "shuntctl -j filter list: the chain as attached")
json.dump({"default": "allow"}, open(rules_file, "w"))
rc, out, err = ctl("filter", "rules", "fa", "eth0", "from_pod", rules_file)
check(rc == 0 and udp(5000) == 20, "shuntctl filter rules: 5000 allowed again")
rc, out, err = ctl("filter", "stats")
print(out)
check(rc == 0 and out.splitlines()[0].split()[:7] == ["CONTAINER", "IFNAME", "DIR", "PORT", "#", "FILTER",
                                                      "CACHED"]
      and "acl" in out and "policer" in out, "shuntctl filter stats: table per element")
acl_rows = [l.split() for l in out.splitlines() if " acl " in l]
pol_rows = [l.split() for l in out.splitlines() if " policer " in l]
check(acl_rows and all(r[6] == "yes" for r in acl_rows) and pol_rows and all(r[6] == "no" for r in pol_rows),
      "the ACL at the head of the chain is cached, the policer is not")
check("verdict cache:" in out and "hits" in out, "and the verdict cache's counts: %s" % (
    [l for l in out.splitlines() if l.startswith("verdict cache")] or "?"))
rc, out, err = ctl("-j", "filter", "stats")
check(rc == 0 and "attached" in json.loads(out), "shuntctl -j filter stats")
rc, out, err = ctl("filter", "unload", "policer")
check(rc == 1 and "in use" in err and "fa/eth0" in err, "shuntctl filter unload in use: %s" % err.strip())
rc, out, err = ctl("filter", "detach", "fa", "eth0", "from_pod")
check(rc == 0, "shuntctl filter detach")
rc, out, err = ctl("-j", "filter", "unload", "policer")
check(rc == 0 and json.loads(out) == {}, "shuntctl -j filter unload")
for args in (["filter", "--help"], ["filter", "attach", "--help"], ["filter", "rules", "-h"]):
    rc, out, err = ctl(*args)
    check(rc == 0 and "filter" in out, "help: shuntctl %s" % " ".join(args))
rc, out, err = ctl("filter", "attach", "fb", "eth0", "sideways", "acl")
check(rc == 1 and "'dir'" in err, "shuntctl: bad dir, agent's message: %s" % err.strip())
rc, out, err = ctl("filter", "attach", "fb", "eth0", "to_pod", "acl", "--rate", "x")
check(rc == 2 and "--rate" in err, "shuntctl: bad --rate is a usage error")
rc, out, err = ctl("filter", "load", "x", "/no/such.o")
check(rc != 0 and "/no/such.o" in err, "shuntctl: missing file named: %s" % err.strip())

# --- bad input through the API ---------------------------------------------
expect_error(lambda: ag.call("filter.load", name="x", path="/no/such.o"), 2, ["'path'", "/no/such.o"],
             "filter.load of a missing file")
expect_error(lambda: ag.call("filter.load", name="x", path="rel.o"), -32602, ["'path'", "absolute"],
             "filter.load of a relative path")
notelf = os.path.join(tmp, "not.o")
open(notelf, "w").write("hello")
expect_error(lambda: ag.call("filter.load", name="x", path=notelf), -32602, ["ELF"],
             "filter.load of a non-ELF file carries the loader's message")
check("x" not in [f["name"] for f in ag.call("filter.list")["loaded"]], "and is not recorded")
expect_error(lambda: ag.call("filter.attach", container_id="fb", ifname="eth0", dir="to_pod",
                             filters=[{"filter": "nope"}]), -32602, ["filters[0].filter", "nope"],
             "attach of an unloaded filter")
expect_error(lambda: ag.call("filter.attach", container_id="fb", ifname="eth0", dir="to_pod",
                             filters=[{"filter": "acl", "rulez": {}}]), -32602, ["filters[0].rulez"],
             "attach with a misspelt element field")
expect_error(lambda: ag.call("filter.attach", container_id="fb", ifname="eth0", dir="to_pod",
                             filters=[{"filter": "acl", "rules": {"rules": [{"action": "maybe"}]}}]),
             -32602, ["rules[0]"], "attach with a bad rule (the data plane's message)")
expect_error(lambda: ag.call("filter.attach", container_id="fb", ifname="eth0", dir="to_pod",
                             filters=[{"filter": "acl", "flow_cache": "no"}]),
             -32602, ["filters[0].flow_cache", "boolean"], "attach with a non-boolean flow_cache")
check(udp(5001) == 0, "refused attaches left fb's chain as it was")
expect_error(lambda: ag.call("filter.rules", container_id="nope", ifname="eth0", dir="to_pod",
                             rules={}), 2, ["nope/eth0"], "rules of an unknown attachment")
expect_error(lambda: ag.call("filter.unload", name="nope"), 2, ["nope"], "unload of an unknown filter")

# --- CNI ADD with filters in the config ---------------------------------------
if not os.path.exists("/usr/lib/cni/host-local"):
    print("SKIP (part): host-local not installed; CNI part not run")
    done()
ipam_dir = tempfile.mkdtemp(prefix="shunt-fcni-ipam-")
delq = tempfile.mkdtemp(prefix="shunt-fcni-delq-")
at_exit(lambda: sh(["rm", "-rf", ipam_dir, delq], check=False))


def cni(command, cid, ns, filters, **extra):
    c = {"cniVersion": "1.1.0", "name": "nf", "type": "shunt", "socket": ag.sock,
         "ipam": {"type": "host-local", "dataDir": ipam_dir,
                  "ranges": [[{"subnet": "10.63.0.0/16", "rangeStart": "10.63.1.10"}]]},
         "filters": filters}
    c.update(extra)
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_IFNAME": "eth0",
           "CNI_NETNS": ns.path, "CNI_PATH": "/usr/lib/cni", "SHUNT_CNI_DEL_QUEUE": delq,
           "PATH": os.environ["PATH"]}
    r = subprocess.run([PLUGIN], input=json.dumps(c), capture_output=True, text=True,
                       env=env, timeout=60)
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else None


c = NetNS("fc")
rc, out = cni("ADD", "fc", c, [{"dir": "to_pod", "filters": [{"filter": "acl", "rules": DENY5000}]}])
check(rc == 0, "CNI ADD with filters (%s)" % (out if rc else "ok"))
cip = out["ips"][0]["address"].split("/")[0] if rc == 0 else "?"
fc = ag.call("attachment.show", container_id="fc", ifname="eth0")
check(fc["filters"] == [{"dir": "to_pod", "filters": [{"filter": "acl", "rules": DENY5000}]}],
      "the attachment has the config's chain")
check(udp(5000, dst=cip, rcv=c) == 0 and udp(5001, dst=cip, rcv=c) == 20,
      "the ACL applies from the ADD on: 5000 denied, 5001 passes to the CNI pod")
rc, out = cni("DEL", "fc", c, [])
check(rc == 0 and not [x for x in dp.call("filter.list")["attached"] if x["port"] == fc["veth_port"]],
      "CNI DEL: the port and its chain are gone")
d = NetNS("fd")
rc, out = cni("ADD", "fd", d, [{"dir": "to_pod", "filters": [{"filter": "nope"}]}])
check(rc == 1 and "filters[0].filters[0].filter" in out["msg"] + out.get("details", ""),
      "CNI ADD naming an unloaded filter fails naming the field: %s" % (out or {}).get("msg"))
rc, out = cni("ADD", "fd", d, [{"dir": "up", "filters": [{"filter": "acl"}]}])
check(rc == 1 and "filters[0].dir" in out["msg"] + out.get("details", ""),
      "CNI ADD with a bad dir names it: %s" % (out or {}).get("msg"))
rc, out = cni("ADD", "fd", d, [{"dir": "to_pod", "filters": [
    {"filter": "acl", "rules": {"rules": [{"action": "maybe"}]}}]}])
check(rc == 1 and "rules[0]" in out["msg"] + out.get("details", ""),
      "CNI ADD with a bad rule fails with the data plane's message: %s" % (out or {}).get("msg"))
left = [f for f in os.listdir(os.path.join(ipam_dir, "nf"))
        if (f[0].isdigit() and "fd" in open(os.path.join(ipam_dir, "nf", f)).read())]
check(not [x for x in ag.attachments() if x["container_id"] == "fd"] and not left,
      "the failed ADD was undone: no attachment, addresses released (%s)" % left)
check(ag.call("check", container_id="fb", ifname="eth0") == {}, "fb still checks fine")

# --- rate limits: rateLimit and the runtime's bandwidth capability ------------
BW = {"ingressRate": 8000, "ingressBurst": 8000, "egressRate": 800000, "egressBurst": 80000}
rc, out = cni("ADD", "fr", d, [], rateLimit=BW)
msg = (out or {}).get("msg", "") + (out or {}).get("details", "")
check(rc == 1 and "policer" in msg and "shuntctl filter load" in msg,
      "rate limits without the policer loaded: a clear error with the fix: %s" % msg)
rc, out = cni("ADD", "fr", d, [], rateLimit={"egressRate": 1000})
check(rc == 1 and out["code"] == 7 and "rateLimit.egressBurst" in out["msg"],
      "a rate without its burst names the key: %s" % (out or {}).get("msg"))
rc, out = cni("ADD", "fr", d, [], rateLimit={"egressRate": "fast", "egressBurst": 1})
check(rc == 1 and out["code"] == 7 and "rateLimit.egressRate" in out["msg"],
      "a rate that is not a number names the key: %s" % (out or {}).get("msg"))
ag.call("filter.load", name="policer", path=POLICER)
# runtimeConfig.bandwidth (what Kubernetes passes) wins over rateLimit.
rc, out = cni("ADD", "fr", d, [{"dir": "to_pod", "filters": [{"filter": "acl", "rules": DENY5000}]}],
              rateLimit={"egressRate": 8, "egressBurst": 8},
              runtimeConfig={"bandwidth": BW})
check(rc == 0, "CNI ADD with runtimeConfig.bandwidth (%s)" % (out if rc else "ok"))
fr = ag.call("attachment.show", container_id="fr", ifname="eth0") if rc == 0 else {}
chains = {c["dir"]: c["filters"] for c in fr.get("filters", [])}
check(chains.get("to_pod") == [{"filter": "acl", "rules": DENY5000},
                               {"filter": "policer", "rate": {"bytes_per_s": 1000, "burst": 1000}}] and
      chains.get("from_pod") == [{"filter": "policer",
                                  "rate": {"bytes_per_s": 100000, "burst": 10000}}],
      "bandwidth becomes policers after the config's chain, bits turned into bytes: %s" % chains)
if rc == 0:
    rip = out["ips"][0]["address"].split("/")[0]
    got = udp(5001, dst=rip, rcv=d)
    check(1 <= got <= 12, "ingress 1000 B/s, burst 1000 B: %d of 20 x 142 B pass" % got)
rc, out = cni("DEL", "fr", d, [])
check(rc == 0, "CNI DEL of the rate-limited pod")
done()
