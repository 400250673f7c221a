//! `kubealived install` on a real host: the built binary runs inside a
//! network namespace with awkward interfaces (VLAN/bond-like and
//! 15-character names, several addresses, IPv6), writing under `--root`.

mod common;
use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use kubealived::paths::{KEEPALIVED_CONF, MANIFEST, SAVED_CONFIG};

/// bond0.100 holds 192.0.2.0/24 and 2001:db8::/64; two interfaces share
/// 198.51.100.128/25 (ambiguous); one is down.
fn lab() -> Option<Netns> {
    if !prerequisites("install in a netns", true, &["ip"]) {
        return None;
    }
    let ns = Netns::new();
    ns.veth("bond0.100", &["192.0.2.11/24", "2001:db8::11/64"]);
    ns.veth(
        "enp0s31f6abcdef",
        &["198.51.100.11/25", "198.51.100.200/25"],
    );
    ns.veth("eth1", &["198.51.100.201/25"]);
    ns.ip(&["link", "set", "eth1", "down"]);
    Some(ns)
}

fn install(ns: &Netns, root: &Path, args: &[&str]) -> std::process::Output {
    let root = root.to_str().unwrap();
    ns.kubealived(&[&["install", "--root", root], args].concat())
}

#[test]
fn install_detects_writes_private_files_and_reruns_idempotently() {
    let Some(ns) = lab() else { return };
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let out = install(
        &ns,
        r,
        &[
            "--vip",
            "192.0.2.10",
            "--vip",
            "2001:db8::10",
            "--peer",
            "192.0.2.11",
            "--peer",
            "192.0.2.12",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let conf = fs::read_to_string(r.join(KEEPALIVED_CONF)).unwrap();
    assert!(conf.contains("interface bond0.100"), "{conf}");
    assert!(
        conf.contains("192.0.2.10/32 dev bond0.100")
            && conf.contains("2001:db8::10/128 dev bond0.100"),
        "{conf}"
    );
    // The node's own address is the source, not a peer.
    assert!(conf.contains("unicast_src_ip 192.0.2.11"), "{conf}");
    assert!(
        conf.contains("        192.0.2.12\n") && !conf.contains("        192.0.2.11\n"),
        "{conf}"
    );
    for file in [MANIFEST, KEEPALIVED_CONF, SAVED_CONFIG] {
        let mode = fs::metadata(r.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    let manifest = fs::read_to_string(r.join(MANIFEST)).unwrap();
    assert!(
        manifest.contains("hostNetwork: true") && manifest.contains("NET_ADMIN"),
        "{manifest}"
    );

    // Re-run with no flags: the saved settings re-apply, nothing is rewritten.
    let before = snapshot(r);
    let out = install(&ns, r, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).matches("unchanged").count(),
        3,
        "{}",
        text(&out.stdout)
    );
    assert_eq!(snapshot(r), before, "a re-run changed files");

    // The node that holds the VIP (keepalived added it as /32) detects the same.
    ns.ip(&["addr", "add", "192.0.2.10/32", "dev", "bond0.100"]);
    let out = install(&ns, r, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        snapshot(r),
        before,
        "a re-run on the VIP holder changed files"
    );
    let status = ns.kubealived(&["status", "--root", r.to_str().unwrap()]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(
        text(&status.stdout).contains("192.0.2.10 on bond0.100: held by this node"),
        "{}",
        text(&status.stdout)
    );

    // kubeadm reset empties the manifests dir; install alone restores it.
    fs::remove_file(r.join(MANIFEST)).unwrap();
    let status = ns.kubealived(&["status", "--root", r.to_str().unwrap()]);
    assert_eq!(
        status.status.code(),
        Some(1),
        "status must fail when the manifest is gone"
    );
    assert!(install(&ns, r, &[]).status.success());
    assert_eq!(fs::read_to_string(r.join(MANIFEST)).unwrap(), manifest);
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let Some(ns) = lab() else { return };
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let empty = snapshot(r);
    let out = install(&ns, r, &["--vip", "192.0.2.10", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("create"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(snapshot(r), empty, "--dry-run wrote something");

    assert!(install(
        &ns,
        r,
        &[
            "--vip",
            "192.0.2.10",
            "--vrrp-version",
            "2",
            "--password",
            "s3cr3t"
        ]
    )
    .status
    .success());
    let before = snapshot(r);
    let out = install(
        &ns,
        r,
        &[
            "--vip",
            "192.0.2.10",
            "--vrrp-version",
            "2",
            "--password",
            "n3wpass",
            "--priority",
            "120",
            "--dry-run",
        ],
    );
    let said = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        said.contains("update")
            // keepalived.conf carries the base priority: the configured
            // one minus the health weight the agent's track file adds.
            && said.contains("-    priority 200")
            && said.contains("+    priority 70"),
        "{said}"
    );
    assert!(
        !said.contains("s3cr3t") && !said.contains("n3wpass"),
        "password leaked into the dry-run:\n{said}"
    );
    assert_eq!(snapshot(r), before, "--dry-run wrote something");
}

#[test]
fn no_match_and_ambiguous_exit_2_list_candidates_and_write_nothing() {
    let Some(ns) = lab() else { return };
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let empty = snapshot(r);
    for (vip, expect) in [
        ("198.51.100.150", "ambiguous"),
        ("2001:db8:1::10", "no interface"),
    ] {
        let out = install(&ns, r, &["--vip", vip]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{vip}: {err}");
        assert!(err.contains(expect), "{vip}: {err}");
        for listed in [
            "bond0.100",
            "192.0.2.11/24",
            "2001:db8::11/64",
            "enp0s31f6abcdef",
            "198.51.100.200/25",
            "eth1",
            "down",
            "--interface",
        ] {
            assert!(
                err.contains(listed),
                "{vip}: {listed} not listed in:\n{err}"
            );
        }
        assert_eq!(snapshot(r), empty, "a failed install wrote something");
    }
    // --interface settles the ambiguity; the down interface is a warning.
    let out = install(&ns, r, &["--vip", "198.51.100.150", "--interface", "eth1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("eth1 is down"),
        "{}",
        text(&out.stderr)
    );
}

/// Issue 23's node: two addresses in the VIP's subnet on bond0.100, and
/// another network on eth1. The other masters know this node by its
/// address in their peer list (the same list on every master), and
/// `check_unicast_src` drops adverts from any other: keepalived must send
/// from exactly that address, on the VIP's interface, or every master
/// takes the VIP.
#[test]
fn the_unicast_source_is_this_nodes_address_in_the_peer_list() {
    if !prerequisites("unicast source in a netns", true, &["ip"]) {
        return;
    }
    let ns = Netns::new();
    ns.veth("bond0.100", &["192.0.2.11/24", "192.0.2.99/24"]);
    ns.veth("eth1", &["198.51.100.21/24"]);
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let empty = snapshot(r);
    let with_peers = |peers: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec!["--vip", "192.0.2.10"];
        for p in peers {
            args.extend(["--peer", p]);
        }
        args
    };
    let refused: [(&[&str], &[&str]); 3] = [
        // keepalived sends and listens on bond0.100 only.
        (
            &["198.51.100.21", "198.51.100.22", "198.51.100.23"],
            &["198.51.100.21 is this node's address on eth1", "bond0.100"],
        ),
        (
            &["192.0.2.12", "192.0.2.13"],
            &["none of the --peer", "add --peer 192.0.2.11"],
        ),
        (
            &["192.0.2.11", "192.0.2.99", "192.0.2.12"],
            &["192.0.2.11 (bond0.100), 192.0.2.99 (bond0.100)"],
        ),
    ];
    for (peers, says) in refused {
        let out = install(&ns, r, &with_peers(peers));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{peers:?}: {err}");
        for needle in says.iter().chain(&["Fix:"]) {
            assert!(err.contains(needle), "{peers:?}: {needle:?} not in:\n{err}");
        }
        assert_eq!(snapshot(r), empty, "{peers:?}: a refused install wrote");
    }

    // This node listed as .99, its second address: sent from .99.
    let args = with_peers(&["192.0.2.99", "192.0.2.12", "192.0.2.13"]);
    let out = install(&ns, r, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let conf = fs::read_to_string(r.join(KEEPALIVED_CONF)).unwrap();
    assert!(conf.contains("unicast_src_ip 192.0.2.99\n"), "{conf}");
    assert!(
        conf.contains("    unicast_peer {\n        192.0.2.12\n        192.0.2.13\n    }\n"),
        "{conf}"
    );
    // render on this host (no --interface) resolves the same way.
    let rendered = ns.kubealived(&[&["render", "--keepalived-conf"], &args[..]].concat());
    assert!(rendered.status.success(), "{}", text(&rendered.stderr));
    assert_eq!(text(&rendered.stdout), conf);
    let rendered = ns.kubealived(
        &[
            &["render", "--keepalived-conf"],
            &with_peers(&["192.0.2.11", "192.0.2.12", "192.0.2.13"])[..],
        ]
        .concat(),
    );
    let said = text(&rendered.stdout);
    assert!(
        said.contains("unicast_src_ip 192.0.2.11\n") && !said.contains("        192.0.2.11\n"),
        "{said}"
    );
}

/// `ip addr add ... label eth0:vip` (and any label, even one that looks
/// like another device's): keepalived and the agent need the device the
/// address is on, never its label ("Non-existent interface").
#[test]
fn an_address_label_is_not_an_interface() {
    if !prerequisites("address labels in a netns", true, &["ip"]) {
        return;
    }
    let ns = Netns::new();
    ns.veth("eth0", &[]);
    ns.veth("eth1", &[]);
    ns.ip(&[
        "addr",
        "add",
        "192.0.2.11/24",
        "dev",
        "eth0",
        "label",
        "eth0:vip",
    ]);
    ns.ip(&[
        "addr",
        "add",
        "198.51.100.21/24",
        "dev",
        "eth1",
        "label",
        "eth0:x",
    ]);
    for (vip, dev) in [("192.0.2.10", "eth0"), ("198.51.100.10", "eth1")] {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let out = install(&ns, r, &["--vip", vip]);
        assert!(out.status.success(), "{vip}: {}", text(&out.stderr));
        let conf = fs::read_to_string(r.join(KEEPALIVED_CONF)).unwrap();
        assert!(
            conf.contains(&format!("    interface {dev}\n"))
                && conf.contains(&format!("{vip}/32 dev {dev}\n")),
            "{vip}:\n{conf}"
        );
        let manifest = fs::read_to_string(r.join(MANIFEST)).unwrap();
        assert!(
            manifest.contains(&format!("- --interface\n    - {dev}\n")),
            "{vip}:\n{manifest}"
        );
        assert!(
            text(&out.stdout).contains(&format!("VIP {vip} on {dev} (")),
            "{}",
            text(&out.stdout)
        );
        // keepalived itself accepts the interface it is given.
        if which("keepalived").is_some() {
            let check = run(ns
                .exec("keepalived")
                .arg("--config-test")
                .arg(format!("--use-file={}", r.join(KEEPALIVED_CONF).display())));
            assert!(
                check.status.success(),
                "{vip}: keepalived -t: {}",
                text(&check.stderr)
            );
        }
    }
    // A label given as --interface: refused, the fix names the device.
    let root = tempfile::tempdir().unwrap();
    let out = install(
        &ns,
        root.path(),
        &["--vip", "192.0.2.10", "--interface", "eth0:vip"],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("label") && err.contains("--interface eth0"),
        "{err}"
    );
    assert!(snapshot(root.path()).is_empty(), "a refused install wrote");
}

/// keepalived on the host checks the rendered config before anything is
/// written: an interface without multicast passes every rule of ours, but
/// keepalived would disable the VRRP instance ("does not support
/// multicast"), and the VIP would never come up.
#[test]
fn keepalived_checks_the_config_before_anything_is_written() {
    if !prerequisites("keepalived -t before writing", true, &["ip", "keepalived"]) {
        return;
    }
    let ns = Netns::new();
    ns.veth("eth0", &["192.0.2.11/24"]);
    ns.ip(&["link", "set", "eth0", "multicast", "off"]);
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for dry_run in [&["--dry-run"][..], &[]] {
        let out = install(&ns, r, &[&["--vip", "192.0.2.10"], dry_run].concat());
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{dry_run:?}: {err}");
        for needle in ["keepalived rejects", "does not support multicast", "Fix:"] {
            assert!(
                err.contains(needle),
                "{dry_run:?}: {needle:?} not in:\n{err}"
            );
        }
        assert!(snapshot(r).is_empty(), "a refused install wrote");
    }
    // Unicast needs no multicast: keepalived accepts it.
    let out = install(
        &ns,
        r,
        &[
            "--vip",
            "192.0.2.10",
            "--peer",
            "192.0.2.11",
            "--peer",
            "192.0.2.12",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// With --load-balance and --vrrp-filter, install asks this kernel
/// (`nft --check`) to take the agent's tables before writing; the check
/// applies nothing. A ruleset nft refuses is the host's Failed verdict.
#[test]
fn install_has_the_kernel_check_the_nftables_tables_and_applies_none() {
    if !prerequisites("nft --check before writing", true, &["ip", "nft"]) {
        return;
    }
    let ns = Netns::new();
    ns.veth("eth0", &["192.0.2.11/24", "2001:db8::11/64"]);
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let peers = ["--peer", "192.0.2.11", "--peer", "192.0.2.12"];
    let args = [
        &["--vip", "192.0.2.10", "--vip", "2001:db8::10"][..],
        &peers,
        &["--load-balance", "--vrrp-filter"],
    ]
    .concat();
    let out = install(&ns, r, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tables = run(ns.exec("nft").args(["list", "tables"]));
    assert_eq!(text(&tables.stdout), "", "the check applied a table");

    use kubealived::host::{ConfigTest, Host, RealHost};
    let verdict = RealHost.test_nft_ruleset("table inet kubealived_x { chain c { nonsense } }\n");
    assert!(
        matches!(&verdict, ConfigTest::Failed(said) if said.contains("nonsense")),
        "{verdict:?}"
    );
}

#[test]
fn a_foreign_manifest_needs_force_and_uninstall_leaves_foreign_files() {
    let Some(ns) = lab() else { return };
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let manifests = r.join("etc/kubernetes/manifests");
    fs::create_dir_all(&manifests).unwrap();
    fs::write(
        manifests.join("kubealived.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: someone-else\n",
    )
    .unwrap();
    fs::write(manifests.join("etcd.yaml"), "kubeadm's\n").unwrap();
    let before = snapshot(r);
    let out = install(&ns, r, &["--vip", "192.0.2.10"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--force"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(snapshot(r), before);

    assert!(install(&ns, r, &["--vip", "192.0.2.10", "--force"])
        .status
        .success());
    let out = ns.kubealived(&["uninstall", "--root", r.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let left: Vec<String> = snapshot(r)
        .into_iter()
        .map(|e| e.0.replace(r.to_str().unwrap(), ""))
        .collect();
    assert_eq!(
        left,
        [
            "/etc",
            "/etc/kubernetes",
            "/etc/kubernetes/manifests",
            "/etc/kubernetes/manifests/etcd.yaml"
        ]
    );
    assert_eq!(
        fs::read_to_string(manifests.join("etcd.yaml")).unwrap(),
        "kubeadm's\n"
    );
}

#[test]
fn a_crash_mid_install_leaves_old_or_new_files_and_the_next_run_repairs() {
    let Some(ns) = lab() else { return };
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    assert!(install(&ns, r, &["--vip", "192.0.2.10"]).status.success());
    let old = fs::read(r.join(MANIFEST)).unwrap();
    for point in [
        "before-rename:config.yaml",
        "after:keepalived.conf",
        "before-rename:kubealived.yaml",
    ] {
        let out = run(ns
            .exec(BIN)
            .args([
                "install",
                "--root",
                r.to_str().unwrap(),
                "--vip",
                "192.0.2.10",
                "--priority",
                "99",
            ])
            .env("KUBEALIVED_CRASH_AT", point));
        assert!(
            !out.status.success(),
            "{point}: the injected crash did not happen"
        );
        // kubelet reads every file in the manifests dir: nothing partial,
        // no stray visible file, and the manifest is still the old one.
        let names: Vec<String> = fs::read_dir(r.join("etc/kubernetes/manifests"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        assert_eq!(names, ["kubealived.yaml"], "{point}");
        assert_eq!(
            fs::read(r.join(MANIFEST)).unwrap(),
            old,
            "{point}: manifest torn or replaced early"
        );
    }
    assert!(
        install(&ns, r, &["--vip", "192.0.2.10", "--priority", "99"])
            .status
            .success()
    );
    assert!(fs::read_to_string(r.join(MANIFEST)).unwrap() != text(&old));
    let hidden: Vec<_> = fs::read_dir(r.join("etc/kubernetes/manifests"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .collect();
    assert!(hidden.is_empty(), "a temp file survived the repairing run");
}

#[test]
fn concurrent_installs_serialize_and_the_result_is_one_of_the_inputs() {
    let Some(ns) = lab() else { return };
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    for round in 0..10 {
        let spawn = |priority: &str| {
            ns.exec(BIN)
                .args([
                    "install",
                    "--root",
                    r,
                    "--vip",
                    "192.0.2.10",
                    "--priority",
                    priority,
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn("110"), spawn("120"));
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}: {}", text(&out.stderr));
        }
        // The three files agree with each other: all from one run.
        let saved = fs::read_to_string(root.path().join(SAVED_CONFIG)).unwrap();
        let conf = fs::read_to_string(root.path().join(KEEPALIVED_CONF)).unwrap();
        let manifest = fs::read_to_string(root.path().join(MANIFEST)).unwrap();
        let priority = if saved.contains("priority: 110") {
            "110"
        } else {
            "120"
        };
        assert!(
            saved.contains(&format!("priority: {priority}")),
            "round {round}: {saved}"
        );
        let base = priority.parse::<u32>().unwrap() - 50;
        assert!(
            conf.contains(&format!("    priority {base}\n")),
            "round {round}: mixed files:\n{saved}\n{conf}"
        );
        let hash: String = {
            use std::process::Command;
            let out = must(Command::new("sha256sum").arg(root.path().join(KEEPALIVED_CONF)));
            text(&out.stdout)
                .split_whitespace()
                .next()
                .map(|h| &h[..16])
                .unwrap()
                .to_string()
        };
        assert!(
            manifest.contains(&hash),
            "round {round}: manifest does not match keepalived.conf"
        );
    }
}

#[test]
fn secrets_stay_private_even_with_umask_000_and_never_reach_output() {
    let Some(ns) = lab() else { return };
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let secret = "Pw-8c3x9";
    let out = run(ns.exec("sh").arg("-c").arg(format!(
        "umask 000 && exec {BIN} install --root {r} --vip 192.0.2.10 --vrrp-version 2 --password {secret}"
    )));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut said = text(&out.stdout) + &text(&out.stderr);
    use std::os::unix::fs::MetadataExt;
    for file in [MANIFEST, KEEPALIVED_CONF, SAVED_CONFIG] {
        let meta = fs::metadata(root.path().join(file)).unwrap();
        assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, 0), "{file}");
    }
    for dir in ["etc/kubealived", "etc/kubernetes/manifests"] {
        let meta = fs::metadata(root.path().join(dir)).unwrap();
        assert_eq!(
            meta.mode() & 0o777,
            0o700,
            "{dir} was created with a loose mode"
        );
    }
    assert!(
        fs::read_to_string(root.path().join(KEEPALIVED_CONF))
            .unwrap()
            .contains(secret),
        "the password must reach keepalived.conf"
    );
    for args in [
        vec![
            "install",
            "--root",
            r,
            "--dry-run",
            "--password",
            "Other-pw",
        ],
        vec!["install", "--root", r, "--dry-run"],
        vec!["status", "--root", r],
        vec!["install", "--root", r, "--password", "toolong-secret9"],
        vec![
            "install",
            "--root",
            r,
            "--vrrp-version",
            "3",
            "--password",
            secret,
        ],
    ] {
        let out = ns.kubealived(&args);
        said += &(text(&out.stdout) + &text(&out.stderr));
    }
    for leaked in [secret, "Other-pw", "toolong-secret9"] {
        assert!(
            !said.contains(leaked),
            "the password {leaked:?} reached the output:\n{said}"
        );
    }
    assert!(
        said.contains("only the password changes"),
        "the dry-run should say the password changes:\n{said}"
    );
}

#[test]
fn uninstall_reports_a_directory_it_cannot_remove() {
    let Some(ns) = lab() else { return };
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    // A mount point cannot be removed (EBUSY): not "not empty", so uninstall
    // must say so. The mount lives only in this command's mount namespace.
    let out = run(ns.exec("sh").arg("-c").arg(format!(
        "mkdir -p {r}/etc/kubealived && mount -t tmpfs tmpfs {r}/etc/kubealived && \
         {BIN} install --root {r} --vip 192.0.2.10 && exec {BIN} uninstall --root {r}"
    )));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}{err}", text(&out.stdout));
    assert!(
        err.contains("etc/kubealived") && err.contains("busy"),
        "{err}"
    );
    // Everything else was removed first.
    assert!(
        text(&out.stdout).matches("removed").count() == 3,
        "{}",
        text(&out.stdout)
    );
    assert!(!root.path().join(MANIFEST).exists());
}

/// A pod that never let go (PID 1 SIGKILLed, the grace period run out)
/// leaves the VIP on the node: uninstall waits for it, bounded, then
/// removes it itself and says so; one the pod does drop is waited for.
#[test]
fn uninstall_removes_a_vip_the_pod_left_behind() {
    let Some(ns) = lab() else { return };
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    assert!(install(&ns, r, &["--vip", "192.0.2.10"]).status.success());
    let holds = || {
        let out = run(ns
            .exec("ip")
            .args(["-o", "addr", "show", "dev", "bond0.100"]));
        text(&out.stdout).contains("192.0.2.10/32")
    };
    ns.ip(&["addr", "add", "192.0.2.10/32", "dev", "bond0.100"]);
    let started = std::time::Instant::now();
    let out = ns.kubealived(&["uninstall", "--root", r.to_str().unwrap(), "--wait", "1"]);
    let said = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(said.contains("removed   VIP 192.0.2.10"), "{said}");
    assert!(!holds(), "uninstall left the VIP:\n{said}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{said}"
    );

    // The pod drops it 0.5 s later: uninstall waits and removes nothing.
    assert!(install(&ns, r, &["--vip", "192.0.2.10"]).status.success());
    ns.ip(&["addr", "add", "192.0.2.10/32", "dev", "bond0.100"]);
    let mut pod = ns
        .exec("sh")
        .args(["-c", "sleep 0.5; ip addr del 192.0.2.10/32 dev bond0.100"])
        .spawn()
        .unwrap();
    let out = ns.kubealived(&["uninstall", "--root", r.to_str().unwrap(), "--wait", "10"]);
    pod.wait().unwrap();
    let said = text(&out.stdout);
    assert!(said.contains("released  the VIP"), "{said}");
    assert!(!said.contains("removed   VIP"), "{said}");
}
