//! keepalived under the agent: run in the foreground with
//! `--dont-respawn`, so the keepalived parent exits when its VRRP process
//! dies; then the VIPs are removed from the interface at once and
//! keepalived starts again, with a backoff.

use super::args::AgentArgs;
use super::log;
use super::state::{State, STAYED_UP};
use crate::paths::{KEEPALIVED_PID, VRRP_PID};
use anyhow::Result;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Who asks keepalived to stop, and the keepalived now running.
struct Shared {
    stopping: AtomicBool,
    child: Mutex<Option<Pid>>,
    wake: Condvar,
}

impl Shared {
    fn child(&self) -> MutexGuard<'_, Option<Pid>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The thread that keeps keepalived running.
pub struct Supervisor {
    shared: Arc<Shared>,
    thread: JoinHandle<()>,
}

impl Supervisor {
    pub fn start(args: &AgentArgs, state: Arc<State>) -> Result<Supervisor> {
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            child: Mutex::new(None),
            wake: Condvar::new(),
        });
        let thread = {
            let (shared, args) = (shared.clone(), args.clone());
            thread::Builder::new()
                .name("keepalived".into())
                .spawn(move || supervise(&args, &state, &shared))?
        };
        Ok(Supervisor { shared, thread })
    }

    /// SIGTERM to keepalived (it resigns), no restart; SIGKILL if it has
    /// not stopped within 5 s.
    pub fn stop(self) {
        {
            let child = self.shared.child();
            self.shared.stopping.store(true, Ordering::SeqCst);
            if let Some(pid) = *child {
                let _ = kill(pid, Signal::SIGTERM);
            }
            self.shared.wake.notify_all();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.thread.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        if !self.thread.is_finished() {
            if let Some(pid) = *self.shared.child() {
                log("keepalived did not stop in 5 s: SIGKILL");
                let _ = kill(pid, Signal::SIGKILL);
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

const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The wait before the next start, after a run of `ran`: doubling up to
/// 5 s while keepalived keeps exiting, 0.1 s again once it has stayed up
/// as long as ends a restart loop for `/healthz`.
pub fn next_backoff(backoff: Duration, ran: Duration) -> Duration {
    if ran >= STAYED_UP {
        FIRST_BACKOFF
    } else {
        (backoff * 2).min(Duration::from_secs(5))
    }
}

fn supervise(args: &AgentArgs, state: &State, shared: &Shared) {
    let vips = args.vips();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let mut child_slot = shared.child();
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        for stale in [KEEPALIVED_PID, VRRP_PID] {
            let _ = std::fs::remove_file(args.run_dir.join(stale));
        }
        let mut child = match keepalived_command(args).spawn() {
            Ok(c) => c,
            Err(e) => {
                let why = format!("cannot start {}: {e}", args.keepalived.display());
                log(&why);
                state.keepalived_not_started(&why);
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
        *shared.child() = None;
        // At once, before anything else: a dead VRRP process cannot
        // defend the VIP, and the other masters take it over.
        vips.remove_logged("keepalived exited");
        let stopping = shared.stopping.load(Ordering::SeqCst);
        let how = status
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        state.keepalived_exited(!stopping, &how);
        if stopping {
            return;
        }
        log(format!(
            "keepalived exited ({how}) after {:.1} s; restarting",
            started.elapsed().as_secs_f64()
        ));
        backoff = next_backoff(backoff, started.elapsed());
        let guard = shared.child();
        let _ = shared.wake.wait_timeout(guard, backoff);
    }
}
