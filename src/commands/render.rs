//! `kubealived render`: print what install would write; touches nothing.

use super::{warn, Rendered};
use crate::error::usage;
use crate::host::Host;
use crate::paths::{Root, IMAGE_ARCHIVE, SAVED_CONFIG};
use crate::render::{keepalived, manifest};
use crate::settings::{Settings, Sources};
use anyhow::Result;
use clap::{Args, ValueEnum};
use std::io::Write;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// The static Pod for /etc/kubernetes/manifests
    Pod,
    /// ConfigMap + DaemonSet in kube-system, for a cluster that already exists
    Daemonset,
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    #[command(flatten)]
    pub settings: Settings,
    #[command(flatten)]
    pub sources: Sources,
    /// What to print
    #[arg(long, value_enum, default_value_t = Kind::Pod)]
    pub kind: Kind,
    /// Print keepalived.conf instead of the manifest
    #[arg(long, conflicts_with = "kind")]
    pub keepalived_conf: bool,
}

pub fn run(args: &RenderArgs, host: &dyn Host, out: &mut dyn Write) -> Result<()> {
    // With no --vip, show what the installed settings render to.
    let saved = Root::new("/").path(SAVED_CONFIG);
    // A named interface is taken as given: render may run for another
    // machine, whose archive is not this one, so the image is named as
    // given. Without it, the image is named as install names it here.
    let mut rendered = Rendered::prepare(&args.settings, &args.sources, Some(&saved), host, false)?;
    if rendered.settings.interface.is_none() {
        rendered = rendered.with_archive(&Root::new("/").path(IMAGE_ARCHIVE))?;
    }
    warn(&rendered.node.warnings);
    let conf = &rendered.keepalived_conf;
    if args.keepalived_conf {
        write!(out, "{conf}")?;
        return Ok(());
    }
    match args.kind {
        Kind::Pod => write!(out, "{}", rendered.manifest())?,
        Kind::Daemonset => {
            if !rendered.node.peers.is_empty() {
                return Err(usage!(
                    "{} cannot be used with --kind daemonset: one ConfigMap serves every master, \
                     so no node's own address can be left out of its peer list.\n\
                     Fix: {} (multicast), or use the static pod (`kubealived install`).",
                    rendered.origins.name("peers"),
                    rendered.origins.unset("peers")
                ));
            }
            let conf = keepalived::render_for_daemonset(&rendered.node);
            write!(out, "{}", manifest::daemonset_bundle(&rendered.node, &conf))?
        }
    }
    Ok(())
}
