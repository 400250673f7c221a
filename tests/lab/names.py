"""Every name and address the lab uses, in one place.

What kubealived itself writes or expects (the names of src/paths.rs, and
tests/paths.rs checks that they agree; the manifest and config paths are
relative to `install --root`), and the lab's own addresses: only
192.0.2.0/24 and 2001:db8::/64, inside namespaces the lab made."""

# kubealived's files under --root, and paths inside its image
MANIFEST = "etc/kubernetes/manifests/kubealived.yaml"
KEEPALIVED_CONF = "etc/kubealived/keepalived.conf"
CONFIG_DIR = "/etc/kubealived"  # the manifest's hostPath
MANIFESTS_DIR = "/etc/kubernetes/manifests"  # its other hostPath (kube-apiserver.yaml's probes)
CLUSTER_CA = "/etc/kubernetes/pki/ca.crt"  # and the cluster CA (FileOrCreate: none in the lab, so unverified)
IMAGE_BINARY = "/usr/local/bin/kubealived"  # where keepalived's check runs it
POD = "kubealived"  # the manifest's metadata.name
CONTAINER = "keepalived"  # the pod's container
VRRP_TABLE = "inet kubealived"  # the agent's nftables tables: its VRRP filter
BALANCE_TABLE = "inet kubealived_lb"  # and its load balancing

# the lab's addresses
VIP4 = "192.0.2.10"
VIP6 = "2001:db8::10"
CLIENT4 = "192.0.2.100"
CLIENT6 = "2001:db8::100"


def addr4(i):
    """Master i's IPv4 address."""
    return f"192.0.2.{10 + i}"


def addr6(i):
    """Master i's IPv6 address."""
    return f"2001:db8::{10 + i}"


def host_prefix(vip):
    """The VIP as keepalived adds it: a host route."""
    return vip + ("/128" if ":" in vip else "/32")
