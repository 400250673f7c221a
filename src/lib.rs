//! kubealived: a highly available API endpoint for kubeadm clusters.
//!
//! The modules read as a pipeline, each importing only from those above it:
//!
//! - [`paths`]: every name and path; [`error`]: usage errors (exit 2).
//! - [`settings`] (with [`kubeadm`]): flags, config.yaml, kubeadm config.
//! - [`config`]: the validated `Config`.
//! - [`runtime`]: the node's container runtime (image present? import).
//! - [`host`]: the machine's interfaces and runtime; [`node`]: the config
//!   resolved on it.
//! - [`render`]: keepalived.conf and the manifests, pure.
//! - [`plan`]: create / update / unchanged, with diffs.
//! - [`write`]: atomic writes, the lock, the temp-file sweep.
//! - [`commands`]: the command line, one file per subcommand.
//! - [`agent`]: the pod's supervisor (`kubealived agent`).

pub mod agent;
pub mod commands;
pub mod config;
pub mod error;
pub mod faults;
pub mod host;
pub mod kubeadm;
pub mod node;
pub mod paths;
pub mod plan;
pub mod render;
pub mod runtime;
pub mod settings;
pub mod write;
