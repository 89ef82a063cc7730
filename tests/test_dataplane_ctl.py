#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""shunt-dataplane's control channel under bad input: malformed JSON,
unknown methods, missing and ill-typed fields, oversized requests, too many
connections, a peer of another uid. Each gets an error naming the problem
and the data plane keeps forwarding."""
import json
import os
import socket
import stat
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from shunt import DataPlane, Pod, Client, CtlError, check, done, require_root  # noqa: E402

require_root()
dp = DataPlane("ctl").start()
a = Pod(1, "10.51.0.2")
b = Pod(2, "10.51.0.3")
for p in (a, b):
    dp.call("port.add", name="pod%d" % p.idx, kind="veth", ifname=p.veth(),
            mode="af_packet", pod=p.port_params())

mode = stat.S_IMODE(os.stat(dp.sock).st_mode)
check(mode == 0o600, "control socket mode is 0600 (%o)" % mode)

# Traffic runs through the whole test; it must not lose a beat.
flood = a.popen(["ping", "-4", "-i", "0.01", "-w", "15", "10.51.0.3"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

c = Client(dp.sock)


def raw(line):
    c.raw(line if isinstance(line, bytes) else line.encode())
    return c.read_reply()


r = raw("this is not json\n")
check(r["error"]["code"] == -32700 and "not JSON" in r["error"]["message"],
      "malformed JSON: %s" % r["error"]["message"])
r = raw("[1,2,3]\n")
check(r["error"]["code"] == -32600, "non-object request: %s" % r["error"]["message"])
r = raw('{"id": 7}\n')
check(r["error"]["code"] == -32600 and r["id"] == 7 and "method" in r["error"]["message"],
      "request without method: %s" % r["error"]["message"])
r = raw('{"id": 8, "method": "no.such"}\n')
check(r["error"]["code"] == -32601 and "no.such" in r["error"]["message"],
      "unknown method named: %s" % r["error"]["message"])
r = raw('{"id": 9, "method": "port.add", "params": []}\n')
check(r["error"]["code"] == -32602, "params not an object: %s" % r["error"]["message"])


def expect_error(method, params, word, code=-32602):
    try:
        dp.call(method, **params)
        check(False, "%s %s refused" % (method, params))
    except CtlError as e:
        check(e.code == code and word in e.message,
              "%s refused naming '%s': %s" % (method, word, e.message))


expect_error("port.add", {}, "name")
expect_error("port.add", {"name": "x y", "kind": "veth"}, "name")
expect_error("port.add", {"name": "x", "kind": "wat"}, "kind")
expect_error("port.add", {"name": "x", "kind": "veth"}, "pod")
expect_error("port.add", {"name": "x", "kind": "veth", "pod": {"mac": "zz", "ips": ["1.2.3.4"]}}, "mac")
expect_error("port.add", {"name": "x", "kind": "veth", "pod": {"mac": "0a:00:00:00:00:01", "ips": ["1.2.3.999"]}}, "ips[0]")
expect_error("port.add", {"name": "x", "kind": "veth", "pod": {"mac": "0a:00:00:00:00:01", "ips": ["1.2.3.4"]}}, "ifname")
expect_error("port.add", {"name": "x", "kind": "veth", "ifname": "nosuchif0",
                          "pod": {"mac": "0a:00:00:00:00:01", "ips": ["1.2.3.4"]}}, "nosuchif0", code=4)
expect_error("port.add", {"name": "pod1", "kind": "veth", "ifname": "lo",
                          "pod": {"mac": "0a:00:00:00:00:01", "ips": ["1.2.3.4"]}}, "exists", code=1)
expect_error("port.add", {"name": "x", "kind": "memif", "socket": 5,
                          "pod": {"mac": "0a:00:00:00:00:01", "ips": ["1.2.3.4"]}}, "socket")
expect_error("port.add", {"name": "x", "kind": "eth"}, "devargs")
expect_error("port.add", {"name": "x", "kind": "eth", "devargs": "net_nonesuch0"}, "net_nonesuch0", code=4)
expect_error("route.add", {"prefix": "10.0.0.1/24", "port": "pod1"}, "host bits")
expect_error("route.add", {"prefix": "10.0.0.0/33", "port": "pod1"}, "prefix")
expect_error("route.add", {"prefix": "10.0.0.0/24", "port": "nope"}, "nope", code=2)
expect_error("route.add", {"prefix": "10.51.0.2/32", "port": "pod2"}, "exists", code=1)
expect_error("route.del", {"prefix": "10.51.0.2/32"}, "belongs to port", code=5)
expect_error("route.del", {"prefix": "10.77.0.0/16"}, "no route", code=2)
expect_error("port.del", {"name": "nope"}, "nope", code=2)
expect_error("config.set", {"burst": 0}, "burst")
expect_error("config.set", {"burst": "big"}, "burst")
expect_error("config.set", {"frobnicate": 1}, "frobnicate")
expect_error("config.set", {"poll": {"pod1": 99}}, "pod1")
expect_error("stats", {"port": "nope"}, "nope", code=2)

cfg = dp.call("config.set", burst=64, idle_sleep_us=10)
check(cfg["burst"] == 64 and cfg["idle_sleep_us"] == 10, "config.set applies valid values")
cfg = dp.call("config.set", poll={"pod1": cfg["worker_lcores"][0]})
check(cfg["poll"]["pod1"] == cfg["worker_lcores"][0], "config.set moves a port to a worker lcore")
v = dp.call("version")
check(v["api"] == 1 and "DPDK" in v["dpdk"], "version: %s" % v)

# Oversized request: error, connection closed, others unaffected.
big = Client(dp.sock)
try:
    big.raw(b'{"id":1,"method":"version","params":{"x":"' + b"a" * 70000 + b'"}}\n')
    r = big.read_reply()
    check(r["error"]["code"] == -32600 and "longer than" in r["error"]["message"],
          "oversized request refused: %s" % r["error"]["message"])
except (ConnectionError, OSError) as e:
    check(False, "oversized request answered before closing (%s)" % e)
try:
    big.read_reply()
    check(False, "oversized client disconnected")
except (ConnectionError, OSError):
    check(True, "oversized client disconnected")

# Connection limit: the 17th client is told why.
extra = []
for i in range(20):
    try:
        extra.append(Client(dp.sock, timeout=2))
    except OSError:
        break
refused = 0
for cl in extra:
    # A refused client finds the reason waiting, then EOF.
    cl.s.settimeout(0.3)
    try:
        r = cl.read_reply()
        refused += "too many" in r.get("error", {}).get("message", "")
    except (ConnectionError, OSError):
        pass
check(refused >= 1, "connections beyond the limit refused (%d)" % refused)
for cl in extra:
    cl.close()

# A peer of another uid is refused (the socket mode alone would stop it;
# the peer check is the second wall).
os.chmod(dp.sock, 0o666)
os.chmod(dp.dir, 0o711)
out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                      sys.executable, "-c",
                      "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);"
                      "s.sendall(b'{\"id\":1,\"method\":\"version\"}\\n'); print(s.recv(4096).decode())",
                      dp.sock], capture_output=True, text=True, timeout=10)
os.chmod(dp.sock, 0o600)
os.chmod(dp.dir, 0o700)
check("permission denied" in out.stdout, "peer of another uid refused: %s" % (out.stdout + out.stderr).strip())

# Half a request then silence does not block others.
slow = socket.socket(socket.AF_UNIX)
slow.connect(dp.sock)
slow.sendall(b'{"id": 1, "meth')
check(c.call("version")["api"] == 1 if hasattr(c, "call") else False, "a slow client does not block others")
slow.close()

out, _ = flood.communicate(timeout=30)
loss = [l for l in out.splitlines() if "packet loss" in l]
check(loss and " 0% packet loss" in loss[0], "traffic unaffected by bad requests: %s" % (loss[0] if loss else out[-200:]))
check(dp.alive(), "data plane alive")
done()
