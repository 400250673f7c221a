//! The static Pod (and, for clusters that already exist, the DaemonSet
//! bundle), built from the Kubernetes API types and serialized, never
//! templated.

use crate::node::Node;
use crate::paths::{
    on_node, AGENT_RUN_DIR, BINARY_IN_IMAGE, CLUSTER_CA_ON_NODE, CONFIG_DIR, CONFIG_DIR_IN_POD,
    CONFIG_HASH_ANNOTATION, KEEPALIVED_CONF_IN_POD, MANAGED_BY_LABEL, MANIFESTS_DIR_ON_NODE, NAME,
    NAMESPACE,
};
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, HTTPGetAction,
    HostPathVolumeSource, Pod, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    SeccompProfile, SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), NAME.to_string()),
        (MANAGED_BY_LABEL.to_string(), NAME.to_string()),
    ])
}

fn to_yaml<T: Serialize>(value: &T) -> String {
    serde_yaml_ng::to_string(value).expect("Kubernetes types always serialize")
}

/// The agent's command line: it runs keepalived on the rendered config and
/// must know the VIPs to remove them whenever keepalived dies.
fn command(node: &Node) -> Vec<String> {
    let mut cmd: Vec<String> = [
        BINARY_IN_IMAGE,
        "agent",
        "--keepalived-conf",
        KEEPALIVED_CONF_IN_POD,
    ]
    .map(String::from)
    .to_vec();
    cmd.extend(["--interface".into(), node.interface.clone()]);
    for (ip, dev) in &node.vips {
        cmd.push("--vip".into());
        cmd.push(if *dev == node.interface {
            ip.to_string()
        } else {
            format!("{ip}@{dev}")
        });
    }
    cmd.extend([
        "--apiserver-port".into(),
        node.config.apiserver_port.to_string(),
        "--listen".into(),
        node.config.agent_listen.to_string(),
        "--advert-interval-ms".into(),
        (u64::from(node.config.advert_centis) * 10).to_string(),
    ]);
    // The VRRP filter's sources: every master as listed (so the DaemonSet's
    // is right on each of them), and this node's address if not listed.
    if node.config.vrrp_filter {
        for ip in node.masters() {
            cmd.extend(["--vrrp-from".into(), ip.to_string()]);
        }
    }
    // The balancing's backends: every master as listed, and this node.
    if let Some(balance) = node.config.balance {
        cmd.extend(["--balance-port".into(), balance.port.to_string()]);
        for ip in node.masters() {
            cmd.extend(["--backend".into(), ip.to_string()]);
        }
    }
    cmd
}

/// The keepalived container, the same for the static pod and the DaemonSet.
/// Its entrypoint is `kubealived agent`, which runs keepalived.
fn container(node: &Node, image: &str) -> Container {
    let listen = node.config.agent_listen;
    // kubelet probes from this node: a wildcard address answers on loopback.
    let probe_host = match listen.ip() {
        ip if !ip.is_unspecified() => ip,
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
    };
    Container {
        name: "keepalived".into(),
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(command(node)),
        // NET_ADMIN adds and removes the VIP (without it keepalived claims
        // MASTER and black-holes the VIP); NET_RAW sends VRRP (without it
        // keepalived exits). No health-check script runs any more, so
        // nothing needs SETGID. Hardened as any root pod on a master should
        // be: the runtime's default seccomp profile, no privilege
        // escalation, a read-only root; the one place it writes (track
        // file, FIFO, pid files) is a memory-backed emptyDir, so a full
        // node disk cannot stop it writing its readiness.
        security_context: Some(SecurityContext {
            capabilities: Some(Capabilities {
                add: Some(vec!["NET_ADMIN".into(), "NET_RAW".into()]),
                drop: Some(vec!["ALL".into()]),
            }),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                localhost_profile: None,
            }),
            ..Default::default()
        }),
        // Restarts the container when the agent's check loop is stuck (its
        // watchdog has already made the node unhealthy by then). The probe
        // comes from kubelet on this node: the pod has the host's network.
        liveness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                host: Some(probe_host.to_string()),
                port: IntOrString::Int(listen.port().into()),
                path: Some("/healthz".into()),
                ..Default::default()
            }),
            initial_delay_seconds: Some(5),
            period_seconds: Some(5),
            timeout_seconds: Some(2),
            failure_threshold: Some(3),
            ..Default::default()
        }),
        // The limit bounds what a misbehaving agent or keepalived can take
        // from the master: both together use well under 32 MiB.
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("10m".into())),
                ("memory".to_string(), Quantity("16Mi".into())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_string(),
                Quantity("128Mi".into()),
            )])),
            ..Default::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "config".into(),
                mount_path: CONFIG_DIR_IN_POD.into(),
                read_only: Some(true),
                ..Default::default()
            },
            VolumeMount {
                name: "run".into(),
                mount_path: AGENT_RUN_DIR.into(),
                ..Default::default()
            },
            // kube-apiserver.yaml's probes say where kubelet asks /readyz.
            VolumeMount {
                name: "manifests".into(),
                mount_path: MANIFESTS_DIR_ON_NODE.into(),
                read_only: Some(true),
                ..Default::default()
            },
            // The cluster CA the apiserver's certificate is verified against.
            VolumeMount {
                name: "cluster-ca".into(),
                mount_path: CLUSTER_CA_ON_NODE.into(),
                read_only: Some(true),
                ..Default::default()
            },
        ]),
        ..Default::default()
    }
}

/// Host network, critical priority, no service account token: nothing here
/// talks to the cluster it bootstraps. Host /run is never mounted (stale
/// pid files there stop keepalived from restarting).
fn pod_spec(node: &Node, image: &str, config: Volume) -> PodSpec {
    PodSpec {
        host_network: Some(true),
        priority_class_name: Some("system-node-critical".into()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        containers: vec![container(node, image)],
        volumes: Some(vec![
            config,
            Volume {
                name: "run".into(),
                empty_dir: Some(EmptyDirVolumeSource {
                    medium: Some("Memory".into()),
                    size_limit: Some(Quantity("1Mi".into())),
                }),
                ..Default::default()
            },
            Volume {
                name: "manifests".into(),
                host_path: Some(HostPathVolumeSource {
                    path: MANIFESTS_DIR_ON_NODE.into(),
                    type_: Some("Directory".into()),
                }),
                ..Default::default()
            },
            // The CA's certificate alone, never the directory (its key is
            // there). kubeadm init and join write it in their certs phase,
            // before kubelet-start, so when kubelet first runs this pod it
            // is there. FileOrCreate, not File: if kubelet ever ran the pod
            // first, it creates an empty file rather than refuse the pod
            // (it creates no directory: without /etc/kubernetes/pki the pod
            // waits for one), and the agent reads an empty file as "no CA
            // yet", unverified, until kubeadm writes the CA into it.
            Volume {
                name: "cluster-ca".into(),
                host_path: Some(HostPathVolumeSource {
                    path: CLUSTER_CA_ON_NODE.into(),
                    type_: Some("FileOrCreate".into()),
                }),
                ..Default::default()
            },
        ]),
        ..Default::default()
    }
}

/// The first 64 bits of SHA-256, in hex: plenty to notice a change, and
/// short enough for podman, which caps annotation values at 63 characters.
pub fn config_hash(keepalived_conf: &str) -> String {
    Sha256::digest(keepalived_conf.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The static pod; `image` as the manifest names it (the packaged image
/// with its archive's digest, or the image as given).
pub fn static_pod(node: &Node, image: &str, keepalived_conf: &str) -> String {
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(NAME.into()),
            namespace: Some(NAMESPACE.into()),
            labels: Some(labels()),
            annotations: Some(BTreeMap::from([(
                CONFIG_HASH_ANNOTATION.to_string(),
                config_hash(keepalived_conf),
            )])),
            ..Default::default()
        },
        spec: Some(pod_spec(
            node,
            image,
            Volume {
                name: "config".into(),
                host_path: Some(HostPathVolumeSource {
                    path: on_node(CONFIG_DIR),
                    type_: Some("Directory".into()),
                }),
                ..Default::default()
            },
        )),
        status: None,
    };
    header() + &to_yaml(&pod)
}

fn header() -> String {
    format!(
        "# Written by kubealived {}. Do not edit: kubelet runs this static pod;\n\
         # change it with `kubealived install`, remove it with `kubealived uninstall`.\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The seed's shape, for clusters that already exist: a ConfigMap with
/// keepalived.conf and a DaemonSet on the control-plane nodes. Its image is
/// named as given, never with this node's archive's digest: that digest is
/// one architecture's manifest, and every node pulls the image.
pub fn daemonset_bundle(node: &Node, keepalived_conf: &str) -> String {
    let meta = || ObjectMeta {
        name: Some(NAME.into()),
        namespace: Some(NAMESPACE.into()),
        labels: Some(labels()),
        ..Default::default()
    };
    let config_map = ConfigMap {
        metadata: meta(),
        data: Some(BTreeMap::from([(
            "keepalived.conf".to_string(),
            keepalived_conf.to_string(),
        )])),
        ..Default::default()
    };
    let mut spec = pod_spec(
        node,
        &node.config.image,
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: NAME.into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    spec.node_selector = Some(BTreeMap::from([(
        "node-role.kubernetes.io/control-plane".to_string(),
        String::new(),
    )]));
    spec.tolerations = Some(vec![Toleration {
        key: Some("node-role.kubernetes.io/control-plane".into()),
        operator: Some("Exists".into()),
        effect: Some("NoSchedule".into()),
        ..Default::default()
    }]);
    let selector = BTreeMap::from([("app.kubernetes.io/name".to_string(), NAME.to_string())]);
    let daemon_set = DaemonSet {
        metadata: meta(),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels()),
                    annotations: Some(BTreeMap::from([(
                        CONFIG_HASH_ANNOTATION.to_string(),
                        config_hash(keepalived_conf),
                    )])),
                    ..Default::default()
                }),
                spec: Some(spec),
            },
            ..Default::default()
        }),
        status: None,
    };
    format!(
        "# Written by kubealived {}. For a cluster that already exists: \
         `kubectl apply -f` this file;\n\
         # change it by rendering again (`kubealived render --kind daemonset ...`), \
         remove it with `kubectl delete -f`.\n{}---\n{}",
        env!("CARGO_PKG_VERSION"),
        to_yaml(&config_map),
        to_yaml(&daemon_set)
    )
}

/// Whether an existing manifest is one of ours (`--force` replaces others).
pub fn written_by_us(existing: &[u8]) -> bool {
    serde_yaml_ng::from_slice::<Pod>(existing).is_ok_and(|pod| {
        pod.metadata
            .labels
            .unwrap_or_default()
            .get(MANAGED_BY_LABEL)
            .map(String::as_str)
            == Some(NAME)
    })
}
