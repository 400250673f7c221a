//! `kubealived check-apiserver`: an HTTPS GET of the local apiserver's
//! /livez, exit 0/1, for anyone who scripts it. The client is
//! [`crate::apiserver`]'s, the one the agent's /readyz watcher uses, but
//! without the cluster CA: it asks 127.0.0.1, which kubeadm's certificate
//! does not name.

use crate::apiserver;
use crate::error::usage;
use crate::paths::DEFAULT_APISERVER_PORT;
use anyhow::Result;
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
    let url = apiserver::local_url(args.port, "/livez");
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| {
            usage!(
                "--timeout {} is not a positive number of seconds.\nFix: e.g. --timeout 2",
                args.timeout
            )
        })?;
    apiserver::probe(&apiserver::client(timeout, None), &url)
}
