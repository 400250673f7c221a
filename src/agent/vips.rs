//! Removing the VIPs from this node's interface (through
//! [`crate::netlink`]: the image has no `ip` binary): after keepalived or
//! its VRRP process died, at start (leftovers of a crash) and on exit.

use crate::netlink::{self, Netlink};
use anyhow::{bail, Context, Result};
use netlink_packet_route::address::AddressMessage;
use std::net::IpAddr;

/// Every VIP with the interface it goes on.
#[derive(Debug, Clone)]
pub struct Vips(pub Vec<(IpAddr, String)>);

impl Vips {
    fn find(&self) -> Result<Vec<(IpAddr, AddressMessage)>> {
        let mut wanted = Vec::new();
        for (ip, dev) in &self.0 {
            let index = nix::net::if_::if_nametoindex(dev.as_str())
                .with_context(|| format!("no interface {dev}"))?;
            wanted.push((*ip, index));
        }
        Ok(netlink::addresses()?
            .into_iter()
            .filter_map(|a| {
                netlink::address_of(&a)
                    .filter(|ip| wanted.contains(&(*ip, a.header.index)))
                    .map(|ip| (ip, a))
            })
            .collect())
    }

    /// The VIPs on their interface now (none when that cannot be read).
    pub fn present(&self) -> Vec<IpAddr> {
        self.find()
            .map(|found| found.into_iter().map(|(ip, _)| ip).collect())
            .unwrap_or_default()
    }

    /// Removes every VIP from the interface; returns those that were there.
    pub fn remove(&self) -> Result<Vec<IpAddr>> {
        let found = self.find()?;
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let mut nl = Netlink::open()?;
        let mut removed = Vec::new();
        let mut errors = Vec::new();
        for (ip, msg) in found {
            match netlink::delete_address(&mut nl, msg) {
                Ok(true) => removed.push(ip),
                // Gone meanwhile (keepalived removed it): fine.
                Ok(false) => {}
                Err(e) => errors.push(format!("{ip}: {e:#}")),
            }
        }
        if !errors.is_empty() {
            bail!("cannot remove VIPs: {}", errors.join("; "));
        }
        Ok(removed)
    }

    /// Removes and logs; never fails the caller (we are cleaning up).
    pub fn remove_logged(&self, why: &str) {
        match self.remove() {
            Ok(removed) if removed.is_empty() => {}
            Ok(removed) => {
                let list: Vec<String> = removed.iter().map(|ip| ip.to_string()).collect();
                eprintln!("kubealived agent: removed {} ({why})", list.join(", "));
            }
            Err(e) => eprintln!("kubealived agent: {e:#} ({why})"),
        }
    }
}
