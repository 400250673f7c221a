//! What the agent knows, shared by its threads: the VRRP role with its
//! transitions, the apiserver's readiness, keepalived's restarts. Each
//! change also goes to the Prometheus [`Metrics`].

use super::metrics::Metrics;
use super::notify::Role;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How many transitions `status` shows.
const KEEP_TRANSITIONS: usize = 10;

/// keepalived counts as up once it has run this long; the supervisor's
/// backoff starts again at 0.1 s then.
pub const STAYED_UP: Duration = Duration::from_secs(30);

/// Exits in a row, none after staying up [`STAYED_UP`], that make a
/// restart loop: one crash is the supervisor's business, three are not
/// (with the backoff, three quick exits take 0.6 s).
const LOOP_EXITS: u32 = 3;

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
    /// What the check verifies of the apiserver's certificate: the cluster
    /// CA it is verified against, or why it is not (no CA yet).
    #[serde(default)]
    pub apiserver_certificate: Option<String>,
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
    /// Why keepalived counts as in a restart loop, while it is (then
    /// `/healthz` fails).
    #[serde(default)]
    pub keepalived_restart_loop: Option<String>,
    /// Why connections to the VIP are refused on this node, while they
    /// are: kube-apiserver.yaml binds the apiserver to another address.
    /// This node then counts as not ready.
    #[serde(default)]
    pub vip_refused: Option<String>,
    /// With load balancing (`--balance-port`): the backends, and where new
    /// connections to the VIP go.
    #[serde(default)]
    pub balance: Option<Balance>,
}

/// Load balancing as the agent keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Balance {
    /// The VIP's port that is spread.
    pub port: u16,
    /// Every backend, this node included, in address order.
    pub backends: Vec<Backend>,
    /// The backends the table sends new connections to, as last applied.
    pub sending_to: Vec<String>,
    /// Why the table could not be applied, until it is.
    pub table_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backend {
    pub address: String,
    /// Its /readyz after hysteresis, as this node's own.
    pub ready: bool,
    /// Its last failed check, while it is not ready.
    pub error: Option<String>,
}

/// keepalived's runs, to tell a restart loop from one crash.
#[derive(Debug, Default)]
struct Runs {
    /// When the keepalived now running started.
    started: Option<Instant>,
    /// Exits since keepalived last stayed up [`STAYED_UP`].
    exits: u32,
    /// How the last one ended.
    last: String,
}

impl Runs {
    fn started(&mut self, now: Instant) {
        self.started = Some(now);
    }

    /// keepalived exited (`how`: its exit status), or could not start.
    fn exited(&mut self, now: Instant, how: &str) {
        let ran = self.started.take().map(|t| now.duration_since(t));
        if ran.is_some_and(|ran| ran >= STAYED_UP) {
            self.exits = 0;
        }
        self.exits += 1;
        self.last = match ran {
            Some(ran) => format!("{how} after {:.1} s", ran.as_secs_f64()),
            None => how.to_string(),
        };
        if self.exits == LOOP_EXITS {
            if let Some(why) = self.restart_loop(now) {
                eprintln!("kubealived agent: {why}; /healthz fails until it stays up");
            }
        }
    }

    /// Why keepalived is in a restart loop at `now`, if it is.
    fn restart_loop(&self, now: Instant) -> Option<String> {
        let up = self.started.map(|t| now.duration_since(t));
        if self.exits < LOOP_EXITS || up.is_some_and(|up| up >= STAYED_UP) {
            return None;
        }
        Some(format!(
            "keepalived is in a restart loop: it exited {} times without staying up {} s \
             (last: {})",
            self.exits,
            STAYED_UP.as_secs(),
            self.last
        ))
    }
}

struct Inner {
    report: StatusReport,
    transitions: VecDeque<Transition>,
    heartbeat: Instant,
    runs: Runs,
    /// Why the VRRP filter asked for (--vrrp-from) is not in place.
    filter_error: Option<String>,
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
                    apiserver_certificate: None,
                    keepalived_running: false,
                    keepalived_restarts: 0,
                    transitions: Vec::new(),
                    now,
                    track_file_error: None,
                    apiserver_denied: None,
                    keepalived_restart_loop: None,
                    vip_refused: None,
                    balance: None,
                },
                transitions: VecDeque::new(),
                heartbeat: Instant::now(),
                runs: Runs::default(),
                filter_error: None,
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
            self.metrics.priority(priority);
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

    /// Why the VIP is refused on this node (kube-apiserver's
    /// `--bind-address`), or None.
    pub fn vip_refused(&self, why: Option<String>) {
        self.lock().report.vip_refused = why;
    }

    /// Load balancing starts: every backend not ready yet, nothing applied.
    pub fn balance_started(&self, port: u16, backends: &[IpAddr]) {
        let mut sorted = backends.to_vec();
        sorted.sort();
        self.lock().report.balance = Some(Balance {
            port,
            backends: sorted
                .iter()
                .map(|b| Backend {
                    address: b.to_string(),
                    ready: false,
                    error: None,
                })
                .collect(),
            sending_to: Vec::new(),
            table_error: None,
        });
        for b in &sorted {
            self.metrics.backend_ready(*b, false);
        }
    }

    /// A backend's readiness changed (`error`: its last failed check).
    pub fn backend_changed(&self, backend: IpAddr, ready: bool, error: Option<String>) {
        let mut inner = self.lock();
        let address = backend.to_string();
        if let Some(b) = inner
            .report
            .balance
            .as_mut()
            .and_then(|bal| bal.backends.iter_mut().find(|b| b.address == address))
        {
            b.ready = ready;
            b.error = if ready { None } else { error };
        }
        self.metrics.backend_ready(backend, ready);
    }

    /// The table applied (the backends it sends to), or why it was not.
    pub fn balance_applied(&self, result: Result<&[IpAddr], String>) {
        let mut inner = self.lock();
        let Some(bal) = inner.report.balance.as_mut() else {
            return;
        };
        match result {
            Ok(to) => {
                bal.sending_to = to.iter().map(IpAddr::to_string).collect();
                bal.table_error = None;
                self.metrics.balance_applied(to.len());
            }
            Err(e) => {
                bal.table_error = Some(e);
                self.metrics.balance_apply_failed();
            }
        }
    }

    /// What the check now verifies of the apiserver's certificate.
    pub fn apiserver_certificate(&self, what: &str) {
        self.lock().report.apiserver_certificate = Some(what.to_string());
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
    /// within `stale_after`, its last track-file write succeeded, and
    /// keepalived is not in a restart loop. A node that cannot tell
    /// keepalived its readiness, or keep it running, is better restarted
    /// (and kubelet shows it).
    pub fn liveness(&self, stale_after: Duration) -> Result<(), String> {
        let inner = self.lock();
        let age = inner.heartbeat.elapsed();
        if age >= stale_after {
            return Err(format!(
                "the check loop last ran {:.1} s ago",
                age.as_secs_f64()
            ));
        }
        if let Some(e) = &inner.report.track_file_error {
            return Err(format!("cannot write the track file: {e}"));
        }
        if let Some(e) = &inner.filter_error {
            return Err(format!("the VRRP filter is not in place: {e}"));
        }
        match inner.runs.restart_loop(Instant::now()) {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// The VRRP filter the operator asked for could not be installed:
    /// /healthz is red from now on (kubelet restarts the pod, which tries again).
    pub fn filter_failed(&self, why: String) {
        self.lock().filter_error = Some(why);
    }

    pub fn keepalived_started(&self) {
        let mut inner = self.lock();
        inner.report.keepalived_running = true;
        inner.runs.started(Instant::now());
        self.metrics.keepalived_running(true);
    }

    /// The supervisor could not start keepalived (`why`): for the restart
    /// loop, as an exit.
    pub fn keepalived_not_started(&self, why: &str) {
        self.lock().runs.exited(Instant::now(), why);
    }

    /// keepalived exited (`how`: its exit status); `restart`: the
    /// supervisor starts it again.
    pub fn keepalived_exited(&self, restart: bool, how: &str) {
        {
            let mut inner = self.lock();
            inner.report.keepalived_running = false;
            if restart {
                inner.report.keepalived_restarts += 1;
                inner.runs.exited(Instant::now(), how);
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
        report.keepalived_restart_loop = inner.runs.restart_loop(Instant::now());
        report.now = now_unix();
        report
    }

    /// The metrics, with the problems as of now (a restart loop ends by
    /// itself, with time).
    pub fn metrics_text(&self) -> String {
        let inner = self.lock();
        let r = &inner.report;
        self.metrics.problems(&[
            ("track_file", r.track_file_error.is_some()),
            ("vrrp_filter", inner.filter_error.is_some()),
            (
                "keepalived_restart_loop",
                inner.runs.restart_loop(Instant::now()).is_some(),
            ),
            ("apiserver_denied", r.apiserver_denied.is_some()),
            ("vip_refused", r.vip_refused.is_some()),
            (
                "balance_table",
                r.balance.as_ref().is_some_and(|b| b.table_error.is_some()),
            ),
        ]);
        self.metrics.text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_a_metric_at_0_until_it_holds() {
        let s = State::new();
        let problem = |name: &str, v: u8| format!("kubealived_problem{{problem=\"{name}\"}} {v}\n");
        let text = s.metrics_text();
        for name in [
            "track_file",
            "vrrp_filter",
            "keepalived_restart_loop",
            "apiserver_denied",
            "vip_refused",
            "balance_table",
        ] {
            assert!(text.contains(&problem(name, 0)), "{text}");
        }
        s.vip_refused(Some("bound to 192.0.2.11".into()));
        s.filter_failed("no nft".into());
        let text = s.metrics_text();
        assert!(text.contains(&problem("vip_refused", 1)), "{text}");
        assert!(text.contains(&problem("vrrp_filter", 1)), "{text}");
        assert!(text.contains(&problem("track_file", 0)), "{text}");
        s.vip_refused(None);
        assert!(s.metrics_text().contains(&problem("vip_refused", 0)));
    }

    #[test]
    fn a_priority_change_alone_is_no_transition() {
        let s = State::new();
        s.set_role(Role::Master, Some(200));
        let since = s.report().role_since;
        s.set_role(Role::Master, Some(250));
        let r = s.report();
        assert_eq!(
            (r.role, r.priority, r.role_since),
            (Role::Master, Some(250), since)
        );
        assert_eq!(r.transitions.len(), 1, "{:?}", r.transitions);
        let text = s.metrics_text();
        assert!(text.contains("kubealived_vrrp_priority 250\n"), "{text}");
        s.set_role(Role::Stopped, None);
        assert!(s.metrics_text().contains("kubealived_vrrp_priority 0\n"));
    }

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
        s.keepalived_exited(true, "exit status: 1");
        let r = s.report();
        assert_eq!(
            (r.role, r.keepalived_running, r.keepalived_restarts),
            (Role::Stopped, false, 1)
        );
        assert!(s
            .metrics_text()
            .contains("kubealived_keepalived_restarts_total 1"));
    }

    /// Three exits without keepalived staying up 30 s in between are a
    /// loop, from the third exit until a run reaches 30 s; one crash is
    /// not.
    #[test]
    fn a_restart_loop_is_three_exits_without_staying_up() {
        let t0 = Instant::now();
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        let mut runs = Runs::default();
        runs.started(at(0.0));
        runs.exited(at(3600.0), "signal: 9 (SIGKILL)");
        runs.started(at(3600.2));
        assert_eq!(runs.restart_loop(at(3600.2)), None, "one crash");
        runs.exited(at(3601.2), "exit status: 2");
        runs.started(at(3601.6));
        assert_eq!(runs.restart_loop(at(3601.6)), None, "two exits");
        runs.exited(at(3601.6), "exit status: 2");
        assert_eq!(
            runs.restart_loop(at(3601.6)).as_deref(),
            Some(
                "keepalived is in a restart loop: it exited 3 times without staying up 30 s \
                 (last: exit status: 2 after 0.0 s)"
            )
        );
        runs.started(at(3602.4));
        assert!(runs.restart_loop(at(3632.3)).is_some(), "up 29.9 s");
        assert_eq!(runs.restart_loop(at(3632.4)), None, "up 30 s");
        runs.exited(at(4000.0), "exit status: 1");
        assert_eq!(runs.restart_loop(at(4000.0)), None, "counted anew");
        runs.exited(
            at(4001.0),
            "cannot start keepalived: No such file or directory",
        );
        runs.exited(
            at(4002.0),
            "cannot start keepalived: No such file or directory",
        );
        let why = runs.restart_loop(at(4002.0)).unwrap();
        assert!(why.ends_with("(last: cannot start keepalived: No such file or directory)"));
    }

    #[test]
    fn liveness_and_status_name_a_restart_loop() {
        let s = State::new();
        for _ in 0..2 {
            s.keepalived_started();
            s.keepalived_exited(true, "exit status: 2");
        }
        assert!(s.liveness(Duration::from_secs(5)).is_ok(), "two exits");
        s.keepalived_not_started("cannot start keepalived: Permission denied");
        let why = s.liveness(Duration::from_secs(5)).unwrap_err();
        assert!(
            why.contains("exited 3 times without staying up 30 s"),
            "{why}"
        );
        assert!(why.contains("Permission denied"), "{why}");
        assert_eq!(s.report().keepalived_restart_loop, Some(why));
        assert!(s
            .metrics_text()
            .contains("kubealived_problem{problem=\"keepalived_restart_loop\"} 1\n"));
        s.keepalived_started();
        assert!(s.liveness(Duration::from_secs(5)).is_err(), "just started");
        assert_eq!(s.report().keepalived_restarts, 2);
    }

    /// keepalived exiting after `ran` each time, restarted with the
    /// supervisor's backoff, looked at every 50 ms for 5 minutes: when
    /// the restart loop is first reported, and whether it ever clears
    /// again (kubelet restarts the pod after 3 failed probes 5 s apart).
    fn simulate(ran: Duration) -> (Option<Duration>, bool) {
        let t0 = Instant::now();
        let mut runs = Runs::default();
        let mut backoff = Duration::from_millis(100);
        let mut next_start = t0;
        let (mut first, mut cleared) = (None, false);
        let mut now = t0;
        while now - t0 < Duration::from_secs(300) {
            if runs.started.is_none() && now >= next_start {
                runs.started(now);
            }
            if runs.started.is_some_and(|s| now - s >= ran) {
                runs.exited(now, "exit status: 1");
                backoff = super::super::supervise::next_backoff(backoff, ran);
                next_start = now + backoff;
            }
            match (runs.restart_loop(now), first) {
                (Some(_), None) => first = Some(now - t0),
                (None, Some(_)) => cleared = true,
                _ => {}
            }
            now += Duration::from_millis(50);
        }
        (first, cleared)
    }

    #[test]
    fn a_restart_loop_fails_liveness_without_a_break_under_the_backoff() {
        let (first, cleared) = simulate(Duration::ZERO);
        assert!(first.unwrap() < Duration::from_secs(1), "{first:?}");
        assert!(!cleared);
        for ran in [1, 10, 29] {
            let (first, cleared) = simulate(Duration::from_secs(ran));
            assert!(first.is_some() && !cleared, "running {ran} s each time");
        }
        assert_eq!(simulate(Duration::from_secs(30)), (None, false));
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
