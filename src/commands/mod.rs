//! The command line: the top-level [`Cli`], and one file per subcommand
//! with its clap arguments beside it. The steps several commands share
//! (the rendered files, the root check, the VRRP summary) are here, once.

pub mod check_apiserver;
pub mod generate;
pub mod install;
pub mod render;
pub mod status;
pub mod uninstall;

#[cfg(test)]
mod tests;

use crate::agent::target;
use crate::config::{self, Config};
use crate::error::usage;
use crate::host::Host;
use crate::node::{self, Node};
use crate::paths::{Root, KEEPALIVED_CONF, MANIFEST, OWNED_FILES, SAVED_CONFIG};
use crate::render::{keepalived, manifest};
use crate::runtime;
use crate::settings::{self, Loaded, Origins, Settings, Sources};
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

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
    Install(install::InstallArgs),
    /// Print the manifest (or keepalived.conf) to stdout; writes nothing
    Render(render::RenderArgs),
    /// Remove exactly the files `install` wrote
    Uninstall(uninstall::UninstallArgs),
    /// Show the files, interface, image, VIP and the agent's view (-o json for scripts); exit 1 if anything is off
    Status(status::StatusArgs),
    /// Health check for scripts: GET https://127.0.0.1:PORT/livez
    CheckApiserver(check_apiserver::CheckArgs),
    /// Print the man page (roff) or shell completions to stdout
    Generate(generate::GenerateArgs),
    /// The pod's entrypoint: supervise keepalived, feed it /readyz, serve status and metrics
    Agent(crate::agent::args::AgentArgs),
}

/// Run one command on `host`, printing to `out`.
pub fn run(cli: &Cli, host: &dyn Host, out: &mut dyn Write) -> Result<()> {
    match &cli.command {
        Command::Install(args) => install::run(args, host, out),
        Command::Render(args) => render::run(args, host, out),
        Command::Uninstall(args) => uninstall::run(args, host, out),
        Command::Status(args) => status::run(args, host, out),
        Command::CheckApiserver(args) => check_apiserver::run(args),
        Command::Generate(args) => generate::run(args, out),
        Command::Agent(args) => crate::agent::run(args),
    }
}

#[derive(Args, Debug, Clone)]
pub struct RootArgs {
    /// Act on files under DIR instead of / (image builds, tests)
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

impl RootArgs {
    pub fn root(&self) -> Root {
        Root::new(&self.root)
    }
}

/// Everything install, render and status compute before touching anything.
pub struct Rendered {
    pub settings: Settings,
    /// Where each setting came from, for messages after validation.
    pub origins: Origins,
    pub node: Node,
    pub keepalived_conf: String,
    /// The digest the manifest pins the packaged image to (the archive's),
    /// set by [`Rendered::with_archive`]; never a setting.
    pub digest: Option<String>,
}

impl Rendered {
    /// The pipeline up to the rendered files: settings → config → node →
    /// keepalived.conf.
    pub fn prepare(
        flags: &Settings,
        sources: &Sources,
        saved: Option<&Path>,
        host: &dyn Host,
        on_this_host: bool,
    ) -> Result<Rendered> {
        Rendered::from_loaded(settings::load(flags, sources, saved)?, host, on_this_host)
    }

    /// The same from settings already gathered (status: the saved ones).
    pub fn from_settings(
        settings: Settings,
        host: &dyn Host,
        on_this_host: bool,
    ) -> Result<Rendered> {
        Rendered::from_loaded(Loaded::from_flags(settings), host, on_this_host)
    }

    /// The same from settings that know where each value came from.
    pub fn from_loaded(loaded: Loaded, host: &dyn Host, on_this_host: bool) -> Result<Rendered> {
        let config = Config::validate_from(&loaded.settings, &loaded.origins)?;
        if let Some((path, kubeadm)) = &loaded.kubeadm {
            check_bind_address(path, kubeadm.bind_address, &config.vips)?;
        }
        let mut node = node::resolve(&config, &host.interfaces()?, on_this_host)?;
        if let Some((path, kubeadm)) = &loaded.kubeadm {
            node.warnings.extend(endpoint_warning(
                path,
                &kubeadm.endpoint,
                &config.vips,
                host,
            ));
        }
        let keepalived_conf = keepalived::render(&node);
        Ok(Rendered {
            settings: loaded.settings,
            origins: loaded.origins,
            node,
            keepalived_conf,
            digest: None,
        })
    }

    /// The same, naming the packaged image with the digest of the package's
    /// `archive` (when it is the packaged image and the archive is there):
    /// what install writes on this host. Without it, the image as given.
    pub fn with_archive(mut self, archive: &Path) -> Result<Rendered> {
        let image = &self.node.config.image;
        self.digest = runtime::pinned_digest(image, &config::default_image(), archive)?;
        Ok(self)
    }

    /// The image as the manifest names it: `NAME:TAG@DIGEST` when pinned.
    pub fn image(&self) -> String {
        let image = &self.node.config.image;
        match &self.digest {
            Some(digest) => format!("{image}@{digest}"),
            None => image.clone(),
        }
    }

    /// The static pod manifest.
    pub fn manifest(&self) -> String {
        manifest::static_pod(&self.node, &self.image(), &self.keepalived_conf)
    }

    /// Every owned file with the content these settings give it, in
    /// `paths::OWNED_FILES` order: what install writes, dry-run diffs and
    /// status compares.
    pub fn owned_files(&self) -> [(&'static str, String); 3] {
        OWNED_FILES.map(|relative| {
            let content = match relative {
                SAVED_CONFIG => self.settings.to_yaml(),
                KEEPALIVED_CONF => self.keepalived_conf.clone(),
                MANIFEST => self.manifest(),
                _ => unreachable!("{relative} is owned but not rendered"),
            };
            (relative, content)
        })
    }
}

/// A kubeadm config whose `apiServer.extraArgs` bind kube-apiserver to an
/// address that is not every VIP: connections to the VIP would be refused
/// on whichever master holds it.
fn check_bind_address(path: &Path, bind: Option<IpAddr>, vips: &[IpAddr]) -> Result<()> {
    let Some(bind) = bind else {
        return Ok(());
    };
    let refused = target::refused_vips(bind, vips);
    if refused.is_empty() {
        return Ok(());
    }
    Err(usage!(
        "apiServer.extraArgs bind-address {bind} in {}: kube-apiserver would bind {bind} only, so \
         connections to {} would be refused on the master holding it.\n\
         Fix: drop bind-address from apiServer.extraArgs there (kube-apiserver then listens on \
         every address, the VIP among them), or set it to 0.0.0.0.",
        path.display(),
        target::the_vips(&refused)
    ))
}

/// A kubeadm endpoint that names a DNS name should lead to a VIP. Where
/// the name resolves on this host and none of its addresses is a VIP,
/// clients using the name miss the VIP: a warning (DNS may be fixed
/// later). A name that does not resolve (yet) says nothing.
fn endpoint_warning(
    path: &Path,
    endpoint: &crate::kubeadm::Endpoint,
    vips: &[std::net::IpAddr],
    host: &dyn Host,
) -> Option<String> {
    let crate::kubeadm::Address::Name(name) = &endpoint.address else {
        return None;
    };
    let addrs = host.resolve(name);
    if addrs.is_empty() || addrs.iter().any(|a| vips.contains(a)) {
        return None;
    }
    let list = |ips: &[std::net::IpAddr]| {
        ips.iter()
            .map(|ip| ip.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(format!(
        "{} {name} (in {}) resolves on this host to {}, which is not the VIP {}: clients that use the name \
         will not reach the VIP. Fix: point the name's DNS record (or /etc/hosts entry) at the VIP.",
        endpoint.field,
        path.display(),
        list(&addrs),
        list(vips)
    ))
}

/// Writing to the host's own /etc needs root; another `--root` does not.
pub fn require_root(root: &Root, what: &str, fix: &str) -> Result<()> {
    if root.is_host_root() && !nix::unistd::geteuid().is_root() {
        return Err(usage!("{what}, which needs root.\nFix: {fix}."));
    }
    Ok(())
}

/// One line about the VRRP instance, as install and status print it.
pub fn vrrp_summary(node: &Node) -> String {
    let c = &node.config;
    format!(
        "VRRPv{}, router id {}, priority {}, advert {} s, {}",
        c.version.number(),
        c.router_id,
        c.priority,
        keepalived::seconds(c.advert_centis),
        if node.peers.is_empty() {
            "multicast".to_string()
        } else {
            let peers: Vec<String> = node.peers.iter().map(|p| p.to_string()).collect();
            format!("unicast to {}", peers.join(", "))
        }
    )
}

pub fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}
