//! Shared test helpers: the built binary, root-only prerequisites, and
//! network namespaces that clean up after themselves.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_kubealived");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when the test can run. Otherwise it says loudly why it is skipped,
/// and under CI (CI=true) a skip is a failure: CI must run the real thing.
pub fn prerequisites(test: &str, need_root: bool, tools: &[&str]) -> bool {
    let mut missing: Vec<String> = tools
        .iter()
        .filter(|t| which(t).is_none())
        .map(|t| t.to_string())
        .collect();
    if need_root && !nix::unistd::geteuid().is_root() {
        missing.push("root".into());
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "SKIPPED {test}: needs {} (run .ci/run, or as root with the tools installed)",
        missing.join(", ")
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}; under CI=true a skip is a failure");
    }
    eprintln!("\n!!!! {msg}\n");
    false
}

/// A Python test tool from the project's virtualenv, which `scripts/setup`
/// creates: called by path, never looked up on PATH (a console script pip
/// put into another Python's bin/ may be there on one machine only).
pub fn venv_tool(tool: &str) -> String {
    repo().join(".venv/bin").join(tool).display().to_string()
}

/// A tool on PATH (or in sbin), or a path given as it is.
pub fn which(tool: &str) -> Option<PathBuf> {
    if tool.contains('/') {
        return Some(PathBuf::from(tool)).filter(|p| p.is_file());
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join(tool))
        .find(|p| p.is_file())
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

pub fn must(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A network namespace named after this process, deleted on drop (also
/// when the test panics).
pub struct Netns {
    pub name: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Netns {
    pub fn new() -> Netns {
        let name = format!(
            "kal-t{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        must(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn ip(&self, args: &[&str]) {
        must(Command::new("ip").arg("-n").arg(&self.name).args(args));
    }

    /// A veth pair with both ends in this namespace and up, so `name` has
    /// carrier (keepalived treats a link without carrier as FAULT).
    pub fn veth(&self, name: &str, addrs: &[&str]) {
        let peer = format!("kp{}", COUNTER.fetch_add(1, Ordering::SeqCst));
        self.ip(&["link", "add", name, "type", "veth", "peer", "name", &peer]);
        for addr in addrs {
            // No duplicate address detection: IPv6 addresses usable at once.
            let nodad: &[&str] = if addr.contains(':') { &["nodad"] } else { &[] };
            self.ip(&[&["addr", "add", addr, "dev", name], nodad].concat());
        }
        self.ip(&["link", "set", &peer, "up"]);
        self.ip(&["link", "set", name, "up"]);
    }

    /// `ip netns exec NS program args...`
    pub fn exec(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    pub fn kubealived(&self, args: &[&str]) -> Output {
        run(self.exec(BIN).args(args))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Every file and directory under `dir` with its bytes, mtime and mode:
/// "nothing changed" is this snapshot before and after.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>, std::time::SystemTime, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        let content = if meta.is_file() {
            fs::read(&path).unwrap()
        } else {
            Vec::new()
        };
        out.push((
            path.display().to_string(),
            content,
            meta.modified().unwrap(),
            meta.permissions().mode(),
        ));
        if meta.is_dir() {
            out.extend(snapshot(&path));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Spawn a stand-in server that prints "ready" on its first line once it
/// listens, and wait for that line.
pub fn spawn_ready(cmd: &mut Command) -> std::process::Child {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "{cmd:?} did not say ready");
    child
}

/// `kubealived agent` (the binary `bin`) in `ns`, as the pod runs it, on
/// the keepalived.conf `render` gives for `vip` on eth0 with the two
/// masters 192.0.2.11-12 as peers, with `dir/run` in place of the pod's
/// /run/kubealived, `dir/ca.crt` as the cluster CA and
/// `dir/kube-apiserver.yaml` as kubeadm's manifest (none unless the test
/// writes them: never this machine's); its output goes to `dir/agent.log`.
pub fn spawn_agent(ns: &Netns, bin: &str, dir: &Path, vip: &str) -> std::process::Child {
    spawn_agent_with(ns, bin, dir, vip, &[])
}

/// [`spawn_agent`], with more of the agent's arguments.
pub fn spawn_agent_with(
    ns: &Netns,
    bin: &str,
    dir: &Path,
    vip: &str,
    extra: &[&str],
) -> std::process::Child {
    let out = must(ns.exec(bin).args([
        "render",
        "--keepalived-conf",
        "--vip",
        vip,
        // Both masters, the same list on each.
        "--peer",
        "192.0.2.11",
        "--peer",
        "192.0.2.12",
    ]));
    let run_dir = dir.join("run");
    let conf = text(&out.stdout).replace("/run/kubealived", run_dir.to_str().unwrap());
    let conf_path = dir.join("keepalived.conf");
    fs::write(&conf_path, conf).unwrap();
    let log = fs::File::create(dir.join("agent.log")).unwrap();
    ns.exec(bin)
        .arg("agent")
        .arg("--keepalived-conf")
        .arg(&conf_path)
        .args(["--interface", "eth0", "--vip", vip, "--run-dir"])
        .arg(&run_dir)
        .arg("--apiserver-ca")
        .arg(dir.join("ca.crt"))
        .arg("--apiserver-manifest")
        .arg(dir.join("kube-apiserver.yaml"))
        .args(extra)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// With openssl: a self-signed certificate `cert` with its key `key`
/// (RSA 2048, as kubeadm's; openssl marks it a CA), subject CN=`cn`,
/// valid for a day.
pub fn openssl_self_signed(cert: &Path, key: &Path, cn: &str) {
    must(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", &format!("/CN={cn}"), "-keyout"])
            .arg(key)
            .arg("-out")
            .arg(cert)
            .stderr(std::process::Stdio::null()),
    );
}

/// With openssl: a server certificate `dir/NAME.pem` (key `dir/NAME.key`)
/// for the IP address `ip`, its one SAN, signed by the CA `dir/CA.pem`
/// (key `dir/CA.key`): the shape of kubeadm's apiserver certificate.
pub fn openssl_server_cert(dir: &Path, name: &str, ca: &str, ip: &str) {
    let (csr, ext) = (
        dir.join(format!("{name}.csr")),
        dir.join(format!("{name}.ext")),
    );
    fs::write(
        &ext,
        format!(
            "basicConstraints = CA:FALSE\nkeyUsage = digitalSignature, keyEncipherment\n\
             extendedKeyUsage = serverAuth\nsubjectAltName = IP:{ip}\n"
        ),
    )
    .unwrap();
    must(
        Command::new("openssl")
            .args(["req", "-new", "-newkey", "rsa:2048", "-nodes"])
            .args(["-subj", "/CN=kube-apiserver", "-keyout"])
            .arg(dir.join(format!("{name}.key")))
            .arg("-out")
            .arg(&csr)
            .stderr(std::process::Stdio::null()),
    );
    must(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "1", "-set_serial", "2", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(dir.join(format!("{ca}.pem")))
            .arg("-CAkey")
            .arg(dir.join(format!("{ca}.key")))
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(dir.join(format!("{name}.pem")))
            .stderr(std::process::Stdio::null()),
    );
}

/// A stand-in apiserver over HTTPS, stopped on drop: see [`https_server`].
pub struct HttpsServer(std::process::Child);

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const HTTPS_SERVER: &str = r#"
import http.server, ssl, sys, time
port, mode, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if mode == "hang":
            time.sleep(30)
        code = 200 if self.path in ("/livez", "/readyz") and mode == "200" else 500
        body = b"ok" if code == 200 else b"no"
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    def finish_request(self, request, client_address):
        try:
            super().finish_request(ctx.wrap_socket(request, server_side=True), client_address)
        except (ssl.SSLError, OSError):
            pass  # a client that refuses the certificate
srv = S(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
print("ready", flush=True)
srv.serve_forever()
"#;

/// A stand-in apiserver on 127.0.0.1:`port` (python3, run by `python3`:
/// e.g. in a namespace) with the certificate `cert` and its key `key`,
/// HTTP/1.1 with keep-alive: /livez and /readyz answer `mode` ("200",
/// "500"), or nothing for 30 s ("hang").
pub fn https_server(
    python3: &mut Command,
    port: u16,
    mode: &str,
    cert: &Path,
    key: &Path,
) -> HttpsServer {
    HttpsServer(spawn_ready(
        python3
            .args(["-c", HTTPS_SERVER, &port.to_string(), mode])
            .arg(cert)
            .arg(key),
    ))
}

/// Two masters' namespaces, A (192.0.2.11/24) and B (.12/24), joined by a
/// veth named eth0 on both sides, and a self-signed certificate for their
/// stand-in apiservers (`cert.pem`, `key.pem` in `root`).
pub fn two_masters_on_a_veth(root: &Path) -> (Netns, Netns) {
    openssl_self_signed(
        &root.join("cert.pem"),
        &root.join("key.pem"),
        "kube-apiserver",
    );
    let (a, b) = (Netns::new(), Netns::new());
    must(Command::new("ip").args([
        "link", "add", "eth0", "netns", &a.name, "type", "veth", "peer", "name", "eth0", "netns",
        &b.name,
    ]));
    for (ns, addr) in [(&a, "192.0.2.11/24"), (&b, "192.0.2.12/24")] {
        ns.ip(&["addr", "add", addr, "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
    }
    (a, b)
}
