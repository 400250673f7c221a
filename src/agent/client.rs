//! The other end of [`super::server`]: `kubealived status` asks the
//! agent on this node for its `/status`.

use super::state::StatusReport;
use anyhow::{bail, Context, Result};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The agent's report, from the address it listens on (an unspecified
/// address is asked on loopback).
pub fn fetch_status(listen: SocketAddr) -> Result<StatusReport> {
    let host = if listen.ip().is_unspecified() {
        match listen {
            SocketAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
            SocketAddr::V6(_) => IpAddr::from(Ipv6Addr::LOCALHOST),
        }
    } else {
        listen.ip()
    };
    let url = format!("http://{}/status", SocketAddr::new(host, listen.port()));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .proxy(None)
        .build()
        .into();
    let mut response = agent
        .get(&url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    let body = response.body_mut().read_to_string()?;
    match serde_yaml_ng::from_str(&body) {
        Ok(report) => Ok(report),
        Err(e) => bail!("{url} answered something else: {e}"),
    }
}
