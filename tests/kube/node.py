"""One master (or a worker, for the bench): a network namespace and a persistent mount namespace of its
own (NODE_DIRS bind-mounted from the run directory, /etc an overlay), with
containerd running inside it and kubelet supervised as kubeadm's systemd
unit would. Commands enter it with nsenter (`ip netns exec` would remount
/sys and hide the cgroup hierarchies)."""
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from constants import IMAGE_ARCHIVE, IMAGE_REPO, KUBEALIVED_IMAGE_2, MASTERS, NODE_DIRS, PAUSE_TAG, node_addr, worker_addr
from host import Failed, sh
from watch import ApiserverProbe


class Node:
    def __init__(self, cluster, i, worker=False):
        self.cluster, self.i, self.worker = cluster, i, worker
        short = f"w{i}" if worker else f"m{i}"
        self.name = f"worker{i}" if worker else f"master{i}"
        self.ns = f"{cluster.tag}-{short}"
        self.port = f"w{i}" if worker else f"p{i}"  # its port on the LAN's bridge
        self.addr = worker_addr(i) if worker else node_addr(i)
        self.root = cluster.run_dir / short
        self.mnt = cluster.nsdir / short
        self.cgroup_root = f"/{cluster.tag}-{short}"
        self.containerd = None
        self.kubelet = None
        self.kubelet_enabled = False
        self.kubelet_restarts = 0
        self.supervisor = None
        self.apiserver = None  # ApiserverProbe, once created

    def host_path(self, path):
        """Where a node path (one of NODE_DIRS or below, or under /etc) lives
        on the host. Files under /etc are only read this way (the overlay's
        upper layer); the node writes them."""
        if path.startswith("/etc/"):
            return self.root / "etc-upper" / path[len("/etc/"):]
        for d in NODE_DIRS:
            if path == d or path.startswith(d + "/"):
                return self.root / d.strip("/").replace("/", "_") / path[len(d):].lstrip("/")
        raise ValueError(path)

    def cmd(self, *args):
        return ["nsenter", f"--mount={self.mnt}", f"--net=/run/netns/{self.ns}", "--", *map(str, args)]

    def run(self, *args, check=True, timeout=600, input=None):
        return sh(*self.cmd(*args), check=check, timeout=timeout, env=self.cluster.env, input=input)

    def kubeconfig_server(self, path):
        """The server a kubeconfig of this node names."""
        text = self.host_path(path).read_text()
        return next(line.split("server:", 1)[1].strip() for line in text.splitlines() if "server:" in line)

    def write(self, path, text):
        self.run("sh", "-c", 'cat > "$0"', path, input=text)

    def put(self, path, text):
        """Write path as an operator's tools do, whole or not at all (kubelet
        reads manifests as they change): beside it, then renamed."""
        self.run("mkdir", "-p", os.path.dirname(path))
        self.write(path + ".new", text)
        self.run("mv", path + ".new", path)

    def create(self):
        # kubelet insists that its cgroupRoot exists in every hierarchy (kind's
        # entrypoint makes /kubelet the same way); cpuset needs its cpus and
        # mems filled in before anything can join.
        for top in Path("/sys/fs/cgroup").iterdir():
            if top.is_dir() and not top.is_symlink() and top.name != "unified":
                d = top / self.cgroup_root.strip("/")
                d.mkdir(exist_ok=True)
                for f in ("cpuset.cpus", "cpuset.mems"):
                    if (top / f).exists():
                        (d / f).write_text((top / f).read_text())
        for d in NODE_DIRS:
            self.host_path(d).mkdir(parents=True, exist_ok=True)
        self.mnt.touch()
        upper, work = self.root / "etc-upper", self.root / "etc-work"
        upper.mkdir()
        work.mkdir()
        binds = " && ".join(f"mount --bind {shlex.quote(str(self.host_path(d)))} {d}" for d in NODE_DIRS)
        own = "/etc/kubernetes /etc/kubealived /etc/cni/net.d"
        sh("unshare", f"--mount={self.mnt}", "--propagation", "private", "sh", "-c",
           f"set -e; {binds}; mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc; "
           f"rm -rf {own}; mkdir -p {own}; mount --make-rshared /")
        # Names resolve from /etc/hosts; no resolver (the host's is outside
        # the documentation ranges and unreachable from here anyway).
        self.write("/etc/hosts", "127.0.0.1 localhost\n" + "".join(
            f"{node_addr(j)} master{j}\n" for j in range(1, MASTERS + 1)))
        self.write("/etc/resolv.conf", "# no resolver in the e2e nodes\nnameserver 127.0.0.1\n")
        # The pod network: nothing but static hostNetwork pods runs here, but
        # kubelet reports a node Ready only once the runtime's network is.
        subnet = f"198.51.100.{224 + 8 * (self.i - 1)}/29" if self.worker else f"198.51.100.{128 + 32 * (self.i - 1)}/27"
        self.write("/etc/cni/net.d/10-e2e.conflist", json.dumps({
            "cniVersion": "0.4.0", "name": "e2e",
            "plugins": [{"type": "bridge", "bridge": "cni0", "isGateway": True,
                         "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]]}},
                        {"type": "portmap", "capabilities": {"portMappings": True}}]}))
        config = self.root / "containerd.toml"
        config.write_text(f"""version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  # This machine's root lacks CAP_SYS_RESOURCE, so nothing may lower an
  # oom_score_adj below its own (kubelet asks -998 for sandboxes): clamp.
  restrict_oom_score_adj = true
  sandbox_image = "{IMAGE_REPO}/pause:{PAUSE_TAG}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{os.environ.get('KUBEALIVED_KUBE_RUNC') or shutil.which('runc')}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
""")
        self.start_containerd()
        if not self.worker:
            self.apiserver = ApiserverProbe(self.ns, self.addr)
            self.cluster.holders.watch(self.name, self.ns)

    def start_containerd(self):
        log = open(self.root / "containerd.log", "ab")
        self.containerd = subprocess.Popen(self.cmd("containerd", "--config", self.root / "containerd.toml"),
                                           stdout=log, stderr=subprocess.STDOUT, env=self.cluster.env)
        log.close()
        sock = self.host_path("/run/containerd") / "containerd.sock"
        deadline = time.time() + 60
        while not sock.exists() or self.run("ctr", "version", check=False).returncode != 0:
            if self.containerd.poll() is not None or time.time() > deadline:
                raise Failed(f"{self.name}: containerd did not start; see {self.root}/containerd.log")
            time.sleep(0.2)

    def power_off(self):
        """A power cut: kubelet, containerd, the shims and every container
        of this node SIGKILLed at once (not the test's own observers in its
        namespaces). kubelet stays down until start_supervisor()."""
        self.kubelet_enabled = False
        observers = {self.apiserver.follow.proc.pid} | self.cluster.holders.pids()
        victims = self.pids() - observers
        for p in victims:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.time() + 30
        while self.pids() - observers and time.time() < deadline:
            time.sleep(0.1)
        self.containerd.wait()  # ours to reap; the supervisor thread reaps kubelet
        return len(victims)

    def import_images(self, *archives):
        for a in archives:
            self.run("ctr", "-n", "k8s.io", "images", "import", a, timeout=900)

    def ship_kubealived_archive(self, archive):
        """Put the image archive where the .deb/.rpm put it, in this node only."""
        dest = self.host_path(IMAGE_ARCHIVE)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.link(archive, dest)

    def start_supervisor(self):
        self.kubelet_enabled = True
        self.supervisor = threading.Thread(target=self._supervise, daemon=True)
        self.supervisor.start()

    def _supervise(self):
        """What kubeadm's systemd unit does: run kubelet with kubeadm's flags
        once kubeadm has written them, restart it when it exits."""
        config = self.host_path("/var/lib/kubelet/config.yaml")
        flags = self.host_path("/var/lib/kubelet/kubeadm-flags.env")
        out = open(self.root / "kubelet.log", "ab")
        while not self.cluster.stopping:
            if not self.kubelet_enabled or not (config.exists() and flags.exists()):
                time.sleep(0.2)
                continue
            time.sleep(0.3)  # let kubeadm finish writing both
            m = re.search(r'KUBELET_KUBEADM_ARGS="(.*)"', flags.read_text())
            args = shlex.split(m.group(1)) if m else []
            self.kubelet = subprocess.Popen(
                self.cmd("kubelet", "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
                         "--kubeconfig=/etc/kubernetes/kubelet.conf", "--config=/var/lib/kubelet/config.yaml", *args),
                stdout=out, stderr=subprocess.STDOUT, env=self.cluster.env)
            self.kubelet.wait()
            self.kubelet_restarts += 1
            time.sleep(1)

    def stop_kubelet(self):
        self.kubelet_enabled = False
        k = self.kubelet
        if k and k.poll() is None:
            k.terminate()
            try:
                k.wait(30)
            except subprocess.TimeoutExpired:
                k.kill()
                k.wait()

    def kubealived(self, *args, check=True):
        return self.run(self.cluster.build.kubealived, *args, check=check)

    def pod_log(self, pod, container):
        """A static pod's container logs on this node (kubelet's files),
        every restart of it."""
        pods = self.host_path("/var/log/pods")
        return "".join(p.read_text(errors="replace")
                       for p in sorted(pods.glob(f"kube-system_{pod}-{self.name}_*/{container}/*.log")))

    def kubealived_log(self):
        return self.pod_log("kubealived", "keepalived")

    def manifest(self):
        p = self.host_path("/etc/kubernetes/manifests/kubealived.yaml")
        return p.read_text() if p.exists() else None

    def running(self):
        """{container id: image} of the containers running in this node's containerd."""
        listing = self.run("ctr", "-n", "k8s.io", "containers", "ls", check=False).stdout.splitlines()[1:]
        images = {f[0]: f[1] for f in map(str.split, listing) if len(f) >= 2}
        tasks = self.run("ctr", "-n", "k8s.io", "tasks", "ls", check=False).stdout.splitlines()[1:]
        return {f[0]: images[f[0]] for f in map(str.split, tasks) if f and f[-1] == "RUNNING" and f[0] in images}

    def pod_running(self):
        """Is a container of the kubealived image running in this node's
        containerd? (Recorded under its tag, its digest or both.)"""
        repos = {_repo(self.cluster.kubealived_image), _repo(KUBEALIVED_IMAGE_2)}
        return any(_repo(image) in repos for image in self.running().values())

    def kubealived_image(self):
        """The image of the kubealived container in this node's manifest."""
        return re.search(r"^\s*image: (\S+)", self.manifest(), re.M).group(1)

    def pids_named(self, names):
        """This node's processes whose name (/proc/PID/comm) is one of names."""
        return [p for p in self.pids() if comm(p) in names]

    def pids(self):
        """Every process in this node's network or mount namespace."""
        pids = set()
        out = sh("ip", "netns", "pids", self.ns, check=False).stdout
        pids.update(int(p) for p in out.split() if p.isdigit())
        try:
            ino = os.stat(self.mnt).st_ino
        except OSError:
            ino = None
        if ino:
            for d in Path("/proc").iterdir():
                if d.name.isdigit():
                    try:
                        if os.stat(d / "ns/mnt").st_ino == ino and d.name != str(os.getpid()):
                            pids.add(int(d.name))
                    except OSError:
                        pass
        return pids


def comm(pid):
    """A process's name, or None once it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _repo(ref):
    """An image reference without its tag and digest."""
    name = ref.split("@")[0]
    return name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
