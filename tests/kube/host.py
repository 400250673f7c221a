"""This machine, as the e2e uses it: running a command (sh), waiting for a
condition (wait, within), the timestamped log line, the one error a step raises
(Failed), and the prerequisites (require)."""
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

START = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - START:7.1f}s] {msg}", flush=True)


class Failed(Exception):
    pass


def sh(*args, check=True, timeout=600, env=None, input=None):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                       env=env, input=input)
    if check and p.returncode != 0:
        raise Failed(f"{shlex.join(map(str, args))} exited {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def within(cond, timeout, interval=0.2):
    """cond()'s first true value, asked every interval s; None after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v or None
        time.sleep(interval)


def wait(what, cond, timeout, interval=0.2):
    """within(), but Failed after timeout s."""
    v = within(cond, timeout, interval)
    if not v:
        raise Failed(f"timed out after {timeout} s waiting for {what}")
    return v


def require():
    """Prerequisites: skip loudly, or fail with CI=true."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    os.environ["PATH"] = os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin") + ":/usr/local/go/bin"
    for tool in ["go", "containerd", "ctr", "runc", "nsenter", "unshare", "ip", "apt-get", "dpkg-deb",
                 "conntrack", "socat", "cargo"]:
        if not shutil.which(tool):
            missing.append(tool)
    if not Path("/usr/lib/cni/bridge").exists():
        missing.append("containernetworking-plugins")
    if missing:
        msg = f"tests/kube/e2e: SKIPPED, missing {', '.join(missing)}. Fix: sudo scripts/setup, run as root"
        print(f"!!!! {msg}", flush=True)
        sys.exit(1 if os.environ.get("CI") == "true" else 0)
