# SPDX-License-Identifier: BSD-3-Clause
"""A pod-side memif app for tests: DPDK's own memif PMD as a client
(dpdk-testpmd), so shunt's server is checked against the implementation
pod apps use. Two shapes:
  - bridge: memif <-> a tap "eth0" in the pod, io-forwarded, so the pod's
    kernel (ping, sockets) talks through memif;
  - txonly/rxonly: a load generator.
"""
import subprocess
import itertools

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
