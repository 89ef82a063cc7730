#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""shuntd's API under bad input and foreign callers: malformed JSON,
unknown methods, missing/ill-typed/unknown fields (each named), oversized
requests, too many connections, pipelining; tune.get/set and tuning that
survives a data plane restart; access control by uid and group
(SO_PEERCRED, SO_PEERGROUPS) from uid 65534 via setpriv."""
import grp
import json
import os
import socket
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from shunt import Client, DataPlane, check, done, require_root, wait_for  # noqa: E402
from agent import Agent, NetNS, expect_error  # noqa: E402

require_root()
GROUP = "nogroup"
gid = grp.getgrnam(GROUP).gr_gid
dp = DataPlane("api-dp").start()
ag = Agent(dp, "api", args=["--group", GROUP]).start()
os.chmod(ag.dir, 0o755)  # let uid 65534 reach the socket file itself

st = os.stat(ag.sock)
check(stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == gid,
      "API socket is 0660 root:%s (%o, gid %d)" % (GROUP, stat.S_IMODE(st.st_mode), st.st_gid))
ag.call("network.create", name="n1", prefixes=["10.64.0.0/16"])
pod = NetNS("p")

c = Client(ag.sock)


def raw(line):
    c.raw(line if isinstance(line, bytes) else line.encode())
    return c.read_reply()


r = raw("this is not json\n")
check(r["error"]["code"] == -32700 and "not JSON" in r["error"]["message"],
      "malformed JSON: %s" % r["error"]["message"])
r = raw("[1,2]\n")
check(r["error"]["code"] == -32600, "not an object: %s" % r["error"]["message"])
r = raw('{"id": 3}\n')
check(r["error"]["code"] == -32600 and r["id"] == 3 and "method" in r["error"]["message"],
      "no method: %s" % r["error"]["message"])
r = raw('{"id": 4, "method": "pod.explode"}\n')
check(r["error"]["code"] == -32601 and "pod.explode" in r["error"]["message"],
      "unknown method named: %s" % r["error"]["message"])
r = raw('{"id": 5, "method": "status", "params": [1]}\n')
check(r["error"]["code"] == -32602, "params not an object: %s" % r["error"]["message"])
r = raw('{"id": "a", "method": "status"}\n{"id": "b", "method": "network.list"}\n'
        '{"id": "c", "method": "nope"}\n')
r2, r3 = c.read_reply(), c.read_reply()
check([r["id"], r2["id"], r3["id"]] == ["a", "b", "c"] and "result" in r2,
      "pipelined requests answered in order")

good = {"container_id": "c1", "ifname": "eth0", "netns": pod.path, "network": "n1",
        "ips": ["10.64.0.2/16"]}


def bad(what, words, code=-32602, **change):
    p = dict(good)
    for k, v in change.items():
        if v is None:
            p.pop(k)
        else:
            p[k] = v
    expect_error(lambda: ag.call("attach", **p), code, words, what)


bad("missing field named", ["'ifname'", "required"], ifname=None)
bad("missing container_id named", ["'container_id'"], container_id=None)
bad("ill-typed field named", ["'ips'", "array"], ips="10.64.0.2")
bad("bad element named", ["'ips[1]'", "nonsense"], ips=["10.64.0.2/16", "nonsense"])
bad("unknown field named", ["unknown field", "colour"], colour="blue")
bad("mtu out of range named", ["'mtu'"], mtu=20)
bad("bad MAC named", ["'mac'"], mac="ff:ff:ff:ff:ff:ff")
bad("relative netns refused", ["'netns'"], netns="run/netns/x")
bad("bad mode named", ["'mode'"], mode="tap")
bad("bad container id named", ["'container_id'"], container_id="a/b")
bad("unknown network named", ["'network'", "n9"], code=2, network="n9")
saves = ag.call("status")["state_saves"]
bad("a file that is not a netns", ["'netns'", "not a network namespace"], netns=ag.state_file)
bad("a missing netns", ["'netns'", "No such file"], netns="/run/netns/shunt-none")
check(ag.call("status")["state_saves"] == saves, "refused requests write no state")
expect_error(lambda: ag.call("gc", valid=[{"container_id": "x", "ifname": "eth0"}, {"ifname": "e"}]),
             -32602, ["'valid[1]'", "container_id"], "gc: bad entry named, nothing removed")
expect_error(lambda: ag.call("network.create", name="n2", prefixes=["10.65.0.1/16"]), -32602,
             ["'prefixes[0]'", "host bits"], "network prefix with host bits named")
expect_error(lambda: ag.call("network.create", name="n1", prefixes=["10.66.0.0/16"]), 1,
             ["n1", "exists"], "network re-created with other parameters refused")
check(ag.call("network.create", name="n1", prefixes=["10.64.0.0/16"])["name"] == "n1",
      "network re-created identically: fine")
expect_error(lambda: ag.call("check", container_id="zz", ifname="eth0"), 2, ["zz/eth0"],
             "check of an unknown attachment")

# --- tuning ----------------------------------------------------------------
expect_error(lambda: ag.call("tune.set", colour=3), -32602, ["colour"], "unknown tuning key named")
expect_error(lambda: ag.call("tune.set", burst=100000), -32602, ["burst"],
             "out-of-range value refused by the data plane, named")
r = ag.call("tune.set", idle_sleep_us=77)
check(r["idle_sleep_us"] == 77 and dp.call("config.get")["idle_sleep_us"] == 77, "tune.set applied")
check(ag.read_state()["tune"] == {"idle_sleep_us": 77}, "tuning persisted")
check(ag.call("tune.get")["idle_sleep_us"] == 77, "tune.get reads it back")
dp.stop(sig=9)
dp.start()
ag.wait_reconciled(runs=2)
check(dp.call("config.get")["idle_sleep_us"] == 77, "tuning pushed again to a restarted data plane")

# --- limits -------------------------------------------------------------------
big = Client(ag.sock)
big.raw(b'{"id": 1, "method": "status", "params": {"x": "' + b"a" * 70000 + b'"}}\n')
r = big.read_reply()
check(r["error"]["code"] == -32600 and "longer than 65536" in r["error"]["message"],
      "oversized request refused: %s" % r["error"]["message"])
try:
    big.read_reply()
    check(False, "connection closed after an oversized request")
except (ConnectionError, OSError):
    check(True, "connection closed after an oversized request")

conns = []
for i in range(127):  # 128 with c
    conns.append(Client(ag.sock))
extra = Client(ag.sock)
r = extra.read_reply()
check(r["error"]["code"] == 3 and "too many connections" in r["error"]["message"],
      "connection 129 refused: %s" % r["error"]["message"])
for x in conns:
    x.close()
check(c.call("status")["version"], "the first connection still works")
check([n["name"] for n in ag.call("network.list")["networks"]] == ["n1"] and ag.alive(),
      "shuntd alive, state unaffected by all of it")

# --- access control --------------------------------------------------------------
CLIENT = r'''
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(json.dumps({"connect_error": e.strerror})); sys.exit(0)
s.sendall((json.dumps({"id": 1, "method": sys.argv[2], "params": json.loads(sys.argv[3])}) + "\n").encode())
buf = b""
while b"\n" not in buf:
    d = s.recv(65536)
    if not d: break
    buf += d
print(buf.decode().strip())
'''


def as_user(method, params, regid, groups=None):
    cmd = ["setpriv", "--reuid=65534", "--regid=%d" % regid]
    cmd += ["--groups=%s" % groups] if groups else ["--clear-groups"]
    cmd += ["/usr/bin/python3", "-c", CLIENT, ag.sock, method, json.dumps(params)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return json.loads(r.stdout or '{"stderr": %s}' % json.dumps(r.stderr))


r = as_user("status", {}, gid)
check("result" in r, "uid 65534 in group %s (primary): status allowed" % GROUP)
r = as_user("network.create", {"name": "byuser", "prefixes": ["10.70.0.0/16"]}, gid)
check("result" in r, "uid 65534 in group %s: a mutating call allowed" % GROUP)
r = as_user("status", {}, 65533)
check(r.get("connect_error") == "Permission denied",
      "uid 65534 outside the group: the socket's mode refuses the connection (%s)" % r)
r = as_user("status", {}, 65533, groups=str(gid))
check("result" in r, "group %s as a supplementary group (SO_PEERGROUPS): allowed" % GROUP)
os.chmod(ag.sock, 0o666)  # an operator's mistake: the peer check still holds
r = as_user("status", {}, 65533)
check(r.get("error", {}).get("code") == 5 and "group 'nogroup'" in r["error"]["message"],
      "with the socket opened to all, an outsider's read is refused: %s" % r.get("error"))
r = as_user("attach", good, 65533)
check(r.get("error", {}).get("code") == 5 and "changes state" in r["error"]["message"],
      "and an outsider's attach is refused: %s" % r.get("error"))
os.chmod(ag.sock, 0o660)
check(ag.attachments() == [], "nothing was attached by the refused call")
ag.call("network.delete", name="byuser")
done()
