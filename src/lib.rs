//! kubealived: a highly available API endpoint for kubeadm clusters.
//!
//! The modules read as a pipeline, each importing only from those above it
//! (`tests/layers.rs` holds the code to this list):
//!
//! - [`paths`]: every name and path; [`error`]: usage errors (exit 2);
//!   [`faults`]: crash injection for the crash-safety tests.
//! - [`kubeadm`]: controlPlaneEndpoint from a kubeadm config, a source of
//!   [`settings`]: flags, config.yaml.
//! - [`config`]: the validated `Config`.
//! - [`apiserver`]: the HTTPS client for this node's kube-apiserver.
//! - [`runtime`]: the node's container runtime (image present? import).
//! - [`netlink`]: rtnetlink, to list addresses and remove VIPs; [`nft`]:
//!   the nftables tables of the opt-in VRRP filter and load balancing.
//! - [`host`]: the machine's interfaces and runtime; [`node`]: the config
//!   resolved on it.
//! - [`render`]: keepalived.conf and the manifests, pure.
//! - [`plan`]: create / update / unchanged, with diffs.
//! - [`write`]: atomic writes, the lock, the temp-file sweep.
//! - [`agent`]: the pod's supervisor (`kubealived agent`).
//! - [`commands`]: the command line, one file per subcommand.

pub mod agent;
pub mod apiserver;
pub mod commands;
pub mod config;
pub mod error;
pub mod faults;
pub mod host;
pub mod kubeadm;
pub mod netlink;
pub mod nft;
pub mod node;
pub mod paths;
pub mod plan;
pub mod render;
pub mod runtime;
pub mod settings;
pub mod write;
