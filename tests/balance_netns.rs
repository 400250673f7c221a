//! Issue 22: `kubealived agent --balance-port 443 --backend A --backend B`
//! with real keepalived and the real nftables on two masters (network
//! namespaces joined by a veth pair), each with a stand-in HTTPS apiserver
//! on 6443 that says its name. New connections to VIP:443, from the
//! backup and from the holder itself, are spread over both apiservers; a
//! backend whose /readyz turns red gets no new one within 0.3 s; an agent
//! that stops, or whose worker dies, leaves no table.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.10";
const TABLE: &str = "kubealived_lb";

struct Master {
    ns: Netns,
    dir: PathBuf,
    children: Vec<Child>,
}

impl Drop for Master {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

impl Master {
    fn new(ns: Netns, root: &Path, name: &str, certs: &Path) -> Master {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("run")).unwrap();
        let mut m = Master {
            ns,
            dir,
            children: vec![],
        };
        m.set_health("ok");
        let apiserver = spawn_ready(
            m.ns.exec("python3")
                .arg(repo().join("tests/lab/apiserver.py"))
                .arg(certs.join("cert.pem"))
                .arg(certs.join("key.pem"))
                .arg(m.dir.join("health"))
                .arg(name),
        );
        m.children.push(apiserver);
        m
    }

    fn set_health(&self, mode: &str) {
        let tmp = self.dir.join("health.tmp");
        std::fs::write(&tmp, mode).unwrap();
        std::fs::rename(tmp, self.dir.join("health")).unwrap();
    }

    fn start_agent(&mut self) {
        let args = [
            "--balance-port",
            "443",
            "--backend",
            "192.0.2.11",
            "--backend",
            "192.0.2.12",
        ];
        let agent = spawn_agent_with(&self.ns, BIN, &self.dir, VIP, &args);
        self.children.push(agent);
    }

    fn has_vip(&self) -> bool {
        let out =
            run(Command::new("ip").args(["-n", &self.ns.name, "-o", "addr", "show", "to", VIP]));
        !out.stdout.is_empty()
    }

    fn has_table(&self) -> bool {
        run(self.ns.exec("nft").args(["list", "table", "inet", TABLE]))
            .status
            .success()
    }

    /// Whether the table sends new connections to `backend`.
    fn sends_to(&self, backend: &str) -> bool {
        let out = run(self.ns.exec("nft").args(["list", "table", "inet", TABLE]));
        text(&out.stdout).contains(&format!(": {backend}"))
    }

    /// The agent's `/status` (YAML), from inside its namespace.
    fn status(&self) -> String {
        let out = must(self.ns.exec("python3").args([
            "-c",
            "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:10290/status', timeout=2).read().decode())",
        ]));
        text(&out.stdout)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// `n` fresh TLS connections to VIP:443, one request each: the names
    /// that answered, in order ("-" for a failed one).
    fn ask(&self, n: usize) -> Vec<String> {
        let out = must(self.ns.exec("python3").args([
            "-c",
            "import ssl, sys, urllib.request\n\
             ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n\
             for _ in range(int(sys.argv[1])):\n\
             \x20   try: print(urllib.request.urlopen('https://192.0.2.10:443/name', timeout=2, context=ctx).read().decode())\n\
             \x20   except Exception: print('-')\n",
            &n.to_string(),
        ]));
        text(&out.stdout).lines().map(str::to_string).collect()
    }
}

fn count(names: &[String], name: &str) -> usize {
    names.iter().filter(|n| *n == name).count()
}

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

#[test]
fn the_holder_spreads_new_connections_over_the_ready_masters() {
    if !prerequisites(
        "the_holder_spreads_new_connections_over_the_ready_masters",
        true,
        &["ip", "keepalived", "nft", "openssl", "python3"],
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (ns_a, ns_b) = two_masters_on_a_veth(root);
    for ns in [&ns_a, &ns_b] {
        // kubeadm's preflight asks for it on every node.
        must(ns.exec("sysctl").args(["-qw", "net.ipv4.ip_forward=1"]));
    }
    let mut a = Master::new(ns_a, root, "a", root);
    let mut b = Master::new(ns_b, root, "b", root);
    a.start_agent();
    wait_for("A to hold the VIP", Duration::from_secs(10), || a.has_vip());
    b.start_agent();
    wait_for(
        "both backends ready in A's table",
        Duration::from_secs(10),
        || a.log().contains("go to [192.0.2.11, 192.0.2.12]"),
    );
    wait_for(
        "B's table, inert while it is a backup",
        Duration::from_secs(10),
        || b.has_table(),
    );
    assert!(!b.has_vip(), "B took the VIP from A");

    // Spread: from the backup (over the wire to the holder) and from the
    // holder itself (its kubelet's case).
    for (from, client) in [("the backup", &b), ("the holder", &a)] {
        let names = client.ask(100);
        let (na, nb) = (count(&names, "a"), count(&names, "b"));
        println!("from {from}: a {na}, b {nb}, failed {}", 100 - na - nb);
        assert_eq!(na + nb, 100, "from {from}: {names:?}");
        assert!((35..=65).contains(&na), "from {from}: a {na}, b {nb}");
    }

    // B's /readyz turns red: within 0.3 s no new connection goes to it.
    assert!(a.sends_to("192.0.2.12"));
    b.set_health("graceful");
    let took = wait_for("B out of A's table", Duration::from_secs(2), || {
        !a.sends_to("192.0.2.12")
    });
    println!("a red backend left the table after {took:?}");
    assert!(took <= Duration::from_millis(300), "{took:?}");
    // What `kubealived status` shows of it.
    let status = a.status();
    assert!(
        status.contains("sendingTo:\n  - 192.0.2.11\n")
            && status.contains("address: 192.0.2.12\n    ready: false\n"),
        "{status}"
    );
    assert_eq!(count(&b.ask(20), "a"), 20);
    b.set_health("ok");
    wait_for("B back in A's table", Duration::from_secs(2), || {
        a.sends_to("192.0.2.12")
    });

    // SIGTERM: the agent stops and takes its table with it.
    let pid = a.children.last().unwrap().id() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    a.children.last_mut().unwrap().wait().unwrap();
    assert!(
        !a.has_table(),
        "A's table left after a clean stop:\n{}",
        a.log()
    );
    // B's worker SIGKILLed: its guard removes the table.
    let worker: i32 =
        must(Command::new("pgrep").args(["-P", &b.children.last().unwrap().id().to_string()]))
            .stdout
            .iter()
            .map(|c| *c as char)
            .collect::<String>()
            .trim()
            .parse()
            .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for(
        "B's table gone after its worker died",
        Duration::from_secs(5),
        || !b.has_table(),
    );
}
