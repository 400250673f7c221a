"""A cluster kept for people to try things on (`e2e --keep`), found again
by `tests/kube/node` and removed by `e2e --down`.

The kept run stays in the foreground: it is the cluster's supervisor (it
restarts kubelet as systemd would). It records itself in KEPT, a JSON file
with its pid, its tag (the names it made carry it) and what `node` needs
to enter a master. `--down` asks that process to stop (SIGTERM: its own
cleanup runs); if the process is gone, it removes what the tag names."""
import json
import os
import signal
import time
from pathlib import Path

from constants import CACHE, VIP
from host import log

KEPT = CACHE / "kept.json"


def record(cluster):
    """Write KEPT for this process's cluster; refuse if another is kept."""
    other = read()
    if other and alive(other):
        raise SystemExit(f"e2e --keep: a cluster is already kept by pid {other['pid']}. "
                         "Fix: sudo tests/kube/e2e --down")
    state = {
        "pid": os.getpid(), "started": started(os.getpid()), "tag": cluster.tag, "vip": VIP, "bin_dir": str(cluster.build.bin_dir),
        "kubealived_dir": str(Path(cluster.build.kubealived).parent),
        "client": cluster.client, "admin_conf": str(cluster.admin_conf) if cluster.admin_conf else None,
        "nodes": {n.name: {"ns": n.ns, "mnt": str(n.mnt), "addr": n.addr} for n in cluster.nodes},
    }
    tmp = KEPT.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(KEPT)


def read():
    try:
        return json.loads(KEPT.read_text())
    except FileNotFoundError:
        return None


def forget():
    state = read()
    if state and state["pid"] == os.getpid():
        KEPT.unlink()


def started(pid):
    """When pid started (clock ticks since boot), or None if it is gone
    (a zombie, killed and not yet reaped, is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return None if fields[0] == "Z" else int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def alive(state):
    """Is the kept run still running (and not some later process that got its pid)?"""
    return started(state["pid"]) == state["started"]


def hold(cluster):
    """Print how to use the cluster, then supervise it until SIGTERM/SIGINT."""
    record(cluster)
    first = cluster.nodes[0].name
    print(f"""
==== the cluster is kept: {len(cluster.nodes)} masters ({', '.join(n.name for n in cluster.nodes)}), VIP {VIP}
  sudo tests/kube/node {first} -- kubectl get nodes -o wide     (KUBECONFIG is the node's admin.conf)
  sudo tests/kube/node {first} -- kubealived status
  sudo tests/kube/node {first}                                   (a shell inside {first})
  sudo tests/kube/node client -- kubectl get --raw /readyz       (the client, through the VIP)
  sudo tests/kube/e2e --down                                      (or Ctrl-C here) removes it all
This process is the cluster's supervisor (it runs kubelet as systemd would): leave it running.""", flush=True)
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        log("asked to stop: removing the kept cluster")
    finally:
        forget()


def down(cluster_class):
    """Stop the kept run, or remove what a dead one left. Returns the exit code."""
    state = read()
    if not state:
        print("e2e --down: no kept cluster")
        return 0
    pid = state["pid"]
    if alive(state):
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 180
        while alive(state) and time.time() < deadline:
            time.sleep(0.5)
        if alive(state):
            print(f"e2e --down: pid {pid} did not stop within 180 s; its output says why")
            return 1
    # Whatever the run did not remove itself (killed with SIGKILL, crashed).
    left = cluster_class.left_by(state["tag"])
    if left.made_netns or left.run_dir.exists():
        log(f"the kept run (pid {pid}) is gone: removing what its tag {state['tag']} names")
        left.close()
        print(f"e2e --down: removed what {state['tag']} left")
    else:
        print(f"e2e --down: the kept run (pid {pid}) removed its cluster")
    KEPT.unlink(missing_ok=True)
    return 0
