//! What operators install: the systemd unit (systemd-analyze verify), the
//! cloud-init example (cloud-init schema), the man pages and completions
//! (generated from the CLI), and the .deb and .rpm (built with cargo-deb and
//! cargo-generate-rpm, the .deb installed with dpkg into a throwaway root).

mod common;
use common::*;
use std::fs;
use std::process::Command;

const VERSION: &str = env!("CARGO_PKG_VERSION");

const SUBCOMMANDS: [&str; 6] = [
    "install",
    "render",
    "uninstall",
    "status",
    "check-apiserver",
    "generate",
];

#[test]
fn the_boot_unit_passes_systemd_analyze_verify() {
    if !prerequisites("systemd-analyze verify", false, &["systemd-analyze", "man"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // verify insists that ExecStart's binary and Documentation's man page
    // exist: point it at this build and at freshly generated pages.
    let man1 = dir.path().join("man/man1");
    fs::create_dir_all(&man1).unwrap();
    must(
        Command::new(BIN)
            .args(["generate", "man", "--out-dir"])
            .arg(&man1),
    );
    let unit = fs::read_to_string(repo().join("systemd/kubealived.service")).unwrap();
    for needle in [
        "Type=oneshot",
        "RemainAfterExit=yes",
        "Before=kubelet.service",
        "After=network-online.target containerd.service crio.service",
        "ConditionPathExists=/etc/kubealived/config.yaml",
        "ExecStart=/usr/bin/kubealived install\n",
        "Documentation=man:kubealived(1)",
    ] {
        assert!(unit.contains(needle), "the unit lacks {needle:?}");
    }
    let copy = dir.path().join("kubealived.service");
    fs::write(&copy, unit.replace("/usr/bin/kubealived", BIN)).unwrap();
    let out = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .env("MANPATH", dir.path().join("man")));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn the_cloud_init_example_passes_the_schema() {
    if !prerequisites("cloud-init schema", false, &["cloud-init"]) {
        return;
    }
    let file = repo().join("packaging/cloud-init/control-plane.yaml");
    let out = run(Command::new("cloud-init")
        .args(["schema", "--config-file"])
        .arg(&file));
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let example = fs::read_to_string(&file).unwrap();
    assert!(example.contains("kubealived, install") && example.contains("kubeadm, init"));
}

#[test]
fn man_pages_and_completions_come_from_the_cli() {
    let man = text(&must(Command::new(BIN).args(["generate", "man"])).stdout);
    assert!(
        man.starts_with(".ie") && man.contains(".TH kubealived 1"),
        "not a roff page:\n{man}"
    );
    let dir = tempfile::tempdir().unwrap();
    must(
        Command::new(BIN)
            .args(["generate", "man", "--out-dir"])
            .arg(dir.path()),
    );
    for sub in SUBCOMMANDS {
        assert!(
            man.contains(&sub.replace('-', "\\-")),
            "the man page does not name {sub}"
        );
        let page = fs::read_to_string(dir.path().join(format!("kubealived-{sub}.1"))).unwrap();
        assert!(
            page.contains(".SH OPTIONS") || sub == "generate",
            "{sub}'s page has no options"
        );
    }
    let install = fs::read_to_string(dir.path().join("kubealived-install.1")).unwrap();
    for flag in ["vip", "interface", "peer", "dry\\-run", "kubeadm\\-config"] {
        assert!(
            install.contains(flag),
            "kubealived-install.1 lacks --{flag}"
        );
    }
    for shell in ["bash", "zsh", "fish"] {
        let script = text(&must(Command::new(BIN).args(["generate", shell])).stdout);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "the {shell} completion lacks {sub}");
        }
    }
}

/// A reader that stops early (`| head -1`), a full disk and `--out-dir`
/// for every artifact: no panic, a clear error, files where asked.
#[test]
fn generate_survives_a_closed_pipe_a_full_disk_and_writes_into_dirs() {
    for what in ["man", "bash", "zsh", "fish"] {
        // The reader is gone before anything is written, as when `head -1`
        // has its line: every write fails with EPIPE, whatever its size.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(BIN)
            .args(["generate", what])
            .stdout(writer)
            .output()
            .unwrap();
        assert_eq!(
            (out.status.code(), text(&out.stderr)),
            (Some(0), String::new()),
            "generate {what} | head -1"
        );

        let full = Command::new(BIN)
            .args(["generate", what])
            .stdout(fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = text(&full.stderr);
        assert_eq!(
            full.status.code(),
            Some(1),
            "generate {what} > /dev/full: {err}"
        );
        assert!(
            err.contains("cannot write") && !err.contains("panicked"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        must(
            Command::new(BIN)
                .args(["generate", what, "--out-dir"])
                .arg(dir.path()),
        );
        assert!(
            fs::read_dir(dir.path()).unwrap().count() > 0,
            "generate {what} --out-dir wrote nothing"
        );
    }
    let missing = Command::new(BIN)
        .args(["generate", "bash", "--out-dir", "/nonexistent/completions"])
        .output()
        .unwrap();
    let err = text(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{err}");
    assert!(
        err.contains("/nonexistent/completions") && err.contains("Fix: create it"),
        "{err}"
    );
}

/// The packages and the release files, built once by packaging/release
/// (release build and image, a few minutes on 2 cores).
#[test]
fn the_deb_and_rpm_ship_the_binary_unit_docs_and_no_runtime_state() {
    if !prerequisites(
        "packages",
        true,
        &["cargo-deb", "cargo-generate-rpm", "dpkg", "dpkg-deb", "rpm"],
    ) {
        return;
    }
    let repo = repo();
    // Exactly what the release workflow runs on each architecture.
    let out_dir = tempfile::tempdir().unwrap();
    must(Command::new(repo.join("packaging/release")).arg(out_dir.path()));
    let find = |ext: &str| {
        fs::read_dir(out_dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .unwrap_or_else(|| panic!("no .{ext} built"))
    };
    let released = |prefix: &str, suffix: &str| {
        fs::read_dir(out_dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with(&format!("{prefix}{}-", env!("CARGO_PKG_VERSION")))
                    && name.ends_with(suffix)
            })
            .unwrap_or_else(|| panic!("the release lacks {prefix}<version>-<arch>{suffix}"))
    };
    let binary = released("kubealived-", "-linux");
    assert!(must(Command::new(&binary).arg("--version"))
        .stdout
        .starts_with(format!("kubealived {VERSION}\n").as_bytes()));
    let image = fs::read(released("kubealived-image-", ".oci.tar")).unwrap();
    assert!(image.len() > 1_000_000, "the image archive is too small");
    let (deb, rpm) = (find("deb"), find("rpm"));
    let shipped = [
        "/usr/bin/kubealived",
        "/kubealived.service",
        "/usr/share/man/man1/kubealived.1.gz",
        "/usr/share/man/man1/kubealived-install.1.gz",
        "/usr/share/bash-completion/completions/kubealived",
        "_kubealived",
        "/usr/share/fish/vendor_completions.d/kubealived.fish",
        "/usr/share/doc/kubealived/README.md",
        "/usr/share/kubealived/kubealived-image.oci.tar",
    ];

    // .deb: contents, control fields, no conffiles, and a real dpkg -i into
    // a throwaway root (maintainer scripts run outside it, with DPKG_ROOT set).
    let contents = text(&must(Command::new("dpkg-deb").arg("-c").arg(&deb)).stdout);
    for path in shipped {
        assert!(
            contents.contains(path),
            "the .deb lacks {path}:\n{contents}"
        );
    }
    assert!(
        !contents.contains("./etc/"),
        "the .deb ships files under /etc:\n{contents}"
    );
    let control = text(&must(Command::new("dpkg-deb").arg("-I").arg(&deb)).stdout);
    for field in [
        "Package: kubealived".to_string(),
        format!("Version: {VERSION}"),
        "Section: admin".into(),
        "Maintainer:".into(),
        "Description:".into(),
    ] {
        assert!(
            control.contains(&field),
            "control lacks {field}:\n{control}"
        );
    }
    assert!(
        !control.contains("conffiles"),
        "the .deb declares conffiles:\n{control}"
    );
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for dir in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
    ] {
        fs::create_dir_all(r.join(dir)).unwrap();
    }
    fs::write(r.join("var/lib/dpkg/status"), "").unwrap();
    let dpkg = |args: &[&str]| {
        must(
            Command::new("dpkg")
                .arg(format!("--root={}", r.display()))
                .args([
                    "--force-script-chrootless",
                    "--force-not-root",
                    "--force-depends",
                    "--no-triggers",
                ])
                .args(args),
        )
    };
    dpkg(&["-i", deb.to_str().unwrap()]);
    let listed = text(
        &must(
            Command::new("dpkg")
                .arg(format!("--root={}", r.display()))
                .args(["-L", "kubealived"]),
        )
        .stdout,
    );
    for path in shipped {
        assert!(listed.contains(path), "dpkg -L lacks {path}:\n{listed}");
    }
    assert!(
        fs::read(r.join("usr/share/kubealived/kubealived-image.oci.tar")).unwrap() == image,
        "the .deb carries another image archive than the release"
    );
    let installed = r.join("usr/bin/kubealived");
    assert!(must(Command::new(&installed).arg("--version"))
        .stdout
        .starts_with(format!("kubealived {VERSION}\n").as_bytes()));
    // Enabled for the next boot, never started or restarted by the package.
    let ctl = r.join("var/lib/dpkg/info/kubealived.postinst");
    let postinst = fs::read_to_string(&ctl).unwrap();
    assert!(
        postinst.contains("deb-systemd-helper enable kubealived.service"),
        "{postinst}"
    );
    for verb in ["start", "restart"] {
        assert!(
            !postinst.contains(&format!("deb-systemd-invoke {verb}"))
                && !postinst.contains(&format!("deb-systemd-invoke try-{verb}")),
            "postinst may {verb} the unit:\n{postinst}"
        );
    }
    // Purge removes what install wrote, inside that root only.
    let etc = r.join("etc/kubealived");
    fs::create_dir_all(&etc).unwrap();
    fs::write(etc.join("config.yaml"), "vips: [192.0.2.10]\n").unwrap();
    let manifests = r.join("etc/kubernetes/manifests");
    fs::create_dir_all(&manifests).unwrap();
    fs::write(
        manifests.join("kubealived.yaml"),
        "metadata:\n  labels:\n    app.kubernetes.io/managed-by: kubealived\n",
    )
    .unwrap();
    fs::write(manifests.join("etcd.yaml"), "kubeadm's\n").unwrap();
    dpkg(&["-P", "kubealived"]);
    assert!(!installed.exists(), "purge left the binary");
    assert!(
        !etc.exists() && !manifests.join("kubealived.yaml").exists(),
        "purge left kubealived's files"
    );
    assert!(
        manifests.join("etcd.yaml").exists(),
        "purge removed a file that is not kubealived's"
    );

    // .rpm: contents, metadata, no config files.
    let files = text(&must(Command::new("rpm").args(["-qpl"]).arg(&rpm)).stdout);
    for path in shipped
        .iter()
        .chain(&["/usr/share/licenses/kubealived/LICENSE"])
    {
        assert!(files.contains(path), "the .rpm lacks {path}:\n{files}");
    }
    let info = text(&must(Command::new("rpm").args(["-qpi"]).arg(&rpm)).stdout);
    for field in [
        "Name        : kubealived".to_string(),
        format!("Version     : {VERSION}"),
        "License     : Apache-2.0".into(),
        "Summary     :".into(),
    ] {
        assert!(info.contains(&field), "rpm -qpi lacks {field:?}:\n{info}");
    }
    let config = text(&must(Command::new("rpm").args(["-qpc"]).arg(&rpm)).stdout);
    assert!(
        config.trim().is_empty() || config.contains("(contains no files)"),
        "the .rpm declares config files: {config}"
    );
}

/// The workflows cannot run here: actionlint checks them (and the shell in
/// their `run:` steps, with shellcheck), and shellcheck every script they
/// call, found by following script paths from the workflows on.
#[test]
fn workflows_pass_actionlint_and_the_scripts_they_call_pass_shellcheck() {
    if !prerequisites("workflow lint", false, &["actionlint", "shellcheck"]) {
        return;
    }
    let repo = repo();
    let out = run(Command::new("actionlint").current_dir(&repo));
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let workflows = [".github/workflows/ci.yml", ".github/workflows/release.yml"];
    let mut queue: Vec<String> = workflows.iter().map(|w| w.to_string()).collect();
    let mut scripts = std::collections::BTreeSet::new();
    while let Some(file) = queue.pop() {
        let body = fs::read_to_string(repo.join(&file)).unwrap();
        for word in body.split(|c: char| c.is_whitespace() || "\"'$(){};|&<>".contains(c)) {
            let word = word.trim_start_matches("./");
            let candidate = repo.join(word);
            let known = ["scripts/", "packaging/", ".ci/"]
                .iter()
                .any(|d| word.starts_with(d));
            if known && candidate.is_file() && scripts.insert(word.to_string()) {
                queue.push(word.to_string());
            }
        }
    }
    for needed in [
        "scripts/setup",
        "scripts/test",
        "packaging/release",
        "packaging/build-assets",
        "packaging/container/build",
        "packaging/container/image.py",
    ] {
        assert!(
            scripts.contains(needed),
            "not reached from the workflows: {needed} (found {scripts:?})"
        );
    }
    let shell: Vec<&String> = scripts
        .iter()
        .filter(|s| {
            fs::read_to_string(repo.join(s))
                .unwrap()
                .starts_with("#!/usr/bin/env bash")
        })
        .collect();
    assert!(shell.len() >= 5, "{shell:?}");
    let out = run(Command::new("shellcheck").args(&shell).current_dir(&repo));
    assert!(
        out.status.success(),
        "shellcheck {shell:?}:\n{}",
        text(&out.stdout)
    );
    let python: Vec<&String> = scripts.iter().filter(|s| s.ends_with(".py")).collect();
    for script in python {
        must(
            Command::new("python3")
                .args(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())"])
                .arg(repo.join(script)),
        );
    }
}

/// zizmor, the security linter for GitHub Actions, offline (its online
/// audits ask GitHub's API): no finding of medium severity or above in
/// `.github/workflows`.
#[test]
fn workflows_pass_zizmor() {
    let zizmor = venv_tool("zizmor");
    if !prerequisites("zizmor workflow audit", false, &[&zizmor]) {
        return;
    }
    let out = run(Command::new(&zizmor)
        .args([
            "--offline",
            "--no-config",
            "--no-progress",
            "--color",
            "never",
        ])
        .args(["--min-severity", "medium", ".github/workflows"])
        .current_dir(repo()));
    assert!(
        out.status.success(),
        "zizmor found medium or high findings ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// What a release is built and signed with cannot move under it: every
/// action of another repository is pinned to a commit (its tag in a
/// comment), every container to a digest, both workflows use the same Rust
/// toolchain, and the cargo tools' versions live in scripts/cargo-tools
/// alone. Publishing waits for CI on the tag's commit, in the protected
/// environment, and is the only job that may write; the README and
/// reliability.md verify the exact tag's workflow, not a pattern.
#[test]
fn workflows_pin_what_they_run_and_publish_after_ci() {
    use serde_yaml_ng::Value;
    let repo = repo();
    let read = |path: &str| fs::read_to_string(repo.join(path)).unwrap();
    let mut toolchains = std::collections::BTreeSet::new();
    for file in [".github/workflows/ci.yml", ".github/workflows/release.yml"] {
        let body = read(file);
        for line in body.lines().map(str::trim) {
            let line = line.trim_start_matches("- ");
            if let Some(uses) = line.strip_prefix("uses: ") {
                if uses.starts_with("./") {
                    continue;
                }
                let (action, rest) = uses.split_once('@').unwrap_or((uses, ""));
                let (sha, comment) = rest.split_once(" # ").unwrap_or((rest, ""));
                assert!(
                    sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{file}: {action} is not pinned to a full commit: {line}"
                );
                assert!(!comment.trim().is_empty(), "{file}: no tag comment: {line}");
                if action == "dtolnay/rust-toolchain" {
                    toolchains.insert(uses.to_string());
                }
            }
            if let Some(image) = line.strip_prefix("image: ") {
                let digest = image.split_once("@sha256:").map(|(_, d)| d).unwrap_or("");
                assert!(
                    digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{file}: the container is not pinned to a digest: {line}"
                );
            }
        }
        assert!(
            !body.contains("cargo install") && !body.contains("install-action"),
            "{file} installs cargo tools itself; scripts/cargo-tools pins them"
        );
        let yaml: Value = serde_yaml_ng::from_str(&body).unwrap();
        for (name, job) in yaml["jobs"].as_mapping().unwrap() {
            let name = name.as_str().unwrap();
            let writes = job["permissions"]
                .as_mapping()
                .is_some_and(|p| p.values().any(|v| v.as_str() == Some("write")));
            assert!(
                !writes || (file.ends_with("release.yml") && name == "publish"),
                "{file}: job {name} may write; only release's publish may"
            );
            for step in job["steps"].as_sequence().into_iter().flatten() {
                if step["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("actions/checkout@"))
                {
                    assert_eq!(
                        step["with"]["persist-credentials"].as_bool(),
                        Some(false),
                        "{file}: job {name} checks out with the token left in .git/config"
                    );
                }
            }
        }
    }
    assert_eq!(
        toolchains.len(),
        1,
        "the workflows' Rust toolchains differ: {toolchains:?}"
    );
    assert!(read("scripts/setup").contains("\"$repo/scripts/cargo-tools\""));

    let ci: Value = serde_yaml_ng::from_str(&read(".github/workflows/ci.yml")).unwrap();
    assert!(
        ci["on"].as_mapping().unwrap().contains_key("workflow_call"),
        "release.yml calls ci.yml: it needs on: workflow_call"
    );
    let steps = format!("{:?}", ci["jobs"]["test"]["steps"]);
    assert!(
        steps.contains("cargo deny --locked check advisories"),
        "{steps}"
    );

    let release: Value = serde_yaml_ng::from_str(&read(".github/workflows/release.yml")).unwrap();
    assert_eq!(
        release["permissions"].as_mapping().map(|m| m.len()),
        Some(0),
        "release.yml: top-level permissions must be {{}}"
    );
    assert_eq!(
        release["jobs"]["ci"]["uses"].as_str(),
        Some("./.github/workflows/ci.yml")
    );
    let publish = &release["jobs"]["publish"];
    assert_eq!(publish["environment"].as_str(), Some("release"));
    let needs: Vec<&str> = publish["needs"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        needs.contains(&"ci") && needs.contains(&"build"),
        "{needs:?}"
    );
    assert!(
        format!("{:?}", release["jobs"]["build"]["steps"])
            .contains("scripts/cargo-tools cargo-deb cargo-generate-rpm"),
        "the release builds with scripts/cargo-tools' cargo-deb and cargo-generate-rpm"
    );

    let identity =
        "https://github.com/kubealived/kubealived/.github/workflows/release.yml@refs/tags/v";
    for doc in ["README.md", "docs/reliability.md"] {
        let body = read(doc);
        assert!(
            !body.contains("certificate-identity-regexp"),
            "{doc}: a pattern accepts any tag's (or branch's) signature; name the tag"
        );
        assert!(
            body.contains(&format!("{identity}$v"))
                && body.matches("--certificate-identity ").count() >= 2,
            "{doc}: verify both signatures against {identity}$v"
        );
    }
}
