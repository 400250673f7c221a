//! A holder asked to stop (the pod deleted or replaced, `kubealived
//! uninstall`, a setting changed) hands the VIP over make-before-break.

use super::args::AgentArgs;
use super::log;
use super::notify::Role;
use super::state::State;
use super::track::{Health, TrackFile};
use std::thread;
use std::time::{Duration, Instant};

/// On a MASTER: lower this node's priority for good (the track file is
/// pinned at 0, so the check loop cannot write 1 again) and wait until a
/// healthy backup has taken the VIP (it adds the VIP and announces itself,
/// then this node drops it). With nobody to take over (a lone master, or
/// no healthy backup), keepalived resigns after `hand_over_for`. On any
/// other role there is nothing to hand over.
pub fn hand_over(args: &AgentArgs, state: &State, track: &TrackFile) {
    if state.role() != Role::Master {
        return;
    }
    log("stopping: lowering this node's priority so that a backup takes the VIP over first");
    if let Err(e) = track.pin(Health::Unhealthy) {
        log(format!("{e:#}"));
        return;
    }
    let deadline = Instant::now() + args.hand_over_for();
    while state.role() == Role::Master && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    if state.role() == Role::Master {
        log("no backup took the VIP over: keepalived resigns");
    }
}
