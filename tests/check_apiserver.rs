//! `kubealived check-apiserver` against a real HTTPS server with a
//! self-signed certificate, on 127.0.0.1 inside a network namespace:
//! healthy, unhealthy, gone, and hung.

mod common;
use common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A stand-in apiserver: /livez answers with the status in `mode`
/// ("200", "500", or "hang").
struct Apiserver(Child);

impl Drop for Apiserver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const SERVER: &str = r#"
import http.server, ssl, sys, time
mode, cert, key = sys.argv[1], sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if mode == "hang":
            time.sleep(30)
        code = 200 if self.path == "/livez" and mode == "200" else 500
        self.send_response(code); self.end_headers(); self.wfile.write(b"ok" if code == 200 else b"no")
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", 6443), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("ready", flush=True)
srv.serve_forever()
"#;

fn start(ns: &Netns, mode: &str, dir: &std::path::Path) -> Apiserver {
    let child = spawn_ready(
        ns.exec("python3")
            .args(["-c", SERVER, mode])
            .arg(dir.join("cert.pem"))
            .arg(dir.join("key.pem")),
    );
    Apiserver(child)
}

#[test]
fn check_apiserver_reports_healthy_unhealthy_gone_and_hung() {
    if !prerequisites("check-apiserver", true, &["ip", "openssl", "python3"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    must(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=kube-apiserver",
            ])
            .arg("-keyout")
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(dir.path().join("cert.pem"))
            .stderr(Stdio::null()),
    );
    let ns = Netns::new();
    let check = |extra: &[&str]| {
        let started = Instant::now();
        let out = run(ns.exec(BIN).arg("check-apiserver").args(extra));
        (out.status.code(), text(&out.stderr), started.elapsed())
    };

    let (code, err, _) = check(&[]);
    assert_eq!(code, Some(1), "nothing listening must be unhealthy: {err}");
    assert!(err.contains("127.0.0.1:6443"), "{err}");

    let server = start(&ns, "200", dir.path());
    let (code, err, took) = check(&[]);
    assert_eq!(code, Some(0), "healthy apiserver: {err}");
    eprintln!("healthy check took {took:?}");
    drop(server);

    let server = start(&ns, "500", dir.path());
    let (code, err, _) = check(&[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("500"), "{err}");
    drop(server);

    let _server = start(&ns, "hang", dir.path());
    let (code, _, took) = check(&["--timeout", "0.5"]);
    assert_eq!(code, Some(1));
    assert!(
        took < Duration::from_secs(3),
        "a hung apiserver must time out, took {took:?}"
    );

    let (code, err, _) = check(&["--port", "0"]);
    assert_eq!(code, Some(2), "{err}");
}
