//! Everything outside Rust that names a kubealived path agrees with
//! src/paths.rs: the image build, the systemd unit, the deb's postrm, the
//! package assets in Cargo.toml, and the lab. A path changed on one side
//! only fails here.

mod common;
use common::repo;
use k8s_openapi::api::core::v1::Pod;
use kubealived::paths::*;
use std::fs;
use std::path::{Path, PathBuf};

fn read(relative: &str) -> String {
    fs::read_to_string(repo().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The paths a file outside Rust may name: every host path (absolute or
/// relative to a root), the image's programs, the packaged binary, and the
/// temp-file glob.
fn known() -> Vec<String> {
    let mut known: Vec<String> = [MANIFEST, CONFIG_DIR, KEEPALIVED_CONF, SAVED_CONFIG, LOCK]
        .iter()
        .flat_map(|p| [p.to_string(), on_node(p)])
        .collect();
    let temp_glob = format!("{CONFIG_DIR}/.*{TEMP_SUFFIX}");
    known.push(on_node(&temp_glob));
    known.push(temp_glob);
    known.extend(
        [
            BINARY_IN_IMAGE,
            KEEPALIVED_IN_IMAGE,
            CONFIG_DIR_IN_POD,
            KEEPALIVED_CONF_IN_POD,
            BINARY_ON_HOST,
        ]
        .map(String::from),
    );
    known
}

/// Every path-like word in `text` that begins with one of kubealived's
/// directories or a program directory and names kubealived or keepalived.
fn kubealived_paths(text: &str) -> Vec<String> {
    const STARTS: [&str; 5] = [
        "etc/kubernetes/manifests/",
        "etc/kubealived",
        "/usr/local/bin/",
        "/usr/sbin/",
        "/usr/bin/",
    ];
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "/._-*".contains(c);
    let mut found = Vec::new();
    for start in STARTS {
        for (at, _) in text.match_indices(start) {
            // `/etc/...` and `etc/...` are the same host path.
            let at = if at > 0 && text[..at].ends_with('/') && !start.starts_with('/') {
                at - 1
            } else {
                at
            };
            let end = text[at + 1..]
                .find(|c| !is_path_char(c))
                .map_or(text.len(), |e| at + 1 + e);
            let word = text[at..end].trim_end_matches('.').to_string();
            if word.contains("kubealived") || word.contains("keepalived") {
                found.push(word);
            }
        }
    }
    found
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !name.starts_with('.') && name != "__pycache__" {
                files.extend(files_under(&path));
            }
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn every_path_outside_rust_is_one_of_paths_rs() {
    let known = known();
    let mut unknown = Vec::new();
    let mut seen = Vec::new();
    for dir in ["packaging", "systemd", "tests/lab"] {
        for file in files_under(&repo().join(dir)) {
            let Ok(text) = fs::read_to_string(&file) else {
                continue;
            };
            for path in kubealived_paths(&text) {
                let absolute = if path.starts_with('/') {
                    path.clone()
                } else {
                    on_node(&path)
                };
                if known.contains(&path) || known.contains(&absolute) {
                    seen.push((dir, absolute));
                } else {
                    unknown.push(format!(
                        "{}: {path}",
                        file.strip_prefix(repo()).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "paths that src/paths.rs does not know (a typo, or a path that moved on one side only):\n{}",
        unknown.join("\n")
    );
    // The lab names the files it inspects: the check above is not vacuous.
    for wanted in [MANIFEST, KEEPALIVED_CONF] {
        assert!(
            seen.contains(&("tests/lab", on_node(wanted))),
            "the lab no longer names {wanted}: update this test"
        );
    }
    assert!(seen.contains(&("tests/lab", BINARY_IN_IMAGE.to_string())));
}

#[test]
fn the_kubealived_paths_scanner_flags_a_mismatch() {
    let text = r#"root / "etc/kubealived/keepalived.cfg" and "/usr/local/bin/kubealived-x""#;
    assert_eq!(
        kubealived_paths(text),
        [
            "etc/kubealived/keepalived.cfg",
            "/usr/local/bin/kubealived-x"
        ]
    );
    let known = known();
    assert!(kubealived_paths(text).iter().all(|p| !known.contains(p)));
    assert_eq!(
        kubealived_paths(r#"f"{root}/etc/kubealived\n" /usr/sbin/keepalived."#),
        [on_node(CONFIG_DIR), KEEPALIVED_IN_IMAGE.to_string()]
    );
}

#[test]
fn the_unit_and_the_packages_use_the_same_paths() {
    let unit = read(&format!("systemd/{UNIT}"));
    for line in [
        format!("ConditionPathExists={}", on_node(SAVED_CONFIG)),
        format!("ExecStart={BINARY_ON_HOST} install"),
    ] {
        assert!(
            unit.contains(&format!("{line}\n")),
            "the unit lacks {line:?}"
        );
    }
    let cargo = read("Cargo.toml");
    let (dir, name) = BINARY_ON_HOST.rsplit_once('/').unwrap();
    assert_eq!(name, "kubealived");
    for asset in [
        format!(
            "[\"target/release/kubealived\", \"{}/\", \"755\"]",
            &dir[1..]
        ),
        format!("dest = \"{BINARY_ON_HOST}\""),
        format!("dest = \"/usr/lib/systemd/system/{UNIT}\""),
        format!("\"target/image/kubealived-image.oci.tar\", \"{IMAGE_ARCHIVE}\", \"644\""),
        format!("dest = \"{}\"", on_node(IMAGE_ARCHIVE)),
    ] {
        assert!(cargo.contains(&asset), "Cargo.toml lacks {asset}");
    }
}

#[test]
fn postrm_purges_exactly_the_owned_files_and_only_our_manifest() {
    let postrm = read("packaging/deb/postrm");
    for file in [SAVED_CONFIG, KEEPALIVED_CONF, LOCK] {
        assert!(
            postrm.contains(&format!("\"$root/{file}\"")),
            "postrm does not remove {file}"
        );
    }
    assert!(postrm.contains(&format!("manifest=\"$root/{MANIFEST}\"")));
    assert!(postrm.contains(&format!("\"$root\"/{CONFIG_DIR}/.*{TEMP_SUFFIX}")));
    assert!(postrm.contains(&format!("rmdir \"$root/{CONFIG_DIR}\"")));
    assert!(
        postrm.contains(&format!(
            "grep -q '{MANAGED_BY_LABEL}: {NAME}' \"$manifest\""
        )),
        "postrm does not check the managed-by label"
    );
}

/// packaging/container/image.py builds the image: the programs where the
/// manifest runs them, and a default command the manifest's begins with.
#[test]
fn the_image_build_puts_the_programs_where_the_manifest_runs_them() {
    let script = repo().join("packaging/container");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import json, sys; sys.path.insert(0, sys.argv[1]); import image; print(json.dumps([image.CMD, image.KEEPALIVED, image.KUBEALIVED]))")
        .arg(&script)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (cmd, keepalived, kubealived): (Vec<String>, String, String) =
        serde_yaml_ng::from_slice(&out.stdout).unwrap();
    assert_eq!(on_node(&keepalived), KEEPALIVED_IN_IMAGE);
    assert_eq!(on_node(&kubealived), BINARY_IN_IMAGE);
    let settings = kubealived::settings::Settings {
        vips: vec!["192.0.2.10".into()],
        interface: Some("eth0".into()),
        ..Default::default()
    };
    let config = kubealived::config::Config::validate(&settings).unwrap();
    let node = kubealived::node::resolve(&config, &[], false).unwrap();
    let conf = kubealived::render::keepalived::render(&node);
    let pod: Pod = serde_yaml_ng::from_str(&kubealived::render::manifest::static_pod(
        &node,
        &node.config.image,
        &conf,
    ))
    .unwrap();
    let command = pod.spec.unwrap().containers[0].command.clone().unwrap();
    assert!(
        command.starts_with(&cmd),
        "the manifest's command {command:?} does not start with image.py's CMD {cmd:?}"
    );
    assert_eq!(command[..2], [BINARY_IN_IMAGE, "agent"]);
    assert!(command.contains(&KEEPALIVED_CONF_IN_POD.to_string()));
    assert!(conf.contains(&format!("file \"{AGENT_RUN_DIR}/{TRACK_FILE}\"")));
}

/// The lab inspects the agent's nftables tables by the names src/paths.rs gives them.
#[test]
fn the_lab_names_the_agents_nftables_tables_as_paths_rs_does() {
    let names = read("tests/lab/names.py");
    for (key, table) in [
        ("VRRP_TABLE", NFT_TABLE),
        ("BALANCE_TABLE", NFT_BALANCE_TABLE),
    ] {
        assert!(
            names.contains(&format!("{key} = \"{table}\"")),
            "tests/lab/names.py's {key} is not \"{table}\" (src/paths.rs)"
        );
    }
}
