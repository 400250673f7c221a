"""The lab: control-plane masters as network namespaces on one bridge, each
running `kubealived install` for real and then keepalived, either as the
real static pod (`podman kube play` of the rendered manifest) or, for the
benchmark's many trials, as host keepalived on the rendered config.

Addresses are only from 192.0.2.0/24 and 2001:db8::/64, inside namespaces
made here. Everything started is stopped by its own pid or by the name
made here, also on failure or interrupt.

    with Lab(masters=3, mode="host") as lab:
        lab.start_master(1); lab.wait_holder()
"""
import atexit
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
VIP4 = "192.0.2.10"
VIP6 = "2001:db8::10"
BASE_IMAGE = "localhost/kubealived-base:lab"
LAB_IMAGE = "localhost/kubealived:lab"
CACHE = HERE / ".cache"


def sh(*args, check=True, **kw):
    result = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


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
    tools = ["ip", "keepalived", "openssl", "nsenter"]
    if pod_mode:
        tools += ["podman", "runc", "debootstrap"]
    missing += [t for t in tools if not shutil.which(t)]
    return missing


def containers_conf():
    """podman on this machine kind: runc (crun trips on hybrid cgroups), and
    no default ulimits (setting them fails here)."""
    CACHE.mkdir(exist_ok=True)
    conf = CACHE / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def apt_mirror():
    """The Debian mirror apt on this machine uses, for debootstrap."""
    for path in sorted(Path("/etc/apt").rglob("*")):
        if path.suffix not in (".sources", ".list") or not path.is_file():
            continue
        for line in path.read_text().splitlines():
            m = re.match(r"URIs:\s*(\S+)", line) or re.match(r"deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+", line)
            if m and "security" not in m.group(1):
                return m.group(1)
    raise RuntimeError("no Debian mirror found in apt's sources")


def ensure_images(log=print):
    """The lab image: packaging/container/Containerfile on a Debian base made
    here with debootstrap (no registry needed). Both are cached; the lab image
    is rebuilt only when the kubealived binary changes."""
    env = containers_conf()
    if sh("podman", "image", "exists", BASE_IMAGE, check=False, env=env).returncode != 0:
        log("building the base image with debootstrap (about a minute, once)...")
        with tempfile.TemporaryDirectory() as rootfs:
            sh("debootstrap", "--variant=minbase", "--include=keepalived", "bookworm", rootfs, apt_mirror())
            tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
            subprocess.run(["podman", "import", "-", BASE_IMAGE], stdin=tar.stdout, check=True, env=env, capture_output=True)
            tar.wait()
    digest = hashlib.sha256(binary().read_bytes()).hexdigest()
    have = sh("podman", "image", "inspect", "--format", '{{index .Labels "kubealived.binary"}}', LAB_IMAGE, check=False, env=env)
    if have.returncode == 0 and have.stdout.strip() == digest:
        return LAB_IMAGE
    log("building the kubealived lab image...")
    with tempfile.TemporaryDirectory() as ctx:
        shutil.copy(REPO / "packaging/container/Containerfile", Path(ctx) / "Containerfile")
        shutil.copy(binary(), Path(ctx) / "kubealived")
        sh("podman", "build", "--runtime", "runc", "--build-arg", f"BASE={BASE_IMAGE}",
           "--label", f"kubealived.binary={digest}", "-t", LAB_IMAGE, ctx, env=env)
    return LAB_IMAGE


def guide_config(master, masters, vip, interface="eth0"):
    """keepalived.conf of the kubeadm HA guide (ha-considerations.md): VRRPv2,
    1 s adverts, check every 3 s with weight -2 and fall 10, MASTER 101 on
    the first node and BACKUP 100 on the others. Its check is the same HTTPS
    /livez probe (kubealived check-apiserver stands in for its curl script)."""
    state, priority = ("MASTER", 101) if master == 1 else ("BACKUP", 100)
    return f"""global_defs {{
    router_id LVS_DEVEL
    script_user root
    enable_script_security
}}
vrrp_script check_apiserver {{
    script "/usr/local/bin/kubealived check-apiserver --port 6443"
    interval 3
    weight -2
    fall 10
    rise 2
}}
vrrp_instance VI_1 {{
    state {state}
    interface {interface}
    virtual_router_id 51
    priority {priority}
    authentication {{
        auth_type PASS
        auth_pass 42
    }}
    virtual_ipaddress {{
        {vip}
    }}
    track_script {{
        check_apiserver
    }}
}}
"""


class Holders:
    """Who holds each VIP, from one `ip monitor address` per master: an
    event log of (time, master, vip, held) with CLOCK_MONOTONIC times."""

    def __init__(self, lab):
        self.lab = lab
        self.lock = threading.Lock()
        self.held = {}  # (master, vip) -> bool
        self.events = []  # (t, master, vip, held)
        self.procs = []

    def watch(self, master):
        proc = subprocess.Popen(["ip", "-n", self.lab.ns(master), "monitor", "address"],
                                stdout=subprocess.PIPE, text=True, bufsize=1)
        self.procs.append(proc)
        threading.Thread(target=self._read, args=(master, proc), daemon=True).start()

    def _read(self, master, proc):
        for line in proc.stdout:
            for vip in self.lab.vips:
                if re.search(rf"\s{re.escape(vip)}/", line):
                    self._record(master, vip, not line.startswith("Deleted"))

    def _record(self, master, vip, held):
        with self.lock:
            if self.held.get((master, vip), False) != held:
                self.held[(master, vip)] = held
                self.events.append((time.monotonic(), master, vip, held))

    def now(self, vip=VIP4):
        with self.lock:
            return sorted(m for (m, v), h in self.held.items() if h and v == vip)

    def since(self, t0, vip=VIP4):
        with self.lock:
            return [e for e in self.events if e[0] >= t0 and e[2] == vip]

    def spans(self, when, vip=VIP4, t0=0.0, exclude=()):
        """Durations during which `when(number of masters holding vip)` was
        true, for spans starting at or after t0 and outside `exclude`
        windows; one still open counts as infinite."""
        with self.lock:
            events = [e for e in self.events if e[2] == vip]
        held, start, out = set(), None, []

        def keep(t):
            return t >= t0 and not any(a <= t <= b for a, b in exclude)

        for t, master, _, h in events:
            (held.add if h else held.discard)(master)
            if when(len(held)) and start is None:
                start = t
            elif not when(len(held)) and start is not None:
                if keep(start):
                    out.append(t - start)
                start = None
        if start is not None and keep(start):
            out.append(float("inf"))
        return out

    def stop(self):
        for p in self.procs:
            p.kill()
            p.wait()


class Probe:
    """The client, in its own namespace, connecting to VIP:6443 in a loop;
    it also logs its neighbour entry for the VIP (`ip monitor neigh`), so a
    gap can be put against the MAC the client was sending to."""

    def __init__(self, lab, address):
        self.address = address
        self.proc = subprocess.Popen(["ip", "netns", "exec", lab.client, "python3", "-u", str(HERE / "probe.py"), address],
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.neigh_proc = subprocess.Popen(["ip", "-n", lab.client, "monitor", "neigh"],
                                           stdout=subprocess.PIPE, text=True, bufsize=1)
        self.lock = threading.Lock()
        self.ups, self.gaps = [], []  # gaps: (last success, next success)
        self.changes = []  # (t, "up" or how a connection failed), each change
        self.neighbours = []  # (t, `ip monitor neigh` line for the address)
        self._down = None
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_neighbours, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            word, t, *rest = line.split()
            with self.lock:
                if word == "down":
                    self._down = float(t)
                    self.changes.append((float(rest[0]), rest[1]))
                elif word == "fail":
                    self.changes.append((float(t), rest[0]))
                else:
                    if self._down is not None:
                        self.gaps.append((self._down, float(t)))
                        self._down = None
                        self.changes.append((float(t), "up"))
                    self.ups.append(float(t))

    def _read_neighbours(self):
        for line in self.neigh_proc.stdout:
            if self.address in line.split()[:2]:  # "ADDR dev ...", "delete ADDR dev ..."
                with self.lock:
                    self.neighbours.append((time.monotonic(), line.strip()))

    def up(self):
        with self.lock:
            return bool(self.ups) and self._down is None

    def gaps_since(self, t0):
        return [b - a for a, b in self.gap_spans_since(t0)]

    def gap_spans_since(self, t0):
        """(last success, next success) of every gap that ended after t0."""
        with self.lock:
            return [(a, b) for a, b in self.gaps if b >= t0]

    def log_since(self, t0):
        """(t, what) of the client's failures and recoveries from t0 on, and
        of its neighbour changes from the last one before t0 (the entry it
        had)."""
        with self.lock:
            before = [e for e in self.neighbours if e[0] < t0][-1:]
            return sorted(before + [e for e in self.changes + self.neighbours if e[0] >= t0])

    def stop(self):
        for proc in (self.proc, self.neigh_proc):
            proc.kill()
            proc.wait()


class Lab:
    def __init__(self, masters=3, mode="host", dual_stack=False, install_args=(), guide=False, log=print):
        assert 1 <= masters <= 7
        self.n, self.mode, self.dual_stack, self.guide, self.log = masters, mode, dual_stack, guide, log
        self.install_args = list(install_args)
        self.prefix = f"kal{os.getpid()}"
        self.vips = [VIP4, VIP6] if dual_stack else [VIP4]
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        self.namespaces, self.procs = [], {}
        self.keepalived, self.apiservers, self.pods = {}, {}, {}
        self.client = f"{self.prefix}-client"
        self.holders = Holders(self)
        self.probes = []
        self.binary = binary()
        self.env = containers_conf()
        self.image = ensure_images(log) if mode == "pod" else None
        self._closed = False

    # --- names and addresses -------------------------------------------
    def ns(self, i):
        return f"{self.prefix}-m{i}"

    def root(self, i):
        return self.dir / f"m{i}"

    @staticmethod
    def addr4(i):
        return f"192.0.2.{10 + i}"

    @staticmethod
    def addr6(i):
        return f"2001:db8::{10 + i}"

    def mac_names(self):
        """{MAC of a master's eth0: "mN"}, to read the client's neighbour log."""
        names = {}
        for i in range(1, self.n + 1):
            link = json.loads(sh("ip", "-j", "-n", self.ns(i), "link", "show", "eth0").stdout)
            names[link[0]["address"]] = f"m{i}"
        return names

    # --- set-up and tear-down ------------------------------------------
    def __enter__(self):
        atexit.register(self.close)
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)

            def handler(signum, frame, previous=previous):
                self.close()
                if callable(previous):
                    previous(signum, frame)
                raise SystemExit(128 + signum)
            if threading.current_thread() is threading.main_thread():
                signal.signal(sig, handler)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _netns(self, name):
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def _build(self):
        lan = f"{self.prefix}-lan"
        self.lan = lan
        self._netns(lan)
        sh("ip", "-n", lan, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", lan, "link", "set", "br0", "up")
        hosts = [(self.ns(i), f"p{i}", self.addr4(i), self.addr6(i)) for i in range(1, self.n + 1)]
        hosts.append((self.client, "pc", "192.0.2.100", "2001:db8::100"))
        for name, port, a4, a6 in hosts:
            self._netns(name)
            sh("ip", "link", "add", "eth0", "netns", name, "type", "veth", "peer", "name", port, "netns", lan)
            sh("ip", "-n", lan, "link", "set", port, "master", "br0", "up")
            sh("ip", "-n", name, "addr", "add", f"{a4}/24", "dev", "eth0")
            sh("ip", "-n", name, "addr", "add", f"{a6}/64", "dev", "eth0", "nodad")
            sh("ip", "-n", name, "link", "set", "eth0", "up")
        for i in range(1, self.n + 1):
            self.holders.watch(i)
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kube-apiserver",
           "-keyout", str(self.dir / "key.pem"), "-out", str(self.dir / "cert.pem"))
        time.sleep(0.3)  # let the monitors attach before anything happens

    def close(self):
        if self._closed:
            return
        self._closed = True
        for probe in self.probes:
            probe.stop()
        for i in list(self.pods):
            self.stop_pod(i, graceful=False)
        for i in list(self.keepalived):
            self.stop_keepalived(i, graceful=False)
        for i in list(self.apiservers):
            self.stop_apiserver(i)
        for p in self.procs.values():
            p.kill()
            p.wait()
        self.holders.stop()
        for name in reversed(self.namespaces):
            sh("ip", "netns", "del", name, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- kubealived ----------------------------------------------------
    def kubealived(self, i, *args, check=True):
        return sh("ip", "netns", "exec", self.ns(i), str(self.binary), *args, check=check)

    def install(self, i, *extra, reapply=False):
        """`kubealived install --root <master dir>` inside the master."""
        args = ["install", "--root", str(self.root(i))]
        if not reapply:
            for vip in self.vips:
                args += ["--vip", vip]
            if self.image:
                args += ["--image", self.image]
            args += self.install_args + list(extra)
        return self.kubealived(i, *args)

    def conf_path(self, i):
        return self.root(i) / "etc/kubealived/keepalived.conf"

    # --- keepalived on the host (fast mode) ----------------------------
    def start_keepalived(self, i, install=True):
        if self.guide:
            self.conf_path(i).parent.mkdir(parents=True, exist_ok=True)
            self.conf_path(i).write_text(guide_config(i, self.n, VIP4))
        elif install:
            self.install(i)
        # The health check runs this build at the image's path, mounted only
        # in this command's private mount namespace (ip netns exec gives one).
        script = (f"mount -t tmpfs tmpfs /usr/local/bin && cp {self.binary} /usr/local/bin/kubealived && "
                  f"exec keepalived -n -l -D --no-syslog -f {self.conf_path(i)} "
                  f"-p {self.dir}/m{i}.pid -r {self.dir}/m{i}.vrrp.pid")
        log = open(self.dir / f"m{i}.keepalived.log", "a")
        self.keepalived[i] = subprocess.Popen(["ip", "netns", "exec", self.ns(i), "sh", "-c", script],
                                              stdout=log, stderr=subprocess.STDOUT)

    def stop_keepalived(self, i, graceful=True):
        proc = self.keepalived.pop(i)
        proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if not graceful:
            # SIGKILL leaves keepalived's VRRP child; stop it by its pid file.
            pidfile = self.dir / f"m{i}.vrrp.pid"
            if pidfile.exists():
                try:
                    os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
                except (ValueError, ProcessLookupError):
                    pass
            for vip in self.vips:
                prefix = "/128" if ":" in vip else "/32"
                sh("ip", "-n", self.ns(i), "addr", "del", vip + prefix, "dev", "eth0", check=False)

    # --- keepalived as the real static pod -----------------------------
    def pod_name(self, i):
        return f"{self.prefix}-m{i}"

    def play_manifest(self, i):
        """`podman kube play` of the rendered manifest inside the master. Two
        lines change, as a kubelet on that master would not need: the pod name
        (podman names pods after metadata.name, and all masters share this
        machine's podman) and the hostPath prefix (the master's root dir)."""
        manifest = (self.root(i) / "etc/kubernetes/manifests/kubealived.yaml").read_text()
        played = manifest.replace("\n  name: kubealived\n", f"\n  name: {self.pod_name(i)}\n", 1)
        played = played.replace("      path: /etc/kubealived\n", f"      path: {self.root(i)}/etc/kubealived\n", 1)
        assert played.count(self.pod_name(i)) == 1 and str(self.root(i)) in played, "manifest shape changed"
        path = self.dir / f"m{i}.played.yaml"
        path.write_text(played)
        sh("nsenter", f"--net=/run/netns/{self.ns(i)}", "podman", "--runtime", "runc", "kube", "play", str(path), env=self.env)
        self.pods[i] = path

    def start_pod(self, i, install=True):
        if install:
            self.install(i)
        self.play_manifest(i)

    def stop_pod(self, i, graceful=True):
        self.pods.pop(i, None)
        if graceful:
            sh("podman", "pod", "stop", "-t", "10", self.pod_name(i), check=False, env=self.env)
        sh("podman", "pod", "rm", "-f", self.pod_name(i), check=False, env=self.env)
        if not graceful:
            for vip in self.vips:
                prefix = "/128" if ":" in vip else "/32"
                sh("ip", "-n", self.ns(i), "addr", "del", vip + prefix, "dev", "eth0", check=False)

    def pod_logs(self, i):
        out = sh("podman", "logs", f"{self.pod_name(i)}-keepalived", check=False, env=self.env)
        return out.stdout + out.stderr

    # --- one master, whichever mode ------------------------------------
    def start_master(self, i, install=True):
        (self.start_pod if self.mode == "pod" else self.start_keepalived)(i, install=install)

    def stop_master(self, i, graceful=True):
        if i in self.pods:
            self.stop_pod(i, graceful)
        elif i in self.keepalived:
            self.stop_keepalived(i, graceful)

    # --- the stand-in apiserver ----------------------------------------
    def start_apiserver(self, i, healthy=True):
        health = self.dir / f"m{i}.health"
        health.write_text("ok" if healthy else "fail")
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(i), "python3", "-u", str(HERE / "apiserver.py"),
                                 str(self.dir / "cert.pem"), str(self.dir / "key.pem"), str(health)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        self.apiservers[i] = proc

    def set_healthy(self, i, healthy):
        (self.dir / f"m{i}.health").write_text("ok" if healthy else "fail")

    def stop_apiserver(self, i):
        proc = self.apiservers.pop(i)
        proc.kill()
        proc.wait()

    # --- faults --------------------------------------------------------
    def link(self, i, up):
        """The master's bridge port: down is a hard loss (the node vanishes
        from the LAN; its keepalived keeps running)."""
        sh("ip", "-n", self.lan, "link", "set", f"p{i}", "up" if up else "down")

    def partition(self, side_a):
        """Cut the LAN in two: side_a's ports leave the bridge, forming their own."""
        sh("ip", "-n", self.lan, "link", "add", "br1", "type", "bridge")
        sh("ip", "-n", self.lan, "link", "set", "br1", "up")
        for i in side_a:
            sh("ip", "-n", self.lan, "link", "set", f"p{i}", "master", "br1")

    def heal(self, side_a):
        for i in side_a:
            sh("ip", "-n", self.lan, "link", "set", f"p{i}", "master", "br0")
        sh("ip", "-n", self.lan, "link", "del", "br1")

    # --- observation ---------------------------------------------------
    def probe(self, address=VIP4):
        p = Probe(self, address)
        self.probes.append(p)
        return p

    def wait(self, cond, timeout, step=0.02):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = cond()
            if value:
                return value
            time.sleep(step)
        return None

    def client_gap(self, probe, t0, timeout=30):
        """The longest time since t0 that the client got no answer, once it
        answers again."""
        if not self.wait(probe.up, timeout):
            raise RuntimeError(f"the client got no answer for {timeout} s")
        time.sleep(0.3)  # a gap closes on the probe's next success
        return max(probe.gaps_since(t0), default=0.0)

    def wait_holder(self, timeout=15, vip=VIP4, among=None):
        """The single master holding `vip`, once there is exactly one."""
        def one():
            now = self.holders.now(vip)
            if len(now) == 1 and (among is None or now[0] in among):
                return now[0]
            return None
        return self.wait(one, timeout)

    def wait_moved(self, old, t0, timeout, vip=VIP4):
        """Seconds from t0 until a master other than `old` added the VIP."""
        def moved():
            for t, m, _, held in self.holders.since(t0, vip):
                if held and m != old:
                    return t - t0
            return None
        return self.wait(moved, timeout)


def summary(values):
    if not values:
        return "n/a"
    v = sorted(values)
    p90 = v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]
    return f"median {statistics.median(v):.2f} s, p90 {p90:.2f} s, max {v[-1]:.2f} s (n={len(v)})"
