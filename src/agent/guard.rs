//! PID 1 of the pod: a small guard process that only forwards signals,
//! reaps, and removes the VIPs when the worker (everything else) dies for
//! any reason, so a crash of the agent never leaves the VIP behind (nor
//! the load balancing's table).

use super::args::AgentArgs;
use super::log;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::thread;
use std::time::{Duration, Instant};

/// Forwards SIGTERM/SIGINT to the worker, reaps every child, and removes
/// the VIPs when the worker is gone, whatever killed it. Returns the
/// worker's exit code.
pub fn guard(args: &AgentArgs, worker: Pid, signals: SigSet) -> i32 {
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
    if code != 0 && args.balance_port.is_some() {
        super::balance::remove(args, "the worker died");
    }
    code
}
