# SPDX-License-Identifier: BSD-3-Clause
"""A pod-side memif app for tests: DPDK's own memif PMD as a client
(dpdk-testpmd), so shunt's server is checked against the implementation
pod apps use. Two shapes:
  - bridge: memif <-> a tap "eth0" in the pod, io-forwarded, so the pod's
    kernel (ping, sockets) talks through memif;
  - txonly/rxonly: a load generator.
"""
import subprocess
import threading
import itertools

from shunt import reap

_seq = itertools.count()


def testpmd(pod, socket, mode="bridge", mac=None, ip_src=None, ip_dst=None,
            peer_mac=None, cores="0@0,1@1", pktlen=64, log=None):
    prefix = "shunt-tp-%s-%d" % (pod.ns, next(_seq))
    memif = "net_memif0,role=client,socket=%s,id=0" % socket
    if mac:
        memif += ",mac=%s" % mac
    args = ["dpdk-testpmd", "--no-huge", "--no-shconf", "-m", "192", "--lcores", cores,
            "--no-pci", "--file-prefix", prefix, "--log-level=4", "--vdev", memif]
    if mode == "bridge":
        args += ["--vdev", "net_tap0,iface=eth0", "--", "--no-mlockall", "--forward-mode=io"]
    else:
        args += ["--", "--no-mlockall", "--forward-mode=%s" % mode]
        if mode == "txonly":
            args += ["--tx-ip=%s,%s" % (ip_src, ip_dst), "--eth-peer=0,%s" % peer_mac,
                     "--txpkts=%d" % pktlen]
    args += ["--auto-start", "--total-num-mbufs=4096", "--txd=256", "--rxd=256"]
    return pod.popen(args, stdin=subprocess.PIPE,
                     stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT)


def stop(proc, timeout=10):
    """End a testpmd the way an operator does: Enter on its stdin, so it
    stops its ports (the tap in the pod included) and exits. SIGKILLing a
    bridge-mode testpmd left its parent spinning for minutes in the
    kernel while reaping it (wait4 -> release_task ->
    proc_invalidate_siblings_dcache -> shrink_dcache_parent), three times
    in clean-clone runs; the kill tests kill txonly clients, which have
    no tap. Falls back to reap() when it does not exit."""
    try:
        proc.stdin.write(b"\n")
        proc.stdin.close()
    except (OSError, ValueError):
        pass
    t = threading.Thread(target=proc.wait, daemon=True)
    t.start()
    t.join(timeout)
    if proc.returncode is None:
        return reap(proc)
    return True
