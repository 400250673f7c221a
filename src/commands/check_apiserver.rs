//! `kubealived check-apiserver`: an HTTPS GET of the local apiserver's
//! /livez, exit 0/1, for anyone who scripts it; the agent's /readyz
//! watcher uses the same client. kube-apiserver's /livez and /readyz are
//! readable without credentials; its certificate is self-signed by the
//! cluster CA, which this check has no business holding, so it is not
//! verified (it is our own node, on loopback).

use crate::error::usage;
use crate::paths::DEFAULT_APISERVER_PORT;
use anyhow::{bail, Result};
use clap::Args;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// kube-apiserver port on 127.0.0.1
    #[arg(long, default_value_t = DEFAULT_APISERVER_PORT, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// Give up after this many seconds
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    pub timeout: f64,
}

pub fn run(args: &CheckArgs) -> Result<()> {
    let url = format!("https://127.0.0.1:{}/livez", args.port);
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| {
            usage!(
                "--timeout {} is not a positive number of seconds.\nFix: e.g. --timeout 2",
                args.timeout
            )
        })?;
    probe(&client(timeout), &url)
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
