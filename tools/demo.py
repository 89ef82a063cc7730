#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The main job (run through tools/demo, which installs and builds first):
one node on this machine -- shunt-dataplane, shuntd, the CNI plugin --
two pods attached in mode veth+memif, then ncclperf all_reduce between
them over memif (kernel bypass through the data plane) and over socket
(TCP on the pods' veth interfaces, through the same data plane). Prints
both tables; everything it made is removed at exit, Ctrl-C included.

  tools/demo.py [--build DIR] [--keep-logs] [--collectives all_reduce,...]
                [--transports memif,socket] [ncclperf options]
Extra arguments go to ncclperf (default: -b 8 -e 64M -f 4 -w 5).
SHUNT_DEMO_DP_ARGS: the data plane's options (default --idle-sleep-us 0)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/lib"))

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--build", default=os.path.join(HERE, "../build"))
ap.add_argument("--collectives", default="all_reduce",
                help="comma-separated ncclperf collectives (default all_reduce)")
ap.add_argument("--transports", default="memif,socket",
                help="comma-separated transports (default memif,socket)")
ap.add_argument("--keep-logs", action="store_true",
                help="keep the data plane's and shuntd's logs (their paths are printed)")
opt, nccl_args = ap.parse_known_args()
if not nccl_args:
    nccl_args = ["-b", "8", "-e", "64M", "-f", "4", "-w", "5"]
os.environ["SHUNT_BUILD"] = os.path.abspath(opt.build)

import shunt  # noqa: E402
from shunt import DataPlane, at_exit, sh  # noqa: E402
import agent as agent_mod  # noqa: E402
from agent import Agent, NetNS  # noqa: E402

BUILD = os.path.abspath(opt.build)
shunt.DATAPLANE = os.path.join(BUILD, "dataplane", "shunt-dataplane")
agent_mod.SHUNTD = os.path.join(BUILD, "control", "shuntd")
NCCLPERF = os.path.join(BUILD, "tools", "ncclperf", "ncclperf")
CNI_PATH = "/usr/lib/cni:" + os.path.join(BUILD, "cni")
if os.geteuid() != 0:
    sys.exit("demo: run as root")

work = tempfile.mkdtemp(prefix="shunt-demo-")
at_exit(lambda: sh(["rm", "-rf", work], check=False))


def say(msg):
    print("## " + msg, flush=True)


# The built-in configuration: one network, its pods get a veth (for every
# app and for ncclperf's bootstrap) and a memif interface with addresses
# of its own (for bypass apps), from Debian's host-local IPAM.
NETWORK = {
    "cniVersion": "1.1.0", "name": "demo", "type": "shunt", "mode": "veth+memif",
    "mtu": 1500,
    "ipam": {"type": "host-local", "dataDir": os.path.join(work, "ipam"),
             "ranges": [[{"subnet": "10.77.0.0/24"}]]},
}


def cni(command, conf, cid, ns):
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_IFNAME": "eth0",
           "CNI_NETNS": ns.path, "CNI_PATH": CNI_PATH, "PATH": os.environ["PATH"],
           "SHUNT_CNI_DEL_QUEUE": os.path.join(work, "cni-del-queue")}
    r = subprocess.run([os.path.join(BUILD, "cni", "shunt")], input=json.dumps(conf),
                       capture_output=True, text=True, env=env, timeout=60)
    if r.returncode:
        # RuntimeError, not SystemExit: a failed DEL at exit must not stop
        # the clean-ups after it.
        raise RuntimeError("CNI %s of %s failed: %s" % (command, cid, r.stdout or r.stderr))
    return json.loads(r.stdout) if r.stdout.strip() else None


def pod_spec(ns, result):
    """--pod argument for ncclperf's launcher from the CNI result."""
    ifs = result["interfaces"]
    mif = [k for k, i in enumerate(ifs) if "socketPath" in i][0]
    ip = [a["address"].split("/")[0] for a in result["ips"]
          if a["interface"] == mif and ":" not in a["address"]][0]
    return "netns=%s,memif=%s,ip=%s,mac=%s" % (ns.ns, ifs[mif]["socketPath"], ip,
                                               ifs[mif]["mac"])


# The worker busy-polls (no idle sleep), as on a node with a core for the
# data plane: a 50 us sleep when idle would add to every small message.
DP_ARGS = os.environ.get("SHUNT_DEMO_DP_ARGS", "--idle-sleep-us 0").split()
say("starting shunt-dataplane (control on CPU 0, its worker busy-polls CPU 1; "
    "the ranks will share CPU 0) and shuntd")
dp = DataPlane("demo", args=["--log-level", "info"] + DP_ARGS).start()
ag = Agent(dp, "demo", args=["--log-level", "info"]).start()
conf = dict(NETWORK, socket=ag.sock)
if not opt.keep_logs:
    # shuntd first (it detaches what is left), then its folder; the data
    # plane's own clean-up removes its folder.
    at_exit(lambda: (ag.cleanup(), sh(["rm", "-rf", ag.dir], check=False)))
else:
    say("logs: %s, %s" % (dp.log, ag.log))

pods = []
for name in ("a", "b"):
    ns = NetNS("demo-" + name)
    try:
        res = cni("ADD", conf, "demo-" + name, ns)
    except RuntimeError as e:
        sys.exit("demo: %s" % e)
    # LIFO: the DEL runs before the namespace goes.
    at_exit(lambda ns=ns, cid="demo-" + name: cni("DEL", conf, cid, ns))
    pods.append((ns, res))
    addrs = ", ".join("%s on %s" % (a["address"], res["interfaces"][a["interface"]]["name"])
                      for a in res["ips"])
    say("pod %s (netns %s): %s" % (name, ns.ns, addrs))

specs = [pod_spec(ns, res) for ns, res in pods]
rc = 0
for coll in opt.collectives.split(","):
    for transport in opt.transports.split(","):
        say("ncclperf %s, 2 ranks, transport %s" % (coll, transport))
        # The ranks share CPU 0; the data plane's worker has CPU 1 to itself.
        cmd = ["taskset", "-c", "0", NCCLPERF, coll, "-T", transport]
        for s in specs:
            cmd += ["--pod", s]
        r = subprocess.run(cmd + nccl_args)
        if r.returncode:
            print("demo: ncclperf %s over %s exited %d" % (coll, transport, r.returncode),
                  file=sys.stderr)
            rc = 1
say("removing the pods, shuntd and the data plane")
sys.exit(rc)
