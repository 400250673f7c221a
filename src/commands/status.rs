//! `kubealived status`: are the files there and current, which interface,
//! does this node hold the VIP. Exit 0 when installed and current, 1 when
//! something is missing or stale.

use super::prepare;
use crate::cli::{RootArgs, SettingsArgs};
use crate::fs::{self, Root, KEEPALIVED_CONF, MANIFEST, SAVED_CONFIG};
use crate::host::{Host, RealHost};
use crate::render::manifest;
use anyhow::{bail, Result};

pub fn run(args: &RootArgs) -> Result<()> {
    let root = Root::new(&args.root);
    let saved = root.path(SAVED_CONFIG);
    if fs::read_optional(&saved)?.is_none() {
        println!("not installed: {} does not exist", saved.display());
        println!("Fix: kubealived install --vip IP");
        bail!("kubealived is not installed");
    }
    let rendered = prepare(&SettingsArgs::default(), Some(&saved), &RealHost, true)?;
    let node = &rendered.node;
    let expected = [
        (KEEPALIVED_CONF, rendered.keepalived_conf.clone()),
        (
            MANIFEST,
            manifest::static_pod(node, &rendered.keepalived_conf),
        ),
    ];
    let mut healthy = true;
    println!("{:<16} {}", "settings", saved.display());
    for (relative, want) in &expected {
        let path = root.path(relative);
        let state = match fs::read_optional(&path)? {
            None => "missing (run `kubealived install` to restore it)",
            Some(have) if have == want.as_bytes() => "current",
            Some(have) if *relative == MANIFEST && !manifest::written_by_us(&have) => {
                "not written by kubealived (install --force replaces it)"
            }
            Some(_) => "stale: differs from what the settings render (run `kubealived install`)",
        };
        healthy &= state == "current";
        println!(
            "{:<16} {} {state}",
            relative.rsplit('/').next().unwrap_or(relative),
            path.display()
        );
    }
    let addresses = crate::detect::own_addresses(&RealHost.interfaces()?);
    for (vip, dev) in &node.vips {
        let held = if addresses.contains(vip) {
            "held by this node"
        } else {
            "not held by this node"
        };
        println!("{:<16} {vip} on {dev}: {held}", "vip");
    }
    println!(
        "{:<16} router id {}, priority {}, advert {} s, {}",
        "vrrp",
        node.config.router_id,
        node.config.priority,
        crate::render::keepalived::seconds(node.config.advert_centis),
        if node.peers.is_empty() {
            "multicast".to_string()
        } else {
            let peers: Vec<String> = node.peers.iter().map(|p| p.to_string()).collect();
            format!("unicast peers {}", peers.join(", "))
        }
    );
    if !healthy {
        bail!("some files are missing or stale");
    }
    Ok(())
}
