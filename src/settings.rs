//! The inputs, declared once: [`Settings`] is both the flags of `install`
//! and `render` (clap, flattened into each) and the keys of config.yaml
//! (serde). Loose types; `config::Config::validate` judges them, so a flag
//! and the same key in a file get the same checks and messages.
//!
//! The flags that read a file ([`Sources`]: `--config`, `--kubeadm-config`,
//! `--password-file`) are not settings and never reach config.yaml.

use crate::error::usage;
use crate::paths::read_optional;
use anyhow::Result;
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The settings that shape the rendered files; also the keys of config.yaml.
#[derive(Args, Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Virtual IP for the API endpoint; give it twice for dual-stack (one IPv4, one IPv6)
    #[arg(long = "vip", value_name = "IP")]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vips: Vec<String>,
    /// Interface to carry the VIP [default: the one whose subnet contains the VIP]
    #[arg(long, value_name = "NAME")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Unicast peer (repeatable): list every master; this node's own addresses are dropped
    #[arg(long = "peer", value_name = "IP")]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
    /// VRRP base priority, the same on every master [default: 250]
    #[arg(long, value_name = "N")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// VRRP virtual router id, 1-255 [default: derived from the VIP]
    #[arg(long, value_name = "VRID")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<i64>,
    /// Advertisement interval in seconds: 0.01-40.95 with VRRPv3, whole 1-255 with v2 [default: 0.3 (v3), 1 (v2)]
    #[arg(long, value_name = "SECONDS")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advert_interval: Option<f64>,
    /// VRRP version [default: 3]; 2 only for the legacy password profile
    #[arg(long, value_name = "2|3")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_version: Option<i64>,
    /// Port of kube-apiserver on this node, for the health check [default: 6443]
    #[arg(long, value_name = "PORT")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apiserver_port: Option<i64>,
    /// Container image running keepalived and kubealived [default: the published image of this version]
    #[arg(long, value_name = "REF")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Where the pod's agent serves /metrics, /healthz and /status, IP:PORT
    /// [default: 127.0.0.1:10290; 0.0.0.0:10290 lets Prometheus scrape it]
    #[arg(long, value_name = "IP:PORT")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_listen: Option<String>,
    /// VRRPv2 PASS authentication, at most 8 characters (cleartext on the wire)
    #[arg(long, value_name = "PASSWORD", conflicts_with = "password_file")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// The flags that read settings from files; flattened beside [`Settings`].
#[derive(Args, Debug, Default, Clone)]
pub struct Sources {
    /// Read the VRRPv2 password from a file (first line)
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Read settings from a YAML file (same keys as /etc/kubealived/config.yaml); flags override it
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Take the VIP and port from controlPlaneEndpoint of a kubeadm config file
    #[arg(long, value_name = "FILE")]
    pub kubeadm_config: Option<PathBuf>,
}

impl Settings {
    /// The keys of config.yaml, as serde names them.
    pub fn keys() -> &'static [&'static str] {
        serde_aux::serde_introspection::serde_introspect::<Settings>()
    }

    /// `over`'s values win where it has them. Each side is taken as the
    /// YAML mapping it serializes to, which leaves out unset values, so
    /// the overlay follows the one definition above.
    pub fn overlay(self, over: Settings) -> Settings {
        let (Value::Mapping(mut merged), Value::Mapping(over)) = (to_value(&self), to_value(&over))
        else {
            unreachable!("a struct serializes to a mapping")
        };
        merged.extend(over);
        serde_yaml_ng::from_value(Value::Mapping(merged)).expect("merged settings deserialize")
    }

    pub fn from_yaml(text: &str, origin: &Path) -> Result<Settings> {
        serde_yaml_ng::from_str(text).map_err(|e| {
            usage!(
                "{} is not a valid kubealived config: {e}.\n\
                 Fix: use only the keys {} (see `kubealived install --help`).",
                origin.display(),
                Settings::keys().join(", ")
            )
        })
    }

    pub fn to_yaml(&self) -> String {
        let body = serde_yaml_ng::to_string(self).expect("settings always serialize");
        format!(
            "# kubealived settings, re-applied by `kubealived install` with no flags\n\
             # and at boot by kubealived.service. Change them with `kubealived install`.\n{body}"
        )
    }
}

fn to_value(settings: &Settings) -> Value {
    serde_yaml_ng::to_value(settings).expect("settings always serialize")
}

fn read_input_file(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        usage!(
            "cannot read the {what} {}: {e}.\nFix: check the path and that it is a readable text file.",
            path.display()
        )
    })
}

fn read_password_file(path: &Path) -> Result<String> {
    let text = read_input_file(path, "password file")?;
    // The first line, so `echo secret > file` works; the rest is ignored.
    Ok(text.lines().next().unwrap_or("").to_string())
}

/// The saved settings at `path`, `None` when there are none.
pub fn read_saved(path: &Path) -> Result<Option<Settings>> {
    read_optional(path)?
        .map(|bytes| Settings::from_yaml(&String::from_utf8_lossy(&bytes), path))
        .transpose()
}

/// Gather the settings for this run. With `--config`, that file is the base;
/// otherwise, when no VIP is given, the saved settings are (so `install`
/// alone re-applies them); flags override the base.
pub fn load(flags: &Settings, sources: &Sources, saved: Option<&Path>) -> Result<Settings> {
    let base = if let Some(path) = &sources.config {
        Settings::from_yaml(&read_input_file(path, "config file")?, path)?
    } else if flags.vips.is_empty() && sources.kubeadm_config.is_none() {
        match saved {
            Some(path) => read_saved(path)?.unwrap_or_default(),
            None => Settings::default(),
        }
    } else {
        Settings::default()
    };
    let mut flags = flags.clone();
    if let Some(path) = &sources.password_file {
        flags.password = Some(read_password_file(path)?);
    }
    let mut settings = base.overlay(flags);
    if let Some(path) = &sources.kubeadm_config {
        let text = read_input_file(path, "kubeadm config")?;
        let (host, port) = crate::kubeadm::control_plane_endpoint(&text, path)?;
        if settings.vips.is_empty() {
            settings.vips = vec![host.to_string()];
        } else if !settings
            .vips
            .iter()
            .any(|v| v.parse::<IpAddr>().ok() == Some(host))
        {
            return Err(usage!(
                "--vip {} conflicts with controlPlaneEndpoint {host} in {}.\n\
                 Fix: drop --vip (the kubeadm config already names the VIP), or make them agree.",
                settings.vips.join(", "),
                path.display()
            ));
        }
        if let Some(port) = port {
            match settings.apiserver_port {
                Some(p) if p != i64::from(port) => {
                    return Err(usage!(
                        "--apiserver-port {p} conflicts with port {port} of controlPlaneEndpoint in {}.\n\
                         Fix: drop --apiserver-port, or make them agree.",
                        path.display()
                    ))
                }
                _ => settings.apiserver_port = Some(i64::from(port)),
            }
        }
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
        #[command(flatten)]
        sources: Sources,
    }

    #[test]
    fn settings_round_trip_through_yaml() {
        let s = Settings {
            vips: vec!["192.0.2.10".into()],
            peers: vec!["192.0.2.11".into(), "192.0.2.12".into()],
            advert_interval: Some(0.3),
            ..Default::default()
        };
        let back = Settings::from_yaml(&s.to_yaml(), Path::new("x")).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn unknown_keys_are_rejected_and_the_known_ones_listed() {
        let err = Settings::from_yaml("vip: 192.0.2.10\n", Path::new("c.yaml")).unwrap_err();
        assert!(crate::error::is_usage(&err));
        let msg = err.to_string();
        assert!(msg.contains("vip"), "{msg}");
        assert!(
            msg.contains(
                "use only the keys vips, interface, peers, priority, routerId, advertInterval, \
                 vrrpVersion, apiserverPort, image, agentListen, password (see"
            ),
            "{msg}"
        );
    }

    #[test]
    fn every_setting_is_a_flag_and_a_key_and_the_sources_are_flags_only() {
        let command = Cli::command();
        let flags: Vec<String> = command
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect();
        assert_eq!(Settings::keys().len(), 11);
        let all = Settings {
            vips: vec!["a".into()],
            interface: Some("a".into()),
            peers: vec!["a".into()],
            priority: Some(1),
            router_id: Some(1),
            advert_interval: Some(1.0),
            vrrp_version: Some(1),
            apiserver_port: Some(1),
            image: Some("a".into()),
            agent_listen: Some("a".into()),
            password: Some("a".into()),
        };
        let yaml = all.to_yaml();
        for key in Settings::keys() {
            assert!(yaml.contains(&format!("\n{key}:")), "{key} not in {yaml}");
        }
        for flag in ["password-file", "config", "kubeadm-config"] {
            assert!(flags.iter().any(|f| f == flag), "--{flag} missing");
            let key = flag.replace('-', "");
            assert!(
                !Settings::keys().iter().any(|k| k.to_lowercase() == key),
                "{flag} is a config.yaml key"
            );
        }
        assert_eq!(flags.len(), 14, "{flags:?}");
    }

    #[test]
    fn overlay_takes_what_the_top_sets_and_keeps_the_rest() {
        let base = Settings {
            vips: vec!["192.0.2.10".into()],
            peers: vec!["192.0.2.11".into()],
            priority: Some(120),
            password: Some("old".into()),
            ..Default::default()
        };
        let top = Settings {
            peers: vec!["192.0.2.12".into()],
            advert_interval: Some(0.3),
            password: Some("new".into()),
            ..Default::default()
        };
        assert_eq!(
            base.clone().overlay(top),
            Settings {
                vips: vec!["192.0.2.10".into()],
                peers: vec!["192.0.2.12".into()],
                priority: Some(120),
                advert_interval: Some(0.3),
                password: Some("new".into()),
                ..Default::default()
            }
        );
        assert_eq!(base.clone().overlay(Settings::default()), base);
    }

    #[test]
    fn flags_parse_into_settings_and_sources() {
        let cli = Cli::parse_from([
            "x",
            "--vip",
            "192.0.2.10",
            "--vip",
            "2001:db8::10",
            "--router-id",
            "7",
            "--config",
            "c.yaml",
        ]);
        assert_eq!(cli.settings.vips, ["192.0.2.10", "2001:db8::10"]);
        assert_eq!(cli.settings.router_id, Some(7));
        assert_eq!(cli.sources.config.as_deref(), Some(Path::new("c.yaml")));
    }
}
