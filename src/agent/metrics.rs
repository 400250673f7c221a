//! The agent's Prometheus metrics (`/metrics`), registered once: what
//! [`super::state::State`] records, as the Prometheus project's client
//! encodes it.

use super::notify::Role;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

pub struct Metrics {
    registry: Registry,
    role: Family<Vec<(String, String)>, Gauge>,
    transitions: Family<Vec<(String, String)>, Counter>,
    priority: Gauge,
    ready: Gauge,
    check_seconds: Histogram,
    checks: Family<Vec<(String, String)>, Counter>,
    restarts: Counter,
    keepalived_up: Gauge,
    denied: Gauge,
    backend_ready: Family<Vec<(String, String)>, Gauge>,
    balance_backends: Gauge,
    balance_apply_errors: Counter,
    problem: Family<Vec<(String, String)>, Gauge>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kubealived");
        let role = Family::<Vec<(String, String)>, Gauge>::default();
        registry.register(
            "vrrp_role",
            "1 for this node's current VRRP role (label role), else 0",
            role.clone(),
        );
        let transitions = Family::<Vec<(String, String)>, Counter>::default();
        registry.register(
            "vrrp_transitions",
            "VRRP state changes reported by keepalived, by new role",
            transitions.clone(),
        );
        let priority = Gauge::default();
        registry.register(
            "vrrp_priority",
            "The effective VRRP priority keepalived last reported: the configured one while \
             the apiserver counts as ready, that less the health weight while not (0 before \
             keepalived has said, and once it stops)",
            priority.clone(),
        );
        let ready = Gauge::default();
        registry.register(
            "apiserver_ready",
            "1 when the local apiserver's /readyz counts as healthy (after hysteresis)",
            ready.clone(),
        );
        let check_seconds =
            Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]);
        registry.register(
            "apiserver_check_duration_seconds",
            "Latency of GET /readyz on the local apiserver",
            check_seconds.clone(),
        );
        let checks = Family::<Vec<(String, String)>, Counter>::default();
        registry.register(
            "apiserver_checks",
            "GET /readyz checks by result (ok, fail)",
            checks.clone(),
        );
        let restarts = Counter::default();
        registry.register(
            "keepalived_restarts",
            "Times the agent restarted keepalived after it exited",
            restarts.clone(),
        );
        let keepalived_up = Gauge::default();
        registry.register(
            "keepalived_up",
            "1 while keepalived runs under the agent",
            keepalived_up.clone(),
        );
        let denied = Gauge::default();
        registry.register(
            "apiserver_denied",
            "1 while the apiserver answers /readyz with 401 or 403: this node can never count as ready",
            denied.clone(),
        );
        let backend_ready = Family::<Vec<(String, String)>, Gauge>::default();
        registry.register(
            "backend_ready",
            "Load balancing: 1 when a backend's /readyz counts as healthy (after hysteresis), \
             so that new connections to the VIP may go to it",
            backend_ready.clone(),
        );
        let balance_backends = Gauge::default();
        registry.register(
            "balance_backends",
            "Load balancing: the backends the table sends new connections to now",
            balance_backends.clone(),
        );
        let balance_apply_errors = Counter::default();
        registry.register(
            "balance_apply_errors",
            "Load balancing: failed applies of the nftables table",
            balance_apply_errors.clone(),
        );
        let problem = Family::<Vec<(String, String)>, Gauge>::default();
        registry.register(
            "problem",
            "1 while this problem holds, by name (every name always present, so that one \
             alert on == 1 covers them all); kubealived status says each one's fix",
            problem.clone(),
        );
        for r in Role::ALL {
            role.get_or_create(&label("role", r)).set(0);
        }
        role.get_or_create(&label("role", Role::Unknown)).set(1);
        Metrics {
            registry,
            role,
            transitions,
            priority,
            ready,
            check_seconds,
            checks,
            restarts,
            keepalived_up,
            denied,
            backend_ready,
            balance_backends,
            balance_apply_errors,
            problem,
        }
    }

    /// Each problem by name, and whether it holds now.
    pub fn problems(&self, now: &[(&str, bool)]) {
        for (name, holds) in now {
            self.problem
                .get_or_create(&vec![("problem".to_string(), name.to_string())])
                .set(i64::from(*holds));
        }
    }

    pub fn priority(&self, priority: Option<u8>) {
        self.priority.set(priority.map_or(0, i64::from));
    }

    pub fn backend_ready(&self, backend: std::net::IpAddr, ready: bool) {
        self.backend_ready
            .get_or_create(&vec![("backend".to_string(), backend.to_string())])
            .set(i64::from(ready));
    }

    /// The balancing table applied, sending to this many backends.
    pub fn balance_applied(&self, backends: usize) {
        self.balance_backends.set(backends as i64);
    }

    /// The balancing table could not be applied.
    pub fn balance_apply_failed(&self) {
        self.balance_apply_errors.inc();
    }

    pub fn role_changed(&self, from: Role, to: Role) {
        self.role.get_or_create(&label("role", from)).set(0);
        self.role.get_or_create(&label("role", to)).set(1);
        self.transitions.get_or_create(&label("to", to)).inc();
    }

    /// One /readyz check: its result and latency, readiness after it.
    pub fn checked(&self, ok: bool, latency: Duration, healthy: bool) {
        self.ready.set(i64::from(healthy));
        self.check_seconds.observe(latency.as_secs_f64());
        let result = if ok { "ok" } else { "fail" };
        self.checks
            .get_or_create(&vec![("result".to_string(), result.to_string())])
            .inc();
    }

    /// The check loop is stuck: not ready.
    pub fn stale(&self) {
        self.ready.set(0);
    }

    pub fn keepalived_running(&self, up: bool) {
        self.keepalived_up.set(i64::from(up));
    }

    pub fn denied(&self, denied: bool) {
        self.denied.set(i64::from(denied));
    }

    pub fn keepalived_restarted(&self) {
        self.restarts.inc();
    }

    /// The Prometheus text format of every metric.
    pub fn text(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn label(key: &str, role: Role) -> Vec<(String, String)> {
    vec![(key.to_string(), role.as_str().to_lowercase())]
}
