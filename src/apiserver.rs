//! The HTTPS client for this node's kube-apiserver, the one low module
//! that `check-apiserver` and the agent's readiness watcher both use.
//! kube-apiserver's /livez and /readyz are readable without credentials;
//! its certificate is signed by the cluster CA, which this client has no
//! business holding, so it is not verified (our own node, on loopback).

use anyhow::{bail, Result};
use std::time::Duration;

/// The URL of `path` (such as `/readyz`) on the local apiserver.
pub fn local_url(port: u16, path: &str) -> String {
    format!("https://127.0.0.1:{port}{path}")
}

/// An HTTPS client for the local apiserver: no certificate verification,
/// no proxy, every call bounded by `timeout`. Connections are kept alive.
pub fn client(timeout: Duration) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .disable_verification(true)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into()
}

/// The HTTP status `url` answered with, or why it did not answer (within
/// `timeout`, else the agent's). The (short) body is read, so the
/// connection goes back to the pool for the next call.
pub fn status(
    agent: &ureq::Agent,
    url: &str,
    timeout: Option<Duration>,
) -> Result<ureq::http::StatusCode, ureq::Error> {
    let mut request = agent.get(url);
    if let Some(timeout) = timeout {
        request = request.config().timeout_global(Some(timeout)).build();
    }
    let mut response = request.call()?;
    let status = response.status();
    let _ = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_vec();
    Ok(status)
}

/// Ok when `url` answers 200.
pub fn probe(agent: &ureq::Agent, url: &str) -> Result<()> {
    match status(agent, url, None) {
        Ok(status) if status == 200 => Ok(()),
        Ok(status) => bail!("{url} answered {status}"),
        Err(e) => bail!("{url}: {e}"),
    }
}
