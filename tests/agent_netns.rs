//! `kubealived agent` with real keepalived, on two masters (network
//! namespaces joined by a veth pair), each with a stand-in HTTPS apiserver
//! (`tests/lab/apiserver.py`). Shows: the VIP leaves a master within half
//! a second of its apiserver dying; a master whose /readyz turns red while
//! it still serves hands the VIP over make-before-break; a SIGKILLed VRRP
//! process takes the VIP with it at once; SIGTERM hands the VIP over
//! make-before-break and leaves none behind; a killed
//! agent worker leaves no VIP; /metrics parses; a holder whose
//! kube-apiserver.yaml binds the node's address (which refuses the VIP)
//! gives the VIP up and says why.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.10";

struct Master {
    ns: Netns,
    dir: PathBuf,
    apiserver: Option<Child>,
    agent: Option<Child>,
}

impl Drop for Master {
    fn drop(&mut self) {
        for child in [self.agent.as_mut(), self.apiserver.as_mut()]
            .into_iter()
            .flatten()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The agent's guard is gone; its keepalived stops on PDEATHSIG.
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn has_vip(ns: &Netns) -> bool {
    let out = run(Command::new("ip").args(["-n", &ns.name, "-o", "addr", "show", "to", VIP]));
    !out.stdout.is_empty()
}

/// Polls until `cond` or the timeout; returns the time it took.
fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

fn get(ns: &Netns, path: &str) -> String {
    let out = must(ns.exec("python3").args([
        "-c",
        "import sys, urllib.request; print(urllib.request.urlopen('http://127.0.0.1:10290' + sys.argv[1], timeout=5).read().decode(), end='')",
        path,
    ]));
    text(&out.stdout)
}

impl Master {
    fn new(ns: Netns, root: &Path, name: &str) -> Master {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("run")).unwrap();
        Master {
            ns,
            dir,
            apiserver: None,
            agent: None,
        }
    }

    fn set_health(&self, mode: &str) {
        let tmp = self.dir.join("health.tmp");
        std::fs::write(&tmp, mode).unwrap();
        std::fs::rename(tmp, self.dir.join("health")).unwrap();
    }

    fn start_apiserver(&mut self, certs: &Path) {
        self.set_health("ok");
        let child = spawn_ready(
            self.ns
                .exec("python3")
                .arg(repo().join("tests/lab/apiserver.py"))
                .arg(certs.join("cert.pem"))
                .arg(certs.join("key.pem"))
                .arg(self.dir.join("health")),
        );
        self.apiserver = Some(child);
    }

    fn start_agent(&mut self) {
        self.agent = Some(spawn_agent(&self.ns, BIN, &self.dir, VIP));
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    fn status(&self) -> String {
        get(&self.ns, "/status")
    }

    fn pid(&self, file: &str) -> i32 {
        std::fs::read_to_string(self.dir.join("run").join(file))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

fn kill(pid: i32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).unwrap();
}

/// Masters A (192.0.2.11) and B (.12) on one veth, each with a stand-in
/// apiserver (self-signed) in its namespace; no agent yet.
fn two_masters(root: &Path) -> (Master, Master) {
    let (ns_a, ns_b) = two_masters_on_a_veth(root);
    let mut a = Master::new(ns_a, root, "a");
    let mut b = Master::new(ns_b, root, "b");
    a.start_apiserver(root);
    b.start_apiserver(root);
    (a, b)
}

/// A's agent first: it takes the VIP and becomes ready; then B's, which
/// stays BACKUP (equal priority does not preempt). Both report the
/// priority keepalived runs at once ready, 250, not the 200 of their
/// last state change, taken before their apiserver was ready.
fn holder_and_backup(a: &mut Master, b: &mut Master) {
    a.start_agent();
    wait_for("A to hold the VIP", Duration::from_secs(10), || {
        has_vip(&a.ns)
    });
    wait_for(
        "A's agent to report MASTER, ready, priority 250",
        Duration::from_secs(5),
        || {
            let s = a.status();
            s.contains("role: MASTER")
                && s.contains("apiserverReady: true")
                && s.contains("priority: 250")
        },
    );
    b.start_agent();
    wait_for(
        "B's agent to report BACKUP, ready, priority 250",
        Duration::from_secs(10),
        || {
            let s = b.status();
            s.contains("role: BACKUP")
                && s.contains("apiserverReady: true")
                && s.contains("priority: 250")
        },
    );
    assert!(has_vip(&a.ns) && !has_vip(&b.ns));
}

/// [`holder_and_backup`] in a fresh directory (kept with them: drop it
/// last); None, skipped loudly, without root or the tools.
fn holder_and_backup_in_tmp(what: &str) -> Option<(tempfile::TempDir, Master, Master)> {
    if !prerequisites(what, true, &["ip", "openssl", "python3", "keepalived"]) {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (mut a, mut b) = two_masters(tmp.path());
    holder_and_backup(&mut a, &mut b);
    Some((tmp, a, b))
}

/// kubeadm's kube-apiserver.yaml for the stand-in (probed on loopback),
/// with `--bind-address=bind`; written by rename, as kubelet sees it.
fn write_apiserver_manifest(dir: &Path, bind: &str) {
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: kube-apiserver, namespace: kube-system}}\n\
         spec:\n  containers:\n  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.35.4\n\
         \x20   command: [kube-apiserver, --advertise-address=192.0.2.11, --bind-address={bind}]\n\
         \x20   readinessProbe:\n      httpGet: {{host: 127.0.0.1, path: /readyz, port: 6443, scheme: HTTPS}}\n"
    );
    let tmp = dir.join("kube-apiserver.yaml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, dir.join("kube-apiserver.yaml")).unwrap();
}

/// Issue 23: `--bind-address` on the node's address (a CIS-style
/// hardening) makes kube-apiserver refuse connections to the VIP, though
/// its probes pass. The holder counts as not ready: the VIP moves to B,
/// the reason is in the log once and in /status; unspecified again, A is
/// ready again.
#[test]
fn a_holder_whose_apiserver_binds_the_node_s_address_gives_the_vip_up() {
    let Some((_tmp, a, b)) = holder_and_backup_in_tmp("agent bind-address") else {
        return;
    };
    write_apiserver_manifest(&a.dir, "192.0.2.11");
    let why = "kube-apiserver binds 192.0.2.11 only, so connections to the VIP 192.0.2.10 are \
               refused on this node";
    wait_for("the VIP to move to B", Duration::from_secs(5), || {
        has_vip(&b.ns) && !has_vip(&a.ns)
    });
    let status = a.status();
    assert!(
        status.contains(&format!("vipRefused: {why}")) && status.contains("apiserverReady: false"),
        "{status}"
    );
    let metrics = get(&a.ns, "/metrics");
    assert!(
        metrics.contains("kubealived_problem{problem=\"vip_refused\"} 1\n"),
        "{metrics}"
    );
    std::thread::sleep(Duration::from_secs(1));
    let said = format!("{why}: this node counts as not ready");
    assert_eq!(
        a.log().matches(&said).count(),
        1,
        "once per change:\n{}",
        a.log()
    );
    assert!(
        a.log().contains("Fix: remove --bind-address from "),
        "{}",
        a.log()
    );
    write_apiserver_manifest(&a.dir, "0.0.0.0");
    wait_for("A to be ready again", Duration::from_secs(5), || {
        let s = a.status();
        s.contains("apiserverReady: true") && !s.contains("vipRefused: kube")
    });
    assert!(get(&a.ns, "/metrics").contains("kubealived_problem{problem=\"vip_refused\"} 0\n"));
    assert!(has_vip(&b.ns), "equal priority does not preempt");
}

/// Unmounts on drop (after the masters that use it are gone).
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The holder's run directory full (the track file cannot be written):
/// its apiserver dies, the agent cannot write -6 or 0, so it removes the
/// file rather than leave the old 1; the VIP moves.
#[test]
fn a_full_run_directory_fails_closed() {
    if !prerequisites(
        "agent, full disk",
        true,
        &["ip", "openssl", "python3", "keepalived", "mount"],
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Declared first, dropped last: the masters' processes go before it.
    let run_a = tmp.path().join("a/run");
    std::fs::create_dir_all(&run_a).unwrap();
    must(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&run_a),
    );
    let _mount = Mount(run_a.clone());
    let (mut a, mut b) = two_masters(tmp.path());
    holder_and_backup(&mut a, &mut b);
    // Fill it: dd stops at ENOSPC.
    let _ = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", run_a.join("fill").display()))
        .args(["bs=4k", "status=none"])
        .status();
    let mut api = a.apiserver.take().unwrap();
    let _ = api.kill();
    let _ = api.wait();
    let moved = wait_for("B to take the VIP", Duration::from_secs(5), || {
        has_vip(&b.ns) && !has_vip(&a.ns)
    });
    println!(
        "run directory full, apiserver dead: VIP moved after {:.2} s",
        moved.as_secs_f64()
    );
    // The write failed, and the file went rather than keep a stale value.
    // (Its page freed, the next write may succeed: /healthz's red while
    // writes fail is the unit tests'.)
    let log = a.log();
    assert!(
        log.contains("No space left on device") && log.contains("removed it (reads 0)"),
        "{log}"
    );
}

#[test]
fn agent_moves_the_vip_fast_and_never_leaves_it_behind() {
    let Some((tmp, mut a, mut b)) = holder_and_backup_in_tmp("agent") else {
        return;
    };
    use nix::sys::signal::Signal;

    // /metrics parses, and says what status says.
    let metrics = get(&a.ns, "/metrics");
    let lines = metrics.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("/metrics parses");
    let value = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("no {name} {label:?} in\n{metrics}"))
    };
    assert_eq!(value("kubealived_vrrp_role", Some(("role", "master"))), 1.0);
    assert_eq!(value("kubealived_vrrp_priority", None), 250.0);
    assert_eq!(value("kubealived_apiserver_ready", None), 1.0);
    assert_eq!(value("kubealived_keepalived_up", None), 1.0);
    assert!(metrics.contains("kubealived_apiserver_check_duration_seconds_bucket"));
    assert_eq!(get(&a.ns, "/healthz").trim(), "ok");
    // No cluster CA (spawn_agent names one that is not there): the
    // self-signed stand-in is not verified, and /status says so.
    let status = a.status();
    assert!(
        status.contains("apiserverCertificate: 'not verified: no cluster CA yet at "),
        "{status}"
    );

    // 1. A's apiserver dies (the connection is refused): A resigns at once.
    let mut api = a.apiserver.take().unwrap();
    let _ = api.kill();
    let _ = api.wait();
    let gone = wait_for("the VIP to leave A", Duration::from_secs(5), || {
        !has_vip(&a.ns)
    });
    let moved = wait_for("B to take the VIP", Duration::from_secs(5), || {
        has_vip(&b.ns)
    });
    println!(
        "apiserver killed -> VIP left A after {:.3} s, on B {:.3} s later",
        gone.as_secs_f64(),
        moved.as_secs_f64()
    );
    if std::env::var("AGENT_TEST_LOGS").is_ok() {
        println!("A:\n{}\nB:\n{}", a.log(), b.log());
    }
    assert!(
        gone < Duration::from_millis(500),
        "the VIP took {gone:?} to leave a master whose apiserver died (target 0.5 s)\n{}",
        a.log()
    );
    a.start_apiserver(tmp.path());
    wait_for("A to be ready again", Duration::from_secs(5), || {
        a.status().contains("apiserverReady: true")
    });
    assert!(has_vip(&b.ns) && !has_vip(&a.ns), "the VIP moved back");

    // 2. B's /readyz turns red while B still serves (a graceful shutdown):
    //    the VIP goes make-before-break: A holds it before B lets go.
    b.set_health("graceful");
    let start = Instant::now();
    let (mut a_has, mut b_lost) = (None, None);
    // The two are sampled one after the other: one round's time is the
    // resolution of the comparison below.
    let mut step = Duration::ZERO;
    while a_has.is_none() || b_lost.is_none() {
        let round = Instant::now();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no handover\n{}",
            b.log()
        );
        if a_has.is_none() && has_vip(&a.ns) {
            a_has = Some(start.elapsed());
        }
        if b_lost.is_none() && !has_vip(&b.ns) {
            b_lost = Some(start.elapsed());
        }
        step = step.max(round.elapsed());
    }
    let (a_has, b_lost) = (a_has.unwrap(), b_lost.unwrap());
    println!(
        "readyz red while serving -> VIP on A after {:.3} s, off B after {:.3} s (sampled every {:.3} s at worst)",
        a_has.as_secs_f64(),
        b_lost.as_secs_f64(),
        step.as_secs_f64()
    );
    assert!(
        a_has <= b_lost + step,
        "B dropped the VIP before A had it\n{}",
        b.log()
    );
    assert!(
        a_has < Duration::from_millis(2000),
        "{a_has:?}: longer than a 2 s shutdown delay"
    );
    b.set_health("ok");
    wait_for("B to be ready again", Duration::from_secs(5), || {
        b.status().contains("apiserverReady: true")
    });

    // 3. A's VRRP process is SIGKILLed: the VIP leaves A at once, B takes it.
    let vrrp = a.pid("vrrp.pid");
    kill(vrrp, Signal::SIGKILL);
    let gone = wait_for("the VIP to leave A", Duration::from_secs(3), || {
        !has_vip(&a.ns)
    });
    println!(
        "VRRP process SIGKILLed -> VIP left A after {:.3} s",
        gone.as_secs_f64()
    );
    assert!(gone < Duration::from_millis(500), "{gone:?}\n{}", a.log());
    wait_for("B to take the VIP", Duration::from_secs(5), || {
        has_vip(&b.ns)
    });
    wait_for(
        "A's keepalived to run again",
        Duration::from_secs(5),
        || {
            let s = a.status();
            s.contains("keepalivedRestarts: 1") && s.contains("role: BACKUP")
        },
    );
    assert!(get(&a.ns, "/metrics").contains("kubealived_keepalived_restarts_total 1"));

    // 4. SIGTERM to B's agent (kubelet stopping the pod): B lowers its
    //    priority and waits until A holds the VIP (make-before-break), then
    //    keepalived stops, and B is left without the VIP.
    let mut agent = b.agent.take().unwrap();
    let start = Instant::now();
    kill(agent.id() as i32, Signal::SIGTERM);
    let status = agent.wait().unwrap();
    println!(
        "SIGTERM -> agent exited ({status}) after {:.3} s",
        start.elapsed().as_secs_f64()
    );
    assert!(status.success(), "{}", b.log());
    assert!(!has_vip(&b.ns), "the VIP stayed after SIGTERM\n{}", b.log());
    assert!(
        has_vip(&a.ns),
        "B's agent exited before A held the VIP\n{}",
        b.log()
    );
    assert!(
        b.log().contains("a backup takes the VIP over first")
            && !b.log().contains("no backup took the VIP over"),
        "{}",
        b.log()
    );

    // 5. A's worker (everything but the guard) is SIGKILLed: the guard
    //    removes the VIP and exits non-zero.
    let guard = a.agent.as_ref().unwrap().id();
    let children = std::fs::read_to_string(format!("/proc/{guard}/task/{guard}/children")).unwrap();
    let worker: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    kill(worker, Signal::SIGKILL);
    let gone = wait_for("the VIP to leave A", Duration::from_secs(3), || {
        !has_vip(&a.ns)
    });
    println!(
        "agent worker SIGKILLed -> VIP left A after {:.3} s",
        gone.as_secs_f64()
    );
    let status = a.agent.take().unwrap().wait().unwrap();
    assert!(!status.success());
    assert!(!has_vip(&a.ns), "{}", a.log());
}

/// The holder's whole pod SIGKILLed at one instant (every process frozen,
/// then killed: keepalived cannot resign, the guard cannot clean up) and
/// started again at once, as kubelet does after a first crash: the VIP
/// left on A's interface is kept until B's master-down timer has given it
/// to B, so some master holds it all along, and A lets go of it within
/// the agent's window (4 adverts and a check) of its last mark.
#[test]
fn a_pod_killed_at_once_keeps_its_vip_until_a_peer_has_taken_it() {
    let Some((_tmp, mut a, b)) = holder_and_backup_in_tmp("agent leftover VIP") else {
        return;
    };
    use nix::sys::signal::Signal;

    let mut guard = a.agent.take().unwrap();
    let id = guard.id();
    let children = std::fs::read_to_string(format!("/proc/{id}/task/{id}/children")).unwrap();
    let worker: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    let pids = [
        id as i32,
        worker,
        a.pid("keepalived.pid"),
        a.pid("vrrp.pid"),
    ];
    for p in pids {
        kill(p, Signal::SIGSTOP);
    }
    let killed = Instant::now();
    for p in pids {
        kill(p, Signal::SIGKILL);
    }
    guard.wait().unwrap();
    assert!(
        has_vip(&a.ns),
        "the kill took the VIP: nothing left to test"
    );
    std::thread::sleep(Duration::from_millis(300));
    a.start_agent();

    // Every 10 ms: who holds the VIP, until B alone does.
    let (mut none, mut both, mut last) = (Duration::ZERO, Duration::ZERO, Instant::now());
    let b_alone = loop {
        let (on_a, on_b) = (has_vip(&a.ns), has_vip(&b.ns));
        let now = Instant::now();
        match (on_a, on_b) {
            (false, false) => none += now - last,
            (true, true) => both += now - last,
            (false, true) => break now - killed,
            (true, false) => {}
        }
        last = now;
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "B never alone\n{}",
            a.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    println!(
        "pod SIGKILLed, restarted after 0.3 s: no holder for {:.3} s, two holders for {:.3} s, \
         B alone after {:.3} s",
        none.as_secs_f64(),
        both.as_secs_f64(),
        b_alone.as_secs_f64()
    );
    assert!(
        none < Duration::from_millis(100),
        "{none:?} with no holder\n{}",
        a.log()
    );
    // B's master-down timer: under 4 adverts (0.3 s) after the kill; A
    // lets go under 4 adverts and a check after its last mark.
    assert!(both < Duration::from_millis(1000), "{both:?}\n{}", a.log());
    assert!(
        b_alone < Duration::from_millis(1800),
        "{b_alone:?}\n{}",
        a.log()
    );
    assert!(
        a.log().contains("until a peer has taken it over"),
        "{}",
        a.log()
    );
    wait_for(
        "A's keepalived running as a backup",
        Duration::from_secs(5),
        || a.status().contains("role: BACKUP"),
    );
    assert!(has_vip(&b.ns) && !has_vip(&a.ns));
}
