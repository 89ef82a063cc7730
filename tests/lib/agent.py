# SPDX-License-Identifier: BSD-3-Clause
"""Helpers for shuntd's integration tests: a shuntd process on a private
socket and state directory next to a DataPlane (shunt.py), pods as bare
network namespaces (shuntd makes their interfaces), and the names shuntd
derives, to look for leftovers."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import shunt
from shunt import BUILD, Client, CtlError, RUN_ID, at_exit, sh, wait_for

SHUNTD = os.path.join(BUILD, "control", "shuntd")
HOST_IF_RE = re.compile(r"^sh[0-9a-f]{10}$")


def host_if(container_id, ifname):
    """The host end shuntd names for (container_id, ifname): "sh" + 40 bits
    of FNV-1a over "container_id/ifname" (control/attach.c)."""
    h = 0xcbf29ce484222325
    for b in (container_id + "/" + ifname).encode():
        h ^= b
        h = (h * 0x100000001b3) & 0xffffffffffffffff
    return "sh%010x" % (h & 0xffffffffff)


def host_links():
    """Names of every link in the host namespace that looks like shuntd's."""
    out = sh(["ip", "-o", "link", "show"]).stdout
    names = set()
    for line in out.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if HOST_IF_RE.match(name):
            names.add(name)
    return names


class Agent:
    def __init__(self, dp, name="agent", args=()):
        self.dp = dp
        self.dir = tempfile.mkdtemp(prefix="shunt-%s-" % name)
        self.sock = os.path.join(self.dir, "shuntd.sock")
        self.state_dir = os.path.join(self.dir, "state")
        self.state_file = os.path.join(self.state_dir, "state.json")
        self.log = os.path.join(self.dir, "shuntd.log")
        self.extra = list(args)
        self.proc = None
        at_exit(self.cleanup)

    def argv(self):
        return [SHUNTD, "--socket", self.sock, "--state-dir", self.state_dir,
                "--dataplane", self.dp.sock, "--log-level", "debug"] + self.extra

    def start(self, timeout=30, reconciled=True):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self.logf, stderr=subprocess.STDOUT)
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("shuntd exited %d:\n%s" % (self.proc.returncode, self.logtail()))
            try:
                self.call("status")
                break
            except (OSError, ConnectionError):
                time.sleep(0.05)
        else:
            raise RuntimeError("shuntd did not come up:\n" + self.logtail())
        if reconciled:
            self.wait_reconciled(timeout=max(1, end - time.time()))
        return self

    def wait_reconciled(self, timeout=30, runs=1):
        """Until shuntd is connected to the data plane and has finished
        `runs` reconciliations since it started."""
        def ok():
            d = self.call("status")["dataplane"]
            return d["connected"] and not d["reconcile"]["running"] and \
                d["reconcile"]["runs"] >= runs
        if not wait_for(ok, timeout=timeout, step=0.05):
            raise RuntimeError("shuntd did not reconcile:\n" + self.logtail())

    def call(self, method, **params):
        c = Client(self.sock, timeout=30)
        try:
            return c.call(method, **params)
        finally:
            c.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.proc.send_signal(sig)
            self.proc.wait(20)

    def stop(self):
        if not self.alive():
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def logtail(self, n=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def attachments(self):
        return self.call("attachment.list")["attachments"]

    def read_state(self):
        with open(self.state_file) as f:
            return json.load(f)

    def cleanup(self):
        # Leave no veth behind: detach what the state still has.
        if self.alive():
            try:
                for a in self.attachments():
                    self.call("detach", container_id=a["container_id"], ifname=a["ifname"])
            except Exception as e:  # keep cleaning
                print("agent cleanup: %s" % e)
        self.stop()
        try:
            for a in json.load(open(self.state_file))["attachments"]:
                if a["host_if"]:
                    sh(["ip", "link", "del", a["host_if"]], check=False)
        except (OSError, ValueError, KeyError):
            pass
        if shunt.failures:
            print("--- shuntd log (%s) ---\n%s" % (self.log, self.logtail(80)))
        shutil.rmtree(self.dir, ignore_errors=True)


class NetNS:
    """A pod sandbox: an empty network namespace; shuntd adds the rest."""

    def __init__(self, tag):
        self.ns = "shunt-t%s-%s" % (RUN_ID, tag)
        self.path = "/run/netns/" + self.ns
        sh(["ip", "netns", "add", self.ns])
        at_exit(self.delete)
        self.exec("ip link set lo up")

    def exec(self, cmd, **kw):
        return sh(["ip", "netns", "exec", self.ns, "sh", "-c", cmd], **kw)

    def popen(self, args, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.ns] + list(args), **kw)

    def ping(self, dst, count=3, timeout=10, interval=0.2):
        six = ":" in dst
        r = self.exec("ping %s -c %d -i %s -W 2 -w %d %s" % (
            "-6" if six else "-4", count, interval, timeout, dst), check=False,
            timeout=timeout + 10)
        return r.returncode == 0, r.stdout + r.stderr

    def delete(self):
        sh(["ip", "netns", "del", self.ns], check=False)


def expect_error(fn, code, words, what):
    """Call fn(); it must fail with code and a message holding every word."""
    try:
        fn()
        return shunt.check(False, "%s: refused" % what)
    except CtlError as e:
        ok = e.code == code and all(w in e.message for w in words)
        return shunt.check(ok, "%s: (%d) %s" % (what, e.code, e.message))
