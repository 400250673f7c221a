//! `kubealived agent`: the pod's entrypoint, PID 1 in the container.
//!
//! - It polls the local apiserver's `/readyz` every 100 ms over one
//!   kept-alive HTTPS connection and writes the result, after hysteresis,
//!   into the file keepalived's `track_file` watches (inotify: keepalived
//!   reacts at once). 1 = healthy; missing, empty or 0 = unhealthy, so
//!   every failure of ours is fail-safe, and a watchdog writes 0 when the
//!   check loop is stuck. When the holder's apiserver stops answering, -6
//!   puts keepalived in FAULT for a second: it resigns with a priority-0
//!   advert and a backup takes over at once. One that answers red (a
//!   graceful shutdown) gets 0: the lower priority hands the VIP over
//!   make-before-break.
//! - It runs keepalived in the foreground with `--dont-respawn`, so the
//!   keepalived parent exits when its VRRP process dies; then the agent
//!   removes the VIPs from the interface at once and starts keepalived
//!   again. It removes leftovers at start. On SIGTERM keepalived resigns
//!   (a priority-0 advert), and the VIPs are gone before the agent exits.
//! - PID 1 is a small guard process that only forwards signals, reaps,
//!   and removes the VIPs when the worker (everything above) dies for any
//!   reason: a crash of the agent never leaves the VIP behind.
//! - It reads keepalived's `notify_fifo` (MASTER/BACKUP/FAULT) and serves
//!   `/status`, `/metrics` and `/healthz`.

pub mod health;
pub mod notify;
pub mod state;
pub mod track;
pub mod vips;

mod server;

use anyhow::{bail, Context, Result};
use clap::Args;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use state::State;
use std::io::BufRead;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use track::{Health, TrackFile};
use vips::Vips;

use crate::error::usage;
use crate::paths::{
    AGENT_RUN_DIR as RUN_DIR, DEFAULT_AGENT_LISTEN as DEFAULT_LISTEN, DEFAULT_APISERVER_PORT,
    KEEPALIVED_CONF_IN_POD, KEEPALIVED_IN_IMAGE, KEEPALIVED_PID, NOTIFY_FIFO, TRACK_FILE, VRRP_PID,
};

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
    /// kube-apiserver port on 127.0.0.1
    #[arg(long, default_value_t = DEFAULT_APISERVER_PORT, value_parser = clap::value_parser!(u16).range(1..))]
    pub apiserver_port: u16,
    /// Address for /metrics, /healthz and /status
    #[arg(long, value_name = "IP:PORT", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Directory for the track file, the notify FIFO and keepalived's pid files
    /// (must match keepalived.conf)
    #[arg(long, value_name = "DIR", default_value = RUN_DIR)]
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
}

impl AgentArgs {
    fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }
    fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
    /// Timeouts make the apiserver unhealthy only once no check has
    /// succeeded for this long (1 s by default): two slow answers in a
    /// row take at most interval + 2 × timeout and do not; the third check
    /// is cut off when this runs out (`Hysteresis::deadline`).
    fn patience(&self) -> Duration {
        (self.timeout() + self.interval()) * 2
    }
    /// The watchdog writes 0 when the check loop has not reported for this
    /// long: a check can take `timeout`, plus slack for a loaded node.
    fn stale_after(&self) -> Duration {
        (self.timeout() + self.interval() * 3).max(Duration::from_secs(2))
    }
    /// A backup preempts a lower-priority master when its master-down
    /// timer runs out: 3 adverts + its skew (under one advert), counted
    /// from the last advert of a higher priority it heard.
    fn hand_over_for(&self) -> Duration {
        Duration::from_millis(self.advert_interval_ms * 4 + 500)
    }
    fn vips(&self) -> Vips {
        Vips(
            self.vips
                .iter()
                .map(|(ip, dev)| (*ip, dev.clone().unwrap_or_else(|| self.interface.clone())))
                .collect(),
        )
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

fn log(msg: impl std::fmt::Display) {
    eprintln!("kubealived agent: {msg}");
}

/// Checks what can be checked before forking: the conf names our track
/// file and FIFO, the listen address is free.
fn preflight(args: &AgentArgs) -> Result<std::net::TcpListener> {
    let conf = std::fs::read_to_string(&args.keepalived_conf)
        .with_context(|| format!("cannot read {}", args.keepalived_conf.display()))?;
    for (what, name) in [("track file", TRACK_FILE), ("notify FIFO", NOTIFY_FIFO)] {
        let path = args.run_dir.join(name);
        if !conf.contains(&path.display().to_string()) {
            return Err(usage!(
                "{} does not use the {what} {}.\nFix: render it with `kubealived install` \
                 (or give --run-dir the directory it uses)",
                args.keepalived_conf.display(),
                path.display()
            ));
        }
    }
    for (_, dev) in &args.vips().0 {
        if nix::net::if_::if_nametoindex(dev.as_str()).is_err() {
            return Err(usage!(
                "interface {dev}: no such interface in this network namespace.\nFix: give the interface that carries the VIP (--interface, or --vip IP@DEV)"
            ));
        }
    }
    std::fs::create_dir_all(&args.run_dir)
        .with_context(|| format!("cannot create {}", args.run_dir.display()))?;
    // Bound now (a clear error before anything starts); served by the
    // worker, since tiny_http starts threads and the guard forks first.
    std::net::TcpListener::bind(args.listen).map_err(|e| {
        usage!(
            "cannot listen on {}: {e}.\nFix: give a free address with --listen",
            args.listen
        )
    })
}

pub fn run(args: &AgentArgs) -> Result<()> {
    let server = preflight(args)?;
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
            let code = match worker(args, server, signals) {
                Ok(()) => 0,
                Err(e) => {
                    log(format!("error: {e:#}"));
                    1
                }
            };
            std::process::exit(code);
        }
        ForkResult::Parent { child } => {
            drop(server);
            let code = guard(args, child, signals);
            std::process::exit(code);
        }
    }
}

/// PID 1: forwards SIGTERM/SIGINT to the worker, reaps every child, and
/// removes the VIPs when the worker is gone, whatever killed it.
fn guard(args: &AgentArgs, worker: Pid, signals: SigSet) -> i32 {
    // Orphans (keepalived, if the worker dies) come to us also outside a
    // container, so we can wait for them.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let code = loop {
        if let Ok(sig @ (Signal::SIGTERM | Signal::SIGINT)) = signals.wait() {
            let _ = kill(worker, sig);
        }
        let mut done = None;
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == worker => done = Some(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == worker => {
                    log(format!("the worker died of {sig}"));
                    done = Some(128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if let Some(code) = done {
            break code;
        }
    };
    let vips = args.vips();
    if code != 0 {
        vips.remove_logged("the worker died");
    }
    // keepalived gets SIGTERM when the worker dies (PDEATHSIG): give it
    // time to resign, reap it, then make sure nothing is left.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => thread::sleep(Duration::from_millis(20)),
            Ok(_) => {}
            Err(_) => break, // no children left
        }
    }
    vips.remove_logged("exit");
    code
}

/// Who asks keepalived to stop, and the keepalived now running.
struct Supervisor {
    stopping: AtomicBool,
    child: Mutex<Option<Pid>>,
    wake: Condvar,
}

fn worker(args: &AgentArgs, listener: std::net::TcpListener, signals: SigSet) -> Result<()> {
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| anyhow::anyhow!("cannot serve on {}: {e}", args.listen))?;
    let vips = args.vips();
    vips.remove_logged("leftover at start");
    let track = Arc::new(TrackFile::new(args.run_dir.join(TRACK_FILE)));
    // Unhealthy until the apiserver answered `rise` times.
    track.set(Health::Unhealthy)?;
    let state = Arc::new(State::new());

    {
        let (state, track, args) = (state.clone(), track.clone(), args.clone());
        thread::Builder::new()
            .name("check".into())
            .spawn(move || check_loop(&args, &state, &track))?;
    }
    {
        let (state, track, stale) = (state.clone(), track.clone(), args.stale_after());
        thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || watchdog(stale, &state, &track))?;
    }
    {
        let (state, stale) = (state.clone(), args.stale_after() * 5);
        thread::Builder::new()
            .name("http".into())
            .spawn(move || server::serve(server, state, stale))?;
    }
    let fifo = args.run_dir.join(NOTIFY_FIFO);
    make_fifo(&fifo)?;
    {
        let (state, fifo) = (state.clone(), fifo.clone());
        thread::Builder::new()
            .name("notify".into())
            .spawn(move || read_fifo(&fifo, &state))?;
    }
    let sup = Arc::new(Supervisor {
        stopping: AtomicBool::new(false),
        child: Mutex::new(None),
        wake: Condvar::new(),
    });
    let supervisor = {
        let (state, sup, args) = (state.clone(), sup.clone(), args.clone());
        thread::Builder::new()
            .name("keepalived".into())
            .spawn(move || supervise(&args, &state, &sup))?
    };

    // The main thread waits for SIGTERM/SIGINT.
    loop {
        match signals.wait() {
            Ok(Signal::SIGTERM | Signal::SIGINT) => break,
            _ => continue,
        }
    }
    hand_over(args, &state, &track);
    log("stopping: keepalived resigns, then the VIPs go");
    {
        let child = sup.child.lock().unwrap_or_else(|e| e.into_inner());
        sup.stopping.store(true, Ordering::SeqCst);
        if let Some(pid) = *child {
            let _ = kill(pid, Signal::SIGTERM);
        }
        sup.wake.notify_all();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !supervisor.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    if !supervisor.is_finished() {
        if let Some(pid) = *sup.child.lock().unwrap_or_else(|e| e.into_inner()) {
            log("keepalived did not stop in 5 s: SIGKILL");
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
    vips.remove_logged("exit");
    let _ = std::fs::remove_file(track.path());
    Ok(())
}

/// How long a holder whose apiserver failed stays in FAULT: long enough
/// for a backup to take over (it does so on the priority-0 advert), short
/// enough that a lone master (nobody to take over) is back soon.
const RESIGN_FOR: Duration = Duration::from_secs(1);

/// The shortest a check may take when patience is about to run out.
const MIN_TIMEOUT: Duration = Duration::from_millis(10);

fn check_loop(args: &AgentArgs, state: &State, track: &TrackFile) {
    let checker = health::Checker::new(args.apiserver_port, args.timeout());
    let mut hysteresis = health::Hysteresis::new(args.fall, args.rise, args.patience());
    let mut resign_until: Option<Instant> = None;
    loop {
        let start = Instant::now();
        let timeout = hysteresis.deadline().map_or(args.timeout(), |deadline| {
            deadline
                .saturating_duration_since(start)
                .clamp(MIN_TIMEOUT, args.timeout())
        });
        let (result, latency) = checker.check(timeout);
        let was_healthy = hysteresis.healthy();
        let healthy =
            hysteresis.observe(result.as_ref().map_err(|f| f.kind).copied(), Instant::now());
        state.record_check(&result, latency, healthy);
        // Resign at once only when the apiserver no longer serves (refused,
        // reset, timed out). One that still answers, red, is shutting down
        // gracefully: the lower priority hands the VIP over make-before-
        // break (the backup adds it and announces itself, then this node
        // drops it), about three adverts later, while it still serves.
        let serving = matches!(&result, Err(f) if f.kind == health::FailureKind::Red);
        if was_healthy && !healthy && !serving && state.role() == notify::Role::Master {
            log(
                "the apiserver stopped answering on the VIP holder: resigning (FAULT for a moment)",
            );
            resign_until = Some(start + RESIGN_FOR);
        }
        let health = if healthy {
            resign_until = None;
            Health::Healthy
        } else if resign_until.is_some_and(|t| Instant::now() < t) {
            Health::Resign
        } else {
            Health::Unhealthy
        };
        if let Err(e) = track.set(health) {
            log(format!("{e:#}"));
        }
        thread::sleep(args.interval().saturating_sub(start.elapsed()));
    }
}

/// A holder asked to stop (the pod deleted or replaced, `kubealived
/// uninstall`) first lowers its priority for good and waits until a
/// healthy backup has taken the VIP: make-before-break, as on a graceful
/// apiserver shutdown, instead of the priority-0 advert's break-before-
/// make. With nobody to take over (a lone master, or no healthy backup),
/// keepalived resigns after `hand_over_for`.
fn hand_over(args: &AgentArgs, state: &State, track: &TrackFile) {
    if state.role() != notify::Role::Master {
        return;
    }
    log("stopping: lowering this node's priority so that a backup takes the VIP over first");
    if let Err(e) = track.pin(Health::Unhealthy) {
        log(format!("{e:#}"));
        return;
    }
    let deadline = Instant::now() + args.hand_over_for();
    while state.role() == notify::Role::Master && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    if state.role() == notify::Role::Master {
        log("no backup took the VIP over: keepalived resigns");
    }
}

/// A stuck check loop must not leave a 1 behind.
fn watchdog(stale_after: Duration, state: &State, track: &TrackFile) {
    let mut stale = false;
    loop {
        thread::sleep(Duration::from_millis(100));
        let now_stale = state.heartbeat_age() > stale_after;
        if now_stale && !stale {
            log("the check loop is stuck: the apiserver counts as unhealthy");
            state.mark_stale();
            if let Err(e) = track.set(Health::Unhealthy) {
                log(format!("{e:#}"));
            }
        }
        stale = now_stale;
    }
}

fn make_fifo(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_fifo() => return Ok(()),
        Ok(_) => std::fs::remove_file(path)?,
        Err(_) => {}
    }
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .with_context(|| format!("cannot create the FIFO {}", path.display()))
}

/// Opened read-write, so the read never sees end-of-file while keepalived
/// restarts; reopened if the FIFO is replaced.
fn read_fifo(path: &Path, state: &State) {
    loop {
        if let Err(e) = make_fifo(path) {
            log(format!("{e:#}"));
            thread::sleep(Duration::from_secs(1));
            continue;
        }
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
        {
            Ok(f) => f,
            Err(e) => {
                log(format!("cannot open {}: {e}", path.display()));
                thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        for line in std::io::BufReader::new(file).lines() {
            let Ok(line) = line else { break };
            if let Some(event) = notify::parse_line(&line) {
                state.set_role(event.role, event.priority);
            }
        }
    }
}

fn keepalived_command(args: &AgentArgs) -> Command {
    let mut cmd = Command::new(&args.keepalived);
    cmd.args([
        "--dont-fork",
        "--dont-respawn",
        "--vrrp",
        "--log-console",
        "--log-detail",
        "--no-syslog",
    ]);
    cmd.arg("--use-file").arg(&args.keepalived_conf);
    cmd.arg("--pid").arg(args.run_dir.join(KEEPALIVED_PID));
    cmd.arg("--vrrp_pid").arg(args.run_dir.join(VRRP_PID));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            SigSet::all()
                .thread_unblock()
                .map_err(std::io::Error::from)?;
            // The worker gone (crash, kill -9): keepalived stops and
            // resigns; its VRRP process has its own PDEATHSIG on the
            // parent (checked with 2.2.7).
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    cmd
}

fn supervise(args: &AgentArgs, state: &State, sup: &Supervisor) {
    let vips = args.vips();
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut child_slot = sup.child.lock().unwrap_or_else(|e| e.into_inner());
        if sup.stopping.load(Ordering::SeqCst) {
            return;
        }
        for stale in [KEEPALIVED_PID, VRRP_PID] {
            let _ = std::fs::remove_file(args.run_dir.join(stale));
        }
        let mut child = match keepalived_command(args).spawn() {
            Ok(c) => c,
            Err(e) => {
                log(format!("cannot start {}: {e}", args.keepalived.display()));
                drop(child_slot);
                thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        *child_slot = Some(Pid::from_raw(child.id() as i32));
        drop(child_slot);
        state.keepalived_started();
        let started = Instant::now();
        let status = child.wait();
        *sup.child.lock().unwrap_or_else(|e| e.into_inner()) = None;
        // At once, before anything else: a dead VRRP process cannot
        // defend the VIP, and the other masters take it over.
        vips.remove_logged("keepalived exited");
        let stopping = sup.stopping.load(Ordering::SeqCst);
        state.keepalived_exited(!stopping);
        if stopping {
            return;
        }
        log(format!(
            "keepalived exited ({}) after {:.1} s; restarting",
            status
                .map(|s| s.to_string())
                .unwrap_or_else(|e| e.to_string()),
            started.elapsed().as_secs_f64()
        ));
        backoff = if started.elapsed() > Duration::from_secs(30) {
            Duration::from_millis(100)
        } else {
            (backoff * 2).min(Duration::from_secs(5))
        };
        let guard = sup.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = sup.wake.wait_timeout(guard, backoff);
    }
}

/// `kubealived status` asks the agent over HTTP on this node.
pub fn fetch_status(listen: SocketAddr) -> Result<state::StatusReport> {
    let host = if listen.ip().is_unspecified() {
        match listen {
            SocketAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
            SocketAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

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
        assert_eq!(a.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(a.run_dir, Path::new(RUN_DIR));
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
