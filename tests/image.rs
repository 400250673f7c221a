//! The container image (packaging/container/build) and what install does
//! with it: built twice to the same bytes, nothing in it but keepalived,
//! nft, their libraries and kubealived; keepalived runs in it and takes a VIP in a
//! network namespace (podman with runc); install imports it into a real
//! containerd (Debian's, started here with its own socket and state) and
//! into CRI-O's containers-storage (real podman), and status reports it.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const IMAGE: &str = concat!("ghcr.io/kubealived/kubealived:", env!("CARGO_PKG_VERSION"));
use kubealived::paths::IMAGE_ARCHIVE;
const BUILD_TOOLS: [&str; 3] = ["apt-get", "dpkg-deb", "python3"];

/// The image of this test build's binary, built once per test process.
fn archive() -> &'static Path {
    static ARCHIVE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &ARCHIVE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("image.oci.tar");
            build(&out);
            (dir, out)
        })
        .1
}

fn build(out: &Path) -> Output {
    must(
        Command::new(repo().join("packaging/container/build"))
            .args(["--bin", BIN, "--out"])
            .arg(out),
    )
}

/// The files of an OCI archive by name.
fn entries(tar_bytes: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
    // A tar reader of ~20 lines beats a dependency: ustar headers with PAX
    // records only for long names, which this image does not have.
    let mut out = Vec::new();
    let mut at = 0;
    let mut pax_path: Option<String> = None;
    while at + 512 <= tar_bytes.len() {
        let header = &tar_bytes[at..at + 512];
        if header.iter().all(|b| *b == 0) {
            break;
        }
        let field = |from: usize, len: usize| {
            let raw = &header[from..from + len];
            let end = raw.iter().position(|b| *b == 0).unwrap_or(len);
            String::from_utf8_lossy(&raw[..end]).trim().to_string()
        };
        let size = usize::from_str_radix(&field(124, 12), 8).unwrap_or(0);
        let mode = u32::from_str_radix(&field(100, 8), 8).unwrap_or(0);
        let kind = header[156];
        let prefix = field(345, 155);
        let name = if prefix.is_empty() {
            field(0, 100)
        } else {
            format!("{prefix}/{}", field(0, 100))
        };
        let data = tar_bytes[at + 512..at + 512 + size].to_vec();
        at += 512 + size.div_ceil(512) * 512;
        if kind == b'x' {
            let text = String::from_utf8_lossy(&data).into_owned();
            pax_path = text
                .lines()
                .find_map(|l| l.split_once(" path=").map(|(_, p)| p.to_string()));
            continue;
        }
        let name = pax_path.take().unwrap_or(name);
        let name = if kind == b'5' {
            format!("{}/", name.trim_end_matches('/'))
        } else {
            name
        };
        out.push((name, mode, data));
    }
    out
}

fn json(bytes: &[u8]) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_slice(bytes).expect("JSON")
}

fn blob<'a>(files: &'a [(String, u32, Vec<u8>)], digest: &str) -> &'a [u8] {
    let name = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    &files
        .iter()
        .find(|f| f.0 == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .2
}

#[test]
fn the_image_is_reproducible_and_holds_keepalived_its_libraries_and_kubealived_only() {
    if !prerequisites("image build", false, &BUILD_TOOLS) {
        return;
    }
    let first = fs::read(archive()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("again.oci.tar");
    build(&again);
    let second = fs::read(&again).unwrap();
    let files = entries(&first);
    let index = json(
        &files
            .iter()
            .find(|f| f.0 == "index.json")
            .expect("index.json")
            .2,
    );
    let descriptor = &index["manifests"][0];
    let digest = descriptor["digest"].as_str().unwrap().to_string();
    let again_index = json(
        &entries(&second)
            .into_iter()
            .find(|f| f.0 == "index.json")
            .unwrap()
            .2,
    );
    println!(
        "image digests of two builds: {digest} and {}",
        again_index["manifests"][0]["digest"].as_str().unwrap()
    );
    assert!(first == second, "two builds of the same inputs differ");
    assert_eq!(
        descriptor["annotations"]["io.containerd.image.name"].as_str(),
        Some(IMAGE)
    );

    let manifest = json(blob(&files, &digest));
    let config = json(blob(&files, manifest["config"]["digest"].as_str().unwrap()));
    assert_eq!(config["os"].as_str(), Some("linux"));
    assert_eq!(config["created"].as_str(), Some("1970-01-01T00:00:00Z"));
    let layer = blob(&files, manifest["layers"][0]["digest"].as_str().unwrap());
    println!("layer: {} bytes (uncompressed)", layer.len());
    let rootfs = entries(layer);
    let names: BTreeSet<&str> = rootfs.iter().map(|f| f.0.as_str()).collect();
    for needed in [
        "usr/sbin/keepalived",
        "usr/sbin/nft",
        "var/lib/dpkg/status.d/nftables",
        "usr/local/bin/kubealived",
        "etc/passwd",
        "etc/group",
        "run/",
        "tmp/",
        "var/lib/dpkg/status.d/keepalived",
        "var/lib/dpkg/status.d/libc6",
        "usr/share/kubealived/debian-packages.txt",
    ] {
        assert!(names.contains(needed), "the image lacks {needed}");
    }
    // Nothing else: no shell, no ip, no package manager, no docs.
    for (name, mode, data) in &rootfs {
        let allowed = name.ends_with('/')
            || [
                "usr/sbin/keepalived",
                "usr/sbin/nft",
                "usr/local/bin/kubealived",
                "etc/passwd",
                "etc/group",
                "usr/share/kubealived/debian-packages.txt",
            ]
            .contains(&name.as_str())
            || name.starts_with("var/lib/dpkg/status.d/")
            || (name.contains(".so") && (name.starts_with("lib") || name.starts_with("usr/lib/")));
        assert!(allowed, "the image holds {name}, which nothing needs");
        if name.contains(".so") || name == "usr/sbin/keepalived" || name == "usr/sbin/nft" {
            assert_eq!(&data[..4], b"\x7fELF", "{name} is not an ELF file");
            assert_eq!(mode & 0o022, 0, "{name} is writable by others");
        }
    }
    for absent in [
        "bin/sh",
        "usr/bin/sh",
        "bin/bash",
        "sbin/ip",
        "usr/sbin/ip",
        "usr/bin/dpkg",
    ] {
        assert!(!names.contains(absent), "the image holds {absent}");
    }
    let kubealived = &rootfs
        .iter()
        .find(|f| f.0 == "usr/local/bin/kubealived")
        .unwrap()
        .2;
    assert!(
        *kubealived == fs::read(BIN).unwrap(),
        "the image holds another kubealived"
    );
}

/// podman with a storage of its own, and this machine's quirks (LAB.md).
struct Podman {
    dir: tempfile::TempDir,
    containers: Vec<String>,
}

impl Podman {
    fn new() -> Podman {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("containers.conf"),
            "[containers]\ndefault_ulimits = []\n",
        )
        .unwrap();
        Podman {
            dir,
            containers: Vec::new(),
        }
    }

    fn cmd(&self, netns: Option<&Netns>) -> Command {
        let mut cmd = match netns {
            // Not `ip netns exec`: it remounts /sys, which podman trips on.
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{}", ns.name)).arg("podman");
                c
            }
            None => Command::new("podman"),
        };
        cmd.arg("--root")
            .arg(self.dir.path().join("root"))
            .arg("--runroot")
            .arg(self.dir.path().join("run"))
            .args(["--runtime", "runc"])
            .env("CONTAINERS_CONF", self.dir.path().join("containers.conf"));
        cmd
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for name in &self.containers {
            let _ = self.cmd(None).args(["rm", "-f", name]).output();
        }
    }
}

#[test]
fn keepalived_checks_and_runs_in_the_image_and_takes_the_vip() {
    if !prerequisites(
        "keepalived in the image",
        true,
        &[&BUILD_TOOLS[..], &["podman", "runc", "nsenter", "ip"]].concat(),
    ) {
        return;
    }
    let mut podman = Podman::new();
    must(
        podman
            .cmd(None)
            .args(["load", "--quiet", "--input"])
            .arg(archive()),
    );
    let ns = Netns::new();
    ns.veth("eth0", &["192.0.2.11/24"]);
    let conf = tempfile::tempdir().unwrap();
    let rendered = must(Command::new(BIN).args([
        "render",
        "--keepalived-conf",
        "--vip",
        "192.0.2.10",
        "--interface",
        "eth0",
    ]));
    fs::write(conf.path().join("keepalived.conf"), &rendered.stdout).unwrap();
    let volume = format!("{}:/etc/kubealived:ro", conf.path().display());

    // The binary runs in the image (its libraries are there).
    let version = must(podman.cmd(None).args([
        "run",
        "--rm",
        "--network",
        "none",
        IMAGE,
        "/usr/local/bin/kubealived",
        "--version",
    ]));
    assert!(text(&version.stdout).starts_with("kubealived "));
    // keepalived -t in the image, with the interface of the namespace.
    let check = run(podman
        .cmd(Some(&ns))
        .args(["run", "--rm", "--network", "host", "-v", &volume, IMAGE])
        .args([
            "/usr/sbin/keepalived",
            "-t",
            "-f",
            "/etc/kubealived/keepalived.conf",
        ]));
    let said = format!("{}{}", text(&check.stdout), text(&check.stderr));
    assert!(check.status.success(), "keepalived -t in the image: {said}");
    assert!(
        !said.to_lowercase().contains("warning"),
        "keepalived -t warned: {said}"
    );
    // nft, which the agent runs for --vrrp-from and --load-balance, runs in
    // the image with the pod's capability (it once was not there at all).
    let nft = run(podman
        .cmd(Some(&ns))
        .args(["run", "--rm", "--network", "host"])
        .args(["--cap-drop", "all", "--cap-add", "NET_ADMIN", IMAGE])
        .args(["/usr/sbin/nft", "list", "ruleset"]));
    assert!(
        nft.status.success(),
        "nft in the image: {}{}",
        text(&nft.stdout),
        text(&nft.stderr)
    );

    // A real run with the pod's capabilities and the manifest's command
    // (the image's CMD, then this node's interface and VIP): the agent
    // runs keepalived, which takes the VIP.
    let name = format!("kal-img-{}", std::process::id());
    podman.containers.push(name.clone());
    must(
        podman
            .cmd(Some(&ns))
            .args(["run", "-d", "--name", &name, "--network", "host"])
            .args(["--cap-drop", "all", "--cap-add", "NET_ADMIN,NET_RAW"])
            .args(["-v", &volume, IMAGE])
            .args([
                "/usr/local/bin/kubealived",
                "agent",
                "--keepalived-conf",
                "/etc/kubealived/keepalived.conf",
                "--interface",
                "eth0",
                "--vip",
                "192.0.2.10",
            ]),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let held = loop {
        let addrs = text(
            &must(Command::new("ip").args([
                "-n",
                &ns.name,
                "-o",
                "addr",
                "show",
                "to",
                "192.0.2.10",
            ]))
            .stdout,
        );
        if addrs.contains("192.0.2.10") || Instant::now() > deadline {
            break addrs.contains("192.0.2.10");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let logs = must(podman.cmd(None).args(["logs", &name]));
    let logs = format!("{}{}", text(&logs.stdout), text(&logs.stderr));
    assert!(
        held,
        "keepalived in the image did not take the VIP:\n{logs}"
    );
    // The agent saw keepalived's state through the notify FIFO.
    assert!(
        logs.contains("kubealived agent: VRRP BACKUP -> MASTER"),
        "the agent did not follow keepalived's state:\n{logs}"
    );
    for bad in ["No such file", "cannot", "Unable"] {
        assert!(!logs.contains(bad), "keepalived said {bad:?}:\n{logs}");
    }
}

/// Debian's containerd with its own config, state, root and socket under
/// `root` (the machine `install --root` acts on), stopped by its pid.
struct Containerd {
    child: Child,
    socket: PathBuf,
}

impl Containerd {
    fn start(root: &Path) -> Containerd {
        let socket = root.join("run/containerd/containerd.sock");
        let config = root.join("containerd.toml");
        fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{}\"\nstate = \"{}\"\n[grpc]\n  address = \"{}\"\n",
                root.join("var/lib/containerd").display(),
                root.join("run/containerd/state").display(),
                socket.display()
            ),
        )
        .unwrap();
        let log = fs::File::create(root.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("containerd");
        let me = Containerd { child, socket };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(&me.socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "containerd did not start: {}",
                fs::read_to_string(root.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        me
    }

    fn ctr(&self, args: &[&str]) -> Output {
        run(Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", "k8s.io"])
            .args(args))
    }

    fn images(&self) -> String {
        text(&self.ctr(&["images", "list", "--quiet"]).stdout)
    }

    fn stop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// A root for `install --root` with the package's image archive in place.
fn node_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join(IMAGE_ARCHIVE);
    fs::create_dir_all(target.parent().unwrap()).unwrap();
    fs::copy(archive(), &target).unwrap();
    root
}

/// The digest of the manifest an OCI archive's index.json names for IMAGE:
/// what the manifest pins and what ctr and podman record.
fn index_digest(archive: &Path) -> String {
    let files = entries(&fs::read(archive).unwrap());
    let index = json(&files.iter().find(|f| f.0 == "index.json").unwrap().2);
    let entry = &index["manifests"][0];
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"].as_str(),
        Some(IMAGE)
    );
    entry["digest"].as_str().unwrap().to_string()
}

/// `ctr images list` as (name, digest, pinned) rows.
fn listed(containerd: &Containerd) -> Vec<(String, String, bool)> {
    text(&containerd.ctr(&["images", "list"]).stdout)
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let pinned = f[f.len() - 1].contains("io.cri-containerd.pinned=pinned");
            (f[0].to_string(), f[2].to_string(), pinned)
        })
        .collect()
}

/// A node whose container runtime is CRI-O: CRI-O itself is not packaged
/// for Debian 12, so a listening socket at its path stands in for it; the
/// storage and the tools that load into it are real.
fn crio_node() -> (Netns, tempfile::TempDir, std::os::unix::net::UnixListener) {
    let ns = Netns::new();
    ns.veth("eth0", &["192.0.2.11/24"]);
    let root = node_root();
    fs::create_dir_all(root.path().join("run/crio")).unwrap();
    let crio =
        std::os::unix::net::UnixListener::bind(root.path().join("run/crio/crio.sock")).unwrap();
    (ns, root, crio)
}

fn kubealived(ns: &Netns, args: &[&str], root: &Path) -> (Output, String) {
    let out = ns.kubealived(&[args, &["--root", root.to_str().unwrap()]].concat());
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    (out, said)
}

#[test]
fn install_imports_the_image_into_a_real_containerd_and_status_sees_it() {
    if !prerequisites(
        "install with containerd",
        true,
        &[&BUILD_TOOLS[..], &["containerd", "ctr", "ip"]].concat(),
    ) {
        return;
    }
    let ns = Netns::new();
    ns.veth("eth0", &["192.0.2.11/24"]);
    let root = node_root();
    let r = root.path();
    let manifest = r.join("etc/kubernetes/manifests/kubealived.yaml");
    let mut containerd = Containerd::start(r);
    assert!(!containerd.images().contains(IMAGE));

    let (out, said) = kubealived(&ns, &["install", "--dry-run", "--vip", "192.0.2.10"], r);
    assert!(
        out.status.success() && said.contains(&format!("import    {IMAGE}@sha256:")),
        "{said}"
    );
    assert!(
        !containerd.images().contains(IMAGE) && !manifest.exists(),
        "dry-run changed something"
    );

    let (out, said) = kubealived(&ns, &["install", "--vip", "192.0.2.10"], r);
    assert!(out.status.success(), "{said}");
    // The manifest names the image by its tag and the archive's digest,
    // which is the digest ctr records for the tag: the index.json entry's.
    let digest = index_digest(&r.join(IMAGE_ARCHIVE));
    let pinned = format!("{IMAGE}@{digest}");
    assert!(
        said.contains(&format!("imported  {pinned} into containerd")),
        "{said}"
    );
    let written = fs::read_to_string(&manifest).unwrap();
    assert!(written.contains(&format!("image: {pinned}\n")), "{written}");
    // Both names the CRI plugin resolves `NAME:TAG@DIGEST` by, pinned.
    let by_digest = format!("ghcr.io/kubealived/kubealived@{digest}");
    for name in [IMAGE, by_digest.as_str()] {
        assert!(
            listed(&containerd).contains(&(name.to_string(), digest.clone(), true)),
            "{name}: {:?}",
            listed(&containerd)
        );
    }
    // kubelet sees it: the CRI plugin manages images in k8s.io.
    let list = text(&containerd.ctr(&["images", "list"]).stdout);
    assert!(list.contains("io.cri-containerd.image=managed"), "{list}");

    // The same archive again: no import, nothing written.
    let (out, said) = kubealived(&ns, &["install"], r);
    assert!(
        out.status.success() && said.contains(&format!("present   {pinned} in containerd")),
        "{said}"
    );
    assert_eq!(said.matches("unchanged ").count(), 3, "{said}");
    let (out, said) = kubealived(&ns, &["status"], r);
    assert!(
        out.status.success() && said.contains(&format!("{pinned}: present in containerd")),
        "{said}"
    );
    let (out, said) = kubealived(&ns, &["status", "-o", "json"], r);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        status["image"]["digest"].as_str(),
        Some(digest.as_str()),
        "{said}"
    );
    assert_eq!(status["image"]["reference"].as_str(), Some(IMAGE), "{said}");

    // Kubelet's image garbage collection on containerd 1.6, which ignores
    // the pin: every name of the image removed. status fails; install (the
    // boot unit runs it before kubelet) imports it again, and the manifest
    // stays as it was.
    let id = text(&containerd.ctr(&["images", "list", "--quiet"]).stdout)
        .lines()
        .find(|l| l.starts_with("sha256:"))
        .map(String::from);
    let names: Vec<String> = [IMAGE.to_string(), by_digest.clone()]
        .into_iter()
        .chain(id)
        .collect();
    containerd.ctr(
        &[
            &["images", "remove"][..],
            &names.iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
    );
    assert!(
        !containerd.images().contains("kubealived"),
        "{}",
        containerd.images()
    );
    let (out, said) = kubealived(&ns, &["status"], r);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("missing from containerd"), "{said}");
    let (out, said) = kubealived(&ns, &["install"], r);
    assert!(
        out.status.success() && said.contains(&format!("imported  {pinned} into containerd")),
        "{said}"
    );
    assert_eq!(said.matches("unchanged ").count(), 3, "{said}");
    assert_eq!(fs::read_to_string(&manifest).unwrap(), written);
    assert!(listed(&containerd).contains(&(by_digest.clone(), digest.clone(), true)));

    // The same version rebuilt (another SOURCE_DATE_EPOCH, another digest):
    // imported although containerd holds an image under the tag; the
    // manifest names the new digest; the old image is no longer pinned.
    let rebuilt = r.join("rebuilt.oci.tar");
    must(
        Command::new(repo().join("packaging/container/build"))
            .args(["--bin", BIN, "--out"])
            .arg(&rebuilt)
            .env("SOURCE_DATE_EPOCH", "1"),
    );
    let new_digest = index_digest(&rebuilt);
    assert_ne!(new_digest, digest);
    fs::copy(&rebuilt, r.join(IMAGE_ARCHIVE)).unwrap();
    let (out, said) = kubealived(&ns, &["install"], r);
    assert!(
        out.status.success()
            && said.contains(&format!("imported  {IMAGE}@{new_digest} into containerd")),
        "{said}"
    );
    assert!(
        fs::read_to_string(&manifest)
            .unwrap()
            .contains(&format!("image: {IMAGE}@{new_digest}\n")),
        "{said}"
    );
    let now = listed(&containerd);
    assert!(
        now.contains(&(IMAGE.to_string(), new_digest.clone(), true)),
        "{now:?}"
    );
    assert!(
        now.contains(&(by_digest.clone(), digest.clone(), false)),
        "{now:?}"
    );
    fs::write(r.join(IMAGE_ARCHIVE), fs::read(archive()).unwrap()).unwrap();
    containerd.ctr(&["images", "remove", IMAGE]);

    // An archive that cannot be imported: exit 1, the fix, the manifest not written.
    fs::remove_file(&manifest).unwrap();
    let good = fs::read(r.join(IMAGE_ARCHIVE)).unwrap();
    fs::write(r.join(IMAGE_ARCHIVE), b"not an image").unwrap();
    let (out, said) = kubealived(&ns, &["install"], r);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("cannot use the image archive") && said.contains("Fix:"),
        "{said}"
    );
    assert!(
        !manifest.exists(),
        "the manifest was written without its image"
    );
    fs::write(r.join(IMAGE_ARCHIVE), good).unwrap();

    // --image names a registry image: nothing imported.
    let (out, said) = kubealived(
        &ns,
        &["install", "--image", "registry.example/kubealived:0.1.0"],
        r,
    );
    assert!(
        out.status.success() && said.contains("not the packaged image"),
        "{said}"
    );
    assert!(!containerd.images().contains(IMAGE));

    // No runtime running yet: files written, a warning that says what happens.
    containerd.stop();
    let (out, said) = kubealived(&ns, &["install", "--image", IMAGE], r);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("no container runtime answers") && said.contains("boot unit"),
        "{said}"
    );
    assert!(fs::read_to_string(&manifest).unwrap().contains(IMAGE));
    let (_, said) = kubealived(&ns, &["status"], r);
    assert!(said.contains("no container runtime answers"), "{said}");
}

#[test]
fn install_loads_the_image_into_cri_o_storage_with_podman() {
    if !prerequisites(
        "install with CRI-O storage",
        true,
        &[&BUILD_TOOLS[..], &["podman", "ip"]].concat(),
    ) {
        return;
    }
    let (ns, root, _crio) = crio_node();
    let r = root.path();
    let (out, said) = kubealived(&ns, &["install", "--vip", "192.0.2.10"], r);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("imported  {IMAGE}@")) && said.contains(" into CRI-O"),
        "{said}"
    );
    let exists = run(Command::new("podman")
        .arg("--root")
        .arg(r.join("var/lib/containers/storage"))
        .arg("--runroot")
        .arg(r.join("run/containers/storage"))
        .args(["image", "exists", IMAGE]));
    assert!(
        exists.status.success(),
        "podman does not see {IMAGE} in the node's storage"
    );
    // podman records the digest the manifest pins: the index.json entry's.
    let digest = index_digest(&r.join(IMAGE_ARCHIVE));
    let recorded = run(Command::new("podman")
        .arg("--root")
        .arg(r.join("var/lib/containers/storage"))
        .arg("--runroot")
        .arg(r.join("run/containers/storage"))
        .args(["image", "inspect", "--format", "{{.Digest}}", IMAGE]));
    assert_eq!(text(&recorded.stdout).trim(), digest);
    let written = fs::read_to_string(r.join("etc/kubernetes/manifests/kubealived.yaml")).unwrap();
    assert!(
        written.contains(&format!("image: {IMAGE}@{digest}\n")),
        "{written}"
    );
    let (out, said) = kubealived(&ns, &["status"], r);
    assert!(
        out.status.success() && said.contains("present in CRI-O"),
        "{said}"
    );
    // podman's overlay layers are plain directories; nothing stays mounted.
    let mut mounts = String::new();
    fs::File::open("/proc/self/mounts")
        .unwrap()
        .read_to_string(&mut mounts)
        .unwrap();
    assert!(
        !mounts.contains(r.to_str().unwrap()),
        "mounts left under the root:\n{mounts}"
    );
}

#[test]
fn install_copies_the_image_into_cri_o_storage_with_skopeo_when_podman_is_absent() {
    if !prerequisites(
        "install with CRI-O storage, skopeo",
        true,
        &[&BUILD_TOOLS[..], &["skopeo", "ip"]].concat(),
    ) {
        return;
    }
    let (ns, root, _crio) = crio_node();
    let r = root.path();
    // A PATH with skopeo and no podman.
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(which("skopeo").unwrap(), bin.path().join("skopeo")).unwrap();
    let args = [
        "install",
        "--vip",
        "192.0.2.10",
        "--root",
        r.to_str().unwrap(),
    ];
    // `ip` by its full path: Command looks the program up in the PATH it is given.
    let with_path = |path: &Path| {
        let mut cmd = Command::new(which("ip").unwrap());
        cmd.args(["netns", "exec", &ns.name, BIN])
            .args(args)
            .env("PATH", path);
        run(&mut cmd)
    };
    let out = with_path(bin.path());
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("imported  {IMAGE}@")) && said.contains(" into CRI-O"),
        "{said}"
    );
    let storage = format!(
        "containers-storage:[{}+{}]{IMAGE}",
        r.join("var/lib/containers/storage").display(),
        r.join("run/containers/storage").display()
    );
    must(Command::new("skopeo").args(["inspect", "--raw", &storage]));
    let again = with_path(bin.path());
    let digest = index_digest(&r.join(IMAGE_ARCHIVE));
    assert!(
        text(&again.stdout).contains(&format!("present   {IMAGE}@{digest} in CRI-O")),
        "{}",
        text(&again.stdout)
    );
    // Without podman or skopeo: a warning naming the fix, the files written.
    let empty = tempfile::tempdir().unwrap();
    let out = with_path(empty.path());
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("podman or skopeo is not installed")
            && said.contains("Fix: install podman or skopeo"),
        "{said}"
    );
}

/// What the release workflow pushes: image.py's multi-arch layout, copied
/// by skopeo with --all --preserve-digests (here into another layout, as
/// no registry runs here): the index and manifest digests stay as built.
#[test]
fn the_release_index_copies_with_its_digests_unchanged() {
    if !prerequisites(
        "multi-arch index",
        false,
        &[&BUILD_TOOLS[..], &["skopeo"]].concat(),
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("index");
    let out = must(
        Command::new("python3")
            .arg(repo().join("packaging/container/image.py"))
            .args(["index", "--tag", IMAGE, "--out"])
            .arg(&layout)
            .arg(archive()),
    );
    let index_digest = text(&out.stdout).trim().to_string();
    assert!(index_digest.starts_with("sha256:"), "{index_digest}");
    let copy = dir.path().join("copy");
    must(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--all",
        "--preserve-digests",
        &format!("oci:{}", layout.display()),
        &format!("oci:{}:copied", copy.display()),
    ]));
    let top = json(&fs::read(copy.join("index.json")).unwrap());
    assert_eq!(
        top["manifests"][0]["digest"].as_str(),
        Some(index_digest.as_str())
    );
    let files = entries(&fs::read(archive()).unwrap());
    let built = json(&files.iter().find(|f| f.0 == "index.json").unwrap().2);
    let manifest_digest = built["manifests"][0]["digest"].as_str().unwrap();
    let index = json(
        &fs::read(
            copy.join("blobs/sha256")
                .join(index_digest.trim_start_matches("sha256:")),
        )
        .unwrap(),
    );
    assert_eq!(
        index["manifests"][0]["digest"].as_str(),
        Some(manifest_digest)
    );
    assert!(index["manifests"][0]["platform"]["architecture"]
        .as_str()
        .is_some());
}
