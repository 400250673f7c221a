"""The lab: control-plane masters as network namespaces on one bridge, each
running `kubealived install` for real and then keepalived, either as the
real static pod (`podman kube play` of the rendered manifest) or, for the
benchmark's many trials, as host keepalived on the rendered config.

Addresses are only from 192.0.2.0/24 and 2001:db8::/64 (names.py), inside
namespaces made here. Everything started is stopped by its own pid or by
the name made here, also on failure or interrupt. The masters forward IP
packets, as a kubeadm node must.

    with Lab(masters=3, mode="host") as lab:
        lab.start_master(1); lab.wait_holder()

The other files: machine.py (commands, the binary, prerequisites), names.py,
image.py (the pod mode's image), guide.py (the kubeadm guide's config),
observe.py (VIP holders, the client), stats.py (summaries).
"""
import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from guide import guide_config, script_config
from image import ensure_images
from machine import HERE, binary, containers_conf, sh, stop
from names import (CLIENT4, CLIENT6, CLUSTER_CA, CONFIG_DIR, CONTAINER, IMAGE_BINARY, KEEPALIVED_CONF, MANIFEST,
                   MANIFESTS_DIR, POD, VIP4, VIP6, addr4, addr6, host_prefix)
from observe import Holders, Probe


class LabError(RuntimeError):
    """The lab could not do what was asked, and says why."""


class Lab:
    """n masters and a client as network namespaces on one bridge, as a
    context manager that removes all of it. Masters: start_cluster, or
    start_master/stop_master one by one (mode "host": keepalived on the
    rendered config; "pod": the rendered static pod with podman), with a
    stand-in apiserver each (start_apiserver, set_healthy). Faults: link,
    partition/heal, kill_vrrp. Observing: holders (observe.Holders), probe()
    (observe.Probe), wait_holder, wait_moved, client_gap. kubealived runs
    inside a master with kubealived(i, command, ...)."""

    def __init__(self, masters=3, mode="host", dual_stack=False, install_args=(), guide=False, log=print,
                 design="agent", conf_edit=None, forwarding=True):
        """design (host mode): "agent" runs `kubealived agent` (which runs
        keepalived) as the pod does; "script" keepalived on the design
        before the agent (guide.script_config); guide=True the kubeadm
        guide's config. conf_edit(text) -> text changes the rendered
        keepalived.conf (benchmark variants). forwarding: the masters
        forward IP packets, as every kubeadm node does (its preflight
        requires net.ipv4.ip_forward=1); False only to show what that
        changes."""
        assert 1 <= masters <= 7
        self.n, self.mode, self.dual_stack, self.guide, self.log = masters, mode, dual_stack, guide, log
        self.design = "guide" if guide else design
        self.conf_edit = conf_edit
        self.forwarding = forwarding
        self.install_args = list(install_args)
        self.prefix = f"kal{os.getpid()}"
        self.vips = [VIP4, VIP6] if dual_stack else [VIP4]
        self._dir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        self.namespaces, self.procs = [], []
        self.keepalived, self.apiservers, self.pods = {}, {}, {}
        self.client = f"{self.prefix}-client"
        self.holders = Holders(self.vips)
        self.probes = []
        self.binary = binary()
        self.env = containers_conf()
        self.image = ensure_images(log) if mode == "pod" else None
        self._closed = False

    # --- names and addresses -------------------------------------------
    @property
    def masters(self):
        """The masters' numbers, 1 to n."""
        return range(1, self.n + 1)

    def ns(self, i):
        return f"{self.prefix}-m{i}"

    def _root(self, i):
        """Master i's `install --root`: its /etc and the rest."""
        return self._dir / f"m{i}"

    def mac_names(self):
        """{MAC of a master's eth0: "mN"}, to read the client's neighbour log."""
        names = {}
        for i in self.masters:
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
        hosts = [(self.ns(i), f"p{i}", addr4(i), addr6(i)) for i in self.masters]
        hosts.append((self.client, "pc", CLIENT4, CLIENT6))
        for name, port, a4, a6 in hosts:
            self._plug(name, port, a4, a6)
        for i in self.masters:
            self.holders.watch(i, self.ns(i))
            on = int(self.forwarding)
            sh("ip", "netns", "exec", self.ns(i), "sysctl", "-qw", f"net.ipv4.ip_forward={on}",
               f"net.ipv6.conf.all.forwarding={on}")
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kube-apiserver",
           "-keyout", str(self._dir / "key.pem"), "-out", str(self._dir / "cert.pem"))
        time.sleep(0.3)  # let the monitors attach before anything happens

    def _plug(self, name, port, a4, a6):
        """A new namespace `name` whose eth0 is on the LAN bridge (port `port`)."""
        self._netns(name)
        sh("ip", "link", "add", "eth0", "netns", name, "type", "veth", "peer", "name", port, "netns", self.lan)
        sh("ip", "-n", self.lan, "link", "set", port, "master", "br0", "up")
        sh("ip", "-n", name, "addr", "add", f"{a4}/24", "dev", "eth0")
        sh("ip", "-n", name, "addr", "add", f"{a6}/64", "dev", "eth0", "nodad")
        sh("ip", "-n", name, "link", "set", "eth0", "up")

    def add_host(self, name, a4, a6):
        """Another host on the LAN, not a master (a rogue one in the trust
        tests): its namespace's name, removed with the lab."""
        ns = f"{self.prefix}-{name}"
        self._plug(ns, f"p{name}", a4, a6)
        return ns

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
        for p in self.procs:
            stop(p)
        self.holders.stop()
        for name in reversed(self.namespaces):
            sh("ip", "netns", "del", name, check=False)
        shutil.rmtree(self._dir, ignore_errors=True)

    def _file(self, i, what):
        """A file the lab keeps for master i: its pid files, log, health."""
        return self._dir / f"m{i}.{what}"

    # --- kubealived ----------------------------------------------------
    def kubealived(self, i, command, *args, check=True):
        """`kubealived COMMAND --root <master i's root> ARGS` inside master i."""
        return sh("ip", "netns", "exec", self.ns(i), str(self.binary), command, "--root", str(self._root(i)), *args,
                  check=check)

    def kubealived_start(self, i, command, *args):
        """`kubealived COMMAND` inside master i, in the background: for a
        command that waits on the pod (uninstall waits for it to stop and
        hand the VIP over, which kubelet's part, stop_pod, then does)."""
        return subprocess.Popen(["ip", "netns", "exec", self.ns(i), str(self.binary), command, "--root",
                                 str(self._root(i)), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def install(self, i, *extra, reapply=False):
        """`kubealived install` inside the master: with the lab's VIPs, image
        and options, or with no flags at all (`reapply`: the saved settings)."""
        args = []
        if not reapply:
            for vip in self.vips:
                args += ["--vip", vip]
            if self.image:
                args += ["--image", self.image]
            args += self.install_args + list(extra)
        return self.kubealived(i, "install", *args)

    def conf_path(self, i):
        """The keepalived.conf kubealived wrote on master i."""
        return self._root(i) / KEEPALIVED_CONF

    def manifest_path(self, i):
        """The static pod manifest kubealived wrote on master i."""
        return self._root(i) / MANIFEST

    # --- keepalived on the host (fast mode) ----------------------------
    def run_dir(self, i):
        """Master i's agent run directory (the container's /run/kubealived)."""
        return self._file(i, "run")

    def _pidfile(self, i, which):
        """keepalived's pid files: the agent's run directory, or the lab's."""
        if self.design == "agent":
            return self.run_dir(i) / {"pid": "keepalived.pid", "vrrp.pid": "vrrp.pid"}[which]
        return self._file(i, which)

    def start_keepalived(self, i, install=True):
        if self.design == "guide":
            self.conf_path(i).parent.mkdir(parents=True, exist_ok=True)
            self.conf_path(i).write_text(guide_config(i, VIP4))
        elif install:
            self.install(i)
        conf = self.conf_path(i).read_text()
        if self.conf_edit:
            conf = self.conf_edit(conf)
        if self.design == "agent":
            # As in the pod, with this master's run directory in place of
            # the container's /run/kubealived.
            self.run_dir(i).mkdir(exist_ok=True)
            played = self._file(i, "agent.conf")
            played.write_text(conf.replace("/run/kubealived", str(self.run_dir(i))))
            # The manifest's command line, with this build and the lab's paths.
            argv = yaml.safe_load(self.manifest_path(i).read_text())["spec"]["containers"][0]["command"]
            argv[0] = str(self.binary)
            argv[argv.index("--keepalived-conf") + 1] = str(played)
            argv += ["--run-dir", str(self.run_dir(i))]
            with open(self._file(i, "keepalived.log"), "a") as log:
                self.keepalived[i] = subprocess.Popen(["ip", "netns", "exec", self.ns(i), *argv],
                                                      stdout=log, stderr=subprocess.STDOUT)
            return
        if self.design == "script":
            conf = script_config(conf)
        played = self._file(i, "played.conf")
        played.write_text(conf)
        # The health check runs this build at the image's path, mounted only
        # in this command's private mount namespace (ip netns exec gives one).
        script = (f"mount -t tmpfs tmpfs {Path(IMAGE_BINARY).parent} && cp {self.binary} {IMAGE_BINARY} && "
                  f"exec keepalived -n -l -D --no-syslog -f {played} "
                  f"-p {self._file(i, 'pid')} -r {self._file(i, 'vrrp.pid')}")
        with open(self._file(i, "keepalived.log"), "a") as log:  # keepalived writes to its own copy
            self.keepalived[i] = subprocess.Popen(["ip", "netns", "exec", self.ns(i), "sh", "-c", script],
                                                  stdout=log, stderr=subprocess.STDOUT)

    def stop_keepalived(self, i, graceful=True):
        stop(self.keepalived.pop(i), signal.SIGTERM if graceful else signal.SIGKILL)
        if not graceful:
            # SIGKILL leaves keepalived's VRRP child; stop it by its pid file.
            with contextlib.suppress(LabError):
                self.kill_vrrp(i)
            self._drop_vips(i)

    def _drop_vips(self, i):
        """Remove what a killed keepalived leaves: the VIPs on master i's eth0."""
        for vip in self.vips:
            sh("ip", "-n", self.ns(i), "addr", "del", host_prefix(vip), "dev", "eth0", check=False)

    def vrrp_pid(self, i):
        """The pid of master i's keepalived VRRP process (host mode), or
        None when its pid file is missing or names no live process."""
        try:
            pid = int(self._pidfile(i, "vrrp.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if os.path.exists(f"/proc/{pid}") else None

    def kill_vrrp(self, i, everything=False):
        """SIGKILL master i's keepalived VRRP process by its pid (host
        mode), or (everything) the keepalived parent too; the agent starts
        keepalived again (the script and guide designs: keepalived respawns
        the VRRP process). Returns the VRRP pid killed."""
        pid = self.vrrp_pid(i)
        try:
            if pid is None:
                raise ProcessLookupError
            if everything:
                with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                    os.kill(int(self._pidfile(i, "pid").read_text().strip()), signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            raise LabError(f"master{i} has no VRRP process to kill: {self._pidfile(i, 'vrrp.pid')} is missing or names "
                           "no live process (keepalived not started or stopped, or its VRRP process died and awaits "
                           "its respawn)") from None
        return pid

    def keepalived_log(self, i, since=None):
        """Master i's host keepalived log lines, those stamped at or after
        `since` (wall clock, s) when given."""
        path = self._file(i, "keepalived.log")
        lines = path.read_text().splitlines() if path.exists() else []
        if since is None:
            return lines
        kept = []
        for line in lines:
            try:
                t = time.mktime(time.strptime(line[:24], "%a %b %d %H:%M:%S %Y"))
            except ValueError:
                continue
            if t >= int(since):
                kept.append(line)
        return kept

    def masters_log(self, since=None):
        """Every master's keepalived log (from `since`, wall clock), each
        line led by its master."""
        return "\n".join(f"m{i} {line}" for i in self.masters for line in self.keepalived_log(i, since))

    # --- keepalived as the real static pod -----------------------------
    def pod_name(self, i):
        return f"{self.prefix}-m{i}"

    def play_manifest(self, i):
        """`podman kube play` of the rendered manifest inside the master. Two
        lines change, as a kubelet on that master would not need: the pod name
        (podman names pods after metadata.name, and all masters share this
        machine's podman) and the hostPath prefix (the master's root dir)."""
        manifest = self.manifest_path(i).read_text()
        played = manifest.replace(f"\n  name: {POD}\n", f"\n  name: {self.pod_name(i)}\n", 1)
        played = played.replace(f"      path: {CONFIG_DIR}\n", f"      path: {self._root(i)}{CONFIG_DIR}\n", 1)
        played = played.replace(f"      path: {MANIFESTS_DIR}\n", f"      path: {self._root(i)}{MANIFESTS_DIR}\n", 1)
        # FileOrCreate creates the file, not its directory (as kubelet).
        (self._root(i) / CLUSTER_CA.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        played = played.replace(f"      path: {CLUSTER_CA}\n", f"      path: {self._root(i)}{CLUSTER_CA}\n", 1)
        # podman names an emptyDir's volume after it, so pods on one machine
        # would share /run/kubealived (track file, FIFO); kubelet gives each
        # pod its own. One volume per master, removed with its pod.
        played = played.replace("name: run\n", f"name: {self.run_volume(i)}\n")
        assert played.count(self.pod_name(i)) == 3 and played.count(str(self._root(i))) == 3, "manifest shape changed"
        path = self._file(i, "played.yaml")
        path.write_text(played)
        sh("nsenter", f"--net=/run/netns/{self.ns(i)}", "podman", "--runtime", "runc", "kube", "play", str(path), env=self.env)
        self.pods[i] = path

    def run_volume(self, i):
        return f"{self.pod_name(i)}-run"

    def start_pod(self, i, install=True):
        if install:
            self.install(i)
        self.play_manifest(i)

    def stop_pod(self, i, graceful=True):
        self.pods.pop(i, None)
        if graceful:
            sh("podman", "pod", "stop", "-t", "10", self.pod_name(i), check=False, env=self.env)
        sh("podman", "pod", "rm", "-f", self.pod_name(i), check=False, env=self.env)
        sh("podman", "volume", "rm", "-f", self.run_volume(i), check=False, env=self.env)
        if not graceful:
            self._drop_vips(i)

    def pod_logs(self, i):
        out = sh("podman", "logs", f"{self.pod_name(i)}-{CONTAINER}", check=False, env=self.env)
        return out.stdout + out.stderr

    # --- the cluster, and one master, whichever mode -------------------
    def start_cluster(self, rise_wait=3, timeout=10):
        """Every master with its stand-in apiserver, as kubeadm brings them
        up: master1 alone until it holds the VIP, then the others join; then
        `rise_wait` s for their checks to pass (rise 2 x the check
        interval). Returns the single holder after that."""
        for i in self.masters:
            self.start_apiserver(i)
        self.start_master(1)
        if self.wait_holder(timeout) != 1:
            raise LabError(f"master1 did not take the VIP alone within {timeout} s: holders {self.holders.now()}")
        for i in self.masters[1:]:
            self.start_master(i)
        time.sleep(rise_wait)
        holder = self.wait_holder(30)
        if holder is None:
            raise LabError(f"no single holder {rise_wait} s after the others joined: {self.holders.now()}")
        return holder

    def start_master(self, i, install=True):
        (self.start_pod if self.mode == "pod" else self.start_keepalived)(i, install=install)

    def stop_master(self, i, graceful=True):
        if i in self.pods:
            self.stop_pod(i, graceful)
        elif i in self.keepalived:
            self.stop_keepalived(i, graceful)

    # --- the stand-in apiserver ----------------------------------------
    def start_apiserver(self, i, healthy=True):
        health = self._file(i, "health")
        health.write_text("ok" if healthy else "fail")
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(i), sys.executable, "-u", str(HERE / "apiserver.py"),
                                 str(self._dir / "cert.pem"), str(self._dir / "key.pem"), str(health),
                                 f"master{i}"],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        self.apiservers[i] = proc

    def set_healthy(self, i, healthy):
        self.set_mode(i, "ok" if healthy else "fail")

    def set_mode(self, i, mode):
        """The stand-in apiserver's behaviour: ok, fail, graceful or hang
        (apiserver.py)."""
        self._file(i, "health").write_text(mode)

    def stop_apiserver(self, i):
        proc = self.apiservers.pop(i)
        stop(proc)
        proc.stdout.close()

    # --- other processes -----------------------------------------------
    def spawn(self, i, *argv, **popen):
        """A process in master i's namespace (or the namespace named i),
        stopped at the latest when the lab closes."""
        ns = self.ns(i) if isinstance(i, int) else i
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], **popen)
        self.procs.append(proc)
        return proc

    def lab_file(self, name):
        """A path in the lab's own directory, removed with the lab."""
        return self._dir / name

    # --- faults --------------------------------------------------------
    def link(self, i, up):
        """The master's bridge port: down is a hard loss (the node vanishes
        from the LAN; its keepalived keeps running)."""
        sh("ip", "-n", self.lan, "link", "set", f"p{i}", "up" if up else "down")

    def client_hears_arp(self, heard):
        """Whether the client takes in ARP from the VIP. Not heard: it keeps
        the MAC it has, as a client that missed the new holder's
        gratuitous ARP would. The masters are told the client's MAC first:
        a master that had to ask for it would ask from the VIP and so teach
        the client its MAC."""
        sh("ip", "netns", "exec", self.client, "arptables", "-F", "INPUT")
        if heard:
            return
        mac = json.loads(sh("ip", "-j", "-n", self.client, "link", "show", "eth0").stdout)[0]["address"]
        for i in self.masters:
            sh("ip", "-n", self.ns(i), "neigh", "replace", CLIENT4, "lladdr", mac, "dev", "eth0", "nud", "permanent")
        sh("ip", "netns", "exec", self.client, "arptables", "-A", "INPUT", "-s", VIP4, "-j", "DROP")

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
    def probe(self, address=VIP4, timeout=10):
        """The client on address:6443, once its first connection succeeded."""
        p = Probe(self.client, address)
        self.probes.append(p)
        if not self.wait(p.up, timeout):
            raise LabError(f"the client got no answer from {address}:6443 within {timeout} s")
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
        answers again (infinite if it fails again and does not recover)."""
        if not self.wait(probe.up, timeout):
            raise LabError(f"the client got no answer for {timeout} s")
        time.sleep(0.3)  # a gap closes on the probe's next success
        self.wait(probe.up, timeout)  # one opened meanwhile closes first
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
