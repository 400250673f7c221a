"""kubeadm on a node: its config files (init_config, join_config, both
through the VIP) and running init, join and reset with their output kept
in the node's directory."""
import re
import time

import yaml

import host
from constants import IMAGE_REPO, PORT, VIP
from host import Failed

# kubeadm preflight checks this machine cannot pass, each for a stated reason.
IGNORED_PREFLIGHT = [
    "SystemVerification",  # cgroup v1 (kubelet runs with failCgroupV1: false)
    "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables",  # no br_netfilter: no kube-proxy here
]


def _registration(node):
    patches = node.root / "patches"
    patches.mkdir(exist_ok=True)
    # One cgroupRoot per node: kubelets sharing one would kill each other's pods.
    (patches / "kubeletconfiguration+merge.yaml").write_text(f"cgroupRoot: {node.cgroup_root}\n")
    return f"""nodeRegistration:
  name: {node.name}
  criSocket: unix:///run/containerd/containerd.sock
  imagePullPolicy: Never
  kubeletExtraArgs:
  - name: node-ip
    value: {node.addr}
patches:
  directory: {patches}
timeouts:
  kubeletHealthCheck: 10m0s
  controlPlaneComponentHealthCheck: 10m0s
  tlsBootstrap: 10m0s
"""


def init_config(node, version, etcd_tag):
    return f"""apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: {node.addr}
  bindPort: {PORT}
{_registration(node)}skipPhases: [addon/coredns, addon/kube-proxy]
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: {version}
controlPlaneEndpoint: {VIP}:{PORT}
imageRepository: {IMAGE_REPO}
# The README's advice: /readyz turns red 2 s before the listener closes, so
# the VIP leaves a stopping apiserver while it still serves (step 7).
apiServer:
  extraArgs:
  - name: shutdown-delay-duration
    value: "2s"
etcd:
  local:
    imageTag: {etcd_tag}
networking:
  serviceSubnet: 198.51.100.0/25
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
imageGCHighThresholdPercent: 100
evictionHard:
  memory.available: "0%"
  nodefs.available: "0%"
  nodefs.inodesFree: "0%"
  imagefs.available: "0%"
"""


def join_from(init_output):
    """The token, CA hash and certificate key in kubeadm init's join command."""
    m = [re.search(rf"--{flag} (\S+)", init_output)
         for flag in ("token", "discovery-token-ca-cert-hash", "certificate-key")]
    if not all(m):
        raise Failed("no join command in kubeadm init's output")
    return {"token": m[0].group(1), "hash": m[1].group(1), "key": m[2].group(1)}


def join_config(node, join):
    """join: the token, CA hash and certificate key kubeadm init printed;
    a worker joins without the control-plane part."""
    control_plane = "" if node.worker else f"""controlPlane:
  localAPIEndpoint:
    advertiseAddress: {node.addr}
    bindPort: {PORT}
  certificateKey: {join['key']}
"""
    return f"""apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: {VIP}:{PORT}
    token: {join['token']}
    caCertHashes: [{join['hash']}]
{control_plane}{_registration(node)}"""


def run(node, what, config_text, *extra, timeout=900):
    """kubeadm init or join on node with config_text; its output goes to kubeadm-WHAT.log."""
    cfg = node.root / f"kubeadm-{what}.yaml"
    cfg.write_text(config_text)
    p = node.run("kubeadm", what, "--config", cfg, f"--ignore-preflight-errors={','.join(IGNORED_PREFLIGHT)}",
                 *extra, "-v=1", check=False, timeout=timeout)
    (node.root / f"kubeadm-{what}.log").write_text(p.stdout + p.stderr)
    if p.returncode != 0:
        raise Failed(f"kubeadm {what} on {node.name} exited {p.returncode}:\n{p.stdout[-4000:]}\n{p.stderr[-6000:]}")
    return p


# What kubeadm reset prints, and still exits 0, when it did not take the
# node's member out of etcd: a later join's check-etcd then dials the dead
# member and fails ("etcd cluster is not healthy", CI on 2026-12-02).
NOT_REMOVED = ("Failed to remove etcd member", "Unable to fetch the kubeadm-config ConfigMap")


def reset(node, attempts=6):
    """kubeadm reset -f, as kubeadm's docs remove a control-plane node, but
    first its remove-etcd-member phase alone until it took the member out:
    reset -f warns and goes on when that phase fails on a passing error
    (an etcd leader election, a request lost at a VIP move), leaving a dead
    member that breaks the next join. The full reset then finds the member
    gone and does the rest."""
    log = node.root / "kubeadm-reset.log"
    for attempt in range(1, attempts + 1):
        p = node.run("kubeadm", "reset", "phase", "remove-etcd-member", "-v=1", check=False, timeout=120)
        out = p.stdout + p.stderr
        with log.open("a") as f:
            f.write(f"--- remove-etcd-member, attempt {attempt}\n{out}")
        missed = [line for line in out.splitlines() if any(n in line for n in NOT_REMOVED)]
        if p.returncode == 0 and not missed:
            break
        host.log(f"{node.name}: kubeadm reset phase remove-etcd-member, attempt {attempt}, exit {p.returncode}: "
                 + ("; ".join(missed) or out[-500:]))
        time.sleep(5)
    else:
        raise Failed(f"kubeadm could not take {node.name}'s member out of etcd in {attempts} attempts: see {log}")
    p = node.run("kubeadm", "reset", "-f", "-v=1", check=False, timeout=300)
    with log.open("a") as f:
        f.write(f"--- reset -f\n{p.stdout}{p.stderr}")
    if p.returncode != 0:
        raise Failed(f"kubeadm reset on {node.name} exited {p.returncode}: {p.stderr[-2000:]}")


# The hardening of e2e step 9: anonymous requests only to the health endpoints.
AUTHN_DIR = "/etc/kubernetes/authn"
AUTHENTICATION = """apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
anonymous:
  enabled: true
  conditions:
  - path: /livez
  - path: /readyz
  - path: /healthz
  # kubeadm join's token discovery reads this ConfigMap anonymously
  # (kubeadm's own RBAC lets system:anonymous get it): without it, a
  # hardened cluster cannot take another master (step 14).
  - path: /api/v1/namespaces/kube-public/configmaps/cluster-info
"""


def harden_apiserver(node):
    """What a CIS-minded operator changes in kubeadm's kube-apiserver.yaml:
    an AuthenticationConfiguration that lets anonymous requests reach the
    health endpoints only (kubelet's probes and kubealived's agent ask
    those, without credentials), and kubeadm join's cluster-info. Not --bind-address=<node address>: an
    apiserver bound to one address refuses connections to the VIP on its
    node (tests/kube/README.md, step 9). The manifest is replaced with a
    rename, as kubeadm upgrade does, so kubelet never reads half a file."""
    manifest = "/etc/kubernetes/manifests/kube-apiserver.yaml"
    pod = yaml.safe_load(node.host_path(manifest).read_text())
    c = pod["spec"]["containers"][0]
    c["command"] = [a for a in c["command"] if not a.startswith("--anonymous-auth=")] + [
        f"--authentication-config={AUTHN_DIR}/authentication.yaml"]
    c["volumeMounts"].append({"name": "authn", "mountPath": AUTHN_DIR, "readOnly": True})
    pod["spec"]["volumes"].append({"name": "authn", "hostPath": {"path": AUTHN_DIR, "type": "Directory"}})
    node.run("mkdir", "-p", AUTHN_DIR)
    node.write(f"{AUTHN_DIR}/authentication.yaml", AUTHENTICATION)
    node.write("/etc/kubernetes/kube-apiserver.yaml.new", yaml.safe_dump(pod))
    node.run("mv", "/etc/kubernetes/kube-apiserver.yaml.new", manifest)


def touch_apiserver(node, *flags):
    """A change to kube-apiserver.yaml that the apiserver ignores (an
    environment variable), so kubelet restarts it as after any manifest
    change: tests/kube/bench's rolling restart. flags (`--name=value`) are
    added, in place of the same flags' values if there are some."""
    manifest = "/etc/kubernetes/manifests/kube-apiserver.yaml"
    pod = yaml.safe_load(node.host_path(manifest).read_text())
    c = pod["spec"]["containers"][0]
    names = {f.split("=")[0] for f in flags}
    c["command"] = [a for a in c["command"] if a.split("=")[0] not in names] + list(flags)
    c["env"] = [e for e in c.get("env", []) if e["name"] != "ROLLED_AT"] + [
        {"name": "ROLLED_AT", "value": str(time.time())}]
    node.write("/etc/kubernetes/kube-apiserver.yaml.new", yaml.safe_dump(pod))
    node.run("mv", "/etc/kubernetes/kube-apiserver.yaml.new", manifest)
