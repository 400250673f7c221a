//! The check loop: the local apiserver's `/readyz` every interval, after
//! hysteresis, into keepalived's track file; and the watchdog that writes
//! 0 when the loop is stuck.

use super::args::AgentArgs;
use super::health::{Checker, FailureKind, Hysteresis};
use super::log;
use super::notify::Role;
use super::state::State;
use super::target::{Discovery, Target};
use super::track::{Health, TrackFile};
use std::thread;
use std::time::{Duration, Instant};

/// How long a holder whose apiserver failed stays in FAULT: long enough
/// for a backup to take over (it does so on the priority-0 advert), short
/// enough that a lone master (nobody to take over) is back soon.
const RESIGN_FOR: Duration = Duration::from_secs(1);

/// The shortest a check may take when patience is about to run out.
const MIN_TIMEOUT: Duration = Duration::from_millis(10);

pub fn check_loop(args: &AgentArgs, state: &State, track: &TrackFile) {
    let checker = Checker::new(args.timeout());
    let mut target = Discovery::new(
        args.apiserver_manifest.clone(),
        Target::loopback(args.apiserver_port),
    );
    let mut hysteresis = Hysteresis::new(args.fall, args.rise, args.patience());
    let mut resign_until: Option<Instant> = None;
    let mut held_while_ready = false;
    loop {
        let start = Instant::now();
        let timeout = hysteresis.deadline().map_or(args.timeout(), |deadline| {
            deadline
                .saturating_duration_since(start)
                .clamp(MIN_TIMEOUT, args.timeout())
        });
        let url = match target.current() {
            (t, Some(from)) => {
                let url = t.url("/readyz");
                log(format!("asking {url} ({from})"));
                url
            }
            (t, None) => t.url("/readyz"),
        };
        let (result, latency) = checker.check(&url, timeout);
        state.denied(match &result {
            Err(f) if f.kind == FailureKind::Denied => Some(f.why.clone()),
            _ => None,
        });
        let was_healthy = hysteresis.healthy();
        let healthy =
            hysteresis.observe(result.as_ref().map_err(|f| f.kind).copied(), Instant::now());
        state.record_check(&result, latency, healthy);
        held_while_ready = state.role() == Role::Master && (held_while_ready || result.is_ok());
        // Resign at once only when the apiserver no longer serves (refused,
        // reset, timed out). One that still answers, red, is shutting down
        // gracefully: the lower priority hands the VIP over make-before-
        // break (the backup adds it and announces itself, then this node
        // drops it), about three adverts later, while it still serves.
        // And only a holder that held the VIP while its apiserver answered:
        // one that took it after its own last answer took it from a master
        // that resigned or vanished, and nobody is known to be better (every
        // apiserver hung: etcd lost quorum). Resigning again would leave the
        // VIP with nobody until a master-down timer ran out, 2 s and more.
        let serving =
            matches!(&result, Err(f) if matches!(f.kind, FailureKind::Red | FailureKind::Denied));
        if was_healthy && !healthy && !serving && held_while_ready {
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
        state.track_written(track.set(health).map(drop).map_err(|e| format!("{e:#}")));
        thread::sleep(args.interval().saturating_sub(start.elapsed()));
    }
}

/// A stuck check loop must not leave a 1 behind.
pub fn watchdog(stale_after: Duration, state: &State, track: &TrackFile) {
    let mut stale = false;
    loop {
        thread::sleep(Duration::from_millis(100));
        let now_stale = state.heartbeat_age() > stale_after;
        if now_stale && !stale {
            log("the check loop is stuck: the apiserver counts as unhealthy");
            state.mark_stale();
            state.track_written(
                track
                    .set(Health::Unhealthy)
                    .map(drop)
                    .map_err(|e| format!("{e:#}")),
            );
        }
        stale = now_stale;
    }
}
