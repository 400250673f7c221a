//! The agent's HTTP listener under abuse (issue 21, point 3): the real
//! agent (guard, worker, keepalived) in a network namespace gets one
//! connection streaming 1 GiB of request head without a line break, and
//! 5,000 idle connections, while /healthz is asked as kubelet asks it (a
//! new connection each time). The worker's RSS stays at or under 64 MiB,
//! and /healthz answers 200 within 1 s.
//!
//! `KUBEALIVED_LISTENER_TEST_BIN=PATH` runs another kubealived build as
//! the agent (an older one, to show what this test catches); the figures
//! are printed either way.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.10";
const HEAD_BYTES: u64 = 1 << 30;
const IDLE_CONNECTIONS: usize = 5_000;
const RSS_LIMIT_KIB: u64 = 64 * 1024;
const HEALTHZ_WITHIN: Duration = Duration::from_secs(1);

fn agent_addr() -> SocketAddr {
    "127.0.0.1:10290".parse().unwrap()
}

fn bin() -> String {
    std::env::var("KUBEALIVED_LISTENER_TEST_BIN").unwrap_or_else(|_| BIN.to_string())
}

/// Runs `f` in a thread that entered the namespace: the sockets it opens
/// are there (a network namespace is per thread).
fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let path = PathBuf::from("/run/netns").join(ns);
    thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
}

/// One probe as kubelet makes it: a new connection, GET, read to the end.
/// The status code (0 for none) and how long it took.
fn probe() -> (u16, Duration) {
    let start = Instant::now();
    let answer = (|| -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect_timeout(&agent_addr(), Duration::from_secs(3))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        s.write_all(
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:10290\r\nConnection: close\r\n\r\n",
        )?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer)?;
        Ok(answer)
    })();
    let code = answer
        .ok()
        .and_then(|a| {
            let line = String::from_utf8_lossy(&a).lines().next()?.to_string();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0);
    (code, start.elapsed())
}

/// False once the other end closed or reset the connection.
fn is_open(mut s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    match s.read(&mut byte) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    }
}

/// VmRSS and VmHWM (peak) of a process, KiB.
fn rss_kib(pid: i32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The agent, stopped by pid when the test ends (also on a panic).
struct Agent {
    guard: Child,
    log: PathBuf,
}

impl Agent {
    fn start(ns: &Netns, dir: &Path) -> Agent {
        let guard = spawn_agent(ns, &bin(), dir, VIP);
        Agent {
            guard,
            log: dir.join("agent.log"),
        }
    }

    /// The worker: the guard's child.
    fn worker(&self) -> Option<i32> {
        let guard = self.guard.id();
        std::fs::read_to_string(format!("/proc/{guard}/task/{guard}/children"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        let pid = nix::unistd::Pid::from_raw(self.guard.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.guard.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.guard.kill();
        let _ = self.guard.wait();
        // keepalived stops on PDEATHSIG.
        thread::sleep(Duration::from_millis(300));
    }
}

/// Room for 5,000 sockets here, and in the agent (which inherits it, as a
/// container gets a high limit from its runtime).
fn raise_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let need = IDLE_CONNECTIONS as u64 + 1_000;
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    // Up to the hard limit only: raising that takes CAP_SYS_RESOURCE.
    assert!(
        hard >= need,
        "RLIMIT_NOFILE's hard limit is {hard}: this test needs {need} descriptors"
    );
    if soft < need {
        setrlimit(Resource::RLIMIT_NOFILE, hard.min(65_536), hard).unwrap();
    }
}

#[derive(Debug)]
struct Flood {
    sent: u64,
    took: Duration,
    end: String,
}

/// One connection: a request line, then `HEAD_BYTES` of one header with
/// no line break, streamed from one 64 KiB buffer.
fn flood() -> Flood {
    let start = Instant::now();
    let mut sent = 0u64;
    let end = (|| -> std::io::Result<String> {
        let mut s = TcpStream::connect(agent_addr())?;
        s.set_write_timeout(Some(Duration::from_secs(20)))?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nX-Flood: ")?;
        let chunk = vec![b'a'; 64 * 1024];
        while sent < HEAD_BYTES {
            if start.elapsed() > Duration::from_secs(240) {
                return Ok("stopped after 240 s".into());
            }
            let n = chunk.len().min((HEAD_BYTES - sent) as usize);
            s.write_all(&chunk[..n])?;
            sent += n as u64;
        }
        Ok("all sent, the connection still open".into())
    })()
    .unwrap_or_else(|e| format!("the agent closed it: {e}"));
    Flood {
        sent,
        took: start.elapsed(),
        end,
    }
}

#[test]
fn the_listener_survives_a_huge_head_and_5000_idle_connections() {
    if !prerequisites("agent_listener", true, &["ip", "keepalived"]) {
        return;
    }
    raise_nofile();
    let tmp = tempfile::tempdir().unwrap();
    let ns = Netns::new();
    ns.veth("eth0", &["192.0.2.11/24"]);
    let agent = Agent::start(&ns, tmp.path());
    let probe_ns = ns.name.clone();
    let ready = in_netns(&ns.name, move || {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if probe().0 == 200 {
                return true;
            }
            thread::sleep(Duration::from_millis(50));
        }
        false
    });
    assert!(
        ready.join().unwrap(),
        "the agent did not answer /healthz\n{}",
        agent.log()
    );
    let worker = agent.worker().expect("the agent's worker");
    let (rss_before, _) = rss_kib(worker).unwrap();

    // The worker's RSS, sampled until the end.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut max = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Some((rss, _)) = rss_kib(worker) {
                    max = u64::max(max, rss);
                }
                thread::sleep(Duration::from_millis(20));
            }
            max
        })
    };
    // kubelet's probe, every 200 ms through the whole attack.
    let during: Arc<Mutex<Vec<(u16, Duration)>>> = Arc::default();
    let prober = {
        let (stop, during) = (stop.clone(), during.clone());
        in_netns(&probe_ns, move || {
            while !stop.load(Ordering::Relaxed) {
                let p = probe();
                during.lock().unwrap().push(p);
                thread::sleep(Duration::from_millis(200));
            }
        })
    };

    let start = Instant::now();
    let flood = in_netns(&ns.name, flood);
    let idle = in_netns(&ns.name, || {
        let mut open = Vec::new();
        let mut failed = 0;
        for _ in 0..IDLE_CONNECTIONS {
            match TcpStream::connect_timeout(&agent_addr(), Duration::from_secs(3)) {
                Ok(s) => open.push(s),
                Err(_) => failed += 1,
            }
        }
        (open, failed)
    });
    let (idle, idle_failed) = idle.join().unwrap();
    let opened_in = start.elapsed();
    // With every idle connection still held here: kubelet's probe.
    let held = in_netns(&ns.name, || (0..5).map(|_| probe()).collect::<Vec<_>>())
        .join()
        .unwrap();
    let flood = flood.join().unwrap();
    let after = in_netns(&ns.name, || (0..3).map(|_| probe()).collect::<Vec<_>>())
        .join()
        .unwrap();
    // No idle connection outlives the header timeout (2 s) by much.
    thread::sleep((start + Duration::from_secs(4)).saturating_duration_since(Instant::now()));
    let still_open = idle.iter().filter(|s| is_open(s)).count();
    drop(idle);
    stop.store(true, Ordering::Relaxed);
    let rss_max = sampler.join().unwrap();
    prober.join().unwrap();
    let alive = agent.worker() == Some(worker);
    let (rss_end, hwm) = rss_kib(worker).unwrap_or((0, 0));
    let hwm = hwm.max(rss_max);
    let during = during.lock().unwrap().clone();

    let mib = |kib: u64| kib as f64 / 1024.0;
    let slowest = |probes: &[(u16, Duration)]| {
        probes
            .iter()
            .map(|p| p.1)
            .max()
            .unwrap_or_default()
            .as_secs_f64()
    };
    let codes = |probes: &[(u16, Duration)]| {
        let mut codes: Vec<u16> = probes.iter().map(|p| p.0).collect();
        codes.sort_unstable();
        codes.dedup();
        codes
    };
    println!("agent: {}", bin());
    println!(
        "flood: {:.1} MiB of head sent in {:.2} s; {}",
        flood.sent as f64 / (1024.0 * 1024.0),
        flood.took.as_secs_f64(),
        flood.end
    );
    println!(
        "idle: {} connections opened ({} failed) in {:.2} s",
        IDLE_CONNECTIONS - idle_failed,
        idle_failed,
        opened_in.as_secs_f64()
    );
    println!("idle: {still_open} of them still open 4 s after the first was opened");
    println!(
        "worker RSS: {:.1} MiB before, {:.1} MiB peak (VmHWM), {:.1} MiB at the end; alive: {alive}",
        mib(rss_before),
        mib(hwm),
        mib(rss_end)
    );
    println!(
        "/healthz with the idle connections held: codes {:?}, slowest {:.3} s",
        codes(&held),
        slowest(&held)
    );
    println!(
        "/healthz every 200 ms through the attack: {} probes, codes {:?}, slowest {:.3} s",
        during.len(),
        codes(&during),
        slowest(&during)
    );
    println!(
        "/healthz after the flood: codes {:?}, slowest {:.3} s",
        codes(&after),
        slowest(&after)
    );

    assert!(alive, "the worker died\n{}", agent.log());
    assert!(
        hwm <= RSS_LIMIT_KIB,
        "the worker's RSS reached {:.1} MiB (limit {} MiB)",
        mib(hwm),
        RSS_LIMIT_KIB / 1024
    );
    for (what, probes) in [("held", &held), ("during", &during), ("after", &after)] {
        for (code, took) in probes.iter() {
            assert!(
                *code == 200 && *took <= HEALTHZ_WITHIN,
                "/healthz ({what}) answered {code} after {took:?} (want 200 within {HEALTHZ_WITHIN:?})"
            );
        }
    }
    assert_eq!(still_open, 0, "the agent kept idle connections open");
    assert!(
        flood.sent < HEAD_BYTES,
        "the agent read a 1 GiB request head to the end"
    );
}
