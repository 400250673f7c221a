"""The cluster the e2e builds: a LAN namespace with a bridge, three nodes
on it (node.py), for the bench workers too, and a client namespace; who holds the VIP (watch.py);
kubectl from the client through the VIP; and the cleanup that removes all
of it, by pid and by the names this run made."""
import json
import os
import shutil
import signal
import time
from pathlib import Path

from constants import CACHE, CLIENT_ADDR, MASTERS, MAX_WORKERS, NODE_DIRS, PORT, TAG, VIP
from host import Failed, log, sh, wait
from node import Node
from watch import READY, VipHolders


class Cluster:
    def __init__(self, build, tag=TAG):
        self.build = build  # builds.Build
        self.tag = tag  # every name this run makes carries it
        self.stopping = False
        self.run_dir = CACHE / "run" / tag
        self.nsdir = Path("/run") / f"{tag}-mnt"
        self.lan = f"{tag}-lan"
        self.client = f"{tag}-c"
        self.nodes = []  # the masters
        self.workers = []  # kubelets only (the bench's --workers), joined once the masters are up
        self.made_netns = []
        self.made_hostdirs = []
        self.holders = VipHolders()
        self.kubealived_image = None  # as install named it (step 1)
        self.admin_conf = None  # kubeadm init's admin.conf, for the client (step 3)
        self.join = None  # token, hash and key from kubeadm init's output (step 3)

    def netns(self, name):
        sh("ip", "netns", "add", name)
        self.made_netns.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def setup(self, workers=0):
        bin_dir = self.build.bin_dir
        self.env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"}
        self.run_dir.mkdir(parents=True)
        for d in NODE_DIRS:
            if not Path(d).exists():
                Path(d).mkdir(parents=True)
                self.made_hostdirs.append(d)
        self.nsdir.mkdir()
        sh("mount", "--bind", self.nsdir, self.nsdir)
        sh("mount", "--make-private", self.nsdir)
        self.netns(self.lan)
        sh("ip", "-n", self.lan, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.lan, "link", "set", "br0", "up")
        self.nodes = [Node(self, i) for i in range(1, MASTERS + 1)]
        self.workers = [Node(self, i, worker=True) for i in range(1, workers + 1)]
        for node in self.nodes + self.workers:
            self._attach(node.ns, node.port, node.addr)
            sh("ip", "netns", "exec", node.ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self._attach(self.client, "pc", CLIENT_ADDR)

    def _attach(self, ns, port, addr):
        self.netns(ns)
        sh("ip", "link", "add", f"{self.tag}{port}", "netns", ns, "type", "veth", "peer", "name", port, "netns", self.lan)
        sh("ip", "-n", ns, "link", "set", f"{self.tag}{port}", "name", "eth0")
        sh("ip", "-n", self.lan, "link", "set", port, "master", "br0", "up")
        sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")

    @classmethod
    def left_by(cls, tag):
        """What a run that is gone (killed, crashed) left under its tag:
        enough of a Cluster for close() to remove it by those names."""
        c = cls(None, tag)
        c.nodes = [Node(c, i) for i in range(1, MASTERS + 1)]
        c.workers = [w for w in (Node(c, i, worker=True) for i in range(1, MAX_WORKERS + 1))
                     if Path("/run/netns", w.ns).exists()]
        c.made_netns = [ns for ns in [c.lan, c.client] + [n.ns for n in c.nodes + c.workers]
                        if Path("/run/netns", ns).exists()]
        return c

    def keep_logs(self):
        """Copy the nodes' logs (tails) out of the run directory before it goes."""
        dest = CACHE / "logs" / self.tag
        for n in self.nodes + self.workers:
            for f in list(n.root.glob("*.log")) + list(n.root.glob("*.yaml")) + \
                    list(n.host_path("/var/log/pods").rglob("*.log")):
                try:
                    data = f.read_bytes()[-2_000_000:]
                except OSError:
                    continue
                rel = f.relative_to(n.root)
                (dest / n.name / rel).parent.mkdir(parents=True, exist_ok=True)
                (dest / n.name / rel).write_bytes(data)
        # Keep the last few runs only.
        runs = sorted((CACHE / "logs").iterdir(), key=lambda p: p.stat().st_mtime)
        for old in runs[:-5]:
            shutil.rmtree(old, ignore_errors=True)
        return dest

    def close(self):
        self.stopping = True
        everyone = self.nodes + self.workers
        for n in everyone:
            n.kubelet_enabled = False
            if n.kubelet and n.kubelet.poll() is None:
                n.kubelet.terminate()
        self.holders.stop()
        for n in self.nodes:
            if n.apiserver:
                n.apiserver.stop()
        # Everything left in the namespaces this test made: containerd, its
        # shims, the containers (hostNetwork), kubelet.
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            pids = set()
            for n in everyone:
                pids |= n.pids()
            for p in pids:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + grace
            while time.time() < deadline and any(n.pids() for n in everyone):
                time.sleep(0.2)
        for n in everyone:
            if n.mnt.exists():
                sh("umount", n.mnt, check=False)
        if self.nsdir.exists():
            sh("umount", self.nsdir, check=False)
            shutil.rmtree(self.nsdir, ignore_errors=True)
        for ns in reversed(self.made_netns):
            sh("ip", "netns", "del", ns, check=False)
        # kubelet's cgroups (cgroupfs driver, one cgroupRoot per node).
        for n in everyone:
            for top in Path("/sys/fs/cgroup").iterdir():
                tree = top / n.cgroup_root.strip("/")
                if tree.is_dir():
                    for d in sorted((p for p in tree.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                        try:
                            d.rmdir()
                        except OSError:
                            pass
                    try:
                        tree.rmdir()
                    except OSError as e:
                        log(f"cleanup: cgroup {tree} left: {e}")
        mounts = Path("/proc/self/mountinfo").read_text()
        if str(self.run_dir) in mounts:
            log(f"cleanup: mounts remain under {self.run_dir}; not removing it")
        elif self.run_dir.exists():
            shutil.rmtree(self.run_dir, ignore_errors=True)
        for d in reversed(self.made_hostdirs):
            try:
                os.rmdir(d)
            except OSError:
                pass

    # -------------------------------------------------------- helpers

    def holding(self):
        """The nodes holding the VIP now."""
        return [n for n in self.nodes if self.holders.holds(n.name)]

    def taken_elsewhere(self, node, since):
        """When another node (the first in order that did) took the VIP at or after since."""
        return next((self.holders.first(n.name, since) for n in self.nodes
                     if n is not node and self.holders.first(n.name, since)), None)

    def settle(self, timeout=180):
        """Exactly one holder, all three apiservers up, kubectl answers: that holder."""
        wait("one VIP holder", lambda: len(self.holding()) == 1, timeout)
        wait("all apiservers ready", lambda: all(n.apiserver.now() == READY for n in self.nodes), timeout)
        wait("kubectl through the VIP", self.answers, timeout)
        return self.holding()[0]

    def take_admin_conf(self, node):
        """kubeadm init's admin.conf on node, for the client: its server
        line, which must be the VIP."""
        self.admin_conf = self.run_dir / "admin.conf"
        shutil.copy(node.host_path("/etc/kubernetes/admin.conf"), self.admin_conf)
        server = node.kubeconfig_server("/etc/kubernetes/admin.conf")
        if server != f"https://{VIP}:{PORT}":
            raise Failed(f"admin.conf's server is not the VIP: {server}")
        return f"server: {server}"

    def kubectl(self, *args, timeout=15, check=False):
        return sh("ip", "netns", "exec", self.client, self.build.bin_dir / "kubectl", "--kubeconfig", self.admin_conf,
                  *args, check=check, timeout=timeout)

    def answers(self):
        return self.kubectl("get", "--raw", "/readyz", "--request-timeout=2s", timeout=10).returncode == 0

    def ready_nodes(self, role="control-plane"):
        """The Ready nodes with role (control-plane; None: any)."""
        out = self.kubectl("get", "nodes", "-o", "json", "--request-timeout=5s", timeout=20)
        if out.returncode != 0:
            return []
        ready = []
        for item in json.loads(out.stdout)["items"]:
            conds = {c["type"]: c["status"] for c in item["status"].get("conditions", [])}
            roles = item["metadata"].get("labels", {})
            if conds.get("Ready") == "True" and (role is None or f"node-role.kubernetes.io/{role}" in roles):
                ready.append(item["metadata"]["name"])
        return sorted(ready)
