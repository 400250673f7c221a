//! The commands run in-process on a [`FakeHost`] and a temp root: no root,
//! no network namespace. What needs the real kernel (detection through
//! getifaddrs, crashes, modes as root) is in tests/install_netns.rs.

use super::{run, Cli};
use crate::host::FakeHost;
use crate::paths::{CONFIG_DIR, KEEPALIVED_CONF, MANIFEST, SAVED_CONFIG};
use anyhow::Result;
use clap::Parser;
use std::path::Path;

fn host() -> FakeHost {
    FakeHost::default()
        .with("lo", &["127.0.0.1/8"])
        .with("eth0", &["192.0.2.11/24", "2001:db8::11/64"])
}

/// `kubealived ARGS --root ROOT` on the fake host: (result, stdout).
fn kubealived(root: &Path, args: &[&str]) -> (Result<()>, String) {
    let root = root.to_str().unwrap();
    let cli = Cli::try_parse_from(
        ["kubealived"]
            .iter()
            .chain(args)
            .chain(&["--root", root])
            .copied(),
    )
    .unwrap();
    let mut out = Vec::new();
    let result = run(&cli, &host(), &mut out);
    (result, String::from_utf8(out).unwrap())
}

fn ok(root: &Path, args: &[&str]) -> String {
    let (result, out) = kubealived(root, args);
    if let Err(e) = result {
        panic!("{args:?} failed: {e:#}\n{out}");
    }
    out
}

#[test]
fn install_status_dry_run_and_uninstall_agree_on_the_owned_files() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let out = ok(
        r,
        &[
            "install",
            "--vip",
            "192.0.2.10",
            "--peer",
            "192.0.2.11",
            "--peer",
            "192.0.2.12",
        ],
    );
    for file in [SAVED_CONFIG, KEEPALIVED_CONF, MANIFEST] {
        assert!(
            out.contains(&format!("created   {}", r.join(file).display())),
            "{out}"
        );
    }
    let summary = "VRRPv3, router id 10, priority 250, advert 0.3 s, unicast to 192.0.2.12";
    assert!(
        out.contains(&format!("VIP 192.0.2.10 on eth0 ({summary}).")),
        "{out}"
    );
    let conf = std::fs::read_to_string(r.join(KEEPALIVED_CONF)).unwrap();
    assert!(conf.contains("unicast_src_ip 192.0.2.11"), "{conf}");

    // status prints the same summary, and every file is current.
    let status = ok(r, &["status"]);
    assert!(
        status.contains(&format!("vrrp             {summary}")),
        "{status}"
    );
    assert_eq!(status.matches(" current").count(), 2, "{status}");
    assert!(status.contains("192.0.2.10 on eth0: not held by this node"));

    // A dry run of the same settings finds nothing to change.
    let dry = ok(r, &["install", "--dry-run"]);
    assert_eq!(dry.matches("unchanged").count(), 3, "{dry}");

    // A stale keepalived.conf makes status fail and say which file.
    std::fs::write(r.join(KEEPALIVED_CONF), "edited\n").unwrap();
    let (result, status) = kubealived(r, &["status"]);
    assert!(result.is_err(), "{status}");
    assert!(
        status.contains(&format!("{} stale", r.join(KEEPALIVED_CONF).display())),
        "{status}"
    );

    let out = ok(r, &["uninstall"]);
    assert_eq!(out.matches("removed").count(), 3, "{out}");
    assert!(!r.join(CONFIG_DIR).exists(), "uninstall left {CONFIG_DIR}");
    let (result, status) = kubealived(r, &["status"]);
    assert!(
        result.is_err() && status.contains("not installed"),
        "{status}"
    );
}

#[test]
fn install_sweeps_temp_files_a_crash_left() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(r, &["install", "--vip", "192.0.2.10"]);
    let stray = r.join("etc/kubernetes/manifests/.kubealived.yaml.kubealived-tmp");
    std::fs::write(&stray, "half").unwrap();
    ok(r, &["install"]);
    assert!(!stray.exists(), "install left the temp file");
    std::fs::write(&stray, "half").unwrap();
    ok(r, &["uninstall"]);
    assert!(!stray.exists(), "uninstall left the temp file");
}

/// uninstall decides whether the manifest is ours under the lock: an
/// `install --force` that held the lock meanwhile may have replaced a
/// foreign manifest with ours, which uninstall must then remove.
#[test]
fn uninstall_judges_the_manifest_under_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().to_path_buf();
    ok(&r, &["install", "--vip", "192.0.2.10"]);
    let ours = std::fs::read(r.join(MANIFEST)).unwrap();
    std::fs::write(
        r.join(MANIFEST),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
    )
    .unwrap();
    // An install --force in progress: it holds the lock while uninstall starts.
    let held = crate::write::lock(&crate::paths::Root::new(&r)).unwrap();
    let uninstall = {
        let r = r.clone();
        std::thread::spawn(move || ok(&r, &["uninstall"]))
    };
    crate::write::waiters::wait_for_waiter(&crate::paths::Root::new(&r));
    crate::write::write_atomic(&r.join(MANIFEST), &ours).unwrap();
    drop(held);
    let out = uninstall.join().unwrap();
    assert!(
        !r.join(MANIFEST).exists(),
        "uninstall left kubealived's own manifest:\n{out}"
    );
}

#[test]
fn status_fails_on_a_missing_or_foreign_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(r, &["install", "--vip", "192.0.2.10"]);
    let manifest = r.join(MANIFEST);
    for (content, says) in [
        (None, "missing (run `kubealived install`"),
        (
            Some("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"),
            "not written by kubealived",
        ),
    ] {
        match content {
            None => std::fs::remove_file(&manifest).unwrap(),
            Some(text) => std::fs::write(&manifest, text).unwrap(),
        }
        let (result, out) = kubealived(r, &["status"]);
        assert!(result.is_err(), "{out}");
        assert!(
            out.contains(&format!("{} {says}", manifest.display())),
            "{out}"
        );
        assert_eq!(out.matches(" current").count(), 1, "{out}");
    }
}

/// `kubealived render ARGS` on the fake host (render takes no --root).
fn render(args: &[&str]) -> Result<String> {
    let cli = Cli::try_parse_from(["kubealived", "render"].iter().chain(args).copied()).unwrap();
    let mut out = Vec::new();
    run(&cli, &host(), &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

/// Render without --interface detects on this host, so it resolves the
/// unicast source and the peers the way install does.
#[test]
fn render_on_this_host_writes_the_keepalived_conf_install_writes() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let args = [
        "--vip",
        "192.0.2.10",
        "--peer",
        "192.0.2.11",
        "--peer",
        "192.0.2.12",
        "--peer",
        "192.0.2.13",
    ];
    ok(r, &[&["install"], &args[..]].concat());
    let installed = std::fs::read_to_string(r.join(KEEPALIVED_CONF)).unwrap();
    assert!(
        installed.contains("unicast_src_ip 192.0.2.11")
            && !installed.contains("        192.0.2.11\n"),
        "{installed}"
    );
    let rendered = render(&[&["--keepalived-conf"], &args[..]].concat()).unwrap();
    assert_eq!(rendered, installed);
}

/// `kubealived ARGS --root ROOT` on `host`: (result, stdout).
fn kubealived_on(host: &FakeHost, root: &Path, args: &[&str]) -> (Result<()>, String) {
    let root = root.to_str().unwrap();
    let tail = ["--root", root];
    let argv = ["kubealived"].iter().chain(args).chain(&tail);
    let cli = Cli::try_parse_from(argv.copied()).unwrap();
    let mut out = Vec::new();
    let result = run(&cli, host, &mut out);
    (result, String::from_utf8(out).unwrap())
}

/// keepalived's verdict, where the host has one, comes before any write;
/// what it says reaches the message, the password never does.
#[test]
fn install_refuses_a_config_keepalived_rejects_and_writes_nothing() {
    use crate::host::ConfigTest;
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let said = "(keepalived.conf: Line 19) WARNING - interface eth0 for vrrp_instance kubealived \
                doesn't exist\nNon-existent interface specified in configuration";
    let rejecting = host().keepalived_says(ConfigTest::Failed(said.into()));
    for dry_run in [true, false] {
        let mut args = vec!["install", "--vip", "192.0.2.10"];
        args.extend(dry_run.then_some("--dry-run"));
        let (result, out) = kubealived_on(&rejecting, r, &args);
        let err = result.unwrap_err();
        assert!(crate::error::is_usage(&err), "{err:#}");
        let msg = err.to_string();
        assert!(
            msg.contains(said) && msg.contains("Fix:") && msg.contains("render --keepalived-conf"),
            "{msg}"
        );
        assert!(out.is_empty(), "{out}");
        assert!(std::fs::read_dir(r).unwrap().next().is_none(), "wrote");
    }

    let leaky = host().keepalived_says(ConfigTest::Failed(
        "(Line 30) auth_pass 'Pw-8c3x9' is odd".into(),
    ));
    let args = [
        "install",
        "--vip",
        "192.0.2.10",
        "--vrrp-version",
        "2",
        "--password",
        "Pw-8c3x9",
    ];
    let msg = kubealived_on(&leaky, r, &args).0.unwrap_err().to_string();
    assert!(
        !msg.contains("Pw-8c3x9") && msg.contains("auth_pass '<password>' is odd"),
        "{msg}"
    );

    // Accepted, even with a remark: installed.
    let accepting = host().keepalived_says(ConfigTest::Passed("a remark".into()));
    let (result, out) = kubealived_on(&accepting, r, &["install", "--vip", "192.0.2.10"]);
    assert!(result.is_ok() && out.contains("created"), "{out}");
}

/// The kernel's verdict on the agent's nftables tables (`nft --check`,
/// where the host has nft) comes before any write: a kernel that refuses
/// the balancing's NAT is exit 2 naming the flag and the modules, not an
/// install that succeeds and never balances. Without the options nothing
/// is asked.
#[test]
fn install_refuses_nftables_tables_the_kernel_rejects_and_writes_nothing() {
    use crate::host::ConfigTest;
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let said = "Error: Could not process rule: No such file or directory\n\
                add chain inet kubealived_lb prerouting { type nat hook prerouting priority dstnat; }";
    let refusing = host().nft_says(ConfigTest::Failed(said.into()));
    let peers = ["--peer", "192.0.2.11", "--peer", "192.0.2.12"];
    for (flag, dry_run) in [
        ("--load-balance", true),
        ("--load-balance", false),
        ("--vrrp-filter", false),
    ] {
        let mut args = vec!["install", "--vip", "192.0.2.10", flag];
        args.extend(peers);
        args.extend(dry_run.then_some("--dry-run"));
        let (result, out) = kubealived_on(&refusing, r, &args);
        let err = result.unwrap_err();
        assert!(crate::error::is_usage(&err), "{err:#}");
        let msg = err.to_string();
        assert!(
            msg.contains(said)
                && msg.contains(&format!("the nftables table {flag} needs"))
                && msg.contains("modprobe")
                && msg.contains(&format!("or install without {flag}")),
            "{msg}"
        );
        assert!(out.is_empty(), "{out}");
        assert!(std::fs::read_dir(r).unwrap().next().is_none(), "wrote");
    }
    // Neither option: the kernel is not asked.
    let (result, out) = kubealived_on(&refusing, r, &["install", "--vip", "192.0.2.10"]);
    assert!(result.is_ok() && out.contains("created"), "{out}");
}

#[test]
fn install_puts_the_packaged_image_into_the_runtime_before_the_manifest() {
    use crate::paths::IMAGE_ARCHIVE;
    use crate::runtime::FakeRuntime;
    use std::rc::Rc;
    let image = crate::config::default_image();
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::create_dir_all(r.join(IMAGE_ARCHIVE).parent().unwrap()).unwrap();
    let digest = "sha256:84aa9747dad263cc3c504b016ccea96889180b6c29bf56d565b7df61634e0e3f";
    let archive = crate::runtime::archive::tests::tar_naming(&image, digest);
    std::fs::write(r.join(IMAGE_ARCHIVE), archive).unwrap();

    // The import fails: an error, and nothing written.
    let broken = Rc::new(FakeRuntime::default());
    let (result, out) = kubealived_on(
        &host().runtime(broken.clone()),
        r,
        &["install", "--vip", "192.0.2.10"],
    );
    let err = result.unwrap_err();
    assert!(
        !crate::error::is_usage(&err),
        "a runtime failure, not bad input: {out}"
    );
    let err = format!("{err:#}");
    assert!(
        err.contains("cannot import") && err.contains("Fix:"),
        "{err}"
    );
    assert!(!r.join(MANIFEST).exists() && !r.join(SAVED_CONFIG).exists());
    assert_eq!(broken.imports.borrow().len(), 1);

    // It works: imported once, then present; status says so.
    let runtime = Rc::new(FakeRuntime {
        import_adds: Some(format!("{image}@{digest}")),
        ..Default::default()
    });
    let host = host().runtime(runtime.clone());
    let (result, out) = kubealived_on(&host, r, &["install", "--dry-run", "--vip", "192.0.2.10"]);
    assert!(
        result.is_ok() && out.contains(&format!("import    {image}@{digest} into fake")),
        "{out}"
    );
    assert!(runtime.imports.borrow().is_empty(), "dry-run imported");
    let (result, out) = kubealived_on(&host, r, &["install", "--vip", "192.0.2.10"]);
    assert!(result.is_ok(), "{out}");
    let imported = out
        .find(&format!("imported  {image}@{digest} into fake"))
        .expect(&out);
    let manifest = out.find("created   ").expect(&out);
    assert!(
        imported < manifest,
        "the manifest came before the image:\n{out}"
    );
    // The manifest pins the archive's digest; the settings never hold it.
    let manifest_text = std::fs::read_to_string(r.join(MANIFEST)).unwrap();
    assert!(
        manifest_text.contains(&format!("image: {image}@{digest}\n")),
        "{manifest_text}"
    );
    assert!(!std::fs::read_to_string(r.join(SAVED_CONFIG))
        .unwrap()
        .contains("image"));
    // Again with the same archive: nothing imported, nothing written.
    let (result, out) = kubealived_on(&host, r, &["install"]);
    assert!(
        result.is_ok() && out.contains(&format!("present   {image}@{digest} in fake")),
        "{out}"
    );
    assert_eq!(out.matches("unchanged ").count(), 3, "{out}");
    assert_eq!(runtime.imports.borrow().len(), 1);
    let (result, out) = kubealived_on(&host, r, &["status"]);
    assert!(
        result.is_ok()
            && out.contains(&format!(
                "image            {image}@{digest}: present in fake"
            )),
        "{out}"
    );

    // The runtime lost it: status fails and says how to fix it.
    runtime.images.borrow_mut().clear();
    let (result, out) = kubealived_on(&host, r, &["status"]);
    assert!(
        result.is_err() && out.contains("missing from fake, or another image under its tag"),
        "{out}"
    );

    // --image names a registry image: never imported.
    let (result, out) = kubealived_on(
        &host,
        r,
        &["install", "--image", "registry.example/kubealived:0.1.0"],
    );
    assert!(
        result.is_ok() && out.contains("not the packaged image, kubelet pulls it"),
        "{out}"
    );
    assert_eq!(runtime.imports.borrow().len(), 1);
    let manifest_text = std::fs::read_to_string(r.join(MANIFEST)).unwrap();
    assert!(
        manifest_text.contains("image: registry.example/kubealived:0.1.0\n"),
        "{manifest_text}"
    );
}

/// The same version rebuilt (another archive, another digest): install
/// imports it although the runtime holds an image under the tag, and the
/// manifest names the new digest.
#[test]
fn install_imports_a_rebuilt_archive_of_the_same_version() {
    use crate::paths::IMAGE_ARCHIVE;
    use crate::runtime::{archive::tests::tar_naming, FakeRuntime};
    use std::rc::Rc;
    let image = crate::config::default_image();
    let old = "sha256:84aa9747dad263cc3c504b016ccea96889180b6c29bf56d565b7df61634e0e3f";
    let new = "sha256:95856da6fabae6aff4bf7c394c753f5705a57004d514e7844bbda54e7c50cbfd";
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::create_dir_all(r.join(IMAGE_ARCHIVE).parent().unwrap()).unwrap();
    std::fs::write(r.join(IMAGE_ARCHIVE), tar_naming(&image, new)).unwrap();
    let runtime = Rc::new(FakeRuntime {
        images: vec![format!("{image}@{old}")].into(),
        import_adds: Some(format!("{image}@{new}")),
        ..Default::default()
    });
    let host = host().runtime(runtime.clone());
    let (result, out) = kubealived_on(&host, r, &["install", "--vip", "192.0.2.10"]);
    assert!(
        result.is_ok() && out.contains(&format!("imported  {image}@{new} into fake")),
        "{out}"
    );
    let manifest_text = std::fs::read_to_string(r.join(MANIFEST)).unwrap();
    assert!(
        manifest_text.contains(&format!("image: {image}@{new}\n")),
        "{manifest_text}"
    );
    assert_eq!(*runtime.images.borrow(), [format!("{image}@{new}")]);
}

/// The manifest starts the agent with a command line that only the agent's
/// own parser can judge: parse the rendered one with the real CLI, and
/// check that every value reached the agent and agrees with the
/// keepalived.conf written beside it.
#[test]
fn the_manifest_s_command_line_is_one_the_agent_accepts() {
    use crate::agent::args::AgentArgs;
    use crate::paths::{BINARY_IN_IMAGE, KEEPALIVED_CONF_IN_POD, NOTIFY_FIFO, TRACK_FILE};
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(
        r,
        &[
            "install",
            "--vip",
            "192.0.2.10",
            "--vip",
            "2001:db8::10",
            "--apiserver-port",
            "8443",
            "--agent-listen",
            "127.0.0.1:10299",
            "--advert-interval",
            "0.5",
        ],
    );
    let pod: Pod =
        serde_yaml_ng::from_str(&std::fs::read_to_string(r.join(MANIFEST)).unwrap()).unwrap();
    let container = &pod.spec.unwrap().containers[0];
    let command = container.command.clone().unwrap();
    assert_eq!(command[0], BINARY_IN_IMAGE, "{command:?}");
    let cli = Cli::try_parse_from(&command)
        .unwrap_or_else(|e| panic!("the agent refuses the manifest's command {command:?}: {e}"));
    let super::Command::Agent(agent) = cli.command else {
        panic!("the manifest does not run `kubealived agent`: {command:?}")
    };
    let AgentArgs {
        keepalived_conf,
        interface,
        apiserver_port,
        listen,
        run_dir,
        advert_interval_ms,
        ..
    } = &agent;
    assert_eq!(keepalived_conf, Path::new(KEEPALIVED_CONF_IN_POD));
    assert_eq!(interface, "eth0");
    assert_eq!(
        agent.vips().0,
        vec![
            ("192.0.2.10".parse().unwrap(), "eth0".to_string()),
            ("2001:db8::10".parse().unwrap(), "eth0".to_string())
        ]
    );
    assert_eq!(*apiserver_port, 8443);
    assert_eq!(listen.to_string(), "127.0.0.1:10299");
    assert_eq!(*advert_interval_ms, 500);
    // kubelet's livenessProbe asks where the agent listens.
    let probe = container.liveness_probe.as_ref().unwrap();
    let get = probe.http_get.as_ref().unwrap();
    assert_eq!(get.port, IntOrString::Int(i32::from(listen.port())));
    // keepalived.conf uses the track file and FIFO the agent makes.
    let conf = std::fs::read_to_string(r.join(KEEPALIVED_CONF)).unwrap();
    for name in [TRACK_FILE, NOTIFY_FIFO] {
        let path = run_dir.join(name).display().to_string();
        assert!(
            conf.contains(&path),
            "keepalived.conf lacks {path}:\n{conf}"
        );
    }
}

/// status reports what it can, always: with the saved interface gone it
/// still lists the files and flags the interface (exit 1, not 2), and its
/// Fix is a command that exists.
#[test]
fn status_flags_a_vanished_interface_and_still_lists_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(
        r,
        &["install", "--vip", "192.0.2.10", "--interface", "eth0"],
    );
    let renamed = FakeHost::default()
        .with("lo", &["127.0.0.1/8"])
        .with("ens3", &["192.0.2.11/24"]);
    let (result, out) = kubealived_on(&renamed, r, &["status"]);
    let err = result.expect_err("status passed with the interface gone");
    assert_eq!(crate::error::exit_code(&Err(err)), 1, "{out}");
    assert!(
        out.contains("interface        eth0: not on this host"),
        "{out}"
    );
    assert!(
        out.contains("Fix: `kubealived install --interface NAME`"),
        "{out}"
    );
    for file in [MANIFEST, KEEPALIVED_CONF] {
        assert!(
            out.contains(&format!("{} present", r.join(file).display())),
            "{out}"
        );
    }
}

/// Only config.yaml gone: the files are there, so it is not "not
/// installed"; status says what is missing and how to get it back.
#[test]
fn status_without_the_settings_file_is_not_not_installed() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(r, &["install", "--vip", "192.0.2.10"]);
    std::fs::remove_file(r.join(SAVED_CONFIG)).unwrap();
    let (result, out) = kubealived(r, &["status"]);
    assert!(result.is_err(), "{out}");
    assert!(!out.contains("not installed"), "{out}");
    assert!(out.contains("config.yaml is missing"), "{out}");
    assert!(out.contains("Fix: run `kubealived install`"), "{out}");
    assert!(
        out.contains(&format!("{} present", r.join(MANIFEST).display())),
        "{out}"
    );
}

/// `status -o json`: the keys scripts rely on, healthy and not.
#[test]
fn status_json_has_stable_keys() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(r, &["install", "--vip", "192.0.2.10"]);
    let json = |out: &str| -> serde_json::Value { serde_json::from_str(out).unwrap() };
    let (result, out) = kubealived(r, &["status", "-o", "json"]);
    let s = json(&out);
    // The fake host has no runtime: the image cannot be there yet, which
    // is not a problem (the boot unit or kubelet take care of it).
    assert!(result.is_ok(), "{out}");
    assert_eq!(s["healthy"], true, "{out}");
    assert_eq!(s["problems"], serde_json::json!([]));
    assert_eq!(s["settings"]["state"], "current");
    let files = s["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert!(files.iter().all(|f| f["state"] == "current"), "{out}");
    assert_eq!(
        files[0]["path"],
        r.join(KEEPALIVED_CONF).display().to_string()
    );
    assert_eq!(s["interface"]["name"], "eth0");
    assert_eq!(s["interface"]["present"], true);
    assert_eq!(s["image"]["state"], "noRuntime");
    assert_eq!(s["image"]["reference"], crate::config::default_image());
    assert_eq!(s["vips"][0]["address"], "192.0.2.10");
    assert_eq!(s["vips"][0]["heldHere"], false);
    assert!(s["vrrp"].as_str().unwrap().starts_with("VRRPv3"), "{out}");
    assert!(s["agent"].is_null(), "the agent is asked only on this host");

    std::fs::write(r.join(KEEPALIVED_CONF), "edited\n").unwrap();
    let (result, out) = kubealived(r, &["status", "-o", "json"]);
    assert!(result.is_err());
    let s = json(&out);
    assert_eq!(s["healthy"], false);
    assert_eq!(s["files"][0]["state"], "stale");
    assert!(
        s["problems"][0].as_str().unwrap().contains("stale"),
        "{out}"
    );
}

/// A manifest whose label was edited away: uninstall refuses and changes
/// nothing (removing only keepalived.conf would leave a pod that cannot
/// restart); `--force` removes all of it.
#[test]
fn uninstall_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(r, &["install", "--vip", "192.0.2.10"]);
    let manifest = std::fs::read_to_string(r.join(MANIFEST)).unwrap();
    let unlabelled: String = manifest
        .lines()
        .filter(|l| !l.contains("app.kubernetes.io/managed-by"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(unlabelled, manifest);
    std::fs::write(r.join(MANIFEST), &unlabelled).unwrap();
    let files =
        |r: &Path| [MANIFEST, KEEPALIVED_CONF, SAVED_CONFIG].map(|f| std::fs::read(r.join(f)).ok());
    let before = files(r);
    let (result, out) = kubealived(r, &["uninstall"]);
    let err = result.expect_err("uninstall removed part of an edited install");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("header but not its label") && msg.contains("uninstall --force"),
        "{msg}"
    );
    assert_eq!(crate::error::exit_code(&Err(err)), 2);
    assert!(before.iter().all(Option::is_some));
    assert_eq!(
        files(r),
        before,
        "a refused uninstall changed files:\n{out}"
    );

    let out = ok(r, &["uninstall", "--force"]);
    assert_eq!(out.matches("removed").count(), 3, "{out}");
    assert!(!r.join(CONFIG_DIR).exists(), "{out}");
}

// Issue 23: what a new user hits with kubeadm configs and saved settings.

/// Write `text` to `dir/name`; its path as an argument.
fn file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn usage_error(root: &Path, args: &[&str]) -> String {
    let (result, out) = kubealived(root, args);
    let err = result.expect_err(&format!("{args:?} succeeded:\n{out}"));
    assert!(crate::error::is_usage(&err), "{args:?}: {err:#}");
    let msg = err.to_string();
    assert!(msg.contains("\nFix: "), "{args:?}: {msg}");
    msg
}

fn saved(root: &Path) -> String {
    std::fs::read_to_string(root.join(SAVED_CONFIG)).unwrap()
}

/// Item 4: a DNS name in controlPlaneEndpoint. The VIP comes from --vip,
/// the port from the endpoint; the error without --vip says exactly that.
#[test]
fn a_dns_name_in_the_kubeadm_endpoint_takes_the_vip_from_vip_and_the_port_from_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let r = &dir.path().join("root");
    let kubeadm = file(
        dir.path(),
        "kubeadm.yaml",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
         controlPlaneEndpoint: k8s-api.example.internal:8443\n---\n\
         apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n\
         localAPIEndpoint:\n  bindPort: 8443\n",
    );
    let msg = usage_error(r, &["install", "--kubeadm-config", &kubeadm]);
    assert!(
        msg.contains("k8s-api.example.internal")
            && msg.contains(&format!("`--kubeadm-config {kubeadm} --vip IP`")),
        "{msg}"
    );
    // Following the fix works.
    ok(
        r,
        &[
            "install",
            "--kubeadm-config",
            &kubeadm,
            "--vip",
            "192.0.2.10",
        ],
    );
    let settings = saved(r);
    assert!(
        settings.contains("vips:\n- 192.0.2.10\n") && settings.contains("apiserverPort: 8443\n"),
        "{settings}"
    );
    // The port still must agree with one given.
    let msg = usage_error(
        r,
        &[
            "install",
            "--kubeadm-config",
            &kubeadm,
            "--vip",
            "192.0.2.10",
            "--apiserver-port",
            "6443",
        ],
    );
    assert!(
        msg.contains("--apiserver-port 6443 conflicts with port 8443"),
        "{msg}"
    );

    // What the name resolves to on this host: a warning when it is not a VIP.
    let warnings = |host: FakeHost| {
        let flags = crate::settings::Settings {
            vips: vec!["192.0.2.10".into()],
            ..Default::default()
        };
        let sources = crate::settings::Sources {
            kubeadm_config: Some(kubeadm.clone().into()),
            ..Default::default()
        };
        super::Rendered::prepare(&flags, &sources, None, &host, true)
            .unwrap()
            .node
            .warnings
    };
    let name = "k8s-api.example.internal";
    assert!(warnings(host()).is_empty(), "a name that does not resolve");
    assert!(warnings(host().resolves(name, &["192.0.2.10"])).is_empty());
    let found = warnings(host().resolves(name, &["198.51.100.7", "2001:db8::7"]));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("k8s-api.example.internal")
            && found[0].contains("198.51.100.7, 2001:db8::7")
            && found[0].contains("not the VIP 192.0.2.10"),
        "{found:?}"
    );
}

/// Item 5: a joining master's file has only a JoinConfiguration; its
/// discovery names the endpoint.
#[test]
fn a_join_configuration_alone_gives_the_vip_and_port() {
    let dir = tempfile::tempdir().unwrap();
    let r = &dir.path().join("root");
    let join = file(
        dir.path(),
        "join.yaml",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    \
         apiServerEndpoint: 192.0.2.10:8443\n    token: abcdef.0123456789abcdef\n    unsafeSkipCAVerification: true\n\
         controlPlane:\n  localAPIEndpoint:\n    advertiseAddress: 192.0.2.11\n    bindPort: 8443\n",
    );
    ok(r, &["install", "--kubeadm-config", &join]);
    let settings = saved(r);
    assert!(
        settings.contains("vips:\n- 192.0.2.10\n") && settings.contains("apiserverPort: 8443\n"),
        "{settings}"
    );
    // With --vip as well (agreeing).
    ok(
        r,
        &["install", "--kubeadm-config", &join, "--vip", "192.0.2.10"],
    );
    let msg = usage_error(
        r,
        &["install", "--kubeadm-config", &join, "--vip", "192.0.2.20"],
    );
    assert!(
        msg.contains("--vip 192.0.2.20 conflicts with discovery.bootstrapToken.apiServerEndpoint"),
        "{msg}"
    );
}

/// Item 7: saved settings can be unset, and a Fix about a saved value
/// says how (the `--unset` it names works).
#[test]
fn saved_settings_are_unset_with_unset_and_the_fixes_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(
        r,
        &[
            "install",
            "--vip",
            "192.0.2.10",
            "--vrrp-version",
            "2",
            "--password",
            "abc123",
            "--peer",
            "192.0.2.11",
            "--peer",
            "192.0.2.12",
            "--interface",
            "eth0",
        ],
    );
    // Back to VRRPv3: the password is the saved one, not a flag.
    let msg = usage_error(r, &["install", "--vrrp-version", "3"]);
    let config_yaml = r.join(SAVED_CONFIG).display().to_string();
    assert!(
        msg.contains(&format!("`password` in {config_yaml}"))
            && msg.contains(&format!(
                "Fix: add --unset password (it is saved in {config_yaml})"
            )),
        "{msg}"
    );
    assert!(!msg.contains("drop --password"), "{msg}");
    // Following the fix: the dry run shows the change, then it applies.
    let dry = ok(
        r,
        &[
            "install",
            "--vrrp-version",
            "3",
            "--unset",
            "password",
            "--dry-run",
        ],
    );
    for line in [
        "\n-password: ********\n",
        "\n-vrrpVersion: 2\n",
        "\n+vrrpVersion: 3\n",
    ] {
        assert!(dry.contains(line), "{line:?} not in:\n{dry}");
    }
    assert!(!dry.contains("abc123"), "{dry}");
    ok(
        r,
        &["install", "--vrrp-version", "3", "--unset", "password"],
    );
    assert!(!saved(r).contains("password"), "{}", saved(r));

    // Peers and the interface, by key or by flag name, comma-separated.
    let dry = ok(r, &["install", "--unset", "peer,interface", "--dry-run"]);
    for line in ["\n-peers:\n", "\n-- 192.0.2.12\n", "\n-interface: eth0\n"] {
        assert!(dry.contains(line), "{line:?} not in:\n{dry}");
    }
    ok(r, &["install", "--unset", "peers", "--unset", "interface"]);
    let settings = saved(r);
    assert!(
        !settings.contains("peers") && !settings.contains("interface"),
        "{settings}"
    );
    let conf = std::fs::read_to_string(r.join(KEEPALIVED_CONF)).unwrap();
    assert!(!conf.contains("unicast_peer"), "{conf}");

    // A flag given beside --unset still sets the value.
    ok(r, &["install", "--unset", "priority", "--priority", "120"]);
    assert!(saved(r).contains("priority: 120"), "{}", saved(r));
    ok(r, &["install", "--unset", "priority"]);
    assert!(!saved(r).contains("priority"), "{}", saved(r));

    // An empty --password: the fix says how to have none.
    let msg = usage_error(r, &["install", "--vrrp-version", "2", "--password", ""]);
    assert!(msg.contains("--unset password"), "{msg}");
    ok(
        r,
        &["install", "--vrrp-version", "2", "--unset", "password"],
    );
    // Unknown keys are clap's error, with the keys listed.
    let cli = Cli::try_parse_from(["kubealived", "install", "--unset", "vip-address"]);
    let err = cli.unwrap_err().to_string();
    assert!(
        err.contains("vip-address") && err.contains("routerId"),
        "{err}"
    );
}

/// Item 13: a value from a file is named by the file's key, and the fix
/// is one for that file.
#[test]
fn messages_name_the_file_key_a_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let r = &dir.path().join("root");
    let d = dir.path();
    let cases: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "password.yaml",
            "vips: [192.0.2.10]\npassword: abc123\n",
            &["`password` in ", "Fix: remove `password` from "],
            &["--password"],
        ),
        (
            "bad-vip.yaml",
            "vips: [300.1.2.3]\n",
            &["`vips: \"300.1.2.3\"` in "],
            &["--vip"],
        ),
        (
            "priority.yaml",
            "vips: [192.0.2.10]\npriority: 0\n",
            &["`priority: 0` in ", "51-254"],
            &["--priority"],
        ),
        (
            "v2-ipv6.yaml",
            "vips: [2001:db8::10]\nvrrpVersion: 2\n",
            &["`vrrpVersion: 2` in ", "Fix: remove `vrrpVersion` from "],
            &["--vrrp-version"],
        ),
        (
            "empty.yaml",
            "",
            &["empty.yaml sets no VIP", "Fix: add `vips: [IP]` to "],
            &["--config FILE"],
        ),
        (
            "comments.yaml",
            "# nothing yet\n",
            &["sets no VIP"],
            &["--config FILE"],
        ),
        (
            "wrong-type.yaml",
            "vips: [192.0.2.10]\npriority: high\n",
            &[
                "`priority` has the wrong type",
                "Fix: write it like `priority: 250`",
            ],
            &["use only the keys"],
        ),
        (
            "vips-string.yaml",
            "vips: 192.0.2.10\n",
            &["`vips` has the wrong type", "`vips: [192.0.2.10]`"],
            &["use only the keys"],
        ),
        (
            "unknown.yaml",
            "vip: 192.0.2.10\n",
            &["unknown key vip", "use only the keys vips, "],
            &[],
        ),
    ];
    for (name, text, has, lacks) in cases {
        let path = file(d, name, text);
        let msg = usage_error(r, &["install", "--config", &path]);
        for needle in *has {
            assert!(msg.contains(needle), "{name}: {needle:?} not in:\n{msg}");
        }
        assert!(msg.contains(&path), "{name}: the file is not named:\n{msg}");
        for needle in *lacks {
            assert!(!msg.contains(needle), "{name}: {needle:?} in:\n{msg}");
        }
    }
    // The password file is named, and dropping it is the fix.
    let pw = file(d, "pw", "abc123\n");
    let msg = usage_error(
        r,
        &["install", "--vip", "192.0.2.10", "--password-file", &pw],
    );
    assert!(
        msg.contains(&format!("--password-file {pw}")) && msg.contains("Fix: drop --password-file"),
        "{msg}"
    );
    // The saved settings, edited by hand, are named as such.
    ok(r, &["install", "--vip", "192.0.2.10"]);
    let config_yaml = r.join(SAVED_CONFIG);
    std::fs::write(&config_yaml, "vips: [192.0.2.10]\nrouterId: 300\n").unwrap();
    let msg = usage_error(r, &["install"]);
    assert!(
        msg.contains(&format!("`routerId: 300` in {}", config_yaml.display())),
        "{msg}"
    );
    // Flags keep their names.
    let msg = usage_error(r, &["install", "--router-id", "0"]);
    assert!(msg.starts_with("--router-id 0 is out of range"), "{msg}");
}

/// Item 13: render's refusal of peers in a DaemonSet names where the
/// peers came from, and its fix removes them there.
#[test]
fn render_daemonset_names_where_the_peers_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let config = file(
        dir.path(),
        "peers.yaml",
        "vips: [192.0.2.10]\npeers: [192.0.2.11, 192.0.2.12]\n",
    );
    let from_file = render(&["--kind", "daemonset", "--config", &config])
        .unwrap_err()
        .to_string();
    assert!(
        from_file.starts_with(&format!("`peers` in {config} cannot be used"))
            && from_file.contains(&format!("Fix: remove `peers` from {config} (multicast)")),
        "{from_file}"
    );
    let flags = ["--kind", "daemonset", "--vip", "192.0.2.10"];
    let from_flag = render(
        &[
            &flags[..],
            &["--peer", "192.0.2.11", "--peer", "192.0.2.12"],
        ]
        .concat(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        from_flag.contains("Fix: drop --peer (multicast)"),
        "{from_flag}"
    );
    // Following the fix works.
    let args = [&flags[..], &["--config", &config, "--unset", "peers"]].concat();
    assert!(render(&args).unwrap().contains("kind: DaemonSet"));
}

/// The quick-start line run again on a node installed with unicast peers
/// and VRRPv2 keeps them: switching one master to multicast v3 would make
/// it deaf to the others, and two masters would hold the VIP. Dropping
/// them takes --unset.
#[test]
fn the_quick_start_line_again_keeps_the_saved_transport() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(
        r,
        &[
            "install",
            "--vip",
            "192.0.2.10",
            "--peer",
            "192.0.2.11",
            "--peer",
            "192.0.2.12",
            "--vrrp-version",
            "2",
            "--password",
            "abc123",
        ],
    );
    let conf = || std::fs::read_to_string(r.join(KEEPALIVED_CONF)).unwrap();
    let before = conf();
    let out = ok(r, &["install", "--vip", "192.0.2.10"]);
    assert_eq!(
        conf(),
        before,
        "the same line changed keepalived.conf:\n{out}"
    );
    assert!(
        out.contains("VRRPv2") && out.contains("unicast to 192.0.2.12"),
        "{out}"
    );
    let out = ok(
        r,
        &[
            "install",
            "--vip",
            "192.0.2.10",
            "--unset",
            "peers,password,vrrp-version",
        ],
    );
    assert!(out.contains("VRRPv3") && out.contains("multicast"), "{out}");
    assert!(!conf().contains("unicast_peer"), "{}", conf());
}

/// Issue 23, found by the issue 18 e2e: a kube-apiserver bound to one
/// address refuses connections to the VIP. A kubeadm config that would
/// bind it so, or a kube-apiserver.yaml already bound so (install run
/// again after kubeadm), is refused before anything is written.
#[test]
fn a_bind_address_that_refuses_the_vip_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let r = &dir.path().join("root");
    let cluster = |extra_args: &str| {
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
             controlPlaneEndpoint: 192.0.2.10:6443\napiServer:\n  extraArgs:\n{extra_args}"
        )
    };
    let bound = file(
        dir.path(),
        "bound.yaml",
        &cluster("  - name: bind-address\n    value: 192.0.2.11\n"),
    );
    let said = |msg: &str| {
        msg.contains(&format!(
            "apiServer.extraArgs bind-address 192.0.2.11 in {bound}: kube-apiserver would \
             bind 192.0.2.11 only, so connections to the VIP 192.0.2.10 would be refused"
        )) && msg.contains("Fix: drop bind-address from apiServer.extraArgs")
    };
    for args in [
        &["install", "--kubeadm-config", &bound][..],
        &["install", "--kubeadm-config", &bound, "--dry-run"],
    ] {
        let msg = usage_error(r, args);
        assert!(said(&msg), "{args:?}: {msg}");
        assert!(!r.join(CONFIG_DIR).exists(), "{args:?}");
    }
    let err = render(&["--kubeadm-config", &bound]).unwrap_err();
    assert!(
        crate::error::is_usage(&err) && said(&err.to_string()),
        "{err:#}"
    );
    // Unspecified, or the VIP itself, serve the VIP.
    for bind in ["0.0.0.0", "::", "192.0.2.10"] {
        let args = format!("  - name: bind-address\n    value: \"{bind}\"\n");
        let ok_file = file(dir.path(), "ok.yaml", &cluster(&args));
        ok(r, &["install", "--kubeadm-config", &ok_file, "--dry-run"]);
    }

    // kube-apiserver.yaml already on the node, under --root.
    let manifest = r.join(crate::paths::APISERVER_MANIFEST);
    std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    let apiserver = |flag: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: kube-apiserver, namespace: kube-system}}\n\
             spec:\n  containers:\n  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.35.4\n\
             \x20   command: [kube-apiserver, --advertise-address=192.0.2.11, {flag}]\n"
        )
    };
    std::fs::write(&manifest, apiserver("--bind-address=192.0.2.11")).unwrap();
    let msg = usage_error(r, &["install", "--vip", "192.0.2.10"]);
    assert_eq!(
        msg,
        format!(
            "{m} says: kube-apiserver binds 192.0.2.11 only, so connections to the VIP \
             192.0.2.10 are refused on this node.\nFix: remove --bind-address from {m} \
             (kubeadm: drop it from apiServer.extraArgs, or `kubeadm upgrade` writes it again), \
             or set it to 0.0.0.0.",
            m = manifest.display()
        )
    );
    assert!(!r.join(CONFIG_DIR).exists());
    std::fs::write(&manifest, apiserver("--bind-address=0.0.0.0")).unwrap();
    ok(r, &["install", "--vip", "192.0.2.10"]);
    // Installed, then hardened, then install again: refused, files kept.
    std::fs::write(&manifest, apiserver("--bind-address=192.0.2.11")).unwrap();
    let before = saved(r);
    usage_error(r, &["install", "--vip", "192.0.2.10", "--priority", "120"]);
    assert_eq!(saved(r), before);
}

/// Issue 22: the endpoint's port is the apiservers' port: a VIP cannot
/// change ports. A --apiserver-port that differs from bindPort is refused
/// as one that differs from the endpoint's port is.
#[test]
fn the_apiserver_port_must_be_the_kubeadm_bind_port() {
    let dir = tempfile::tempdir().unwrap();
    let r = &dir.path().join("root");
    let at = |endpoint: &str, bind_port: &str| {
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
             controlPlaneEndpoint: \"{endpoint}\"\n---\n\
             apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n\
             localAPIEndpoint:\n  bindPort: {bind_port}\n"
        )
    };
    let mismatch = file(dir.path(), "443.yaml", &at("192.0.2.10:443", "6443"));
    let msg = usage_error(r, &["install", "--kubeadm-config", &mismatch]);
    assert!(
        msg.contains("names port 443, but kube-apiserver listens on 6443")
            && msg.contains("controlPlaneEndpoint: \"192.0.2.10:6443\"")
            && msg.contains("localAPIEndpoint.bindPort: 443"),
        "{msg}"
    );
    assert!(!r.join(CONFIG_DIR).exists());
    // No port in the endpoint: bindPort is the apiserver's port.
    let no_port = file(dir.path(), "8443.yaml", &at("192.0.2.10", "8443"));
    ok(r, &["install", "--kubeadm-config", &no_port]);
    assert!(saved(r).contains("apiserverPort: 8443\n"), "{}", saved(r));
    let msg = usage_error(
        r,
        &[
            "install",
            "--kubeadm-config",
            &no_port,
            "--apiserver-port",
            "6443",
        ],
    );
    assert!(
        msg.starts_with(&format!(
            "--apiserver-port 6443 conflicts with localAPIEndpoint.bindPort 8443 in {no_port}.\n\
             Fix: drop --apiserver-port"
        )),
        "{msg}"
    );
    // Neither: kubeadm's default, 6443, which a saved 8443 contradicts.
    let neither = file(
        dir.path(),
        "neither.yaml",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.10\n",
    );
    let msg = usage_error(r, &["install", "--kubeadm-config", &neither]);
    assert!(
        msg.contains(&format!(
            "conflicts with {neither}, which sets no localAPIEndpoint.bindPort: kube-apiserver \
             listens on kubeadm's default, 6443"
        )) && msg.contains("Fix: add --unset apiserverPort"),
        "{msg}"
    );
    ok(
        r,
        &[
            "install",
            "--kubeadm-config",
            &neither,
            "--unset",
            "apiserverPort",
        ],
    );
}

/// Issue 22: --load-balance needs the peers, gives the agent the VIP's
/// port and every master as backends, is saved, and alone lets the
/// endpoint's port (443) differ from the apiservers' (6443).
#[test]
fn load_balancing_is_opt_in_and_maps_the_endpoint_port_to_the_apiservers() {
    let dir = tempfile::tempdir().unwrap();
    let r = &dir.path().join("root");
    let agent = |r: &Path| {
        let manifest = std::fs::read(r.join(MANIFEST)).unwrap();
        super::uninstall::agent_args(&manifest).expect("the manifest runs the agent")
    };
    let kubeadm = file(
        dir.path(),
        "443.yaml",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
         controlPlaneEndpoint: \"192.0.2.10:443\"\n---\n\
         apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n\
         localAPIEndpoint:\n  bindPort: 6443\n",
    );
    let msg = usage_error(
        r,
        &["install", "--kubeadm-config", &kubeadm, "--load-balance"],
    );
    assert!(
        msg.starts_with("--load-balance spreads the API over the masters, and none are listed"),
        "{msg}"
    );
    assert!(!r.join(CONFIG_DIR).exists());
    let peers = [
        "--peer",
        "192.0.2.11",
        "--peer",
        "192.0.2.12",
        "--peer",
        "192.0.2.13",
    ];
    ok(
        r,
        &[
            &["install", "--kubeadm-config", &kubeadm, "--load-balance"][..],
            &peers[..],
        ]
        .concat(),
    );
    let a = agent(r);
    assert_eq!(a.balance_port, Some(443));
    assert_eq!(a.apiserver_port, 6443);
    let backends: Vec<String> = a.backends.iter().map(|ip| ip.to_string()).collect();
    assert_eq!(backends, ["192.0.2.11", "192.0.2.12", "192.0.2.13"]);
    let s = saved(r);
    assert!(
        s.contains("\nloadBalance: true\n") && s.contains("\nendpointPort: 443\n"),
        "{s}"
    );
    // Off again: the endpoint's port can no longer be served.
    let msg = usage_error(r, &["install", "--load-balance=false"]);
    assert!(msg.contains("a VIP alone cannot change ports"), "{msg}");
    ok(
        r,
        &["install", "--load-balance=false", "--unset", "endpointPort"],
    );
    assert_eq!(agent(r).balance_port, None);
    assert!(agent(r).backends.is_empty());
}

/// Issue 21, point 5: --vrrp-filter gives the agent every listed master
/// (and this node) as the sources it accepts VRRP from, is saved, needs
/// unicast peers, and without it nothing changes.
#[test]
fn the_vrrp_filter_is_opt_in_needs_peers_and_reaches_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let from = |r: &Path| {
        let manifest = std::fs::read(r.join(MANIFEST)).unwrap();
        let agent = super::uninstall::agent_args(&manifest).expect("the manifest runs the agent");
        agent
            .vrrp_from
            .iter()
            .map(|ip| ip.to_string())
            .collect::<Vec<_>>()
    };
    let msg = usage_error(r, &["install", "--vip", "192.0.2.10", "--vrrp-filter"]);
    assert!(
        msg.starts_with("--vrrp-filter accepts VRRP only from the unicast peers")
            && msg.contains("Fix: list every master with --peer IP")
            && msg.contains("or drop --vrrp-filter."),
        "{msg}"
    );
    assert!(!r.join(MANIFEST).exists());
    let peers = [
        "--vip",
        "192.0.2.10",
        "--peer",
        "192.0.2.11",
        "--peer",
        "192.0.2.12",
    ];
    ok(r, &[&["install"][..], &peers[..]].concat());
    assert!(from(r).is_empty());
    ok(
        r,
        &[&["install"][..], &peers[..], &["--vrrp-filter"]].concat(),
    );
    assert_eq!(from(r), ["192.0.2.11", "192.0.2.12"]);
    assert!(saved(r).contains("\nvrrpFilter: true\n"), "{}", saved(r));
    ok(r, &["install", "--vrrp-filter=false"]);
    assert!(from(r).is_empty());
    let out = ok(r, &["uninstall"]);
    assert!(!out.contains("VRRP filter"), "{out}");
}
