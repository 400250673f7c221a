//! `kubealived agent` with real keepalived that keeps exiting: its
//! keepalived.conf names an interface the node does not have, which
//! keepalived 2.2.7 refuses at start ("exited with permanent error
//! CONFIG", exit status 2). /healthz, the pod's livenessProbe, turns 503
//! with the reason and stays so for as long as kubelet looks (3 probes 5 s
//! apart); once the interface appears keepalived stays up, and /healthz is
//! 200 again 30 s later.

mod common;
use common::*;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.10";

/// Kills the agent (its guard; keepalived stops on PDEATHSIG) on drop.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The status code and body of `GET path` on the agent in `ns`.
fn get(ns: &Netns, path: &str) -> (u16, String) {
    let out = must(ns.exec("python3").args([
        "-c",
        "import sys, urllib.request, urllib.error\n\
         try:\n    r = urllib.request.urlopen('http://127.0.0.1:10290' + sys.argv[1], timeout=5)\n\
         except urllib.error.HTTPError as e:\n    r = e\n\
         print(r.status); print(r.read().decode(), end='')",
        path,
    ]));
    let out = text(&out.stdout);
    let (code, body) = out.split_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

/// The agent as the pod runs it, on eth0, with real keepalived given a
/// keepalived.conf for eth1 (rendered as install does, for that
/// interface).
fn spawn_agent_for_eth1(ns: &Netns, dir: &Path) -> Agent {
    let out = must(ns.exec(BIN).args([
        "render",
        "--keepalived-conf",
        "--vip",
        VIP,
        "--interface",
        "eth1",
    ]));
    let run_dir = dir.join("run");
    let conf = text(&out.stdout).replace("/run/kubealived", run_dir.to_str().unwrap());
    let conf_path = dir.join("keepalived.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let log = std::fs::File::create(dir.join("agent.log")).unwrap();
    Agent(
        ns.exec(BIN)
            .arg("agent")
            .arg("--keepalived-conf")
            .arg(&conf_path)
            .args(["--interface", "eth0", "--vip", VIP, "--run-dir"])
            .arg(&run_dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// Polls `GET path` until `cond` holds, or panics after `timeout` with
/// the last answer; returns the time it took.
fn wait_for(
    ns: &Netns,
    path: &str,
    timeout: Duration,
    cond: impl Fn(u16, &str) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let (code, body) = get(ns, path);
        if cond(code, &body) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < timeout,
            "{path} still answers {code} after {timeout:?}:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn healthz_fails_while_keepalived_is_in_a_restart_loop() {
    if !prerequisites(
        "agent, restart loop",
        true,
        &["ip", "python3", "keepalived"],
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ns = Netns::new();
    ns.veth("eth0", &["192.0.2.11/24"]);
    let agent = spawn_agent_for_eth1(&ns, tmp.path());
    let log = || std::fs::read_to_string(tmp.path().join("agent.log")).unwrap_or_default();
    let started = Instant::now();
    while !log().contains("keepalived exited (") {
        assert!(started.elapsed() < Duration::from_secs(10), "{}", log());
        std::thread::sleep(Duration::from_millis(10));
    }

    let red = wait_for(&ns, "/healthz", Duration::from_secs(10), |code, _| {
        code == 503
    });
    let (_, why) = get(&ns, "/healthz");
    assert!(
        why.starts_with("keepalived is in a restart loop: it exited ")
            && why.contains("times without staying up 30 s (last: exit status: 2 after "),
        "{why}\n{}",
        log()
    );
    assert!(
        log().contains("/healthz fails until it stays up"),
        "{}",
        log()
    );
    println!(
        "keepalived refusing its config: /healthz 503 {:.2} s after its first exit",
        red.as_secs_f64()
    );
    let (_, status) = get(&ns, "/status");
    assert!(
        status.contains("keepalivedRestartLoop: 'keepalived is in a restart loop: it exited"),
        "{status}"
    );

    // What kubelet sees: 3 probes 5 s apart (and every 0.5 s between),
    // all red, while keepalived is restarted with the backoff.
    for _ in 0..=20 {
        let (code, body) = get(&ns, "/healthz");
        assert_eq!(code, 503, "{body}\n{}", log());
        std::thread::sleep(Duration::from_millis(500));
    }
    let exits = log().matches("keepalived exited (exit status: 2)").count();
    assert!(exits >= 5, "{exits} exits in the log:\n{}", log());

    // The interface appears: the next keepalived stays up, and 30 s later
    // (plus at most one 5 s backoff) /healthz is green.
    ns.veth("eth1", &["198.51.100.11/24"]);
    let fixed = Instant::now();
    wait_for(&ns, "/healthz", Duration::from_secs(45), |code, _| {
        code == 200
    });
    let (_, status) = get(&ns, "/status");
    assert!(
        status.contains("keepalivedRunning: true")
            && status.contains("keepalivedRestartLoop: null"),
        "{status}"
    );
    println!(
        "interface added: /healthz 200 again after {:.1} s",
        fixed.elapsed().as_secs_f64()
    );
    drop(agent);
}
