#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The ib uplink with real verbs: boots the rxe VM (../shared/tools/rxe-vm,
or $SHUNT_RXE_VM) and runs tests/rxe/fabric_ib.sh in it, against this
build's binaries (the VM shares the host's /usr and the folder holding
both the source and the build directory). The checks themselves are in
tests/rxe/fabric_ib.py; this side passes its exit status on.

Skipped (77) with the reason when there is no qemu or no rxe-vm script,
or when the VM does not boot (e.g. no kernel package can be fetched).
Not locked here: callers that share CPUs wrap the whole run (flock)."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

SRC = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.realpath(os.environ.get("SHUNT_BUILD", os.path.join(SRC, "build")))
RXE_VM = os.environ.get("SHUNT_RXE_VM",
                        os.path.realpath(os.path.join(SRC, "..", "shared", "tools", "rxe-vm")))


def skip(why):
    print("SKIP: %s" % why)
    sys.exit(77)


if os.geteuid() != 0:
    skip("needs root (the rxe VM's 9p shares and qemu)")
if not os.access(RXE_VM, os.X_OK):
    skip("no rxe VM script at %s (set SHUNT_RXE_VM)" % RXE_VM)
if shutil.which("qemu-system-x86_64") is None:
    skip("qemu-system-x86_64 is not installed (the ib tests run in a soft-RoCE VM)")
for b in ("dataplane/shunt-dataplane", "control/shuntd", "control/shuntctl"):
    if not os.access(os.path.join(BUILD, b), os.X_OK):
        print("FAIL: %s is not built in %s" % (b, BUILD))
        sys.exit(1)

# The VM sees one host folder: the deepest one holding source and build.
share = os.path.commonpath([SRC, BUILD])
if share == "/":
    skip("the source (%s) and the build (%s) share no folder below / to give "
         "the VM" % (SRC, BUILD))
guest = lambda p: "/mnt/host/" + os.path.relpath(p, share)  # noqa: E731

# The VM runs `bash DIR/SCRIPT`: a small script that names the build.
fd, wrapper = tempfile.mkstemp(prefix=".fabric-ib-", suffix=".sh", dir=BUILD)
with os.fdopen(fd, "w") as f:
    f.write("export SHUNT_BUILD=%s\nexec bash %s\n" % (
        guest(BUILD), guest(os.path.join(SRC, "tests", "rxe", "fabric_ib.sh"))))
try:
    t0 = time.time()
    env = dict(os.environ, MEM=os.environ.get("MEM", "3G"))
    p = subprocess.run([RXE_VM, share, os.path.relpath(wrapper, share)], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=900)
finally:
    os.unlink(wrapper)
out = p.stdout
print(out)
if "@@ READY" not in out:
    skip("the rxe VM did not boot (exit %d); see its output above" % p.returncode)
print("VM run: %.1f s, exit %d" % (time.time() - t0, p.returncode))
sys.exit(1 if p.returncode == 77 else p.returncode)
