#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""shuntd --metrics: the Prometheus text endpoint. The page parses (HELP
and TYPE before each family's samples, every sample `name{labels} value`,
counters named *_total), per pod and per port counters move when pods
ping, drops carry a reason label, a bad path is 404 and a POST 405, it
listens on the given address only, bad --metrics values stop shuntd with a
message naming them, and it keeps serving while the data plane is away."""
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from shunt import DataPlane, check, done, require_root, wait_for  # noqa: E402
from agent import SHUNTD, Agent, NetNS  # noqa: E402

require_root()
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? '
                    r'(-?[0-9.eE+-]+|NaN|[+-]Inf)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


PORT = free_port()
URL = "http://127.0.0.1:%d" % PORT
dp = DataPlane("metrics-dp").start()
ag = Agent(dp, "metrics", args=["--metrics", "127.0.0.1:%d" % PORT]).start()


def get(path="/metrics", method="GET", host="127.0.0.1"):
    req = urllib.request.Request("http://%s:%d%s" % (host, PORT, path), method=method,
                                 data=b"x" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def parse(text):
    """{(name, frozenset(labels)): value}, and a list of format errors."""
    samples, errors, helped, typed = {}, [], set(), {}
    for ln in text.splitlines():
        if ln.startswith("# HELP "):
            helped.add(ln.split()[2])
            continue
        if ln.startswith("# TYPE "):
            typed[ln.split()[2]] = ln.split()[3]
            continue
        m = SAMPLE.match(ln)
        if not m:
            errors.append("not a sample: %r" % ln)
            continue
        name = m.group(1)
        if name not in helped or name not in typed:
            errors.append("%s: no HELP/TYPE before it" % name)
        if typed.get(name) == "counter" and not name.endswith("_total"):
            errors.append("%s: a counter not named *_total" % name)
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        samples[(name, labels)] = float(m.group(3))
    return samples, errors


def value(samples, name, **labels):
    want = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and want <= set(ls)]
    return sum(found) if found else None


status, ctype, text = get()
samples, errors = parse(text)
check(status == 200 and ctype.startswith("text/plain; version=0.0.4"),
      "GET /metrics: 200, %s" % ctype)
check(not errors and value(samples, "shunt_dataplane_connected") == 1,
      "page parses, data plane connected (%s)" % errors[:3])

ag.call("network.create", name="n1", prefixes=["10.71.0.0/16"])
p, q = NetNS("mp"), NetNS("mq")
rp = ag.call("attach", container_id="mp", ifname="eth0", netns=p.path, network="n1",
             ips=["10.71.0.2/16"])
ag.call("attach", container_id="mq", ifname="eth0", netns=q.path, network="n1", ips=["10.71.0.3/16"])
s0, errors = parse(get()[2])
check(not errors and value(s0, "shunt_attachments", state="ready") == 2, "two attachments ready")
pod = {"container_id": "mp", "ifname": "eth0"}
port = {"port": rp["veth_port"], "kind": "veth", "container_id": "mp"}
ok, _ = p.ping("10.71.0.3", count=10, interval=0.05)
check(ok, "ping mp -> mq")
p.ping("10.98.0.1", count=3, interval=0.05, timeout=1)
s1, errors = parse(get()[2])
check(not errors, "page parses after traffic (%s)" % errors[:3])
for name, labels, least in (("shunt_pod_rx_packets_total", pod, 13),
                            ("shunt_pod_tx_packets_total", pod, 10),
                            ("shunt_pod_rx_bytes_total", pod, 13 * 84),
                            ("shunt_port_rx_packets_total", port, 13),
                            ("shunt_port_tx_bytes_total", port, 10 * 84),
                            ("shunt_pod_drops_total", dict(pod, reason="no_route"), 3),
                            ("shunt_port_drops_total", dict(port, reason="no_route"), 3)):
    a, b = value(s0, name, **labels), value(s1, name, **labels)
    check(a is not None and b is not None and b - a >= least,
          "%s{%s} moved by >= %d (%s -> %s)" % (name, ",".join("%s=%s" % x for x in labels.items()),
                                                least, a, b))
reasons = {dict(ls).get("reason") for (n, ls) in s1 if n == "shunt_port_drops_total"}
check({"no_route", "spoof_ip", "tx_full"} <= reasons, "every drop reason has a sample")
net = {dict(ls).get("network") for (n, ls) in s1 if n == "shunt_pod_rx_packets_total"}
check(net == {"n1"}, "pod samples carry the network label")
b0, b1 = value(s0, "shunt_worker_busy_seconds_total", worker="0"), \
    value(s1, "shunt_worker_busy_seconds_total", worker="0")
r0, r1 = value(s0, "shunt_worker_rounds_total", worker="0"), value(s1, "shunt_worker_rounds_total", worker="0")
check(b0 is not None and b1 > b0 and r1 > r0,
      "worker 0's busy seconds and rounds grow with traffic (%s -> %s s, %s -> %s rounds)" % (b0, b1, r0, r1))
check(all(value(s1, "shunt_filter_cache_%s_total" % k) is not None
          for k in ("hits", "misses", "uncached", "bypassed")), "the verdict cache's counters are exported")

# Label values are escaped: an ifname may hold '"' and '\\' (memif: no
# kernel interface, only a socket name).
x = NetNS("mx")
odd = 'n"x\\1'
ag.call("attach", container_id="mx", ifname=odd, netns=x.path, network="n1",
        ips=["10.71.0.9/16"], mode="memif")
text = get()[2]
s3, errors = parse(text)
check(not errors and 'ifname="n\\"x\\\\1"' in text,
      "an ifname with a quote and a backslash is escaped in labels (%s)" % errors[:2])
ag.call("detach", container_id="mx", ifname=odd)

status, _, body = get("/nope")
check(status == 404 and "/nope" in body, "GET /nope: 404 naming it")
status, _, _ = get("/metrics", method="POST")
check(status == 405, "POST /metrics: 405")
check(ag.call("status")["dataplane"]["connected"], "the API still answers")

# 127.0.0.2 is on lo as well: refused there means bound to 127.0.0.1 only.
try:
    get(host="127.0.0.2")
    check(False, "not listening on 127.0.0.2")
except (urllib.error.URLError, ConnectionError) as e:
    check("refused" in str(e).lower(), "not listening on 127.0.0.2 (%s)" % e)
ss = subprocess.run(["ss", "-Hltn", "sport", "= :%d" % PORT], capture_output=True, text=True).stdout
check(ss.split()[3:4] == ["127.0.0.1:%d" % PORT], "one listening socket, 127.0.0.1:%d" % PORT)

dp.stop()
wait_for(lambda: not ag.call("status")["dataplane"]["connected"], timeout=10)
status, _, text = get()
s2, errors = parse(text)
check(status == 200 and not errors and value(s2, "shunt_dataplane_connected") == 0 and
      value(s2, "shunt_attachments", state="ready") == 2 and
      value(s2, "shunt_pod_rx_packets_total") is None,
      "data plane away: 200, connected 0, no pod counters")

for arg, words in (("nonsense", "'nonsense'"), ("127.0.0.1", "'127.0.0.1'"),
                   ("300.1.1.1:80", "'300.1.1.1:80'"), ("127.0.0.1:%d" % PORT, "127.0.0.1:%d" % PORT)):
    d = os.path.join(ag.dir, "bad")
    r = subprocess.run([SHUNTD, "--socket", os.path.join(d, "s.sock"), "--state-dir", d,
                        "--dataplane", dp.sock, "--metrics", arg],
                       capture_output=True, text=True, timeout=20)
    check(r.returncode == 1 and words in r.stderr and "--metrics" in r.stderr,
          "--metrics %s: exit 1, %s" % (arg, r.stderr.strip().splitlines()[-1:]))
done()
