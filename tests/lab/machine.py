"""This machine, as the lab uses it: running a command, the kubealived
binary under test, the tools the lab needs, and podman's settings for this
machine kind. Everything else in the lab builds on these."""
import os
import shutil
import signal
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = HERE / ".cache"


def sh(*args, check=True, **kw):
    result = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def stop(proc, sig=signal.SIGKILL, timeout=10):
    """Stop a process the lab started, by its own pid: `sig`, then SIGKILL
    if it outlives `timeout` s; reaped either way."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def binary():
    """The kubealived binary the lab runs: $KUBEALIVED_BIN, else the newest
    of the release and debug builds."""
    if os.environ.get("KUBEALIVED_BIN"):
        return Path(os.environ["KUBEALIVED_BIN"])
    builds = [REPO / "target" / p / "kubealived" for p in ("release", "debug")]
    builds = [b for b in builds if b.exists()]
    if not builds:
        raise RuntimeError("no kubealived binary: run `cargo build --release` first")
    return max(builds, key=lambda b: b.stat().st_mtime)


def missing_prerequisites(pod_mode=False):
    """What this machine lacks to run the lab (empty when it can)."""
    missing = [] if os.geteuid() == 0 else ["root"]
    tools = ["ip", "keepalived", "openssl", "nsenter", "arptables"]
    if pod_mode:
        tools += ["podman", "runc", "apt-get", "dpkg-deb"]
    missing += [t for t in tools if not shutil.which(t)]
    return missing


def containers_conf():
    """podman on this machine kind: runc (crun trips on hybrid cgroups), and
    no default ulimits (setting them fails here)."""
    CACHE.mkdir(exist_ok=True)
    conf = CACHE / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    return {**os.environ, "CONTAINERS_CONF": str(conf)}
