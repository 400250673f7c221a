//! `kubealived agent`'s arguments, the timings derived from them, and
//! the checks made on them before anything starts.

use super::vips::Vips;
use crate::error::usage;
use crate::paths::{
    AGENT_RUN_DIR, APISERVER_MANIFEST_IN_POD, CLUSTER_CA_ON_NODE, DEFAULT_AGENT_LISTEN,
    DEFAULT_APISERVER_PORT, KEEPALIVED_CONF_IN_POD, KEEPALIVED_IN_IMAGE, NFT_IN_IMAGE, NOTIFY_FIFO,
    TRACK_FILE,
};
use anyhow::{Context, Result};
use clap::Args;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

/// Check cadence: every 100 ms, a check that takes over 400 ms timed out,
/// 2 failures in a row make the apiserver unhealthy (timeouts only after
/// `AgentArgs::patience`), 2 successes healthy again.
pub const DEFAULT_INTERVAL_MS: u64 = 100;
pub const DEFAULT_TIMEOUT_MS: u64 = 400;
pub const DEFAULT_FALL: u32 = 2;
pub const DEFAULT_RISE: u32 = 2;
pub const DEFAULT_ADVERT_INTERVAL_MS: u64 = crate::config::DEFAULT_ADVERT_CENTIS_V3 as u64 * 10;

#[derive(Args, Debug, Clone)]
pub struct AgentArgs {
    /// keepalived.conf to run (rendered by kubealived)
    #[arg(
        long,
        value_name = "FILE",
        default_value = KEEPALIVED_CONF_IN_POD
    )]
    pub keepalived_conf: PathBuf,
    /// The keepalived binary
    #[arg(long, value_name = "PATH", default_value = KEEPALIVED_IN_IMAGE)]
    pub keepalived: PathBuf,
    /// Interface carrying the VIPs
    #[arg(long, value_name = "NAME")]
    pub interface: String,
    /// A VIP keepalived manages (repeatable), IP or IP@INTERFACE: removed whenever keepalived dies
    #[arg(long = "vip", value_name = "IP[@DEV]", required = true, value_parser = parse_vip)]
    pub vips: Vec<(IpAddr, Option<String>)>,
    /// kube-apiserver port on 127.0.0.1, until --apiserver-manifest says
    /// where kubelet probes it
    #[arg(long, default_value_t = DEFAULT_APISERVER_PORT, value_parser = clap::value_parser!(u16).range(1..))]
    pub apiserver_port: u16,
    /// kubeadm's kube-apiserver manifest: once it exists, /readyz is asked
    /// where its readiness probe asks (host, port, scheme), as kubelet does
    #[arg(long, value_name = "FILE", default_value = APISERVER_MANIFEST_IN_POD)]
    pub apiserver_manifest: PathBuf,
    /// kubeadm's cluster CA: once it exists (not empty), the apiserver's
    /// certificate must chain to it and name the address asked
    #[arg(long, value_name = "FILE", default_value = CLUSTER_CA_ON_NODE)]
    pub apiserver_ca: PathBuf,
    /// Address for /metrics, /healthz and /status
    #[arg(long, value_name = "IP:PORT", default_value = DEFAULT_AGENT_LISTEN)]
    pub listen: SocketAddr,
    /// Directory for the track file, the notify FIFO and keepalived's pid files
    /// (must match keepalived.conf)
    #[arg(long, value_name = "DIR", default_value = AGENT_RUN_DIR)]
    pub run_dir: PathBuf,
    /// Milliseconds between two /readyz checks
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_INTERVAL_MS, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    pub interval_ms: u64,
    /// A /readyz check slower than this many milliseconds failed
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    pub timeout_ms: u64,
    /// Failed checks in a row that make the apiserver unhealthy (timeouts
    /// count only once no check succeeded for 2 × (timeout + interval))
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FALL, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub fall: u32,
    /// Successful checks in a row that make it healthy again
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RISE, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rise: u32,
    /// keepalived's advert interval (keepalived.conf's advert_int): a
    /// stopping holder waits up to 4 of them + 0.5 s for a backup to take
    /// the VIP over before keepalived resigns
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_ADVERT_INTERVAL_MS, value_parser = clap::value_parser!(u64).range(10..=255_000))]
    pub advert_interval_ms: u64,
    /// Accept VRRP only from this source (repeatable: the peers and this
    /// node): an nftables table of its own (inet kubealived), installed at
    /// start, replacing a leftover one, and removed at stop
    #[arg(long = "vrrp-from", value_name = "IP")]
    pub vrrp_from: Vec<IpAddr>,
    /// nftables' CLI, for --vrrp-from and --balance-port
    #[arg(long, value_name = "PATH", default_value = NFT_IN_IMAGE)]
    pub nft: PathBuf,
    /// Spread new connections to this port of the VIPs over the ready
    /// --backend apiservers (at --apiserver-port), where this node holds
    /// the VIP: an nftables table of its own (inet kubealived_lb), removed at stop
    #[arg(long, value_name = "PORT", requires = "backends", value_parser = clap::value_parser!(u16).range(1..))]
    pub balance_port: Option<u16>,
    /// A master whose apiserver takes a share (repeatable: every master,
    /// this one included), for --balance-port
    #[arg(long = "backend", value_name = "IP", requires = "balance_port")]
    pub backends: Vec<IpAddr>,
}

impl AgentArgs {
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
    /// Timeouts make the apiserver unhealthy only once no check has
    /// succeeded for this long (1 s by default): two slow answers in a
    /// row take at most interval + 2 × timeout and do not; the third check
    /// is cut off when this runs out (`Hysteresis::deadline`).
    pub fn patience(&self) -> Duration {
        (self.timeout() + self.interval()) * 2
    }
    /// The watchdog writes 0 when the check loop has not reported for this
    /// long: a check can take `timeout`, plus slack for a loaded node.
    pub fn stale_after(&self) -> Duration {
        (self.timeout() + self.interval() * 3).max(Duration::from_secs(2))
    }
    /// A backup preempts a lower-priority master when its master-down
    /// timer runs out: 3 adverts + its skew (under one advert), counted
    /// from the last advert of a higher priority it heard.
    pub fn hand_over_for(&self) -> Duration {
        Duration::from_millis(self.advert_interval_ms * 4 + 500)
    }
    /// A peer has taken the VIP over within this of this node's last
    /// advert: its master-down timer (3 adverts and a skew under one),
    /// and a check interval, as the holder marks once per check
    /// ([`super::leftover`]).
    pub fn peers_take_over_within(&self) -> Duration {
        Duration::from_millis(self.advert_interval_ms * 4) + self.interval()
    }
    pub fn vips(&self) -> Vips {
        Vips(
            self.vips
                .iter()
                .map(|(ip, dev)| (*ip, dev.clone().unwrap_or_else(|| self.interface.clone())))
                .collect(),
        )
    }

    /// Checks what can be checked before forking: the conf names our track
    /// file and FIFO, the listen address is free.
    pub fn preflight(&self) -> Result<TcpListener> {
        let conf = std::fs::read_to_string(&self.keepalived_conf)
            .with_context(|| format!("cannot read {}", self.keepalived_conf.display()))?;
        for (what, name) in [("track file", TRACK_FILE), ("notify FIFO", NOTIFY_FIFO)] {
            let path = self.run_dir.join(name);
            if !conf.contains(&path.display().to_string()) {
                return Err(usage!(
                    "{} does not use the {what} {}.\nFix: render it with `kubealived install` \
                     (or give --run-dir the directory it uses)",
                    self.keepalived_conf.display(),
                    path.display()
                ));
            }
        }
        for (_, dev) in &self.vips().0 {
            if nix::net::if_::if_nametoindex(dev.as_str()).is_err() {
                return Err(usage!(
                    "interface {dev}: no such interface in this network namespace.\nFix: give the interface that carries the VIP (--interface, or --vip IP@DEV)"
                ));
            }
        }
        std::fs::create_dir_all(&self.run_dir)
            .with_context(|| format!("cannot create {}", self.run_dir.display()))?;
        // Bound now (a clear error before anything starts); served by the
        // worker's http thread, since the guard forks before any thread.
        TcpListener::bind(self.listen).map_err(|e| {
            usage!(
                "cannot listen on {}: {e}.\nFix: give a free address with --listen",
                self.listen
            )
        })
    }
}

fn parse_vip(s: &str) -> std::result::Result<(IpAddr, Option<String>), String> {
    let (ip, dev) = match s.split_once('@') {
        Some((ip, dev)) if !dev.is_empty() => (ip, Some(dev.to_string())),
        Some(_) => return Err("an empty interface after @".into()),
        None => (s, None),
    };
    let ip = ip
        .parse()
        .map_err(|_| format!("{ip} is not an IP address"))?;
    Ok((ip, dev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::Path;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        agent: AgentArgs,
    }

    #[test]
    fn vips_take_an_optional_interface() {
        assert_eq!(
            parse_vip("192.0.2.10"),
            Ok(("192.0.2.10".parse().unwrap(), None))
        );
        assert_eq!(
            parse_vip("2001:db8::10@bond0.100"),
            Ok(("2001:db8::10".parse().unwrap(), Some("bond0.100".into())))
        );
        assert!(parse_vip("192.0.2.10@").is_err());
        assert!(parse_vip("eth0").is_err());
    }

    #[test]
    fn defaults_and_derived_times() {
        let cli = Cli::try_parse_from([
            "x",
            "--interface",
            "eth0",
            "--vip",
            "192.0.2.10",
            "--vip",
            "2001:db8::10@eth1",
        ])
        .unwrap();
        let a = cli.agent;
        assert_eq!(a.listen.to_string(), DEFAULT_AGENT_LISTEN);
        assert_eq!(a.run_dir, Path::new(AGENT_RUN_DIR));
        assert_eq!(
            a.vips().0,
            vec![
                ("192.0.2.10".parse().unwrap(), "eth0".to_string()),
                ("2001:db8::10".parse().unwrap(), "eth1".to_string())
            ]
        );
        // The watchdog never fires before a slow check could have answered.
        assert!(a.stale_after() > a.timeout() + a.interval());
        // Two timeouts after a success are tolerated; a hung apiserver is
        // unready when patience runs out, well within the 1.5 s target.
        assert!(a.patience() > a.interval() + a.timeout() * 2);
        assert!(a.patience() <= Duration::from_millis(1000));
        assert!(
            Cli::try_parse_from(["x", "--interface", "eth0"]).is_err(),
            "a VIP is required"
        );
        assert!(Cli::try_parse_from([
            "x",
            "--interface",
            "eth0",
            "--vip",
            "192.0.2.10",
            "--interval-ms",
            "1"
        ])
        .is_err());
    }
}
