#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""shuntctl against a real shuntd and data plane: every verb with and
without -j, --help on every level, exit status and shuntd's message on
errors."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from shunt import BUILD, DataPlane, check, done, require_root  # noqa: E402
from agent import Agent, NetNS, host_if  # noqa: E402

require_root()
SHUNTCTL = os.path.join(BUILD, "control", "shuntctl")
dp = DataPlane("ctl-dp").start()
ag = Agent(dp, "ctl").start()


def ctl(*args, sock=None):
    r = subprocess.run([SHUNTCTL, "--socket", sock or ag.sock] + list(args),
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def ctl_json(*args):
    rc, out, err = ctl("-j", *args)
    try:
        return rc, json.loads(out)
    except ValueError:
        return rc, {"unparsed": out + err}


def table(out):
    """Rows of a shuntctl table as dicts by header."""
    lines = out.strip().splitlines()
    hdr = lines[0].split()
    return [dict(zip(hdr, ln.split())) for ln in lines[1:]]


rc, out, err = ctl("network", "create", "n1", "10.67.0.0/16", "fd67::/64", "--mtu", "1400")
check(rc == 0 and out == "", "network create: exit 0, quiet (%d %s)" % (rc, err.strip()))
rc, j = ctl_json("network", "create", "n2", "10.68.0.0/16", "--mode", "memif")
check(rc == 0 and j["mode"] == "memif", "network create -j prints the network")
rc, out, _ = ctl("network", "list")
rows = table(out)
check(rc == 0 and rows[0] == {"NAME": "n1", "PREFIXES": "10.67.0.0/16,fd67::/64", "MTU": "1400",
                              "MODE": "veth", "PODS": "0"}, "network list table: %s" % rows[:1])
rc, j = ctl_json("network", "list")
check(rc == 0 and [n["name"] for n in j["networks"]] == ["n1", "n2"], "network list -j")

p, q = NetNS("p"), NetNS("q")
ag.call("attach", container_id="cp", ifname="eth0", netns=p.path, network="n1",
        ips=["10.67.0.2/16", "fd67::2/64"])
ag.call("attach", container_id="cq", ifname="net1", netns=q.path, network="n2",
        ips=["10.68.0.2/16"])
hp = host_if("cp", "eth0")

rc, out, _ = ctl("status")
check(rc == 0 and "connected" in out and "2 (2 ready" in out, "status:\n" + out.rstrip())
rc, j = ctl_json("status")
check(rc == 0 and j["dataplane"]["connected"] and j["attachments"]["ready"] == 2, "status -j")

rc, out, _ = ctl("pod", "list")
rows = {r["CONTAINER"]: r for r in table(out)}
check(rc == 0 and rows["cp"]["HOST-IF"] == hp and rows["cq"]["MEMIF"] == "/shunt/net1" and
      rows["cp"]["STATE"] == "ready", "pod list table")
rc, j = ctl_json("pod", "list")
check(rc == 0 and len(j["attachments"]) == 2, "pod list -j")
rc, out, _ = ctl("pod", "show", "cp", "eth0")
check(rc == 0 and "host_if          %s" % hp in out and "port             %s (veth" % hp in out,
      "pod show")
rc, j = ctl_json("pod", "show", "cp", "eth0")
check(rc == 0 and j["ports"][0]["name"] == hp, "pod show -j has the live port")

rc, out, _ = ctl("port", "list")
rows = {r["NAME"]: r for r in table(out)}
check(rc == 0 and rows[hp]["OWNER"] == "cp/eth0" and rows[hp]["KIND"] == "veth" and
      any(r["KIND"] == "memif" and r["OWNER"] == "cq/net1" for r in rows.values()), "port list")
rc, j = ctl_json("port", "list")
check(rc == 0 and len(j["ports"]) == 2, "port list -j")
rc, out, _ = ctl("route", "list")
rows = {r["PREFIX"]: r for r in table(out)}
check(rc == 0 and rows["10.67.0.2/32"]["PORT"] == hp and rows["fd67::2/128"]["OWNER"] == "cp/eth0",
      "route list")
rc, j = ctl_json("route", "list")
check(rc == 0 and len(j["routes"]) == 3, "route list -j")

rc, out, _ = ctl("tune", "set", "burst", "64")
check(rc == 0 and dp.call("config.get")["burst"] == 64, "tune set burst 64")
rc, out, _ = ctl("tune", "get")
check(rc == 0 and any(ln.split()[:2] == ["burst", "64"] for ln in out.splitlines()), "tune get")
rc, j = ctl_json("tune", "set", "idle_sleep_us", "20")
check(rc == 0 and j["idle_sleep_us"] == 20, "tune set -j")
rc, j = ctl_json("tune", "get")
check(rc == 0 and j["persisted"] == {"burst": 64, "idle_sleep_us": 20}, "tune get -j")

rc, out, err = ctl("tune", "set", "burst", "100000")
check(rc == 1 and "'burst'" in err, "an API error: exit 1 with shuntd's message (%s)" % err.strip())
rc, out, err = ctl("network", "delete", "n1")
check(rc == 1 and "in use by cp/eth0" in err, "network delete refused while in use")
rc, out, err = ctl("status", sock="/nonexistent.sock")
check(rc == 1 and "is shuntd running" in err, "no shuntd: exit 1, says so")
rc, out, err = ctl("pod", "frobnicate")
check(rc == 2 and "unknown command" in err, "unknown verb: exit 2")
rc, out, err = ctl("tune", "set", "burst")
check(rc == 2, "missing argument: exit 2")
for args in (["--help"], ["pod", "--help"], ["network", "create", "--help"], ["status", "--help"]):
    rc, out, _ = ctl(*args)
    check(rc == 0 and ("usage" in out or "      " in out), "help: shuntctl %s" % " ".join(args))

ag.call("gc", valid=[])
rc, out, _ = ctl("network", "delete", "n1")
check(rc == 0, "network delete")
rc, j = ctl_json("network", "delete", "n2")
check(rc == 0 and j == {}, "network delete -j")
rc, out, _ = ctl("network", "list")
check(rc == 0 and out.strip() == "NAME  PREFIXES  MTU  MODE  PODS", "empty list: headers only")
done()
