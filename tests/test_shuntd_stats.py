#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""shuntd's stats method and `shuntctl stats`: per pod and per port
counters move when pods ping, drops are counted by reason, pod counters
are the sum of their ports', rates come from two samples (also under
--watch, with and without -j), bad arguments are refused by name."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from shunt import BUILD, check, done, require_root  # noqa: E402
from shunt import DataPlane  # noqa: E402
from agent import Agent, NetNS, expect_error  # noqa: E402

require_root()
SHUNTCTL = os.path.join(BUILD, "control", "shuntctl")
COUNTERS = ("rx_pkts", "rx_bytes", "tx_pkts", "tx_bytes", "dropped")
dp = DataPlane("stats-dp").start()
ag = Agent(dp, "stats").start()


def ctl(*args):
    r = subprocess.run([SHUNTCTL, "--socket", ag.sock] + list(args),
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def by_owner(res):
    return {"%s/%s" % (p["container_id"], p["ifname"]): p for p in res["pods"]}


def pinger(ns, dst, interval="0.05"):
    """A background ping at about 1/interval pps, for rates."""
    return subprocess.Popen(["ip", "netns", "exec", ns.ns, "ping", "-q", "-i", interval, dst],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


ag.call("network.create", name="n1", prefixes=["10.70.0.0/16"])
p, q, m = NetNS("sp"), NetNS("sq"), NetNS("sm")
rp = ag.call("attach", container_id="cp", ifname="eth0", netns=p.path, network="n1",
             ips=["10.70.0.2/16"])
rq = ag.call("attach", container_id="cq", ifname="eth0", netns=q.path, network="n1",
             ips=["10.70.0.3/16"])
ag.call("attach", container_id="cm", ifname="net1", netns=m.path, network="n1",
        ips=["10.70.0.4/16"], mode="memif")

s0 = ag.call("stats")
pods = by_owner(s0)
check(set(pods) == {"cp/eth0", "cq/eth0", "cm/net1"} and pods["cp/eth0"]["ports"] == [rp["veth_port"]]
      and isinstance(s0["time_ms"], int), "stats: one entry per pod, with its ports")
ports = {x["name"]: x for x in s0["ports"]}
check(ports[rp["veth_port"]]["owner"] == "cp/eth0" and ports[rp["veth_port"]]["kind"] == "veth" and
      "no_route" in ports[rp["veth_port"]]["drops"], "stats: ports joined with their owner, drops by reason")

ok, out = p.ping("10.70.0.3", count=20, interval=0.05)
check(ok, "ping cp -> cq")
ok, _ = p.ping("10.99.0.1", count=5, interval=0.05, timeout=2)
check(not ok, "ping to an address without a route fails")
s1 = ag.call("stats")
a0, a1 = by_owner(s0), by_owner(s1)
d = {k: a1["cp/eth0"][k] - a0["cp/eth0"][k] for k in COUNTERS}
check(d["rx_pkts"] >= 25 and d["tx_pkts"] >= 20 and d["rx_bytes"] >= 25 * 84,
      "cp's counters moved with the pings: %s" % d)
dq = a1["cq/eth0"]["rx_pkts"] - a0["cq/eth0"]["rx_pkts"]
check(dq >= 20, "cq's counters moved too (rx %d)" % dq)
nr = a1["cp/eth0"]["drops"]["no_route"] - a0["cp/eth0"]["drops"]["no_route"]
check(nr >= 5 and a1["cp/eth0"]["dropped"] >= nr, "drops counted by reason: no_route +%d" % nr)
port1 = {x["name"]: x for x in s1["ports"]}[rp["veth_port"]]
check(all(port1[k] == a1["cp/eth0"][k] for k in COUNTERS), "pod counters = its port's")
check(s1["time_ms"] > s0["time_ms"], "time_ms moves")

one = ag.call("stats", container_id="cq", ifname="eth0")
check([x["container_id"] for x in one["pods"]] == ["cq"] and
      [x["name"] for x in one["ports"]] == [rq["veth_port"]], "stats of one pod")
expect_error(lambda: ag.call("stats", container_id="cq"), -32602, ["'ifname'"],
             "stats with container_id only")
expect_error(lambda: ag.call("stats", container_id="nope", ifname="eth0"), 2,
             ["nope/eth0"], "stats of an unknown pod")
expect_error(lambda: ag.call("stats", port="x"), -32602, ["'port'"], "stats with an unknown field")

# shuntctl: rates from two samples while cp pings at about 20 pps.
bg = pinger(p, "10.70.0.3")
try:
    time.sleep(0.5)
    rc, out, err = ctl("stats")
    lines = out.splitlines()
    hdr = lines[1].split() if len(lines) > 1 else []
    row = next((ln.split() for ln in lines if ln.startswith("cp/eth0 ")), [])
    cell = dict(zip(hdr, row))
    check(rc == 0 and lines[0].startswith("# ") and hdr[:4] == ["POD", "PORTS", "RX-PKTS", "RX-PPS"]
          and float(cell.get("RX-PPS", "0").rstrip("kMG")) > 5,
          "shuntctl stats: a pod table with a rate (%s)" % cell) or print(out)
    check(any(ln.startswith("PORT ") and "KIND" in ln for ln in lines) and
          any(ln.startswith(rp["veth_port"]) for ln in lines), "shuntctl stats: a port table")
    check(any(ln.split()[:1] == ["PORT"] and "REASON" in ln for ln in lines) and
          any("no_route" in ln for ln in lines), "shuntctl stats: drops by reason")
    rc, out, err = ctl("-j", "stats")
    j = json.loads(out) if rc == 0 else {}
    r = by_owner(j)["cp/eth0"]["rates"] if j else {}
    check(rc == 0 and 10 < r.get("rx_pps", 0) < 40 and r["rx_bps"] >= 8 * 84 * 10 and
          800 <= j["interval_ms"] <= 1500, "shuntctl -j stats: rates over ~1 s (%s)" % r)
    rc, out, err = ctl("stats", "--watch", "0.5", "--count", "2", "cp", "eth0")
    samples = [ln for ln in out.splitlines() if ln.startswith("# ")]
    rows = [ln.split() for ln in out.splitlines() if ln.startswith("cp/eth0 ")]
    check(rc == 0 and len(samples) == 2 and len(rows) == 2 and
          all(float(x[3].rstrip("kMG")) > 0 for x in rows) and "cq/eth0" not in out,
          "shuntctl stats --watch 0.5 --count 2 cp eth0: two samples with rates") or print(out)
    rc, out, err = ctl("-j", "stats", "--watch", "0.3", "--count", "3")
    js = [json.loads(ln) for ln in out.splitlines()] if rc == 0 else []
    check(len(js) == 3 and all(200 <= x["interval_ms"] <= 800 for x in js) and
          all(by_owner(x)["cp/eth0"]["rates"]["rx_pps"] > 0 for x in js),
          "shuntctl -j stats --watch: one JSON line per sample, each with rates")
finally:
    bg.terminate()
    bg.wait()

for args, words in ((["--watch", "abc"], ["'abc'"]), (["--watch", "0"], ["'0'"]),
                    (["--watch"], ["--watch"]), (["--count", "2"], ["--count"]),
                    (["--watch", "1", "--count", "-1"], ["'-1'"]), (["cp"], ["IFNAME", "'cp'"]),
                    (["--frob"], ["'--frob'"]), (["a", "b", "c"], ["'c'"])):
    rc, out, err = ctl("stats", *args)
    check(rc == 2 and all(w in err for w in words) and out == "",
          "shuntctl stats %s: exit 2, says %s" % (" ".join(args), err.splitlines()[0] if err else ""))
rc, out, err = ctl("stats", "nope", "eth0")
check(rc == 1 and "no attachment nope/eth0" in err, "shuntctl stats of an unknown pod: exit 1 (%s)"
      % err.strip())
rc, out, _ = ctl("stats", "--help")
check(rc == 0 and "--watch" in out, "shuntctl stats --help")

dp.stop()
expect_error(lambda: ag.call("stats"), 7, ["stats"], "stats without a data plane")
done()
