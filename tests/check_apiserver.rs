//! `kubealived check-apiserver` against a real HTTPS server with a
//! self-signed certificate, on 127.0.0.1 inside a network namespace:
//! healthy, unhealthy, gone, and hung.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn start(ns: &Netns, mode: &str, dir: &std::path::Path) -> HttpsServer {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    https_server(&mut ns.exec("python3"), 6443, mode, &cert, &key)
}

#[test]
fn check_apiserver_reports_healthy_unhealthy_gone_and_hung() {
    if !prerequisites("check-apiserver", true, &["ip", "openssl", "python3"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    openssl_self_signed(&cert, &key, "kube-apiserver");
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
