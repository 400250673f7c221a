//! Pure renderers: a resolved [`Node`] in, file contents out.

pub mod keepalived;
pub mod manifest;

#[cfg(test)]
mod injection_tests;

use crate::config::Config;
use std::net::IpAddr;

/// Where the image carries this same binary, for keepalived's health check.
pub const BINARY_IN_IMAGE: &str = "/usr/local/bin/kubealived";

/// The config resolved against this host: what the renderers need.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub config: Config,
    /// The interface VRRP advertises on (the primary VIP's).
    pub interface: String,
    /// Every VIP with the interface it goes on, primary first.
    pub vips: Vec<(IpAddr, String)>,
    /// This node's address in the primary VIP's subnet, as unicast source.
    pub unicast_src: Option<IpAddr>,
    /// `config.peers` without this node's own addresses.
    pub peers: Vec<IpAddr>,
    pub warnings: Vec<String>,
}
