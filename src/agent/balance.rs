//! Opt-in load balancing (`--balance-port`, install's `--load-balance`):
//! one thread per backend (every master, this one included) asks its
//! `/readyz` at the check cadence, with the same check and hysteresis as
//! this node's own ([`super::health`]); one thread keeps the nftables
//! table ([`crate::nft::balance_ruleset`]) to the ready ones, re-applied
//! in one transaction whenever that set changes. The table balances only
//! where the VIP is local, so it is the same on every master and moves
//! with the VIP. The worker removes it when it stops, the guard when the
//! worker dies.

use super::args::AgentArgs;
use super::health::{Checker, Hysteresis};
use super::state::State;
use crate::nft::{self, Service};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Instant;

fn log(msg: impl std::fmt::Display) {
    eprintln!("kubealived agent: balance: {msg}");
}

/// Removes the table, when the worker stops or dies (`why`).
pub fn remove(args: &AgentArgs, why: &str) {
    match nft::remove_balance(&args.nft) {
        Ok(true) => log(format!("table removed ({why})")),
        Ok(false) => {}
        Err(e) => log(format!("error: cannot remove the table ({why}): {e:#}")),
    }
}

/// The services for the VIPs of `vips`: each spread over the ready
/// backends of its family, in address order.
pub fn services(vips: &[IpAddr], port: u16, ready: &[IpAddr], backend_port: u16) -> Vec<Service> {
    vips.iter()
        .map(|vip| Service {
            vip: *vip,
            port,
            backends: ready
                .iter()
                .filter(|b| b.is_ipv4() == vip.is_ipv4())
                .copied()
                .collect(),
            backend_port,
        })
        .collect()
}

/// Starts the checks and the table's keeper, which report to `state`
/// (`/status`, `/metrics`); returns at once.
pub fn start(args: &AgentArgs, port: u16, state: &Arc<State>) -> std::io::Result<()> {
    state.balance_started(port, &args.backends);
    let (tx, rx) = mpsc::channel::<(IpAddr, bool)>();
    for backend in args.backends.clone() {
        let (args, tx, state) = (args.clone(), tx.clone(), state.clone());
        thread::Builder::new()
            .name(format!("backend {backend}"))
            .spawn(move || check_backend(&args, backend, &tx, &state))?;
    }
    let (args, state) = (args.clone(), state.clone());
    let vips: Vec<IpAddr> = args.vips.iter().map(|(ip, _)| *ip).collect();
    thread::Builder::new()
        .name("balance".into())
        .spawn(move || keep_table(&args, &vips, port, &rx, &state))?;
    Ok(())
}

/// One backend's checks, forever: its readiness after hysteresis, sent
/// whenever it changes.
fn check_backend(
    args: &AgentArgs,
    backend: IpAddr,
    tx: &mpsc::Sender<(IpAddr, bool)>,
    state: &State,
) {
    let mut checker = Checker::new(args.timeout(), args.apiserver_ca.clone());
    let mut hysteresis = Hysteresis::new(args.fall, args.rise, args.patience());
    let url = format!(
        "https://{}/readyz",
        std::net::SocketAddr::new(backend, args.apiserver_port)
    );
    let mut was = None;
    loop {
        let start = Instant::now();
        checker.follow_ca();
        let (result, _) = checker.check(&url, args.timeout());
        let ready =
            hysteresis.observe(result.as_ref().map_err(|f| f.kind).copied(), Instant::now());
        if was != Some(ready) {
            match &result {
                Ok(()) => log(format!("{backend} ready: new connections go to it")),
                Err(f) if !ready => log(format!("{backend} not ready, no new connections: {f}")),
                Err(_) => {}
            }
            let error = result.as_ref().err().map(ToString::to_string);
            state.backend_changed(backend, ready, error);
            if tx.send((backend, ready)).is_err() {
                return;
            }
            was = Some(ready);
        }
        thread::sleep(args.interval().saturating_sub(start.elapsed()));
    }
}

/// The table, kept to the ready backends: applied at start (none ready:
/// the VIP reaches this node's apiserver, as without balancing), then at
/// every change. A failed apply is logged and tried again at the next
/// change or after a second.
fn keep_table(
    args: &AgentArgs,
    vips: &[IpAddr],
    port: u16,
    rx: &mpsc::Receiver<(IpAddr, bool)>,
    state: &State,
) {
    let mut ready: BTreeMap<IpAddr, bool> = BTreeMap::new();
    let mut applied: Option<Vec<IpAddr>> = None;
    loop {
        let now: Vec<IpAddr> = ready.iter().filter(|(_, r)| **r).map(|(b, _)| *b).collect();
        if applied.as_ref() != Some(&now) {
            match nft::apply_balance(&args.nft, &services(vips, port, &now, args.apiserver_port)) {
                Ok(()) => {
                    let list: Vec<String> = now.iter().map(IpAddr::to_string).collect();
                    log(format!(
                        "new connections to port {port} of the VIP go to [{}]",
                        list.join(", ")
                    ));
                    state.balance_applied(Ok(&now));
                    applied = Some(now);
                }
                Err(e) => {
                    log(format!(
                        "error: cannot apply the table, tried again in 1 s: {e:#}"
                    ));
                    state.balance_applied(Err(format!("{e:#}")));
                }
            }
        }
        match rx.recv_timeout(std::time::Duration::from_secs(1)) {
            Ok((backend, r)) => {
                ready.insert(backend, r);
                // Take every change that is already there, then apply once.
                while let Ok((backend, r)) = rx.try_recv() {
                    ready.insert(backend, r);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_vip_is_spread_over_the_ready_backends_of_its_family() {
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        let s = services(
            &[ip("192.0.2.10"), ip("2001:db8::10")],
            443,
            &[ip("192.0.2.11"), ip("192.0.2.13"), ip("2001:db8::12")],
            6443,
        );
        assert_eq!(s[0].backends, [ip("192.0.2.11"), ip("192.0.2.13")]);
        assert_eq!(s[1].backends, [ip("2001:db8::12")]);
        assert!(s.iter().all(|s| s.port == 443 && s.backend_port == 6443));
    }
}
