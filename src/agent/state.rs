//! What the agent knows, shared by its threads: the VRRP role with its
//! transitions, the apiserver's readiness, keepalived's restarts. Each
//! change also goes to the Prometheus [`Metrics`].

use super::metrics::Metrics;
use super::notify::Role;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How many transitions `status` shows.
const KEEP_TRANSITIONS: usize = 10;

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    /// Unix time, seconds.
    pub at: f64,
    pub from: Role,
    pub to: Role,
}

/// What `GET /status` answers (YAML), and `kubealived status` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub role: Role,
    pub role_since: f64,
    pub priority: Option<u8>,
    pub apiserver_ready: bool,
    pub apiserver_ready_since: f64,
    pub last_check_seconds: Option<f64>,
    pub last_check_error: Option<String>,
    pub keepalived_running: bool,
    pub keepalived_restarts: u64,
    /// Newest last.
    pub transitions: Vec<Transition>,
    pub now: f64,
    /// Why the last write of keepalived's track file failed (the file is
    /// then removed, which reads as not ready); none while writes succeed.
    #[serde(default)]
    pub track_file_error: Option<String>,
    /// The apiserver's last 401/403 to /readyz, while it refuses: anonymous
    /// access to the health endpoints is off, so this node never counts as
    /// ready.
    #[serde(default)]
    pub apiserver_denied: Option<String>,
}

struct Inner {
    report: StatusReport,
    transitions: VecDeque<Transition>,
    heartbeat: Instant,
}

pub struct State {
    inner: Mutex<Inner>,
    metrics: Metrics,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    pub fn new() -> Self {
        let now = now_unix();
        State {
            inner: Mutex::new(Inner {
                report: StatusReport {
                    role: Role::Unknown,
                    role_since: now,
                    priority: None,
                    apiserver_ready: false,
                    apiserver_ready_since: now,
                    last_check_seconds: None,
                    last_check_error: None,
                    keepalived_running: false,
                    keepalived_restarts: 0,
                    transitions: Vec::new(),
                    now,
                    track_file_error: None,
                    apiserver_denied: None,
                },
                transitions: VecDeque::new(),
                heartbeat: Instant::now(),
            }),
            metrics: Metrics::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_role(&self, role: Role, priority: Option<u8>) {
        let mut inner = self.lock();
        if priority.is_some() || role == Role::Stopped {
            inner.report.priority = priority;
        }
        let from = inner.report.role;
        if from == role {
            return;
        }
        let at = now_unix();
        inner.report.role = role;
        inner.report.role_since = at;
        inner
            .transitions
            .push_back(Transition { at, from, to: role });
        while inner.transitions.len() > KEEP_TRANSITIONS {
            inner.transitions.pop_front();
        }
        // Under the lock, as `metrics_text` reads them: a scrape never sees
        // two roles at 1 (or none) in the middle of a change.
        self.metrics.role_changed(from, role);
        drop(inner);
        eprintln!(
            "kubealived agent: VRRP {} -> {}",
            from.as_str(),
            role.as_str()
        );
    }

    /// One /readyz result and the state after hysteresis.
    pub fn record_check<E: std::fmt::Display>(
        &self,
        result: &Result<(), E>,
        latency: Duration,
        healthy: bool,
    ) {
        let mut inner = self.lock();
        inner.heartbeat = Instant::now();
        inner.report.last_check_seconds = Some(latency.as_secs_f64());
        inner.report.last_check_error = result.as_ref().err().map(|e| e.to_string());
        if inner.report.apiserver_ready != healthy {
            inner.report.apiserver_ready = healthy;
            inner.report.apiserver_ready_since = now_unix();
            eprintln!(
                "kubealived agent: apiserver {}{}",
                if healthy { "ready" } else { "not ready" },
                result
                    .as_ref()
                    .err()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
        drop(inner);
        self.metrics.checked(result.is_ok(), latency, healthy);
    }

    /// The watchdog found the poll loop stuck: readiness is false.
    pub fn mark_stale(&self) {
        let mut inner = self.lock();
        if inner.report.apiserver_ready {
            inner.report.apiserver_ready = false;
            inner.report.apiserver_ready_since = now_unix();
        }
        inner.report.last_check_error = Some("the check loop is stuck".into());
        drop(inner);
        self.metrics.stale();
    }

    pub fn heartbeat_age(&self) -> Duration {
        self.lock().heartbeat.elapsed()
    }

    /// The apiserver refuses /readyz (Some, with its answer) or not.
    pub fn denied(&self, why: Option<String>) {
        let mut inner = self.lock();
        if inner.report.apiserver_denied.is_some() == why.is_some() {
            return;
        }
        match &why {
            Some(why) => eprintln!(
                "kubealived agent: {why}: the apiserver refuses an anonymous /readyz, so this node \
                 never counts as ready and the VIP would not leave it when its apiserver fails. \
                 Fix: allow anonymous access to /readyz, /livez and /healthz (kubeadm's default; \
                 or an AuthenticationConfiguration with anonymous.conditions for those paths)"
            ),
            None => eprintln!("kubealived agent: the apiserver answers /readyz again"),
        }
        self.metrics.denied(why.is_some());
        inner.report.apiserver_denied = why;
    }

    /// The outcome of the last track-file write.
    pub fn track_written(&self, result: Result<(), String>) {
        let error = result.err();
        let mut inner = self.lock();
        if inner.report.track_file_error != error {
            if let Some(e) = &error {
                eprintln!("kubealived agent: {e}");
            }
            inner.report.track_file_error = error;
        }
    }

    /// What the livenessProbe asks (`/healthz`): the check loop ran
    /// within `stale_after`, and its last track-file write succeeded. A
    /// node that cannot tell keepalived its readiness is better restarted.
    pub fn liveness(&self, stale_after: Duration) -> Result<(), String> {
        let inner = self.lock();
        let age = inner.heartbeat.elapsed();
        if age >= stale_after {
            return Err(format!(
                "the check loop last ran {:.1} s ago",
                age.as_secs_f64()
            ));
        }
        match &inner.report.track_file_error {
            Some(e) => Err(format!("cannot write the track file: {e}")),
            None => Ok(()),
        }
    }

    pub fn keepalived_started(&self) {
        self.lock().report.keepalived_running = true;
        self.metrics.keepalived_running(true);
    }

    pub fn keepalived_exited(&self, restart: bool) {
        {
            let mut inner = self.lock();
            inner.report.keepalived_running = false;
            if restart {
                inner.report.keepalived_restarts += 1;
            }
        }
        self.metrics.keepalived_running(false);
        if restart {
            self.metrics.keepalived_restarted();
        }
        self.set_role(Role::Stopped, None);
    }

    /// This node's VRRP role now (without building a whole report).
    pub fn role(&self) -> Role {
        self.lock().report.role
    }

    pub fn report(&self) -> StatusReport {
        let inner = self.lock();
        let mut report = inner.report.clone();
        report.transitions = inner.transitions.iter().cloned().collect();
        report.now = now_unix();
        report
    }

    pub fn metrics_text(&self) -> String {
        let _consistent = self.lock();
        self.metrics.text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_are_recorded_and_counted() {
        let s = State::new();
        s.set_role(Role::Backup, Some(200));
        s.set_role(Role::Backup, Some(200));
        s.set_role(Role::Master, Some(250));
        let r = s.report();
        assert_eq!(r.role, Role::Master);
        assert_eq!(r.priority, Some(250));
        let path: Vec<_> = r.transitions.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(
            path,
            vec![(Role::Unknown, Role::Backup), (Role::Backup, Role::Master)]
        );
        let text = s.metrics_text();
        assert!(
            text.contains("kubealived_vrrp_role{role=\"master\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("kubealived_vrrp_role{role=\"backup\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("kubealived_vrrp_transitions_total{to=\"master\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn liveness_fails_on_a_stuck_loop_or_a_track_file_that_cannot_be_written() {
        let s = State::new();
        assert!(s.liveness(Duration::from_secs(5)).is_ok());
        s.track_written(Err("No space left on device".into()));
        let why = s.liveness(Duration::from_secs(5)).unwrap_err();
        assert!(why.contains("No space left"), "{why}");
        assert_eq!(
            s.report().track_file_error.as_deref(),
            Some("No space left on device")
        );
        s.track_written(Ok(()));
        assert!(s.liveness(Duration::from_secs(5)).is_ok());
        assert!(
            s.liveness(Duration::ZERO).is_err(),
            "a stale loop is not live"
        );
    }

    #[test]
    fn a_denied_readyz_is_reported_until_it_answers_again() {
        let s = State::new();
        s.denied(Some("https://192.0.2.11:6443/readyz answered 401".into()));
        assert!(s.report().apiserver_denied.unwrap().contains("401"));
        assert!(s.metrics_text().contains("kubealived_apiserver_denied 1"));
        s.denied(None);
        assert_eq!(s.report().apiserver_denied, None);
        assert!(s.metrics_text().contains("kubealived_apiserver_denied 0"));
    }

    /// Scrapes while the role changes: exactly one role series reads 1.
    #[test]
    fn a_scrape_never_sees_two_roles() {
        let s = std::sync::Arc::new(State::new());
        let flipper = {
            let s = s.clone();
            std::thread::spawn(move || flip_roles(&s, 20_000))
        };
        let mut scrapes = 0;
        while !flipper.is_finished() || scrapes == 0 {
            let text = s.metrics_text();
            let ones = text
                .lines()
                .filter(|l| l.starts_with("kubealived_vrrp_role{") && l.ends_with(" 1"))
                .count();
            assert_eq!(ones, 1, "{text}");
            scrapes += 1;
        }
        flipper.join().unwrap();
    }

    /// MASTER, BACKUP, MASTER, ... `n` role changes.
    fn flip_roles(s: &State, n: usize) {
        for i in 0..n {
            let role = if i % 2 == 0 {
                Role::Master
            } else {
                Role::Backup
            };
            s.set_role(role, None);
        }
    }

    #[test]
    fn keeps_the_last_transitions_only() {
        let s = State::new();
        flip_roles(&s, 30);
        assert_eq!(s.report().transitions.len(), KEEP_TRANSITIONS);
    }

    #[test]
    fn checks_feed_readiness_and_the_histogram() {
        let s = State::new();
        s.record_check::<String>(&Ok(()), Duration::from_millis(3), true);
        s.record_check(&Err("refused"), Duration::from_millis(1), true);
        let r = s.report();
        assert!(r.apiserver_ready);
        assert_eq!(r.last_check_error.as_deref(), Some("refused"));
        let text = s.metrics_text();
        assert!(text.contains("kubealived_apiserver_ready 1"), "{text}");
        assert!(
            text.contains("kubealived_apiserver_check_duration_seconds_count 2"),
            "{text}"
        );
        assert!(
            text.contains("kubealived_apiserver_checks_total{result=\"fail\"} 1"),
            "{text}"
        );
        s.mark_stale();
        assert!(!s.report().apiserver_ready);
    }

    #[test]
    fn a_keepalived_exit_counts_a_restart_and_stops_the_role() {
        let s = State::new();
        s.keepalived_started();
        s.set_role(Role::Master, Some(250));
        s.keepalived_exited(true);
        let r = s.report();
        assert_eq!(
            (r.role, r.keepalived_running, r.keepalived_restarts),
            (Role::Stopped, false, 1)
        );
        assert!(s
            .metrics_text()
            .contains("kubealived_keepalived_restarts_total 1"));
    }

    #[test]
    fn the_report_round_trips_through_yaml() {
        let s = State::new();
        s.set_role(Role::Master, Some(250));
        let r = s.report();
        let yaml = serde_yaml_ng::to_string(&r).unwrap();
        assert_eq!(serde_yaml_ng::from_str::<StatusReport>(&yaml).unwrap(), r);
    }
}
