//! The command line. Values are parsed loosely here (strings, wide
//! integers) and validated in one place, `config::Config::validate`, so a
//! flag and the same key in a config file get the same checks and messages.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "kubealived",
    version,
    about = "A highly available API endpoint for kubeadm clusters: keepalived as a static pod, \
             written before `kubeadm init`",
    long_about = None,
    after_help = "Run `kubealived install --vip IP` on every control-plane node, before \
                  `kubeadm init` / `kubeadm join`.\nExit codes: 0 ok, 1 runtime failure, 2 invalid input."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Detect the interface, render and write the static pod and keepalived config
    Install(InstallArgs),
    /// Print the manifest (or keepalived.conf) to stdout; writes nothing
    Render(RenderArgs),
    /// Remove exactly the files `install` wrote
    Uninstall(RootArgs),
    /// Show the files, the interface and whether this node holds the VIP
    Status(RootArgs),
    /// Health check run by keepalived: GET https://127.0.0.1:PORT/livez
    CheckApiserver(CheckArgs),
    /// Print the man page (roff) or shell completions to stdout
    Generate(GenerateArgs),
}

/// The settings that shape the rendered files; also the keys of config.yaml.
#[derive(Args, Debug, Default, Clone)]
pub struct SettingsArgs {
    /// Virtual IP for the API endpoint; give it twice for dual-stack (one IPv4, one IPv6)
    #[arg(long = "vip", value_name = "IP")]
    pub vips: Vec<String>,
    /// Interface to carry the VIP [default: the one whose subnet contains the VIP]
    #[arg(long, value_name = "NAME")]
    pub interface: Option<String>,
    /// Unicast peer (repeatable): list every master; this node's own addresses are dropped
    #[arg(long = "peer", value_name = "IP")]
    pub peers: Vec<String>,
    /// VRRP base priority, the same on every master [default: 250]
    #[arg(long, value_name = "N")]
    pub priority: Option<i64>,
    /// VRRP virtual router id, 1-255 [default: derived from the VIP]
    #[arg(long, value_name = "VRID")]
    pub router_id: Option<i64>,
    /// Advertisement interval in seconds: 0.01-40.95 with VRRPv3, whole 1-255 with v2 [default: 0.3 (v3), 1 (v2)]
    #[arg(long, value_name = "SECONDS")]
    pub advert_interval: Option<f64>,
    /// VRRP version [default: 3]; 2 only for the legacy password profile
    #[arg(long, value_name = "2|3")]
    pub vrrp_version: Option<i64>,
    /// Port of kube-apiserver on this node, for the health check [default: 6443]
    #[arg(long, value_name = "PORT")]
    pub apiserver_port: Option<i64>,
    /// Container image running keepalived and kubealived [default: the published image of this version]
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,
    /// VRRPv2 PASS authentication, at most 8 characters (cleartext on the wire)
    #[arg(long, value_name = "PASSWORD", conflicts_with = "password_file")]
    pub password: Option<String>,
    /// Read the VRRPv2 password from a file (first line)
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Read settings from a YAML file (same keys as /etc/kubealived/config.yaml); flags override it
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Take the VIP and port from controlPlaneEndpoint of a kubeadm config file
    #[arg(long, value_name = "FILE")]
    pub kubeadm_config: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct RootArgs {
    /// Act on files under DIR instead of / (image builds, tests)
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub root: RootArgs,
    /// Print what would change, with a diff; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Replace a manifest at the target path that kubealived did not write
    #[arg(long)]
    pub force: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// The static Pod for /etc/kubernetes/manifests
    Pod,
    /// Namespace-less bundle (ConfigMap + DaemonSet) for a cluster that already exists
    Daemonset,
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// What to print
    #[arg(long, value_enum, default_value_t = Kind::Pod)]
    pub kind: Kind,
    /// Print keepalived.conf instead of the manifest
    #[arg(long, conflicts_with = "kind")]
    pub keepalived_conf: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// kube-apiserver port on 127.0.0.1
    #[arg(long, default_value_t = 6443, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// Give up after this many seconds
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    pub timeout: f64,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Artifact {
    Man,
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[arg(value_enum)]
    pub what: Artifact,
    /// Write kubealived.1 and one page per subcommand (kubealived-install.1, ...) into DIR
    /// instead of printing the main page
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<std::path::PathBuf>,
}
