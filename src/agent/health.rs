//! The apiserver's readiness: `GET /readyz` over one kept-alive HTTPS
//! connection, with hysteresis so one slow or failed answer does not move
//! the VIP.

use crate::commands::check_apiserver;
use std::time::{Duration, Instant};

/// Consecutive results needed to change state. Starts unhealthy: a
/// joining master never takes the VIP before its apiserver answers.
#[derive(Debug, Clone)]
pub struct Hysteresis {
    fall: u32,
    rise: u32,
    healthy: bool,
    streak: u32,
}

impl Hysteresis {
    pub fn new(fall: u32, rise: u32) -> Self {
        Hysteresis {
            fall: fall.max(1),
            rise: rise.max(1),
            healthy: false,
            streak: 0,
        }
    }

    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// Feed one check result; returns the (possibly new) state.
    pub fn observe(&mut self, ok: bool) -> bool {
        if ok == self.healthy {
            self.streak = 0;
            return self.healthy;
        }
        self.streak += 1;
        let needed = if ok { self.rise } else { self.fall };
        if self.streak >= needed {
            self.healthy = ok;
            self.streak = 0;
        }
        self.healthy
    }
}

/// A failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The apiserver answered (not 200): it still serves, as during its
    /// shutdown delay. Otherwise it refused, reset or timed out.
    pub serving: bool,
    pub why: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

/// One check: Ok(()) when /readyz answered 200 within the timeout.
pub struct Checker {
    agent: ureq::Agent,
    url: String,
}

impl Checker {
    pub fn new(port: u16, timeout: Duration) -> Self {
        Checker {
            agent: check_apiserver::client(timeout),
            url: format!("https://127.0.0.1:{port}/readyz"),
        }
    }

    pub fn check(&self) -> (Result<(), Failure>, Duration) {
        let start = Instant::now();
        let result = match check_apiserver::status(&self.agent, &self.url) {
            Ok(status) if status == 200 => Ok(()),
            Ok(status) => Err(Failure {
                serving: true,
                why: format!("{} answered {status}", self.url),
            }),
            Err(e) => Err(Failure {
                serving: false,
                why: format!("{}: {e}", self.url),
            }),
        };
        (result, start.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_unhealthy_and_needs_rise_successes() {
        let mut h = Hysteresis::new(2, 3);
        assert!(!h.healthy());
        assert!(!h.observe(true));
        assert!(!h.observe(true));
        assert!(h.observe(true));
    }

    #[test]
    fn one_failure_does_not_flip_but_fall_in_a_row_does() {
        let mut h = Hysteresis::new(2, 1);
        assert!(h.observe(true));
        assert!(h.observe(false), "one slow answer must not move the VIP");
        assert!(h.observe(true));
        assert!(h.observe(false));
        assert!(!h.observe(false));
        // and back: a success resets the failure streak
        assert!(h.observe(true));
    }

    #[test]
    fn interleaved_results_never_flip() {
        let mut h = Hysteresis::new(2, 2);
        h.observe(true);
        h.observe(true);
        for _ in 0..50 {
            assert!(h.observe(false));
            assert!(h.observe(true));
        }
    }

    #[test]
    fn zero_thresholds_mean_one() {
        let mut h = Hysteresis::new(0, 0);
        assert!(h.observe(true));
        assert!(!h.observe(false));
    }
}
