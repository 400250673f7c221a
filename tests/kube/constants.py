"""Every name, address and path the e2e uses, and the environment it reads.

Addresses are documentation ranges only (192.0.2.0/24, 198.51.100.0/24),
inside namespaces the e2e made; names carry this process's pid (TAG), so
cleanup finds exactly what this run made. (Not names.py: tests/lab has one,
and the e2e imports tests/lab's modules.)"""
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LAB = REPO / "tests" / "lab"  # whose observe.py the e2e reuses

CACHE = Path(os.environ.get("KUBEALIVED_KUBE_CACHE", "/var/cache/kubealived-e2e"))
LAST_STEP = int(os.environ.get("KUBEALIVED_KUBE_STEPS", "17"))
# Breaking steps (6 and on) to run, e.g. "12" or "9,10"; unset: all up to LAST_STEP.
ONLY = {int(n) for n in os.environ.get("KUBEALIVED_KUBE_ONLY", "").split(",") if n.strip()}

VIP = "192.0.2.10"
ADVERT_S = 0.3  # install's default advert interval
ETCD_LOST_S = 30  # how long the quorum-loss step holds two etcds down
PORT = 6443
MASTERS = 3
MAX_WORKERS = 4  # the bench's --workers: kubelets that reach the API only through the VIP
CLIENT_ADDR = "192.0.2.50"
TAG = f"kk{os.getpid()}"

IMAGE_REPO = "localhost/kubealived-e2e"
KUBE_VIP_REPO = "ghcr.io/kube-vip/kube-vip"  # the name kube-vip's generated manifest uses; built here
PAUSE_TAG = "3.10.1"  # the tag kubeadm 1.35 expects; the image is our own pause binary
KUBEALIVED_IMAGE_2 = "localhost/kubealived:e2e-2"  # the same image under a second name (step 8)
IMAGE_ARCHIVE = "/usr/share/kubealived/kubealived-image.oci.tar"  # where the packages put it

# Directories each node has of its own, bind-mounted in its mount namespace.
# /etc is an overlay per node instead (host /etc below, the node's writes
# above), so /etc/kubernetes and /etc/kubealived are plain directories there
# that kubeadm reset and kubealived uninstall can empty and remove.
NODE_DIRS = ["/usr/share/kubealived", "/var/lib/kubelet",
             "/var/lib/etcd", "/var/lib/containerd", "/var/lib/cni", "/run/containerd",
             "/var/log/pods", "/var/log/containers"]


def node_addr(i):
    """Master i's address."""
    return f"192.0.2.{10 + i}"


def worker_addr(i):
    """Worker i's address."""
    return f"192.0.2.{20 + i}"
