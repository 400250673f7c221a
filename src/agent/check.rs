//! The check loop: the local apiserver's `/readyz` every interval (its
//! certificate verified once the cluster CA is there), after hysteresis,
//! into keepalived's track file, never ready while kube-apiserver binds an
//! address that refuses the VIP; the holder's mark ([`super::leftover`]);
//! and the watchdog that writes 0 when the loop is stuck.

use super::args::AgentArgs;
use super::health::{Checker, Failure, FailureKind, Hysteresis};
use super::leftover::Mark;
use super::log;
use super::notify::Role;
use super::state::State;
use super::target::{bind_fix, vip_refused, Discovery, Target};
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
    let mut checker = Checker::new(args.timeout(), args.apiserver_ca.clone());
    let mut verifies = String::new();
    let mut target = Discovery::new(
        args.apiserver_manifest.clone(),
        Target::loopback(args.apiserver_port),
    );
    let mut hysteresis = Hysteresis::new(args.fall, args.rise, args.patience());
    let mut resign_until: Option<Instant> = None;
    let mut held_while_ready = false;
    let vips: Vec<_> = args.vips.iter().map(|(ip, _)| *ip).collect();
    let mut refused: Option<String> = None;
    let mut mark = Mark::new(&args.run_dir);
    loop {
        let start = Instant::now();
        let timeout = hysteresis.deadline().map_or(args.timeout(), |deadline| {
            deadline
                .saturating_duration_since(start)
                .clamp(MIN_TIMEOUT, args.timeout())
        });
        let (t, from) = target.current();
        let url = t.url("/readyz");
        if let Some(from) = from {
            log(format!("asking {url} ({from})"));
        }
        checker.follow_ca();
        let now = what_is_verified(&checker, t);
        if now != verifies {
            log(format!("the apiserver's certificate: {now}"));
            state.apiserver_certificate(&now);
            verifies = now;
        }
        let now_refused = target
            .bind_address()
            .and_then(|bind| vip_refused(bind, &vips));
        if now_refused != refused {
            match &now_refused {
                Some(why) => log(format!(
                    "{why}: this node counts as not ready, so a master that serves the VIP \
                     takes it. Fix: {}",
                    bind_fix(&args.apiserver_manifest.display().to_string())
                )),
                None => log("kube-apiserver no longer binds an address that refuses the VIP"),
            }
            state.vip_refused(now_refused.clone());
            refused = now_refused;
        }
        let (result, latency) = checker.check(&url, timeout);
        let result = unless_refused(result, refused.as_deref());
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
        if state.role() == Role::Master {
            mark.holding();
        }
        thread::sleep(args.interval().saturating_sub(start.elapsed()));
    }
}

/// A ready apiserver that refuses the VIP (`refused` says why) is not
/// ready for it: a failure as if nothing served, so a holder resigns at once.
fn unless_refused(result: Result<(), Failure>, refused: Option<&str>) -> Result<(), Failure> {
    match (result, refused) {
        (Ok(()), Some(why)) => Err(Failure {
            kind: FailureKind::Down,
            why: why.to_string(),
        }),
        (result, _) => result,
    }
}

/// What the check verifies, said plainly when it cannot succeed: kubeadm's
/// certificate names the node's address, never loopback, so with a CA and
/// no usable kube-apiserver.yaml every check fails, and not quietly.
fn what_is_verified(checker: &Checker, target: &Target) -> String {
    let what = checker.verifies();
    if checker.verifying() && target.host.is_loopback() {
        return format!(
            "{what}, but asking {} (no usable kube-apiserver.yaml), which kubeadm's certificate \
             does not name: every check fails until that manifest gives the node's address",
            target.host
        );
    }
    what
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn an_apiserver_that_refuses_the_vip_is_not_ready() {
        let why = "kube-apiserver binds 192.0.2.11 only, so connections to the VIP 192.0.2.10 \
                   are refused on this node";
        assert_eq!(unless_refused(Ok(()), None), Ok(()));
        let failed = unless_refused(Ok(()), Some(why)).unwrap_err();
        assert_eq!((failed.kind, failed.why.as_str()), (FailureKind::Down, why));
        // A failed check keeps its own reason.
        let red = Failure {
            kind: FailureKind::Red,
            why: "answered 500".into(),
        };
        assert_eq!(unless_refused(Err(red.clone()), Some(why)), Err(red));
        let mut h = Hysteresis::new(2, 2, Duration::from_secs(1));
        for _ in 0..5 {
            let result = unless_refused(Ok(()), Some(why));
            assert!(!h.observe(result.map_err(|f| f.kind), Instant::now()));
        }
    }

    #[test]
    fn loopback_with_a_cluster_ca_is_said_plainly() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.crt");
        let mut checker = Checker::new(Duration::from_millis(400), ca.clone());
        let node = Target {
            host: IpAddr::from([192, 0, 2, 11]),
            ..Target::loopback(6443)
        };
        let no_ca = what_is_verified(&checker, &Target::loopback(6443));
        assert!(
            no_ca.starts_with("not verified: no cluster CA yet at "),
            "{no_ca}"
        );
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        checker.follow_ca();
        assert!(what_is_verified(&checker, &node).starts_with("verified against the cluster CA"));
        let loopback = what_is_verified(&checker, &Target::loopback(6443));
        assert!(
            loopback.contains(
                "but asking 127.0.0.1 (no usable kube-apiserver.yaml), which \
                 kubeadm's certificate does not name: every check fails"
            ),
            "{loopback}"
        );
    }
}
