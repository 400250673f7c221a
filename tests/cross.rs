//! The other architecture (aarch64 on an x86_64 machine, x86_64 on an
//! aarch64 one), proven here: `packaging/release` builds both, as the
//! release workflow does, once per test run; the other binary runs under
//! qemu-user (`--version`, and `render` equal to every golden file); its
//! image's keepalived checks a rendered config under qemu (the image's own
//! loader and libraries); its .deb and .rpm carry that binary and image; the
//! multi-arch index holds both images and copies with its digests; and the
//! image rebuilt from its own record of Debian packages has the same digest.

mod common;
use common::*;
use serde_yaml_ng::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const TAG: &str = concat!("ghcr.io/kubealived/kubealived:", env!("CARGO_PKG_VERSION"));

/// This machine's and the other architecture: (uname -m, Debian, OCI).
struct Arch {
    cpu: &'static str,
    deb: &'static str,
    oci: &'static str,
    elf_machine: u16,
}

const X86_64: Arch = Arch {
    cpu: "x86_64",
    deb: "amd64",
    oci: "amd64",
    elf_machine: 62,
};
const AARCH64: Arch = Arch {
    cpu: "aarch64",
    deb: "arm64",
    oci: "arm64",
    elf_machine: 183,
};

fn native() -> &'static Arch {
    if std::env::consts::ARCH == "aarch64" {
        &AARCH64
    } else {
        &X86_64
    }
}

fn other() -> &'static Arch {
    if std::env::consts::ARCH == "aarch64" {
        &X86_64
    } else {
        &AARCH64
    }
}

/// qemu-user for the other architecture (scripts/cross-tools installs it).
fn qemu() -> String {
    format!("qemu-{}", other().cpu)
}

/// What the tests need; a missing one skips loudly (fails with CI=true).
fn ready(test: &str) -> bool {
    let rust_target = format!("{}-unknown-linux-gnu", other().cpu);
    let sysroot = text(&must(Command::new("rustc").args(["--print", "sysroot"])).stdout);
    let std_lib = Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(&rust_target);
    let mut tools = vec![
        qemu(),
        format!("{}-linux-gnu-gcc", other().cpu),
        "cargo-deb".into(),
        "cargo-generate-rpm".into(),
        "dpkg-deb".into(),
        "rpm".into(),
        "apt-get".into(),
        "python3".into(),
        "skopeo".into(),
        "tar".into(),
    ];
    if !std_lib.is_dir() {
        // Not a program: named so the skip says what is missing.
        tools.push(format!("Rust's {rust_target} (scripts/cross-tools)"));
    }
    let tools: Vec<&str> = tools.iter().map(String::as_str).collect();
    prerequisites(test, false, &tools)
}

/// The release files of both architectures and the multi-arch layout.
struct Release {
    _dir: tempfile::TempDir,
    out: PathBuf,
    index: PathBuf,
}

impl Release {
    fn file(&self, name: &str) -> PathBuf {
        let path = self.out.join(name);
        assert!(path.is_file(), "packaging/release did not write {name}");
        path
    }

    fn binary(&self, arch: &Arch) -> PathBuf {
        self.file(&format!("kubealived-{VERSION}-{}-linux", arch.cpu))
    }

    fn image(&self, arch: &Arch) -> PathBuf {
        self.file(&format!("kubealived-image-{VERSION}-{}.oci.tar", arch.deb))
    }
}

/// `packaging/release --arch <this> --arch <other>`, once per test process
/// (the cross build in release mode takes minutes).
fn release() -> &'static Release {
    static RELEASE: OnceLock<Result<Release, String>> = OnceLock::new();
    let built = RELEASE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (out, index) = (dir.path().join("dist"), dir.path().join("image-index"));
        let started = std::time::Instant::now();
        let result = run(Command::new(repo().join("packaging/release"))
            .args(["--arch", native().cpu, "--arch", other().cpu])
            .arg("--index")
            .arg(&index)
            .arg(&out));
        eprintln!(
            "packaging/release for {} and {}: {:.0} s",
            native().cpu,
            other().cpu,
            started.elapsed().as_secs_f64()
        );
        if !result.status.success() {
            return Err(format!(
                "packaging/release failed: {}\n{}{}",
                result.status,
                text(&result.stdout),
                text(&result.stderr)
            ));
        }
        Ok(Release {
            _dir: dir,
            out,
            index,
        })
    });
    built.as_ref().unwrap_or_else(|e| panic!("{e}"))
}

/// The other binary under qemu-user, its C library from Debian's cross
/// packages (libc6-<arch>-cross).
fn emulated(binary: &Path) -> Command {
    let mut cmd = Command::new(qemu());
    cmd.arg("-L")
        .arg(format!("/usr/{}-linux-gnu", other().cpu))
        .arg(binary);
    cmd
}

fn elf_machine(path: &Path) -> u16 {
    let bytes = fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF", "{} is not ELF", path.display());
    u16::from_le_bytes([bytes[18], bytes[19]])
}

fn json(bytes: &[u8]) -> Value {
    serde_yaml_ng::from_slice(bytes).expect("JSON")
}

/// An OCI archive unpacked: its index, manifest, config, and the layer
/// extracted under `root`.
struct Unpacked {
    dir: tempfile::TempDir,
    digest: String,
    config: Value,
}

impl Unpacked {
    fn new(archive: &Path) -> Unpacked {
        let dir = tempfile::tempdir().unwrap();
        let oci = dir.path().join("oci");
        fs::create_dir(&oci).unwrap();
        must(
            Command::new("tar")
                .arg("-xf")
                .arg(archive)
                .arg("-C")
                .arg(&oci),
        );
        let blob = |digest: &str| {
            fs::read(
                oci.join("blobs/sha256")
                    .join(digest.trim_start_matches("sha256:")),
            )
            .unwrap()
        };
        let index = json(&fs::read(oci.join("index.json")).unwrap());
        let digest = index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let manifest = json(&blob(&digest));
        let config = json(&blob(manifest["config"]["digest"].as_str().unwrap()));
        let layer = oci.join("blobs/sha256").join(
            manifest["layers"][0]["digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:"),
        );
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        must(
            Command::new("tar")
                .arg("-xf")
                .arg(&layer)
                .arg("-C")
                .arg(&root),
        );
        Unpacked {
            dir,
            digest,
            config,
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A program of the image under qemu-user, with the image's loader and
    /// libraries (qemu's -L looks the absolute paths it loads up in the image).
    fn run(&self, program: &str) -> Command {
        let mut cmd = Command::new(qemu());
        cmd.arg("-L")
            .arg(self.root())
            .arg(self.root().join(program));
        cmd
    }
}

#[test]
fn the_other_binary_runs_under_qemu_and_renders_every_golden_file() {
    if !ready("the other architecture's binary under qemu") {
        return;
    }
    let binary = release().binary(other());
    assert_eq!(
        elf_machine(&binary),
        other().elf_machine,
        "not {}",
        other().cpu
    );
    let version = must(emulated(&binary).arg("--version"));
    assert_eq!(text(&version.stdout), format!("kubealived {VERSION}\n"));

    // Every file in every case directory (as tests/golden.rs renders them:
    // keepalived.conf with --keepalived-conf, the manifests without), as
    // they are on disk now.
    let mut failures = Vec::new();
    let mut compared = 0;
    let actual_dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<PathBuf> = fs::read_dir(repo().join("tests/golden"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    for case in &cases {
        let args: Vec<String> = fs::read_to_string(case.join("args"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        let mut files: Vec<PathBuf> = fs::read_dir(case)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap() != "args")
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: no golden files", case.display());
        for expected in files {
            let name = expected.file_name().unwrap().to_string_lossy().into_owned();
            let mut cmd = emulated(&binary);
            cmd.arg("render").args(&args);
            if name == "keepalived.conf" {
                cmd.arg("--keepalived-conf");
            }
            let out = must(&mut cmd);
            let actual = actual_dir.path().join(format!(
                "{}-{name}",
                case.file_name().unwrap().to_string_lossy()
            ));
            fs::write(&actual, &out.stdout).unwrap();
            let diff = run(Command::new("diff").arg("-u").arg(&expected).arg(&actual));
            if !diff.status.success() {
                failures.push(format!("{}\n{}", expected.display(), text(&diff.stdout)));
            }
            compared += 1;
        }
    }
    eprintln!(
        "{} render under {}: {compared} golden files in {} cases",
        other().cpu,
        qemu(),
        cases.len()
    );
    assert!(compared >= 10, "only {compared} golden files");
    assert!(
        failures.is_empty(),
        "the {} binary renders other files than the golden ones:\n{}",
        other().cpu,
        failures.join("\n")
    );
}

#[test]
fn the_other_images_keepalived_checks_a_rendered_config_under_qemu() {
    if !ready("the other architecture's image under qemu")
        || !prerequisites("keepalived -t under qemu", true, &["ip"])
    {
        return;
    }
    let image = Unpacked::new(&release().image(other()));
    assert_eq!(image.config["architecture"].as_str(), Some(other().oci));
    let root = image.root();
    for program in ["usr/sbin/keepalived", "usr/local/bin/kubealived"] {
        assert_eq!(elf_machine(&root.join(program)), other().elf_machine);
    }
    // kubealived with the image's libraries, not the cross packages'.
    let version = must(image.run("usr/local/bin/kubealived").arg("--version"));
    assert_eq!(text(&version.stdout), format!("kubealived {VERSION}\n"));

    // keepalived -t as in tests/real_tools.rs, on the config the image's
    // kubealived renders, in a namespace that has the interface.
    let rendered = must(image.run("usr/local/bin/kubealived").args([
        "render",
        "--keepalived-conf",
        "--vip",
        "192.0.2.10",
        "--interface",
        "eth0",
    ]));
    let conf_dir = root.join("etc/kubealived");
    fs::create_dir_all(&conf_dir).unwrap();
    fs::write(conf_dir.join("keepalived.conf"), &rendered.stdout).unwrap();
    fs::write(
        conf_dir.join("broken.conf"),
        "global_defs { vrrp_version 3; script_user root }\nvrrp_instance x {\n interface eth0\n virtual_router_id 300\n}\n",
    )
    .unwrap();
    let ns = Netns::new();
    ns.veth("eth0", &["192.0.2.11/24"]);
    // The config by its path on this machine: qemu's -L does not map every
    // lookup keepalived makes (it cannot read /etc/kubealived/... through it).
    let check = |conf: &str| {
        let mut cmd = ns.exec(&qemu());
        cmd.arg("-L")
            .arg(&root)
            .arg(root.join("usr/sbin/keepalived"))
            .args(["-t", "-l", "-f"])
            .arg(conf_dir.join(conf));
        let out = run(&mut cmd);
        (out.status.success(), text(&out.stdout) + &text(&out.stderr))
    };
    let (ok, said) = check("keepalived.conf");
    eprintln!(
        "{} keepalived -t under {}: ok={ok}\n{said}",
        other().deb,
        qemu()
    );
    let warned = [
        "WARNING",
        "Unknown keyword",
        "error",
        "truncat",
        "No such file",
    ]
    .iter()
    .any(|w| said.contains(w));
    assert!(
        ok && !warned,
        "keepalived -t in the {} image: {said}",
        other().deb
    );
    // The same check rejects a broken config: it can fail.
    let (ok, said) = check("broken.conf");
    assert!(
        !ok || said.contains("WARNING") || said.contains("Unknown"),
        "keepalived -t accepted a VRID of 300: {said}"
    );
}

#[test]
fn the_other_deb_and_rpm_carry_its_binary_and_image() {
    if !ready("the other architecture's packages") {
        return;
    }
    let r = release();
    let deb = r.file(&format!("kubealived_{VERSION}-1_{}.deb", other().deb));
    let field = |name: &str| {
        text(&must(Command::new("dpkg-deb").args(["-f"]).arg(&deb).arg(name)).stdout)
            .trim()
            .to_string()
    };
    assert_eq!(field("Architecture"), other().deb);
    assert_eq!(field("Version"), format!("{VERSION}-1"));
    let unpacked = tempfile::tempdir().unwrap();
    must(
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(unpacked.path()),
    );
    assert!(
        fs::read(unpacked.path().join("usr/bin/kubealived")).unwrap()
            == fs::read(r.binary(other())).unwrap(),
        "the .deb carries another binary than the release's"
    );
    assert!(
        fs::read(unpacked.path().join(kubealived::paths::IMAGE_ARCHIVE)).unwrap()
            == fs::read(r.image(other())).unwrap(),
        "the .deb carries another image than the release's {}",
        other().deb
    );
    assert!(unpacked
        .path()
        .join("usr/share/man/man1/kubealived.1.gz")
        .is_file());

    let rpm = r.file(&format!("kubealived-{VERSION}-1.{}.rpm", other().cpu));
    let query = |format: &str| {
        text(&must(Command::new("rpm").args(["-qp", "--qf", format]).arg(&rpm)).stdout)
    };
    assert_eq!(query("%{ARCH}"), other().cpu);
    assert_eq!(query("%{VERSION}"), VERSION);
    let files = text(&must(Command::new("rpm").arg("-qpl").arg(&rpm)).stdout);
    for path in [
        "/usr/bin/kubealived",
        "/usr/share/kubealived/kubealived-image.oci.tar",
    ] {
        assert!(files.contains(path), "the .rpm lacks {path}:\n{files}");
    }
}

/// What the release pushes: packaging/release's multi-arch layout, copied
/// by skopeo with --all --preserve-digests (here into another layout, as
/// no registry runs here).
#[test]
fn the_multi_arch_index_holds_both_images_and_copies_with_its_digests() {
    if !ready("the multi-arch index") {
        return;
    }
    let r = release();
    let top = json(&fs::read(r.index.join("index.json")).unwrap());
    assert_eq!(
        top["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"].as_str(),
        Some(TAG)
    );
    let index_digest = top["manifests"][0]["digest"].as_str().unwrap().to_string();
    let index = json(
        &fs::read(
            r.index
                .join("blobs/sha256")
                .join(index_digest.trim_start_matches("sha256:")),
        )
        .unwrap(),
    );
    let listed: Vec<(String, String)> = index["manifests"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["platform"]["architecture"].as_str().unwrap().to_string(),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut digests = Vec::new();
    for arch in [native(), other()] {
        let built = Unpacked::new(&r.image(arch));
        assert_eq!(built.config["architecture"].as_str(), Some(arch.oci));
        assert!(
            listed.contains(&(arch.oci.to_string(), built.digest.clone())),
            "the index lacks the {} image {}: {listed:?}",
            arch.oci,
            built.digest
        );
        digests.push(format!("{} {}", arch.oci, built.digest));
    }
    assert_eq!(listed.len(), 2, "{listed:?}");
    let arm64 = &index["manifests"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"].as_str() == Some("arm64"))
        .unwrap()["platform"];
    assert_eq!(arm64["variant"].as_str(), Some("v8"));
    eprintln!(
        "image digests: {}; index {index_digest}",
        digests.join(", ")
    );

    let copy = tempfile::tempdir().unwrap();
    must(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--all",
        "--preserve-digests",
        &format!("oci:{}", r.index.display()),
        &format!("oci:{}:copied", copy.path().display()),
    ]));
    let copied = json(&fs::read(copy.path().join("index.json")).unwrap());
    assert_eq!(
        copied["manifests"][0]["digest"].as_str(),
        Some(index_digest.as_str()),
        "skopeo changed the index digest"
    );
}

/// The image says what it was built from, and that rebuilds it: its record
/// (the file and the labels) names the Debian packages and the date of the
/// package lists; a build from that record alone, with packages downloaded
/// afresh, gives the same bytes and digest.
#[test]
fn the_image_rebuilt_from_its_record_has_the_same_digest() {
    if !ready("the rebuild from the image's record") {
        return;
    }
    let r = release();
    let archive = r.image(other());
    let image = Unpacked::new(&archive);
    let record = fs::read_to_string(
        image
            .root()
            .join("usr/share/kubealived/debian-packages.txt"),
    )
    .expect("the image has no record of its Debian packages");
    let printed = must(
        Command::new("python3")
            .arg(repo().join("packaging/container/image.py"))
            .arg("packages")
            .arg(&archive),
    );
    assert_eq!(text(&printed.stdout), record, "image.py packages");
    let field = |key: &str| {
        record
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("the record lacks {key}:\n{record}"))
            .to_string()
    };
    assert_eq!(field("architecture"), other().deb);
    let date = field("package-lists-date");
    assert!(
        date.len() == 20 && date.starts_with("20") && date.ends_with('Z'),
        "{date}"
    );
    let packages: Vec<&str> = record.lines().filter(|l| l.contains('=')).collect();
    let labels = &image.config["config"]["Labels"];
    assert_eq!(
        labels["io.github.kubealived.debian.packages"].as_str(),
        Some(packages.join(" ").as_str())
    );
    assert_eq!(
        labels["io.github.kubealived.debian.package-lists-date"].as_str(),
        Some(date.as_str())
    );
    // Every package the image holds files of (its dpkg status) is recorded
    // at the version it holds.
    let status = image.root().join("var/lib/dpkg/status.d");
    let mut held = 0;
    for entry in fs::read_dir(&status).unwrap() {
        let control = fs::read_to_string(entry.unwrap().path()).unwrap();
        let get = |k: &str| {
            control
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                .unwrap()
                .to_string()
        };
        let pinned = format!("{}={}", get("Package"), get("Version"));
        assert!(
            packages.contains(&pinned.as_str()),
            "{pinned} is not recorded"
        );
        held += 1;
    }
    assert!(packages.iter().any(|p| p.starts_with("keepalived=")) && held > 5);

    let dir = tempfile::tempdir().unwrap();
    let record_file = dir.path().join("debian-packages.txt");
    fs::write(&record_file, &record).unwrap();
    let again = dir.path().join("again.oci.tar");
    // Its own cache: the packages are downloaded again by the recorded versions.
    let out = must(
        Command::new(repo().join("packaging/container/build"))
            .arg("--packages")
            .arg(&record_file)
            .arg("--cache")
            .arg(dir.path().join("cache"))
            .arg("--bin")
            .arg(r.binary(other()))
            .arg("--out")
            .arg(&again),
    );
    let rebuilt = Unpacked::new(&again);
    eprintln!(
        "{} image {} (lists of {date}); rebuilt from its record: {}\n{}",
        other().deb,
        image.digest,
        rebuilt.digest,
        text(&out.stdout)
    );
    assert_eq!(rebuilt.digest, image.digest, "the rebuild's digest differs");
    assert!(
        fs::read(&again).unwrap() == fs::read(&archive).unwrap(),
        "the rebuild's archive differs"
    );
}

/// One code path: the release workflow builds both architectures and the
/// multi-arch layout with the command these tests run, with the tools
/// scripts/setup installs, and pushes that layout as built.
#[test]
fn the_release_workflow_builds_what_these_tests_run() {
    let read = |path: &str| fs::read_to_string(repo().join(path)).unwrap();
    let release: Value = serde_yaml_ng::from_str(&read(".github/workflows/release.yml")).unwrap();
    let steps = |job: &str| -> Vec<String> {
        release["jobs"][job]["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|s| s["run"].as_str().map(str::to_string))
            .collect()
    };
    let build = steps("build");
    for command in [
        "scripts/cross-tools",
        "packaging/release --arch x86_64 --arch aarch64 --index image-index dist",
    ] {
        assert!(
            build.iter().any(|s| s.trim() == command),
            "release.yml's build job does not run {command}: {build:?}"
        );
    }
    assert!(
        release["jobs"]["build"]["strategy"].is_null(),
        "one build job for both architectures, not a matrix"
    );
    let publish = steps("publish").join("\n");
    assert!(
        publish.contains("oci:image-index") && !publish.contains("image.py index"),
        "publish pushes packaging/release's layout, it does not build another:\n{publish}"
    );
    assert!(read("scripts/setup").contains("\"$repo/scripts/cross-tools\""));
}
