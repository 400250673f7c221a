//! The agent's HTTP endpoint: `/metrics` (Prometheus text), `/healthz`
//! (the livenessProbe: 200 while the check loop runs) and `/status`
//! (YAML, read by `kubealived status`).

use super::state::State;
use std::sync::Arc;
use std::time::Duration;
use tiny_http::{Header, Response, Server};

pub fn serve(server: Server, state: Arc<State>, stale_after: Duration) {
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("").to_string();
        let (code, body, kind) = match path.as_str() {
            "/metrics" => (
                200,
                state.metrics_text(),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            "/healthz" => {
                let age = state.heartbeat_age();
                if age < stale_after {
                    (200, "ok\n".to_string(), "text/plain")
                } else {
                    (
                        503,
                        format!("the check loop last ran {:.1} s ago\n", age.as_secs_f64()),
                        "text/plain",
                    )
                }
            }
            "/status" => (
                200,
                serde_yaml_ng::to_string(&state.report()).unwrap_or_default(),
                "application/yaml",
            ),
            _ => (
                404,
                "not found: try /metrics, /healthz or /status\n".into(),
                "text/plain",
            ),
        };
        let header = Header::from_bytes("Content-Type", kind).expect("valid header");
        let _ = request.respond(
            Response::from_string(body)
                .with_status_code(code)
                .with_header(header),
        );
    }
}
