//! `kubealived agent`: the pod's entrypoint, PID 1 in the container. This
//! file only wires the rooms together:
//!
//! - [`args`]: the arguments, the timings derived from them, preflight.
//! - [`guard`]: PID 1, a small process that forwards signals, reaps, and
//!   removes the VIPs when the worker dies for any reason.
//! - [`check`]: the worker's check loop polls the local apiserver's
//!   `/readyz` every 100 ms over one kept-alive HTTPS connection, where
//!   kubelet probes it ([`target`]; [`health`]: the check and its
//!   hysteresis; [`trust`]: the cluster CA its certificate is verified
//!   against) and writes the result into
//!   the file keepalived's `track_file` watches ([`track`]). 1 = healthy;
//!   missing, empty or 0 = unhealthy, so every failure of ours is
//!   fail-safe, and a watchdog writes 0 when the loop is stuck. When the
//!   holder's apiserver stops answering, -6 puts keepalived in FAULT for a
//!   second: it resigns and a backup takes over at once. One that answers
//!   red (a graceful shutdown) gets 0: the lower priority hands the VIP
//!   over make-before-break.
//! - [`leftover`]: a VIP a predecessor killed with keepalived left here is
//!   kept until a peer has taken it over (the holder marks each check),
//!   then removed, and keepalived starts.
//! - [`supervise`]: keepalived in the foreground with `--dont-respawn`;
//!   when it exits the VIPs are removed at once ([`vips`], netlink) and it
//!   starts again.
//! - [`notify`]: keepalived's `notify_fifo`, the VRRP role and its
//!   transitions, kept in [`state`] (with [`metrics`]).
//! - [`handover`]: on SIGTERM a holder lowers its priority and waits until
//!   a backup holds the VIP (make-before-break), then keepalived stops and
//!   the VIPs are gone before the agent exits.
//! - With `--vrrp-from` (install's `--vrrp-filter`), an nftables table
//!   drops VRRP from any other source while the agent runs ([`crate::nft`]).
//! - [`balance`]: with `--balance-port` (install's `--load-balance`),
//!   new connections to the VIP spread over the ready masters.
//! - [`server`]: `/status`, `/metrics` and `/healthz`; [`client`]: what
//!   `kubealived status` asks it with.

pub mod args;
pub mod balance;
pub mod check;
pub mod client;
pub mod guard;
pub mod handover;
pub mod health;
pub mod leftover;
pub mod metrics;
pub mod notify;
pub mod server;
pub mod state;
pub mod supervise;
pub mod target;
pub mod track;
pub mod trust;
pub mod vips;

use crate::nft;
use crate::paths::{NFT_TABLE, NOTIFY_FIFO, TRACK_FILE};
use anyhow::{Context, Result};
use args::AgentArgs;
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::{fork, ForkResult};
use state::State;
use std::net::{IpAddr, TcpListener};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};
use supervise::Supervisor;
use track::{Health, TrackFile};

fn log(msg: impl std::fmt::Display) {
    eprintln!("kubealived agent: {msg}");
}

pub fn run(args: &AgentArgs) -> Result<()> {
    let listener = args.preflight()?;
    // Signals are taken with sigwait, never by handlers: blocked here,
    // before any thread exists, so every thread inherits the mask.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD] {
        signals.add(s);
    }
    signals.thread_block().context("cannot block signals")?;
    // SAFETY: no other thread exists yet.
    match unsafe { fork() }.context("cannot fork")? {
        ForkResult::Child => {
            // If the guard vanishes (outside a container, where its death
            // does not end everything), stop cleanly.
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
            let code = match worker(args, listener, signals) {
                Ok(()) => 0,
                Err(e) => {
                    log(format!("error: {e:#}"));
                    1
                }
            };
            std::process::exit(code);
        }
        ForkResult::Parent { child } => {
            drop(listener);
            let code = guard::guard(args, child, signals);
            std::process::exit(code);
        }
    }
}

/// Everything but PID 1: one thread per room, the main thread waits for
/// SIGTERM/SIGINT and then stops them in order.
fn worker(args: &AgentArgs, listener: TcpListener, signals: SigSet) -> Result<()> {
    let server = server::Server::new(listener, server::Limits::default())
        .with_context(|| format!("cannot serve on {}", args.listen))?;
    if args.listen.ip().is_unspecified() {
        log(format!(
            "warning: --listen {} is a wildcard: anyone who can reach this node can read \
             /metrics and /status (the VRRP role, the apiserver's health). Prefer 127.0.0.1, \
             or this node's address on the network Prometheus scrapes from",
            args.listen
        ));
    }
    let vips = args.vips();
    let left = vips.present();
    let keep = if left.is_empty() {
        Duration::ZERO
    } else {
        let last = leftover::Mark::new(&args.run_dir).last();
        leftover::keep_for(last, SystemTime::now(), args.peers_take_over_within())
    };
    if keep.is_zero() {
        vips.remove_logged("leftover at start");
    } else {
        let list: Vec<String> = left.iter().map(IpAddr::to_string).collect();
        log(format!(
            "{} left here by the agent before, which held it until a moment ago and was killed \
             with keepalived: kept {:.2} s more, until a peer has taken it over, so that clients \
             are answered meanwhile; keepalived (which removes it at start) waits until then",
            list.join(", "),
            keep.as_secs_f64()
        ));
    }
    let track = Arc::new(TrackFile::new(args.run_dir.join(TRACK_FILE)));
    // Unhealthy until the apiserver answered `rise` times.
    track.set(Health::Unhealthy)?;
    let state = Arc::new(State::new());
    let filter = !args.vrrp_from.is_empty();
    if filter {
        let from: Vec<String> = args.vrrp_from.iter().map(|ip| ip.to_string()).collect();
        match nft::apply(&args.nft, &args.vrrp_from) {
            Ok(()) => log(format!(
                "VRRP filter: nftables table {NFT_TABLE} accepts VRRP only from {}",
                from.join(", ")
            )),
            Err(e) => {
                log(format!(
                    "error: the VRRP filter (--vrrp-from) is not in place, so VRRP from any host \
                     reaches keepalived; /healthz is red: {e:#}"
                ));
                state.filter_failed(format!("{e:#}"));
            }
        }
    }

    if let Some(port) = args.balance_port {
        balance::start(args, port, &state)?;
    }
    {
        let (state, track, args) = (state.clone(), track.clone(), args.clone());
        thread::Builder::new()
            .name("check".into())
            .spawn(move || check::check_loop(&args, &state, &track))?;
    }
    {
        let (state, track, stale) = (state.clone(), track.clone(), args.stale_after());
        thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || check::watchdog(stale, &state, &track))?;
    }
    {
        let (state, stale) = (state.clone(), args.stale_after() * 5);
        thread::Builder::new()
            .name("http".into())
            .spawn(move || server.serve(state, stale))?;
    }
    let fifo = args.run_dir.join(NOTIFY_FIFO);
    notify::make_fifo(&fifo)?;
    {
        let state = state.clone();
        thread::Builder::new()
            .name("notify".into())
            .spawn(move || {
                notify::read_fifo(&fifo, |event| state.set_role(event.role, event.priority))
            })?;
    }
    if !keep.is_zero() {
        thread::sleep(keep);
        vips.remove_logged("leftover, kept until a peer took over");
    }
    let keepalived = Supervisor::start(args, state.clone())?;

    loop {
        match signals.wait() {
            Ok(Signal::SIGTERM | Signal::SIGINT) => break,
            _ => continue,
        }
    }
    handover::hand_over(args, &state, &track);
    log("stopping: keepalived resigns, then the VIPs go");
    keepalived.stop();
    vips.remove_logged("exit");
    if filter {
        if let Err(e) = nft::remove(&args.nft) {
            log(format!("cannot remove the VRRP filter: {e:#}"));
        }
    }
    if args.balance_port.is_some() {
        balance::remove(args, "exit");
    }
    let _ = std::fs::remove_file(track.path());
    Ok(())
}
