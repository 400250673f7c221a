"""The designs tests/kube/bench puts side by side on the same kubeadm
control plane, each set up the way its own documentation tells an operator:

- kubealived: `kubealived install --vip VIP` on every master before kubeadm.
- kube-vip: the static pod `kube-vip manifest pod --controlplane --arp
  --leaderElection` generates, on every master before kubeadm; on the first
  one it mounts super-admin.conf for `kubeadm init` and admin.conf after it
  (kube-vip's docs for kubeadm 1.29 and later). Two lease profiles: its
  defaults and the 5/3/1 of its documentation's examples.
- guide: the kubeadm HA guide's keepalived static pod (ha-considerations.md):
  its keepalived.conf and pod as the guide gives them, run with Debian's
  keepalived from the kubealived image (the packaged archive, imported as
  install does) in place of the guide's osixia image, and `kubealived
  check-apiserver` (an HTTPS GET of /livez, 2 s at most) in place of its
  curl script, which needs a shell and curl the image lacks: the lab's
  baseline (tests/lab/guide.py), now on a real control plane.

Each design says what it does to a node before init, after init and before
a join, which processes are its pod (for the bench's SIGKILL), and what the
operator had to do by hand."""
import re

import yaml

from constants import IMAGE_ARCHIVE, VIP
from guide import guide_config
from host import Failed


class Kubealived:
    name = "kubealived"
    processes = ("kubealived", "keepalived")
    by_hand = "install before init and join; nothing after"

    def before_init(self, node):
        node.kubealived("install", "--vip", VIP)

    before_join = before_init

    def after_init(self, node):
        pass

    def reaches_local_apiserver(self, node):
        """The agent asks its own apiserver (the log line it writes)."""
        return f"asking https://{node.addr}:6443/readyz" in node.kubealived_log()


class KubeVip:
    """kube-vip's control-plane static pod, with leader election on a Lease."""

    manifest = "/etc/kubernetes/manifests/kube-vip.yaml"
    processes = ("kube-vip",)
    by_hand = "manifest on each master; super-admin.conf on master1 for init, then admin.conf"

    def __init__(self, lease=(15, 10, 2)):
        self.lease = lease  # duration, renew deadline, retry period, seconds
        self.name = "kube-vip" + ("" if lease == (15, 10, 2) else " " + "/".join(map(str, lease)))

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


class Guide:
    name = "kubeadm guide"
    manifest = "/etc/kubernetes/manifests/keepalived.yaml"
    conf = "/etc/keepalived/keepalived.conf"
    processes = ("keepalived",)
    by_hand = "keepalived.conf (state, priority) and the pod on each master"

    def _pod(self, image):
        """The guide's manifest; only the image and its command differ."""
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "keepalived", "namespace": "kube-system"},
            "spec": {
                "containers": [{
                    "image": image, "name": "keepalived",
                    "command": ["/usr/sbin/keepalived", "--dont-fork", "--log-console",
                                "--use-file=/usr/local/etc/keepalived/keepalived.conf"],
                    "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_BROADCAST", "NET_RAW"]}},
                    "volumeMounts": [{"mountPath": "/usr/local/etc/keepalived/keepalived.conf", "name": "config"}],
                }],
                "hostNetwork": True,
                "volumes": [{"hostPath": {"path": self.conf}, "name": "config"}],
            }})

    def before_init(self, node):
        out = node.run("ctr", "-n", "k8s.io", "images", "import", IMAGE_ARCHIVE).stdout
        image = re.search(r"(\S+kubealived:\S+)", out)
        if not image:
            raise Failed(f"no kubealived image in {IMAGE_ARCHIVE}: {out}")
        node.put(self.conf, guide_config(node.i, VIP))
        node.put(self.manifest, self._pod(image.group(1).split("@")[0]))

    before_join = before_init

    def after_init(self, node):
        pass

    def reaches_local_apiserver(self, node):
        """Its check asks 127.0.0.1 from the host network: nothing to see."""
        return True


DESIGNS = [Kubealived(), KubeVip(), KubeVip((5, 3, 1)), Guide()]
