//! Opt-in load balancing (`--balance-port`, install's `--load-balance`):
//! one thread per backend (every master, this one included) asks its
//! `/readyz` at the check cadence, with the same check and hysteresis as
//! this node's own ([`super::health`]), except that a refusal takes a
//! backend out at once, and one whose last check timed out gets no new
//! connections while another answers in time (a lost node: its checks
//! time out long before patience runs out, and the VIP may come here
//! meanwhile); one thread keeps the nftables
//! table ([`crate::nft::balance_ruleset`]) to the ready ones, re-applied
//! in one transaction whenever that set changes. The table balances only
//! where the VIP is local, so it is the same on every master and moves
//! with the VIP. The worker removes it when it stops, the guard when the
//! worker dies.

use super::args::AgentArgs;
use super::health::{Checker, FailureKind, Hysteresis};
use super::state::State;
use crate::nft;
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

/// A backend as the table sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Ready,
    /// Ready after hysteresis, but its last check timed out.
    Slow,
    Out,
}

/// Where new connections go: the ready backends that answer in time, or,
/// when every ready one is slow (a loaded cluster), all of them.
fn targets(backends: &BTreeMap<IpAddr, Backend>) -> Vec<IpAddr> {
    let with = |want: &[Backend]| -> Vec<IpAddr> {
        backends
            .iter()
            .filter(|(_, b)| want.contains(b))
            .map(|(ip, _)| *ip)
            .collect()
    };
    let fast = with(&[Backend::Ready]);
    if fast.is_empty() {
        with(&[Backend::Slow])
    } else {
        fast
    }
}

/// Starts the checks and the table's keeper, which report to `state`
/// (`/status`, `/metrics`); returns at once.
pub fn start(args: &AgentArgs, port: u16, state: &Arc<State>) -> std::io::Result<()> {
    state.balance_started(port, &args.backends);
    let (tx, rx) = mpsc::channel::<(IpAddr, Backend)>();
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

/// One backend's checks, forever: its readiness after hysteresis, and
/// whether its last check timed out, sent whenever they change.
fn check_backend(
    args: &AgentArgs,
    backend: IpAddr,
    tx: &mpsc::Sender<(IpAddr, Backend)>,
    state: &State,
) {
    let mut checker = Checker::new(args.timeout(), args.apiserver_ca.clone());
    let mut hysteresis = Hysteresis::new(args.fall, args.rise, args.patience()).down_at_once();
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
        let now = match &result {
            _ if !ready => Backend::Out,
            Err(f) if f.kind == FailureKind::TimedOut => Backend::Slow,
            _ => Backend::Ready,
        };
        if was != Some(now) {
            let error = result.as_ref().err().map(ToString::to_string);
            match (now, &error) {
                (Backend::Ready, _) => log(format!("{backend} ready: new connections go to it")),
                (Backend::Slow, Some(why)) => log(format!(
                    "{backend} slow, no new connections while another answers in time: {why}"
                )),
                (_, Some(why)) => log(format!("{backend} not ready, no new connections: {why}")),
                (_, None) => log(format!(
                    "{backend} answers, not ready yet: no new connections until {} checks in a row pass",
                    args.rise
                )),
            }
            state.backend_changed(backend, ready, error);
            if tx.send((backend, now)).is_err() {
                return;
            }
            was = Some(now);
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
    rx: &mpsc::Receiver<(IpAddr, Backend)>,
    state: &State,
) {
    let mut backends: BTreeMap<IpAddr, Backend> = BTreeMap::new();
    let mut applied: Option<Vec<IpAddr>> = None;
    loop {
        let now = targets(&backends);
        if applied.as_ref() != Some(&now) {
            match nft::apply_balance(
                &args.nft,
                &nft::services(vips, port, &now, args.apiserver_port),
            ) {
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
            Ok((backend, b)) => {
                backends.insert(backend, b);
                // Take every change that is already there, then apply once.
                while let Ok((backend, b)) = rx.try_recv() {
                    backends.insert(backend, b);
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
    fn new_connections_avoid_slow_backends_unless_all_ready_ones_are_slow() {
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        let (a, b, c) = (ip("192.0.2.11"), ip("192.0.2.12"), ip("192.0.2.13"));
        let mut m = BTreeMap::from([(a, Backend::Ready), (b, Backend::Slow), (c, Backend::Out)]);
        assert_eq!(
            targets(&m),
            [a],
            "a lost node's checks time out: it gets none"
        );
        m.insert(a, Backend::Slow);
        assert_eq!(
            targets(&m),
            [a, b],
            "all ready ones slow (a loaded cluster): still spread"
        );
        m.insert(a, Backend::Out);
        m.insert(b, Backend::Out);
        assert!(
            targets(&m).is_empty(),
            "none: the VIP reaches this node's apiserver"
        );
        assert!(targets(&BTreeMap::new()).is_empty());
    }
}
