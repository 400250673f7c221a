//! `kubealived check-apiserver`: keepalived's health check, run inside the
//! container every second. kube-apiserver's /livez is readable without
//! credentials; its certificate is self-signed by the cluster CA, which
//! this check has no business holding, so it is not verified (it is our
//! own node, on loopback).

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
    let tls = ureq::tls::TlsConfig::builder()
        .disable_verification(true)
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into();
    match agent.get(&url).call() {
        Ok(response) if response.status() == 200 => Ok(()),
        Ok(response) => bail!("{url} answered {}", response.status()),
        Err(e) => bail!("{url}: {e}"),
    }
}
