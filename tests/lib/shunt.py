# SPDX-License-Identifier: BSD-3-Clause
"""Helpers for shunt's integration tests: a data plane process on a
private socket, pods as network namespaces, and a JSON-lines client.

Everything a test creates is named with a per-run prefix and removed at
exit, also when the test fails."""

import atexit
import faulthandler
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import tempfile
import time

BUILD = os.environ.get("SHUNT_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
DATAPLANE = os.path.join(BUILD, "dataplane", "shunt-dataplane")
RUN_ID = "%04x" % random.randrange(0x10000)

_cleanups = []
failures = 0


def sh(cmd, check=True, capture=True, timeout=60, **kw):
    r = subprocess.run(cmd, shell=isinstance(cmd, str), check=False,
                       capture_output=capture, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s%s" % (
            r.returncode, cmd, r.stdout or "", r.stderr or ""))
    return r


def at_exit(fn):
    _cleanups.append(fn)


def _cleanup():
    while _cleanups:
        try:
            _cleanups.pop()()
        except Exception as e:  # keep cleaning
            print("cleanup: %s" % e, file=sys.stderr)


atexit.register(_cleanup)


def _excepthook(t, v, tb):
    global failures
    failures += 1
    sys.__excepthook__(t, v, tb)
    _cleanup()


sys.excepthook = _excepthook
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
# A hung test says where it hangs: `kill -USR1` dumps every thread's stack.
faulthandler.register(signal.SIGUSR1)
# and one that outlives its budget prints its stack before meson kills it.
if os.environ.get("SHUNT_TEST_WATCHDOG"):
    faulthandler.dump_traceback_later(int(os.environ["SHUNT_TEST_WATCHDOG"]), exit=True)
sys.stdout.reconfigure(line_buffering=True)


def require_root():
    if os.geteuid() != 0:
        print("SKIP: needs root (network namespaces)")
        sys.exit(77)


def check(cond, what):
    global failures
    if cond:
        print("ok   %s" % what)
    else:
        failures += 1
        print("FAIL %s" % what)
    return cond


def done():
    _cleanup()
    print("%d failure(s)" % failures)
    sys.exit(1 if failures else 0)


class CtlError(Exception):
    def __init__(self, code, message):
        super().__init__("%s (code %d)" % (message, code))
        self.code = code
        self.message = message


class Client:
    """A JSON-lines client of a unix socket (data plane or shuntd)."""

    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""
        self.next_id = 1

    def raw(self, data):
        self.s.sendall(data)

    def read_reply(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, method, **params):
        rid = self.next_id
        self.next_id += 1
        self.raw((json.dumps({"id": rid, "method": method, "params": params}) + "\n").encode())
        r = self.read_reply()
        assert r.get("id") == rid, r
        if "error" in r:
            raise CtlError(r["error"]["code"], r["error"]["message"])
        return r["result"]

    def close(self):
        self.s.close()


class DataPlane:
    def __init__(self, name="dp", args=(), cores="0,1"):
        self.dir = tempfile.mkdtemp(prefix="shunt-%s-" % name)
        self.sock = os.path.join(self.dir, "dataplane.sock")
        self.log = os.path.join(self.dir, "dataplane.log")
        self.args = ["--ctl", self.sock, "--cores", cores, "--log-level", "debug"] + list(args)
        self.proc = None
        at_exit(self.cleanup)

    def start(self, timeout=90):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([DATAPLANE] + self.args, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("shunt-dataplane exited %d:\n%s" % (
                    self.proc.returncode, self.logtail()))
            try:
                c = Client(self.sock)
                c.call("version")
                self.ctl = c
                return self
            except (OSError, ConnectionError):
                time.sleep(0.1)
        raise RuntimeError("shunt-dataplane did not come up:\n" + self.logtail())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def call(self, method, **params):
        return self.ctl.call(method, **params)

    def logtail(self, n=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if not self.alive():
            return None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def cleanup(self):
        self.stop()
        if failures:
            print("--- data plane log (%s) ---\n%s" % (self.log, self.logtail(80)))
        shutil.rmtree(self.dir, ignore_errors=True)

    def stats(self, port):
        return self.call("stats", port=port)["ports"][0]


class Pod:
    """A pod: a network namespace with eth0 addressed the routed way."""

    def __init__(self, idx, ip4, ip6=None, mac=None):
        self.idx = idx
        self.ns = "shunt-t%s-p%d" % (RUN_ID, idx)
        self.netns_path = "/run/netns/" + self.ns
        self.ip4, self.ip6 = ip4, ip6
        self.mac = mac or "0a:58:00:00:%02x:%02x" % (idx >> 8, idx & 255)
        self.host_if = "sh%s%d" % (RUN_ID, idx)
        sh(["ip", "netns", "add", self.ns])
        at_exit(self.delete)
        self.exec("ip link set lo up")

    def exec(self, cmd, **kw):
        return sh(["ip", "netns", "exec", self.ns, "sh", "-c", cmd], **kw)

    def popen(self, args, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.ns] + args, **kw)

    def veth(self):
        """Create the veth pair; the pod end is eth0."""
        sh(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name",
            "eth0", "netns", self.ns])
        sh("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1" % self.host_if)
        # As shuntd does: the pod's kernel finishes checksums (and so does
        # not use TSO); the data plane reads raw frames off the veth.
        self.exec("ethtool -K eth0 tx off >/dev/null")
        sh(["ip", "link", "set", self.host_if, "up"])
        self.address("eth0")
        return self.host_if

    def address(self, ifname):
        """Address ifname the routed way (DESIGN.md)."""
        self.exec("ip link set %s address %s && ip link set %s up" % (ifname, self.mac, ifname))
        self.exec("ip addr add %s/32 dev %s" % (self.ip4, ifname))
        self.exec("ip route add 169.254.1.1 dev %s scope link" % ifname)
        self.exec("ip route add default via 169.254.1.1 dev %s" % ifname)
        if self.ip6:
            self.exec("ip -6 addr add %s/128 dev %s nodad" % (self.ip6, ifname))
            self.exec("ip -6 route add default via fe80::1 dev %s" % ifname)

    def port_params(self):
        ips = [self.ip4] + ([self.ip6] if self.ip6 else [])
        return {"mac": self.mac, "ips": ips}

    def ping(self, dst, count=3, timeout=10, six=False, interval=0.2):
        r = self.exec("ping %s -c %d -i %s -W 2 -w %d %s" % (
            "-6" if six else "-4", count, interval, timeout, dst), check=False,
            timeout=timeout + 10)
        return r.returncode == 0, r.stdout + r.stderr

    def delete(self):
        sh(["ip", "netns", "del", self.ns], check=False)
        sh(["ip", "link", "del", self.host_if], check=False)


def wait_for(pred, timeout=10, step=0.1):
    """pred() until it is true or timeout passes; bounded by a count of
    tries too, should the clock or sleep misbehave (see reap)."""
    end = time.monotonic() + timeout
    for _ in range(int(timeout / step) + 1):
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)
    return pred()


def reap(proc, timeout=30):
    """SIGKILL proc and wait for it, boundedly: True if it is gone.

    Not Popen.wait(timeout): clean-clone runs hung for minutes at 100% CPU
    inside a single waitpid(WNOHANG) call on a SIGKILLed DPDK memif client
    that was still exiting (its memif connection already closed). Here
    waitpid is called only once /proc says the child is a zombie, the
    loop is bounded by a count as well as the clock, and a process still
    exiting is left to the kernel with its state printed."""
    if proc.returncode is not None:
        return True
    # In a daemon thread, so that even a system call that never returns
    # cannot hold the test: os.waitpid releases the GIL.
    out = []
    t = threading.Thread(target=lambda: out.append(_reap(proc, timeout)), daemon=True)
    t.start()
    t.join(timeout + 5)
    if not out:
        print("warning: reaping pid %d did not return in %d s (state %s)" % (
            proc.pid, timeout + 5, _proc_state(proc.pid)))
        return False
    return out[0]


def _reap(proc, timeout):
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    step = 0.02
    for _ in range(int(timeout / step) + 1):
        # waitpid only once the child is a zombie: the hang above was
        # inside waitpid(WNOHANG) itself while the child was exiting.
        if _proc_state(proc.pid).split()[0] in ("Z", "X", "gone"):
            try:
                pid, sts = os.waitpid(proc.pid, os.WNOHANG)
            except ChildProcessError:
                pid, sts = proc.pid, 0
            if pid == proc.pid:
                proc.returncode = (os.waitstatus_to_exitcode(sts) if sts
                                   else -signal.SIGKILL)
                return True
        time.sleep(step)
    print("warning: pid %d still alive %d s after SIGKILL (state %s)" % (
        proc.pid, timeout, _proc_state(proc.pid)))
    return False


def _proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read().rsplit(")", 1)[1].split()[0]
        with open("/proc/%d/wchan" % pid) as f:
            return "%s in %s" % (st, f.read().strip() or "-")
    except OSError:
        return "gone"

