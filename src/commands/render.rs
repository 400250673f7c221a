//! `kubealived render`: print what install would write; touches nothing.

use super::{prepare, warn};
use crate::cli::{Kind, RenderArgs};
use crate::fs::{Root, SAVED_CONFIG};
use crate::host::RealHost;
use crate::render::manifest;
use crate::usage;
use anyhow::Result;

pub fn run(args: &RenderArgs) -> Result<()> {
    // With no --vip, show what the installed settings render to.
    let saved = Root::new("/").path(SAVED_CONFIG);
    // A named interface is taken as given: render may run for another machine.
    let rendered = prepare(&args.settings, Some(&saved), &RealHost, false)?;
    warn(&rendered.node.warnings);
    let conf = &rendered.keepalived_conf;
    if args.keepalived_conf {
        print!("{conf}");
        return Ok(());
    }
    match args.kind {
        Kind::Pod => print!("{}", manifest::static_pod(&rendered.node, conf)),
        Kind::Daemonset => {
            if !rendered.node.peers.is_empty() {
                return Err(usage!(
                    "--peer cannot be used with --kind daemonset: one ConfigMap serves every master, \
                     so no node's own address can be left out of its peer list.\n\
                     Fix: drop --peer (multicast), or use the static pod (`kubealived install`)."
                ));
            }
            print!("{}", manifest::daemonset_bundle(&rendered.node, conf))
        }
    }
    Ok(())
}
