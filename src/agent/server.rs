//! The agent's HTTP endpoint: `/metrics` (Prometheus text), `/healthz`
//! (the livenessProbe: 200 while the check loop runs, the track file can
//! be written and keepalived is not in a restart loop) and `/status`
//! (YAML, read by `kubealived status`).
//!
//! The pod has the host's network, so every local user (and, on a
//! wildcard `--listen`, everyone who reaches the node) can connect. What
//! one of them can cost the agent is bounded, so that the livenessProbe
//! keeps its answer and the VIP does not move for nothing:
//!
//! - hyper's HTTP/1 parser in this one thread (a current-thread tokio
//!   runtime): no thread per connection;
//! - a request head of at most [`Limits::max_head_bytes`] (431 beyond),
//!   read within [`Limits::header_timeout`] of the connection: a client
//!   that sends nothing, or too slowly, is closed;
//! - one request per connection (no keep-alive; kubelet's probe does not
//!   keep connections either), all of it within
//!   [`Limits::connection_timeout`];
//! - at most [`Limits::max_connections`] at once. At the cap the oldest
//!   connection is closed for the new one, never the new one refused:
//!   kubelet's probe always comes on a new connection and asks at once.

use super::state::State;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// What one client may cost the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Request line and headers, in bytes (hyper's minimum is 8 KiB).
    pub max_head_bytes: usize,
    /// The whole request head must arrive within this, from the accept.
    pub header_timeout: Duration,
    /// A connection is closed this long after its accept, whatever it does.
    pub connection_timeout: Duration,
    /// Open connections; at the cap the oldest is closed for a new one.
    /// At least 17: new connections get their turn every 16 accepts.
    pub max_connections: usize,
}

impl Default for Limits {
    /// kube-vip gives its metrics server a 2 s header timeout too. 256
    /// connections of at most 8 KiB of buffer each stay a few MiB; a
    /// flood of new connections closes the oldest, each of which had its
    /// turn to read before the next accept.
    fn default() -> Self {
        Limits {
            max_head_bytes: 8 * 1024,
            header_timeout: Duration::from_secs(2),
            connection_timeout: Duration::from_secs(5),
            max_connections: 256,
        }
    }
}

/// The bound listener with its runtime, made before the thread starts so
/// that an error is reported at once.
pub struct Server {
    runtime: Runtime,
    listener: tokio::net::TcpListener,
    limits: Limits,
}

impl Server {
    pub fn new(listener: std::net::TcpListener, limits: Limits) -> io::Result<Server> {
        // The accept queue as deep as the kernel allows (std listens with
        // 128): a flood of connections must not fill it, or the kernel
        // drops the probe's SYN and kubelet's connect waits a second.
        nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::MAXCONN)?;
        listener.set_nonblocking(true)?;
        // Only I/O and timers: no worker threads, no blocking pool in use.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        Ok(Server {
            runtime,
            listener,
            limits,
        })
    }

    /// Serves until the process ends.
    pub fn serve(self, state: Arc<State>, stale_after: Duration) {
        let Server {
            runtime,
            listener,
            limits,
        } = self;
        runtime.block_on(accept_loop(listener, limits, state, stale_after));
    }
}

/// Accepts in a row before the new connections get their turn.
const YIELD_EVERY: usize = 16;

async fn accept_loop(
    listener: tokio::net::TcpListener,
    limits: Limits,
    state: Arc<State>,
    stale_after: Duration,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_head_bytes)
        .max_header_size(limits.max_head_bytes)
        .keep_alive(false);
    // Oldest first.
    let mut open: VecDeque<JoinHandle<()>> = VecDeque::new();
    let mut last_error_logged: Option<Instant> = None;
    let mut accepted: usize = 0;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, most likely: make room, wait a
                // little, and say so at most once a minute.
                if last_error_logged.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    eprintln!("kubealived agent: http: cannot accept a connection: {e}");
                    last_error_logged = Some(Instant::now());
                }
                if let Some(oldest) = open.pop_front() {
                    oldest.abort();
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let cap = limits.max_connections.max(YIELD_EVERY + 1);
        if open.len() >= cap {
            open.retain(|task| !task.is_finished());
        }
        while open.len() >= cap {
            if let Some(oldest) = open.pop_front() {
                oldest.abort();
            }
        }
        let state = state.clone();
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let response = respond(&state, stale_after, request.uri().path());
            async move { Ok::<_, Infallible>(response) }
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let timeout = limits.connection_timeout;
        open.push_back(tokio::spawn(async move {
            let _ = tokio::time::timeout(timeout, connection).await;
        }));
        // Let the new connections read what they were sent: a flood
        // closes none of them unread, since the cap is above this.
        accepted += 1;
        if accepted.is_multiple_of(YIELD_EVERY) {
            tokio::task::yield_now().await;
        }
    }
}

fn respond(state: &State, stale_after: Duration, path: &str) -> Response<String> {
    let (code, body, kind) = match path {
        "/metrics" => (
            StatusCode::OK,
            state.metrics_text(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        // Red while the check loop is stuck, the track file cannot be
        // written (the node is already unready) or keepalived is in a
        // restart loop: kubelet restarts the pod, and shows it.
        "/healthz" => match state.liveness(stale_after) {
            Ok(()) => (StatusCode::OK, "ok\n".to_string(), "text/plain"),
            Err(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{why}\n"),
                "text/plain",
            ),
        },
        "/status" => (
            StatusCode::OK,
            serde_yaml_ng::to_string(&state.report()).unwrap_or_default(),
            "application/yaml",
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /healthz or /status\n".into(),
            "text/plain",
        ),
    };
    let mut response = Response::new(body);
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthz_is_red_while_the_track_file_cannot_be_written() {
        let state = State::new();
        let live = |state: &State| respond(state, Duration::from_secs(5), "/healthz").status();
        assert_eq!(live(&state), StatusCode::OK);
        state.track_written(Err("No space left on device".into()));
        assert_eq!(live(&state), StatusCode::SERVICE_UNAVAILABLE);
        state.track_written(Ok(()));
        assert_eq!(live(&state), StatusCode::OK);
        assert_eq!(
            respond(&state, Duration::ZERO, "/healthz").status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "a stuck check loop"
        );
    }
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};

    fn start(limits: Limits) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::new(listener, limits).unwrap();
        // Ends with the test process.
        std::thread::spawn(move || server.serve(Arc::new(State::new()), Duration::from_secs(60)));
        addr
    }

    /// The status line and the rest of the answer to `request`.
    fn ask(addr: SocketAddr, request: &[u8]) -> (String, String) {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = stream.write_all(request);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let (status, rest) = answer.split_once("\r\n").unwrap_or((&answer, ""));
        (status.to_string(), rest.to_string())
    }

    fn get(addr: SocketAddr, path: &str) -> (String, String) {
        ask(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: agent\r\n\r\n").as_bytes(),
        )
    }

    /// True once the server closed the connection (EOF or reset).
    fn closed(stream: &mut TcpStream) -> bool {
        stream
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let mut byte = [0u8; 1];
        match stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        }
    }

    #[test]
    fn answers_the_three_paths_and_404() {
        let addr = start(Limits::default());
        let (status, rest) = get(addr, "/healthz");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(rest.ends_with("\r\n\r\nok\n"), "{rest}");
        assert!(rest.to_lowercase().contains("connection: close"), "{rest}");
        let (status, rest) = get(addr, "/metrics?x=1");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(rest.contains("application/openmetrics-text"), "{rest}");
        assert!(rest.contains("kubealived_apiserver_ready"), "{rest}");
        let (status, rest) = get(addr, "/status");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(rest.contains("role: UNKNOWN"), "{rest}");
        let (status, _) = get(addr, "/");
        assert_eq!(status, "HTTP/1.1 404 Not Found");
    }

    #[test]
    fn a_head_over_the_limit_gets_431() {
        let addr = start(Limits::default());
        let big = format!(
            "GET /healthz HTTP/1.1\r\nX-Big: {}\r\n\r\n",
            "a".repeat(9 * 1024)
        );
        let (status, _) = ask(addr, big.as_bytes());
        assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
        // Just under it is fine.
        let fits = format!(
            "GET /healthz HTTP/1.1\r\nX-Big: {}\r\n\r\n",
            "a".repeat(7 * 1024)
        );
        assert_eq!(ask(addr, fits.as_bytes()).0, "HTTP/1.1 200 OK");
    }

    #[test]
    fn an_idle_or_slow_client_is_closed_after_the_header_timeout() {
        let addr = start(Limits {
            header_timeout: Duration::from_millis(300),
            ..Limits::default()
        });
        let mut idle = TcpStream::connect(addr).unwrap();
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(!closed(&mut idle) && !closed(&mut slow));
        std::thread::sleep(Duration::from_millis(600));
        assert!(closed(&mut idle), "an idle connection stayed open");
        assert!(closed(&mut slow), "a slow request head stayed open");
    }

    #[test]
    fn at_the_cap_the_oldest_goes_and_the_new_one_is_served() {
        let addr = start(Limits {
            max_connections: 20,
            ..Limits::default()
        });
        let mut idle: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let start = Instant::now();
        assert_eq!(get(addr, "/healthz").0, "HTTP/1.1 200 OK");
        assert!(start.elapsed() < Duration::from_secs(1));
        // The first ones were closed to make room; the newest is open.
        std::thread::sleep(Duration::from_millis(100));
        assert!(closed(&mut idle[0]) && closed(&mut idle[30]));
        assert!(!closed(&mut idle[49]));
    }
}
