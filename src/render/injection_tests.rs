//! Property test: whatever passes validation renders to a keepalived.conf
//! with exactly the expected directives, one per line, and to a manifest
//! that parses back to the same values. Strings are drawn from keepalived's
//! and YAML's dangerous characters as well as from valid values, so both
//! sides of validation are exercised.

use super::{keepalived, manifest};
use crate::config::Config;
use crate::error::is_usage;
use crate::host::Interface;
use crate::node::Node;
use crate::paths::{CONFIG_HASH_ANNOTATION, INSTANCE_NAME, TRACK_NAME};
use crate::settings::Settings;
use k8s_openapi::api::core::v1::Pod;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use std::cell::Cell;
use std::net::IpAddr;

/// A dangerous character inserted somewhere into a valid value, or noise.
fn garbage() -> impl Strategy<Value = (String, usize)> {
    let dangerous = prop::sample::select(vec![
        "\n", "\r", " ", "\t", "{", "}", "\"", "'", "#", "!", ";", "\\", "/", ":", "@", "\0", "é",
        "-", ".",
    ]);
    prop_oneof![
        3 => (dangerous, any::<prop::sample::Index>()).prop_map(|(d, at)| (d.to_string(), at.index(1000))),
        1 => ("[ -~]{0,20}", Just(usize::MAX)),
        1 => (any::<String>(), Just(usize::MAX)),
    ]
}

/// A valid configuration, and half of the time one field spoiled.
fn settings() -> impl Strategy<Value = Settings> {
    let vips = prop::sample::select(vec![
        vec!["192.0.2.10"],
        vec!["2001:db8::10"],
        vec!["2001:db8::10", "192.0.2.10"],
        vec!["198.51.100.7"],
    ]);
    let auth = prop::sample::select(vec![
        (None, None),
        (None, Some(3)),
        (Some("s3cret"), Some(2)),
        (Some("a-b_c.d8"), Some(2)),
    ]);
    let image = prop::sample::select(vec![
        None,
        Some("registry.example:5000/mirror/kubealived:1.2"),
        Some("k@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
    ]);
    (
        vips,
        prop::sample::select(vec!["eth0", "bond0.100", "enp0s31f6abcdef", "ens3f0np0"]),
        any::<bool>(),
        auth,
        image,
        prop::option::of(1i64..=255),
        prop::option::of(0usize..6),
        garbage(),
    )
        .prop_map(
            |(
                vips,
                interface,
                unicast,
                (password, version),
                image,
                router_id,
                spoil,
                (bad, at),
            )| {
                let v6 = vips[0].contains(':') && vips.len() == 1;
                let peers: Vec<&str> = match (unicast, v6) {
                    (false, _) => vec![],
                    // Every master, this node (LOCAL_ADDRS) among them.
                    (true, false) => vec!["192.0.2.21", "192.0.2.12", "192.0.2.13"],
                    (true, true) => vec!["2001:db8::21", "2001:db8::12"],
                };
                let mut fields: Vec<String> = [
                    vips[0],
                    interface,
                    peers.first().copied().unwrap_or("192.0.2.11"),
                    image.unwrap_or("registry.example/k:1"),
                    password.unwrap_or("s3cret"),
                    vips.get(1).copied().unwrap_or("2001:db8::10"),
                ]
                .map(String::from)
                .to_vec();
                if let Some(field) = spoil {
                    let f = &mut fields[field];
                    *f = if at == usize::MAX {
                        bad
                    } else {
                        let mut chars: Vec<char> = f.chars().collect();
                        let pos = at % (chars.len() + 1);
                        chars.splice(pos..pos, bad.chars());
                        chars.into_iter().collect()
                    };
                }
                let mut s = Settings {
                    vips: vec![fields[0].clone()],
                    interface: Some(fields[1].clone()),
                    peers: peers.iter().map(|p| p.to_string()).collect(),
                    image: image.map(|_| fields[3].clone()),
                    password: password.map(|_| fields[4].clone()),
                    vrrp_version: version,
                    router_id,
                    ..Default::default()
                };
                if vips.len() == 2 {
                    s.vips.push(fields[5].clone());
                }
                match spoil {
                    Some(2) => s.peers.push(fields[2].clone()),
                    Some(3) => s.image = Some(fields[3].clone()),
                    Some(4) => s.password = Some(fields[4].clone()),
                    _ => {}
                }
                s
            },
        )
}

/// The directives a config must render to, in order, as (keyword, arguments).
fn expected_lines(node: &Node) -> Vec<String> {
    let c = &node.config;
    let mut lines = vec![
        "global_defs {".to_string(),
        format!("vrrp_version {}", c.version.number()),
        "vrrp_garp_interval 0.05".into(),
        "vrrp_gna_interval 0.05".into(),
        "notify_fifo /run/kubealived/notify.fifo".into(),
        "vrrp_notify_priority_changes".into(),
        "}".into(),
        format!("track_file {TRACK_NAME} {{"),
        "file \"/run/kubealived/apiserver-ready\"".into(),
        "weight 50".into(),
        "init_file 0".into(),
        "}".into(),
        format!("vrrp_instance {} {{", INSTANCE_NAME),
        "state BACKUP".into(),
        format!("interface {}", node.interface),
        format!("virtual_router_id {}", c.router_id),
        // The base: the track file adds the weight while the apiserver is ready.
        format!("priority {}", c.priority - 50),
        format!("advert_int {}", keepalived::seconds(c.advert_centis)),
        "garp_master_delay 1".into(),
        "garp_master_refresh 1".into(),
    ];
    if !node.peers.is_empty() {
        if let Some(src) = node.unicast_src {
            lines.push(format!("unicast_src_ip {src}"));
        }
        lines.push("unicast_peer {".into());
        lines.extend(node.peers.iter().map(|p| p.to_string()));
        lines.push("}".into());
        lines.push("check_unicast_src".into());
    }
    if let Some(p) = &c.password {
        lines.extend([
            "authentication {".to_string(),
            "auth_type PASS".into(),
            format!("auth_pass {p}"),
            "}".into(),
        ]);
    }
    let host = |ip: &std::net::IpAddr| if ip.is_ipv4() { 32 } else { 128 };
    let (first, rest) = node.vips.split_first().unwrap();
    lines.extend([
        "virtual_ipaddress {".to_string(),
        format!("{}/{} dev {}", first.0, host(&first.0), first.1),
        "}".into(),
    ]);
    if !rest.is_empty() {
        lines.push("virtual_ipaddress_excluded {".into());
        lines.extend(
            rest.iter()
                .map(|(ip, dev)| format!("{ip}/{} dev {dev}", host(ip))),
        );
        lines.push("}".into());
    }
    lines.extend([
        "track_file {".to_string(),
        TRACK_NAME.into(),
        "}".into(),
        "}".into(),
    ]);
    lines
}

fn cases() -> u32 {
    std::env::var("KUBEALIVED_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

const LOCAL_ADDRS: [&str; 3] = ["192.0.2.21/24", "198.51.100.21/24", "2001:db8::21/64"];

/// The host the node is resolved on: none (`render` for another machine,
/// the interface taken as given), or one interface of that name with an
/// address in each VIP's subnet, one of them in the peer list, so the node
/// has a unicast source.
fn interfaces(config: &Config, local: bool) -> Vec<Interface> {
    match (&config.interface, local) {
        (Some(name), true) => vec![Interface {
            name: name.clone(),
            up: true,
            loopback: false,
            addrs: LOCAL_ADDRS.map(|a| a.parse().unwrap()).to_vec(),
        }],
        _ => Vec::new(),
    }
}

/// This node's own address in the peer list, as `interfaces` made it: the
/// address the other masters know it by.
fn expected_src(config: &Config) -> Option<IpAddr> {
    let own = LOCAL_ADDRS.map(|a| a.parse::<ipnet::IpNet>().unwrap().addr());
    config.peers.iter().copied().find(|p| own.contains(p))
}

/// Whatever passes validation renders exactly; whatever fails is a usage
/// error. Counts the valid renders, and those with a unicast source, so a
/// generator that stopped producing them fails the test instead of
/// passing while testing nothing.
#[test]
fn validated_input_cannot_inject_into_keepalived_conf_or_the_manifest() {
    let cases = cases();
    let valid = Cell::new(0u32);
    let with_src = Cell::new(0u32);
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    let result = runner.run(&(settings(), any::<bool>()), |(settings, local)| {
        let config = match Config::validate(&settings) {
            Ok(config) => config,
            Err(e) => {
                prop_assert!(is_usage(&e), "not a usage error: {e:#}");
                return Ok(());
            }
        };
        let node = match crate::node::resolve(&config, &interfaces(&config, local), local) {
            Ok(node) => node,
            Err(e) => {
                prop_assert!(is_usage(&e), "not a usage error: {e:#}");
                return Ok(());
            }
        };
        valid.set(valid.get() + 1);
        if local && !node.peers.is_empty() {
            prop_assert_eq!(node.unicast_src, expected_src(&config));
            if node.unicast_src.is_some() {
                with_src.set(with_src.get() + 1);
            }
        }
        let conf = keepalived::render(&node);

        // Structure: no control characters, one directive per line, braces
        // balanced and never below zero, exactly the expected directives.
        prop_assert!(
            !conf.chars().any(|c| c.is_control() && c != '\n'),
            "control character in:\n{conf}"
        );
        let mut depth = 0i32;
        let mut directives = Vec::new();
        for line in conf.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
            prop_assert!(depth >= 0, "brace closes too early in:\n{conf}");
            prop_assert!(
                !line.contains('#') && !line.contains('!'),
                "comment marker inside a directive: {line}"
            );
            directives.push(line.to_string());
        }
        prop_assert_eq!(depth, 0);
        prop_assert_eq!(directives, expected_lines(&node));

        // The manifest parses back to the same values.
        let yaml = manifest::static_pod(&node, &node.config.image, &conf);
        let pod: Pod = serde_yaml_ng::from_str(&yaml).expect("manifest parses");
        let container = &pod.spec.as_ref().unwrap().containers[0];
        prop_assert_eq!(container.image.as_deref(), Some(config.image.as_str()));
        prop_assert_eq!(
            pod.metadata
                .annotations
                .as_ref()
                .unwrap()
                .get(CONFIG_HASH_ANNOTATION),
            Some(&manifest::config_hash(&conf))
        );
        prop_assert!(manifest::written_by_us(yaml.as_bytes()));
        let bundle = manifest::daemonset_bundle(&node, &conf);
        let docs: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(&bundle)
            .map(|d| serde::Deserialize::deserialize(d).expect("bundle parses"))
            .collect();
        prop_assert_eq!(docs.len(), 2);
        prop_assert_eq!(
            docs[0]["data"]["keepalived.conf"].as_str(),
            Some(conf.as_str())
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (valid, with_src) = (valid.get(), with_src.get());
    eprintln!("{cases} cases: {valid} valid renders, {with_src} with unicast_src_ip");
    assert!(valid >= cases / 4, "only {valid} of {cases} cases rendered");
    assert!(
        with_src >= cases / 20,
        "only {with_src} of {cases} cases reached unicast_src_ip"
    );
}
