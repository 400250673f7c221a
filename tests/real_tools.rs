//! The rendered files checked by the real tools: kubernetes-validate
//! --strict for the manifests, keepalived -t for every keepalived.conf, and
//! a real keepalived that brings the VIP up on a lone master.

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn golden_files(name: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(repo().join("tests/golden"))
        .unwrap()
        .map(|e| e.unwrap().path().join(name))
        .filter(|p| p.exists())
        .collect();
    files.sort();
    files
}

/// The newest Kubernetes version kubernetes-validate knows (its default).
fn newest_kubernetes() -> String {
    let help = text(&must(Command::new(venv_tool("kubernetes-validate")).arg("--help")).stdout);
    let words: Vec<&str> = help.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "Defaults")
        .expect("kubernetes-validate --help names its default");
    words[at + 2].trim_end_matches('.').to_string()
}

#[test]
fn golden_manifests_pass_kubernetes_validate_strict() {
    if !prerequisites(
        "kubernetes-validate",
        false,
        &[&venv_tool("kubernetes-validate")],
    ) {
        return;
    }
    let mut files = golden_files("kubealived.yaml");
    files.extend(golden_files("bundle.yaml"));
    assert!(files.len() >= 6, "{files:?}");
    for version in ["1.28.0".to_string(), newest_kubernetes()] {
        for file in &files {
            let out = run(Command::new(venv_tool("kubernetes-validate"))
                .args(["--strict", "-k", &version])
                .arg(file));
            let said = text(&out.stdout) + &text(&out.stderr);
            assert!(
                out.status.success() && !said.contains("WARN"),
                "{} against {version}:\n{said}",
                file.display()
            );
        }
    }
}

/// Runs inside `ns` with this build at the path the image has it, visible
/// only in that namespace's private mount namespace.
fn in_ns_with_binary(ns: &Netns, script: &str) -> Command {
    let mut cmd = ns.exec("sh");
    cmd.arg("-c").arg(format!(
        "mount -t tmpfs tmpfs /usr/local/bin && cp {BIN} /usr/local/bin/kubealived && {script}"
    ));
    cmd
}

/// Interfaces a keepalived.conf names (`interface X`, `dev X`).
fn interfaces_of(conf: &str) -> Vec<String> {
    let mut names: Vec<String> = conf
        .lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.as_slice() {
                ["interface", name] => Some(name.to_string()),
                [.., "dev", name] => Some(name.to_string()),
                _ => None,
            }
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn keepalived_check(conf: &Path) -> (bool, String) {
    let ns = Netns::new();
    for name in interfaces_of(&fs::read_to_string(conf).unwrap()) {
        ns.veth(&name, &[]);
    }
    let out = run(&mut in_ns_with_binary(
        &ns,
        &format!("keepalived -t -l -f {} 2>&1", conf.display()),
    ));
    (out.status.success(), text(&out.stdout) + &text(&out.stderr))
}

#[test]
fn every_golden_keepalived_conf_passes_keepalived_t() {
    if !prerequisites("keepalived -t", true, &["keepalived", "ip"]) {
        return;
    }
    let confs = golden_files("keepalived.conf");
    assert!(confs.len() >= 5, "{confs:?}");
    for conf in confs {
        let (ok, said) = keepalived_check(&conf);
        // Any warning counts: keepalived accepts and then misreads some
        // mistakes (a v3 config read as v2, a truncated auth_pass).
        let warned = ["WARNING", "Unknown keyword", "error", "truncat"]
            .iter()
            .any(|w| said.contains(w));
        assert!(
            ok && !warned,
            "keepalived -t rejected {}:\n{said}",
            conf.display()
        );
    }
}

#[test]
fn keepalived_t_catches_a_broken_config() {
    // Guards the test above: it must be able to fail.
    if !prerequisites("keepalived -t", true, &["keepalived", "ip"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bad.conf");
    fs::write(&conf, "global_defs { vrrp_version 3; script_user root }\nvrrp_instance x {\n interface eth0\n virtual_router_id 300\n}\n").unwrap();
    let (ok, said) = keepalived_check(&conf);
    assert!(
        !ok || said.contains("WARNING") || said.contains("Unknown"),
        "{said}"
    );
}

struct Keepalived {
    child: Child,
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn holds(ns: &Netns, vip: &str) -> bool {
    let out = run(Command::new("ip").args(["-n", &ns.name, "-o", "addr", "show", "to", vip]));
    !out.stdout.is_empty()
}

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn a_lone_master_takes_both_vips_without_an_apiserver_and_releases_them_on_stop() {
    if !prerequisites("real keepalived", true, &["keepalived", "ip"]) {
        return;
    }
    let ns = Netns::new();
    ns.veth("eth0", &["192.0.2.11/24", "2001:db8::11/64"]);
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let out = ns.kubealived(&[
        "install",
        "--root",
        r,
        "--vip",
        "192.0.2.10",
        "--vip",
        "2001:db8::10",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let conf = root.path().join("etc/kubealived/keepalived.conf");
    let log = root.path().join("keepalived.log");
    let mut ka = Keepalived {
        child: in_ns_with_binary(
            &ns,
            &format!(
                "exec keepalived -n -l -D --no-syslog -f {} -p {r}/k.pid -r {r}/v.pid >{} 2>&1",
                conf.display(),
                log.display()
            ),
        )
        .stdin(Stdio::null())
        .spawn()
        .unwrap(),
    };
    // First master, no apiserver: the check starts failed (init_fail), yet
    // alone it must still take the VIP so `kubeadm init` can reach itself.
    let took = wait_until(Duration::from_secs(10), || {
        holds(&ns, "192.0.2.10") && holds(&ns, "2001:db8::10")
    });
    let logged = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        took.is_some(),
        "VIPs not taken within 10 s; keepalived said:\n{logged}"
    );
    eprintln!("lone master took both VIPs after {:?}", took.unwrap());
    assert!(logged.contains("Entering MASTER STATE"), "{logged}");
    // Graceful stop: keepalived removes the VIPs it added.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ka.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let _ = ka.child.wait();
    assert!(
        !holds(&ns, "192.0.2.10") && !holds(&ns, "2001:db8::10"),
        "VIP left behind after stop"
    );
}
