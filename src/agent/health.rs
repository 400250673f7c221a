//! The apiserver's readiness: `GET /readyz` over one kept-alive HTTPS
//! connection, its certificate verified against the cluster CA once there
//! is one ([`super::trust`]), with hysteresis so one failed answer, or two
//! slow ones, do not move the VIP.

use super::trust::{ClusterCa, Trust};
use crate::apiserver;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Why a check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// It answered, not 200: it still serves, as during its shutdown delay.
    Red,
    /// Refused, reset, a TLS or HTTP error: nothing serves.
    Down,
    /// No answer within the timeout: hung, or only slow on a loaded node.
    TimedOut,
    /// 401 or 403: it serves, but not to an anonymous /readyz (a hardened
    /// apiserver). Never ready, so it is said loudly (log, metric, status).
    Denied,
}

/// Readiness after hysteresis. Starts unhealthy: a joining master never
/// takes the VIP before its apiserver answered `rise` times in a row.
/// A healthy apiserver turns unhealthy after `fall` failures in a row, the
/// last of them a hard one (red or down); timeouts alone only once no
/// check has succeeded for `patience`, so a slow apiserver keeps the VIP
/// and a hung one loses it.
#[derive(Debug, Clone)]
pub struct Hysteresis {
    fall: u32,
    rise: u32,
    patience: Duration,
    /// A refusal (Down) flips at once: see [`Hysteresis::down_at_once`].
    down_at_once: bool,
    healthy: bool,
    streak: u32,
    last_ok: Option<Instant>,
}

impl Hysteresis {
    pub fn new(fall: u32, rise: u32, patience: Duration) -> Self {
        Hysteresis {
            fall: fall.max(1),
            rise: rise.max(1),
            patience,
            down_at_once: false,
            healthy: false,
            streak: 0,
            last_ok: None,
        }
    }

    /// Unhealthy at the first Down (nothing serves), where taking it out
    /// costs nothing: a balancing backend leaves the table, its established
    /// connections stay. The VIP's own check keeps `fall`: a move breaks
    /// every connection to the holder.
    pub fn down_at_once(mut self) -> Self {
        self.down_at_once = true;
        self
    }

    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// When a healthy apiserver that answers nothing more turns unhealthy:
    /// `patience` after its last success. The check in flight then gets
    /// only what is left until this moment, so a hung apiserver loses the
    /// VIP when patience runs out, not at the end of a whole timeout.
    pub fn deadline(&self) -> Option<Instant> {
        self.last_ok
            .filter(|_| self.healthy)
            .map(|t| t + self.patience)
    }

    /// Feed one check result, finished at `now`; returns the (possibly
    /// new) state.
    pub fn observe(&mut self, result: Result<(), FailureKind>, now: Instant) -> bool {
        let ok = result.is_ok();
        if ok {
            self.last_ok = Some(now);
        }
        if ok == self.healthy {
            self.streak = 0;
            return self.healthy;
        }
        self.streak += 1;
        let flip = match result {
            Ok(()) => self.streak >= self.rise,
            Err(FailureKind::TimedOut) => self
                .last_ok
                .is_none_or(|t| now.saturating_duration_since(t) >= self.patience),
            Err(FailureKind::Down) if self.down_at_once => true,
            Err(_) => self.streak >= self.fall,
        };
        if flip {
            self.healthy = ok;
            self.streak = 0;
        }
        self.healthy
    }
}

/// A failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub why: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

/// One check: Ok(()) when /readyz answered 200 within the timeout, from a
/// server whose certificate the cluster CA vouches for once there is one.
pub struct Checker {
    timeout: Duration,
    ca: ClusterCa,
    /// None while the CA cannot be used: every check fails.
    agent: Option<ureq::Agent>,
}

/// The client for `trust`; None when the CA cannot be used.
fn client(timeout: Duration, trust: &Trust) -> Option<ureq::Agent> {
    match trust {
        Trust::NoCa => Some(apiserver::client(timeout, None)),
        Trust::Ca(certs) => Some(apiserver::client(timeout, Some(certs))),
        Trust::Unusable(_) => None,
    }
}

impl Checker {
    /// A checker that verifies against the CA at `ca` once it is there:
    /// it is first looked at by [`Checker::follow_ca`].
    pub fn new(timeout: Duration, ca: PathBuf) -> Self {
        Checker {
            timeout,
            ca: ClusterCa::new(ca),
            agent: client(timeout, &Trust::NoCa),
        }
    }

    /// Looks at the CA file (one stat) and, when it changed, makes a new
    /// client: no connection opened under the old trust is used again.
    pub fn follow_ca(&mut self) {
        if let Some(trust) = self.ca.poll() {
            self.agent = client(self.timeout, trust);
        }
    }

    /// What the check verifies, for the log and `status`.
    pub fn verifies(&self) -> String {
        self.ca.describe()
    }

    /// Whether the certificate is verified against a CA.
    pub fn verifying(&self) -> bool {
        matches!(self.ca.trust(), Trust::Ca(_))
    }

    /// One check of `url`, given `timeout` to answer in.
    pub fn check(&self, url: &str, timeout: Duration) -> (Result<(), Failure>, Duration) {
        let start = Instant::now();
        let Some(agent) = &self.agent else {
            let why = format!("{url}: not asked: {}", self.ca.describe());
            return (
                Err(Failure {
                    kind: FailureKind::Down,
                    why,
                }),
                start.elapsed(),
            );
        };
        let result = match apiserver::status(agent, url, Some(timeout)) {
            Ok(status) if status == 200 => Ok(()),
            Ok(status) => Err(Failure {
                kind: if matches!(status.as_u16(), 401 | 403) {
                    FailureKind::Denied
                } else {
                    FailureKind::Red
                },
                why: format!("{url} answered {status}"),
            }),
            Err(e) => Err(Failure {
                kind: if timed_out(&e) {
                    FailureKind::TimedOut
                } else {
                    FailureKind::Down
                },
                why: format!("{url}: {e}"),
            }),
        };
        (result, start.elapsed())
    }
}

fn timed_out(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(e) => e.kind() == std::io::ErrorKind::TimedOut,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FailureKind::{Down, Red, TimedOut};

    const PATIENCE: Duration = Duration::from_millis(1000);

    /// Feeds results at the given milliseconds after a common start.
    struct Feed {
        h: Hysteresis,
        t0: Instant,
    }

    impl Feed {
        fn new(fall: u32, rise: u32) -> Self {
            Feed {
                h: Hysteresis::new(fall, rise, PATIENCE),
                t0: Instant::now(),
            }
        }
        fn at(&mut self, ms: u64, result: Result<(), FailureKind>) -> bool {
            self.h.observe(result, self.t0 + Duration::from_millis(ms))
        }
    }

    #[test]
    fn starts_unhealthy_and_needs_rise_successes() {
        let mut f = Feed::new(2, 3);
        assert!(!f.h.healthy());
        assert!(!f.at(0, Ok(())));
        assert!(!f.at(100, Ok(())));
        assert!(f.at(200, Ok(())));
    }

    #[test]
    fn one_hard_failure_does_not_flip_but_fall_in_a_row_does() {
        for hard in [Down, Red] {
            let mut f = Feed::new(2, 1);
            assert!(f.at(0, Ok(())));
            assert!(f.at(100, Err(hard)), "one failure must not move the VIP");
            assert!(f.at(200, Ok(())));
            assert!(f.at(300, Err(hard)));
            assert!(!f.at(400, Err(hard)), "{hard:?} twice: unready at once");
            // and back: a success resets the failure streak
            assert!(f.at(500, Ok(())));
        }
    }

    /// Healthy at 100 ms, then two checks time out (every 100 ms, 400 ms
    /// timeout): the second 0.9 s after the last success.
    fn slow_twice() -> Feed {
        let mut f = Feed::new(2, 2);
        f.at(0, Ok(()));
        assert!(f.at(100, Ok(())));
        assert!(f.at(500, Err(TimedOut)));
        assert!(f.at(900, Err(TimedOut)), "two slow answers moved the VIP");
        f
    }

    #[test]
    fn two_slow_answers_in_a_row_do_not_flip() {
        let mut f = slow_twice();
        assert!(f.at(1000, Ok(())));
        assert!(f.at(1400, Err(TimedOut)));
        assert!(f.at(1800, Err(TimedOut)));
    }

    #[test]
    fn a_hung_apiserver_is_unready_once_patience_ran_out() {
        let mut f = slow_twice();
        assert!(!f.at(1300, Err(TimedOut)), "1.2 s without an answer");
        assert!(!f.at(1700, Err(TimedOut)));
        assert!(!f.at(1800, Ok(())), "rise still needs two successes");
        assert!(f.at(1900, Ok(())));
    }

    #[test]
    fn the_deadline_is_patience_after_the_last_success_while_healthy() {
        let mut f = slow_twice();
        assert_eq!(f.h.deadline(), Some(f.t0 + Duration::from_millis(1100)));
        assert!(
            !f.at(1100, Err(TimedOut)),
            "a check cut at the deadline flips"
        );
        assert_eq!(f.h.deadline(), None, "no deadline while unhealthy");
        assert_eq!(
            Feed::new(2, 2).h.deadline(),
            None,
            "nor before the first success"
        );
    }

    #[test]
    fn a_hard_failure_after_a_timeout_counts_at_once() {
        let mut f = slow_twice();
        assert!(!f.at(1000, Err(Down)), "slow, then refused: unready");
    }

    #[test]
    fn interleaved_results_never_flip() {
        let mut f = Feed::new(2, 2);
        f.at(0, Ok(()));
        f.at(100, Ok(()));
        for i in 1..50 {
            assert!(f.at(i * 200, Err(Down)));
            assert!(f.at(i * 200 + 100, Ok(())));
        }
    }

    #[test]
    fn down_at_once_flips_at_the_first_refusal_only() {
        let mut f = Feed::new(2, 2);
        f.h = f.h.clone().down_at_once();
        f.at(0, Ok(()));
        assert!(f.at(100, Ok(())));
        assert!(f.at(200, Err(Red)), "a red answer still needs fall");
        assert!(f.at(300, Ok(())));
        assert!(!f.at(400, Err(Down)), "refused: out at once");
        assert!(!f.at(500, Ok(())), "rise still needs two successes");
        assert!(f.at(600, Ok(())));
    }

    #[test]
    fn zero_thresholds_mean_one() {
        let mut f = Feed::new(0, 0);
        assert!(f.at(0, Ok(())));
        assert!(!f.at(100, Err(Down)));
    }
}
