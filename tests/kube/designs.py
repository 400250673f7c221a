"""The designs tests/kube/bench puts side by side on the same kubeadm
control plane, each set up the way its own documentation tells an operator:

- kubealived: `kubealived install --vip VIP` on every master before kubeadm;
  and with its opt-in load balancing (`--load-balance`, every master a
  `--peer`).
- kube-vip: the static pod `kube-vip manifest pod --controlplane --arp
  --leaderElection` generates, on every master before kubeadm; on the first
  one it mounts super-admin.conf for `kubeadm init` and admin.conf after it
  (kube-vip's docs for kubeadm 1.29 and later). Two lease profiles: its
  defaults and the 5/3/1 of its documentation's examples.
- guide: the kubeadm HA guide's keepalived static pod (ha-considerations.md):
  its keepalived.conf, check script and pod as the guide gives them, with
  Debian's keepalived (and the shell and curl its script needs) in an image
  built here (guide_image.py) in place of the guide's osixia image.

Each design says what it builds before any node exists (prepare), what it
does to a node before init, after init and before
a join, which processes are its pod (for the bench's SIGKILL), and what the
operator had to do by hand."""
import re

import yaml

import guide_image
from constants import VIP
from host import Failed


class Kubealived:
    name = "kubealived"
    processes = ("kubealived", "keepalived")
    by_hand = "install before init and join; nothing after"

    def prepare(self):
        pass

    def before_init(self, node):
        node.kubealived("install", "--vip", VIP)

    before_join = before_init

    def after_init(self, node):
        pass

    def reaches_local_apiserver(self, node):
        """The agent asks its own apiserver (the log line it writes)."""
        return f"asking https://{node.addr}:6443/readyz" in node.kubealived_log()


class KubealivedBalanced(Kubealived):
    """kubealived with its opt-in load balancing: the holder spreads new
    connections to the VIP over every ready master (docs/load-balancing.md)."""
    name = "kubealived --load-balance"
    by_hand = "install --load-balance with every master as --peer, before init and join"

    def before_init(self, node):
        peers = [a for n in node.cluster.nodes for a in ("--peer", n.addr)]
        node.kubealived("install", "--vip", VIP, "--load-balance", *peers)

    before_join = before_init


class KubeVip:
    """kube-vip's control-plane static pod, with leader election on a Lease."""

    manifest = "/etc/kubernetes/manifests/kube-vip.yaml"
    processes = ("kube-vip",)
    by_hand = "manifest on each master; super-admin.conf on master1 for init, then admin.conf"

    def __init__(self, lease=(15, 10, 2)):
        self.lease = lease  # duration, renew deadline, retry period, seconds
        self.name = "kube-vip" + ("" if lease == (15, 10, 2) else " " + "/".join(map(str, lease)))

    def prepare(self):
        pass  # its image is in the control-plane archive (builds.py)

    def pod(self, node, kubeconfig):
        """The manifest as `kube-vip manifest pod` writes it, the kubeconfig
        path set the way kube-vip's docs' sed does, and one addition:
        kube-vip v1.2.2 (#1658, fixed in v1.2.3) takes its default
        kubeconfig path for an explicit one and then talks to the apiserver
        named in it, the VIP it has not taken yet. `kubernetes_addr`, its own
        setting, sends it to the local apiserver as releases before and
        after do (`kubernetes` is the pod's host alias for 127.0.0.1)."""
        duration, renew, retry = self.lease
        out = node.run(node.cluster.build.bin_dir / "kube-vip", "manifest", "pod", "--interface", "eth0",
                       "--address", VIP, "--controlplane", "--arp", "--leaderElection",
                       "--leaseDuration", duration, "--leaseRenewDuration", renew, "--leaseRetry", retry).stdout
        pod = yaml.safe_load(out)
        if pod["spec"]["containers"][0]["image"] != node.cluster.build.kube_vip_image:
            raise Failed(f"kube-vip manifest pod names {pod['spec']['containers'][0]['image']}, "
                         f"not the image built here ({node.cluster.build.kube_vip_image})")
        volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "kubeconfig")
        volume["hostPath"]["path"] = kubeconfig
        pod["spec"]["containers"][0]["env"].append({"name": "kubernetes_addr", "value": "kubernetes:6443"})
        return yaml.safe_dump(pod)

    def before_init(self, node):
        node.put(self.manifest, self.pod(node, "/etc/kubernetes/super-admin.conf"))

    def after_init(self, node):
        node.put(self.manifest, self.pod(node, "/etc/kubernetes/admin.conf"))

    def before_join(self, node):
        node.put(self.manifest, self.pod(node, "/etc/kubernetes/admin.conf"))

    def reaches_local_apiserver(self, node):
        """kube-vip's log line for the kubeconfig it uses, with the address."""
        return "address=kubernetes:6443" in node.pod_log("kube-vip", "kube-vip")


GUIDE_CONF = """! /etc/keepalived/keepalived.conf
! Configuration File for keepalived
global_defs {
    router_id LVS_DEVEL
}
vrrp_script check_apiserver {
  script "/etc/keepalived/check_apiserver.sh"
  interval 3
  weight -2
  fall 10
  rise 2
}

vrrp_instance VI_1 {
    state ${STATE}
    interface ${INTERFACE}
    virtual_router_id ${ROUTER_ID}
    priority ${PRIORITY}
    authentication {
        auth_type PASS
        auth_pass ${AUTH_PASS}
    }
    virtual_ipaddress {
        ${APISERVER_VIP}
    }
    track_script {
        check_apiserver
    }
}
"""

GUIDE_CHECK = """#!/bin/sh

errorExit() {
    echo "*** $*" 1>&2
    exit 1
}

curl --silent --max-time 2 --insecure https://localhost:${APISERVER_DEST_PORT}/ -o /dev/null || errorExit "Error GET https://localhost:${APISERVER_DEST_PORT}/"
if ip addr | grep -q ${APISERVER_VIP}; then
    curl --silent --max-time 2 --insecure https://${APISERVER_VIP}:${APISERVER_DEST_PORT}/ -o /dev/null || errorExit "Error GET https://${APISERVER_VIP}:${APISERVER_DEST_PORT}/"
fi
"""


class Guide:
    """The kubeadm HA guide's keepalived (ha-considerations.md): its
    keepalived.conf, check script and static pod as the guide gives them,
    placeholders filled as it says (MASTER 101 on the first master, BACKUP
    100 on the others, router id 51, password 42, the apiservers' port),
    with Debian's keepalived in an image built here (guide_image.py). Its
    haproxy pod is left out: the VIP is the question here."""

    name = "kubeadm guide"
    manifest = "/etc/kubernetes/manifests/keepalived.yaml"
    conf = "/etc/keepalived/keepalived.conf"
    check = "/etc/keepalived/check_apiserver.sh"
    processes = ("keepalived",)
    by_hand = "keepalived.conf (state, priority), its check script and the pod on each master"

    def prepare(self):
        self.archive, self.image = guide_image.archive()

    def _pod(self):
        """The guide's manifest; the image and the command that starts
        Debian's keepalived on the guide's path are the only changes."""
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "keepalived", "namespace": "kube-system"},
            "spec": {
                "containers": [{
                    "image": self.image, "name": "keepalived",
                    "command": ["/usr/sbin/keepalived", "--dont-fork", "--log-console",
                                "--use-file=/usr/local/etc/keepalived/keepalived.conf"],
                    "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_BROADCAST", "NET_RAW"]}},
                    "volumeMounts": [{"mountPath": "/usr/local/etc/keepalived/keepalived.conf", "name": "config"},
                                     {"mountPath": self.check, "name": "check"}],
                }],
                "hostNetwork": True,
                "volumes": [{"hostPath": {"path": self.conf}, "name": "config"},
                            {"hostPath": {"path": self.check}, "name": "check"}],
            }})

    def before_init(self, node):
        node.import_images(self.archive)
        first = node.name == "master1"
        values = {"STATE": "MASTER" if first else "BACKUP", "INTERFACE": "eth0", "ROUTER_ID": "51",
                  "PRIORITY": "101" if first else "100", "AUTH_PASS": "42", "APISERVER_VIP": VIP,
                  "APISERVER_DEST_PORT": "6443"}
        fill = lambda text: re.sub(r"\$\{([A-Z_]+)\}", lambda m: values.get(m.group(1), m.group(0)), text)  # noqa: E731
        node.put(self.conf, fill(GUIDE_CONF))
        node.put(self.check, fill(GUIDE_CHECK))
        node.run("chmod", "0755", self.check)
        node.put(self.manifest, self._pod())

    before_join = before_init

    def after_init(self, node):
        pass

    def reaches_local_apiserver(self, node):
        """Its check asks localhost from the host network: nothing to see."""
        return True


DESIGNS = [Kubealived(), KubeVip(), KubeVip((5, 3, 1)), Guide(), KubealivedBalanced()]
