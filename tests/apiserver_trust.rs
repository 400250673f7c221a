//! The agent's /readyz check against real HTTPS servers (python3's ssl,
//! certificates made by openssl): before the cluster CA exists nothing is
//! verified; once it does, only a server whose certificate that CA signed
//! for the address asked counts as ready. An impostor answering 200 on
//! /readyz (self-signed, or signed by another CA for the right address)
//! does not, nor does the cluster's own certificate asked at an address it
//! does not name (127.0.0.1, the fallback before kube-apiserver.yaml).

mod common;
use common::*;
use kubealived::agent::health::{Checker, FailureKind};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(2);

/// A port free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A stand-in answering 200 on /readyz with `dir/NAME.pem`; its URL.
fn serve(dir: &Path, name: &str) -> (HttpsServer, String) {
    let port = free_port();
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let server = https_server(
        &mut std::process::Command::new("python3"),
        port,
        "200",
        &cert,
        &key,
    );
    (server, format!("https://127.0.0.1:{port}/readyz"))
}

#[test]
fn only_a_certificate_the_cluster_ca_signed_for_the_address_asked_is_ready() {
    if !prerequisites("apiserver trust", false, &["openssl", "python3"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    openssl_self_signed(&dir.join("ca.pem"), &dir.join("ca.key"), "kubernetes");
    openssl_self_signed(
        &dir.join("other-ca.pem"),
        &dir.join("other-ca.key"),
        "kubernetes",
    );
    openssl_self_signed(
        &dir.join("self-signed.pem"),
        &dir.join("self-signed.key"),
        "kube-apiserver",
    );
    openssl_server_cert(dir, "apiserver", "ca", "127.0.0.1");
    openssl_server_cert(dir, "impostor", "other-ca", "127.0.0.1");
    openssl_server_cert(dir, "elsewhere", "ca", "192.0.2.11");
    let (_a, apiserver) = serve(dir, "apiserver");
    let (_b, self_signed) = serve(dir, "self-signed");
    let (_c, impostor) = serve(dir, "impostor");
    let (_d, elsewhere) = serve(dir, "elsewhere");

    let ca = dir.join("ca.crt");
    let mut checker = Checker::new(TIMEOUT, ca.clone());
    let check = |checker: &Checker, url: &str| checker.check(url, TIMEOUT).0;
    let no_ca = format!("not verified: no cluster CA yet at {}", ca.display());

    // No CA yet (before `kubeadm init`), then an empty file (what a
    // FileOrCreate mount leaves): nothing to verify against.
    for content in [None, Some("")] {
        if let Some(content) = content {
            std::fs::write(&ca, content).unwrap();
        }
        checker.follow_ca();
        assert_eq!(checker.verifies(), no_ca);
        assert!(!checker.verifying());
        for url in [&apiserver, &self_signed, &impostor, &elsewhere] {
            assert_eq!(check(&checker, url), Ok(()), "{url}, {content:?}");
        }
    }

    // The CA appears: verified from the next check on, also on the
    // connections the unverified checks kept alive.
    std::fs::copy(dir.join("ca.pem"), &ca).unwrap();
    checker.follow_ca();
    assert!(checker.verifying());
    assert_eq!(
        checker.verifies(),
        format!("verified against the cluster CA at {}", ca.display())
    );
    assert_eq!(check(&checker, &apiserver), Ok(()));
    for url in [&self_signed, &impostor, &elsewhere] {
        let failure = check(&checker, url).unwrap_err();
        assert_eq!(failure.kind, FailureKind::Down, "{url}: {failure}");
        eprintln!("{failure}");
        if url == &elsewhere {
            assert!(
                failure.why.contains("not valid for name"),
                "the name, said: {failure}"
            );
        }
    }

    // A CA file that cannot be used fails every check, it never turns
    // verification off.
    std::fs::write(&ca, "not a certificate\n").unwrap();
    checker.follow_ca();
    assert!(!checker.verifying());
    let failure = check(&checker, &apiserver).unwrap_err();
    assert!(failure.why.contains("no PEM certificate"), "{failure}");
    assert!(check(&checker, &self_signed).is_err());
}
