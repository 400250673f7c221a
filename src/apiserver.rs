//! The HTTPS client for this node's kube-apiserver, the one low module
//! that `check-apiserver` and the agent's readiness watcher both use.
//! kube-apiserver's /livez and /readyz are readable without credentials.
//! Its certificate is signed by the cluster CA: the agent verifies it once
//! kubeadm has written that CA (its certificate, never its key);
//! `check-apiserver` and the agent before `kubeadm init` do not.

use anyhow::{bail, Result};
use std::time::Duration;
use ureq::tls::{parse_pem, Certificate, PemItem, RootCerts, TlsConfig};

/// The URL of `path` (such as `/readyz`) on the local apiserver.
pub fn local_url(port: u16, path: &str) -> String {
    format!("https://127.0.0.1:{port}{path}")
}

/// An HTTPS client for this node's apiserver: no proxy, every call bounded
/// by `timeout`, connections kept alive. With `ca`, the server's
/// certificate must chain to it and name the host the URL connects to (an
/// IP address: a SAN of that IP); without, it is not verified.
pub fn client(timeout: Duration, ca: Option<&[Certificate<'static>]>) -> ureq::Agent {
    let tls = match ca {
        Some(ca) => TlsConfig::builder().root_certs(RootCerts::new_with_certs(ca)),
        None => TlsConfig::builder().disable_verification(true),
    };
    ureq::Agent::config_builder()
        .tls_config(tls.build())
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into()
}

/// The certificates of a PEM file (a CA, or a bundle of them). An error
/// when it holds none or one does not parse: a CA that is there but
/// unusable must not verify nothing, nor be skipped quietly.
pub fn parse_ca(pem: &[u8]) -> Result<Vec<Certificate<'static>>> {
    let mut certs = Vec::new();
    for item in parse_pem(pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => bail!("not PEM: {e}"),
        }
    }
    if certs.is_empty() {
        bail!("no PEM certificate in it");
    }
    Ok(certs)
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
