//! Every name and path kubealived uses, in one place: the files it owns on
//! the host, where the image carries its programs, what the packages
//! install, and the names in the manifest. Anything outside Rust that must
//! agree (the image build, the systemd unit, the deb's postrm, the lab)
//! is checked against these by `tests/paths.rs`.

use anyhow::{Context, Result};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

// --- On the host, relative to the root (`/` on a node, a temp dir in tests).

/// The static pod kubelet runs.
pub const MANIFEST: &str = "etc/kubernetes/manifests/kubealived.yaml";
/// kubeadm's kube-apiserver static pod: install refuses a `--bind-address`
/// in it that the VIP cannot reach; the agent reads it too (below).
pub const APISERVER_MANIFEST: &str = "etc/kubernetes/manifests/kube-apiserver.yaml";
/// kubealived's own directory: the settings and keepalived.conf.
pub const CONFIG_DIR: &str = "etc/kubealived";
pub const KEEPALIVED_CONF: &str = "etc/kubealived/keepalived.conf";
/// The saved settings, re-applied by `install` alone and at boot.
pub const SAVED_CONFIG: &str = "etc/kubealived/config.yaml";
/// Held while files are written, so two runs never interleave.
pub const LOCK: &str = "etc/kubealived/.lock";
/// A file's temp twin is `.<name>` + this, in the same directory.
pub const TEMP_SUFFIX: &str = ".kubealived-tmp";

/// Every file kubealived owns, in the order install writes them (the
/// manifest last, so kubelet never starts a pod whose config is missing).
pub const OWNED_FILES: [&str; 3] = [SAVED_CONFIG, KEEPALIVED_CONF, MANIFEST];

// --- Installed by the .deb and .rpm.

pub const BINARY_ON_HOST: &str = "/usr/bin/kubealived";
pub const UNIT: &str = "kubealived.service";
/// The container image as an OCI archive (packaging/container/build),
/// relative to the root: install imports it into the node's runtime.
pub const IMAGE_ARCHIVE: &str = "usr/share/kubealived/kubealived-image.oci.tar";

// --- The node's container runtime, relative to the root.

pub const CONTAINERD_SOCKET: &str = "run/containerd/containerd.sock";
/// containerd's namespace for the images kubelet sees (its CRI plugin's).
pub const CONTAINERD_NAMESPACE: &str = "k8s.io";
/// The label that pins an image in containerd's CRI plugin, so kubelet's
/// image garbage collection leaves it (containerd 1.7.3 and later).
pub const CONTAINERD_PINNED_LABEL: (&str, &str) = ("io.cri-containerd.pinned", "pinned");
pub const CRIO_SOCKET: &str = "run/crio/crio.sock";
/// containers-storage, which CRI-O shares with podman and skopeo.
pub const CONTAINERS_STORAGE: &str = "var/lib/containers/storage";
pub const CONTAINERS_RUN_STORAGE: &str = "run/containers/storage";

// --- Inside the container image and the pod.

/// This same binary: the pod's entrypoint, `kubealived agent`.
pub const BINARY_IN_IMAGE: &str = "/usr/local/bin/kubealived";
pub const KEEPALIVED_IN_IMAGE: &str = "/usr/sbin/keepalived";
/// nftables' CLI (Debian's nftables), for the opt-in VRRP filter.
pub const NFT_IN_IMAGE: &str = "/usr/sbin/nft";
/// The VRRP filter's own nftables table (`--vrrp-filter`), family and name.
pub const NFT_TABLE: &str = "inet kubealived";
/// The load balancing's own nftables table (`--load-balance`).
pub const NFT_BALANCE_TABLE: &str = "inet kubealived_lb";
/// Where the pod mounts the host's `/etc/kubealived` (the same path).
pub const CONFIG_DIR_IN_POD: &str = "/etc/kubealived";
pub const KEEPALIVED_CONF_IN_POD: &str = "/etc/kubealived/keepalived.conf";
/// kubelet's static pod directory, mounted read-only at the same path: the
/// agent reads kube-apiserver.yaml's probes from it.
pub const MANIFESTS_DIR_ON_NODE: &str = "/etc/kubernetes/manifests";
pub const APISERVER_MANIFEST_IN_POD: &str = "/etc/kubernetes/manifests/kube-apiserver.yaml";
/// kubeadm's cluster CA certificate (never its key), mounted read-only at
/// the same path: the agent verifies the apiserver's certificate with it.
pub const CLUSTER_CA_ON_NODE: &str = "/etc/kubernetes/pki/ca.crt";
pub const DEFAULT_IMAGE_REPO: &str = "ghcr.io/kubealived/kubealived";

// --- Names in the manifest and keepalived.conf.

/// The pod, its container's app label, and the managed-by value.
pub const NAME: &str = "kubealived";
pub const NAMESPACE: &str = "kube-system";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Changes whenever keepalived.conf does, so kubelet restarts the static
/// pod on a config change (it only watches the manifest).
pub const CONFIG_HASH_ANNOTATION: &str = "kubealived.io/keepalived-conf-sha256";
/// The track_file block keepalived reads the apiserver's readiness from.
pub const TRACK_NAME: &str = "kubealived_apiserver";
pub const INSTANCE_NAME: &str = "kubealived";

// --- The agent, inside the container.

/// The container's own /run (never the host's): the track file, the
/// notify FIFO and keepalived's pid files.
pub const AGENT_RUN_DIR: &str = "/run/kubealived";
/// In AGENT_RUN_DIR: the file keepalived's track_file watches.
pub const TRACK_FILE: &str = "apiserver-ready";
/// In AGENT_RUN_DIR: keepalived's notify_fifo.
pub const NOTIFY_FIFO: &str = "notify.fifo";
/// In AGENT_RUN_DIR: its mtime is the last check while this node held the
/// VIP (the pod's emptyDir keeps it across a container restart).
pub const HOLDER_MARK: &str = "holder-mark";
/// In AGENT_RUN_DIR: keepalived's pid files.
pub const KEEPALIVED_PID: &str = "keepalived.pid";
pub const VRRP_PID: &str = "vrrp.pid";

// --- Ports.

pub const DEFAULT_APISERVER_PORT: u16 = 6443;
/// The agent's /metrics, /healthz and /status: used by no Kubernetes
/// component (kubelet 10248/10250, kube-proxy 10249/10256, controllers
/// 10257/10258, scheduler 10259, etcd 2379-2381) nor kube-vip (2112).
pub const DEFAULT_AGENT_PORT: u16 = 10290;
/// Loopback: status and the livenessProbe come from this node.
pub const DEFAULT_AGENT_LISTEN: &str = "127.0.0.1:10290";
/// What else listens on a kubeadm control-plane node, at its default
/// port: the agent must take none of these (its pod starts before the
/// others and would keep the port), and kube-apiserver is on none.
pub const KUBERNETES_PORTS: [(u16, &str); 10] = [
    (2379, "etcd's client port"),
    (2380, "etcd's peer port"),
    (2381, "etcd's metrics port"),
    (10248, "kubelet's health port"),
    (10249, "kube-proxy's metrics port"),
    (10250, "kubelet's API port"),
    (10256, "kube-proxy's health port"),
    (10257, "kube-controller-manager's port"),
    (10258, "cloud-controller-manager's port"),
    (10259, "kube-scheduler's port"),
];

/// A host path as the node sees it: `etc/kubealived` → `/etc/kubealived`.
pub fn on_node(relative: &str) -> String {
    format!("/{relative}")
}

/// The directory everything lives under: `/` on a node, a temp dir in
/// tests and image builds (`--root`).
#[derive(Debug, Clone)]
pub struct Root(PathBuf);

impl Root {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Root(path.into())
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.0.join(relative)
    }

    pub fn dir(&self) -> &Path {
        &self.0
    }

    pub fn is_host_root(&self) -> bool {
        self.0 == Path::new("/")
    }
}

/// The current content of a file, `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_the_pod_are_the_host_paths() {
        // The pod mounts the host's directory at the same path.
        assert_eq!(CONFIG_DIR_IN_POD, on_node(CONFIG_DIR));
        assert_eq!(KEEPALIVED_CONF_IN_POD, on_node(KEEPALIVED_CONF));
        assert_eq!(APISERVER_MANIFEST_IN_POD, on_node(APISERVER_MANIFEST));
        for file in [KEEPALIVED_CONF, SAVED_CONFIG, LOCK] {
            assert_eq!(Path::new(file).parent(), Some(Path::new(CONFIG_DIR)));
        }
        assert!(MANIFEST.ends_with(&format!("/{NAME}.yaml")));
        assert!(BINARY_IN_IMAGE.ends_with(&format!("/{NAME}")));
        assert!(BINARY_ON_HOST.ends_with(&format!("/{NAME}")));
        assert!(DEFAULT_AGENT_LISTEN.ends_with(&format!(":{DEFAULT_AGENT_PORT}")));
        for (port, _) in KUBERNETES_PORTS {
            assert!(port != DEFAULT_AGENT_PORT && port != DEFAULT_APISERVER_PORT);
        }
    }
}
