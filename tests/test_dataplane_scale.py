#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""As many veth pods as this DPDK build allows (RTE_MAX_ETHPORTS, 32 in
Debian): every one reachable through AF_XDP, and the next one refused with
a message that says why."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from shunt import DataPlane, Pod, CtlError, check, done, require_root  # noqa: E402

require_root()
dp = DataPlane("scale").start()
pods = [Pod(i, "10.78.0.%d" % (i + 1)) for i in range(1, 33)]
drivers = {}
for p in pods:
    r = dp.call("port.add", name="x%d" % p.idx, kind="veth", ifname=p.veth(), mode="auto",
                pod=p.port_params())
    drivers[p.idx] = r["driver"]
check(all(d == "af_xdp" for d in drivers.values()),
      "all 32 veth ports on AF_XDP (%s)" % sorted(set(drivers.values())))
bad = [p.idx for p in pods[1:] if not p.ping(pods[0].ip4, count=1, timeout=3)[0]]
check(not bad, "every pod reaches pod 1 (unreachable: %s)" % bad)
extra = Pod(40, "10.78.0.99")
try:
    dp.call("port.add", name="x40", kind="veth", ifname=extra.veth(), pod=extra.port_params())
    check(False, "the 33rd ethdev is refused")
except CtlError as e:
    check(e.code == 3 and "RTE_MAX_ETHPORTS" in e.message, "the 33rd ethdev is refused: %s" % e.message)
# memif ports are not ethdevs: still possible.
dp.call("port.add", name="m40", kind="memif", socket="/shunt-m40", netns=extra.netns_path,
        pod=extra.port_params())
check(True, "a memif port is still accepted")
# AF_XDP ports come and go without losing buffers: DPDK 22.11's PMD keeps
# its fill ring's buffers at close, so each port's own pool is freed whole.
for i in range(20):
    dp.call("port.del", name="x32" if i == 0 else "again")
    p = Pod(100 + i, "10.78.1.%d" % (i + 1))
    dp.call("port.add", name="again", kind="veth", ifname=p.veth(), mode="af_xdp",
            pod=p.port_params())
    p.delete()
dp.call("port.del", name="again")
time.sleep(5)
freed = open(dp.log).read().count("freeing AF_XDP pool")
check(freed >= 20, "closed AF_XDP ports' pools freed (%d of 20)" % freed)
check(dp.alive(), "data plane alive")
done()
