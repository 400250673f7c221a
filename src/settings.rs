//! The inputs, declared once: [`Settings`] is both the flags of `install`
//! and `render` (clap, flattened into each) and the keys of config.yaml
//! (serde). Loose types; `config::Config::validate` judges them, so a flag
//! and the same key in a file get the same checks and messages.
//!
//! The flags that are not settings ([`Sources`]: `--config`,
//! `--kubeadm-config`, `--password-file`, `--unset`) never reach
//! config.yaml. [`Origins`] remembers where each value came from, so a
//! message names the flag or the file's key that set it.

use crate::error::usage;
use crate::kubeadm::{self, Address, Kubeadm};
use crate::paths::read_optional;
use anyhow::Result;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeMap;
use std::fmt::Display;
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
    /// [default: 127.0.0.1:10290; this node's address lets Prometheus scrape it]
    #[arg(long, value_name = "IP:PORT")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_listen: Option<String>,
    /// VRRPv2 PASS authentication, at most 8 characters (cleartext on the wire)
    #[arg(long, value_name = "PASSWORD", conflicts_with = "password_file")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Accept VRRP only from the peers: the agent drops other hosts' VRRP with an
    /// nftables table of its own (needs --peer) [default: false]
    #[arg(long, value_name = "true|false", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_filter: Option<bool>,
    /// Spread new connections to the VIP over every master whose apiserver is ready,
    /// from the holder (kernel NAT; needs --peer) [default: false]
    #[arg(long, value_name = "true|false", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balance: Option<bool>,
    /// The port clients use at the VIP, when it is not kube-apiserver's (needs
    /// --load-balance) [default: --apiserver-port]
    #[arg(long, value_name = "PORT")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_port: Option<i64>,
}

/// The flags that are not settings: they read settings from files, or
/// unset saved ones; flattened beside [`Settings`].
#[derive(Args, Debug, Default, Clone)]
pub struct Sources {
    /// Read the VRRPv2 password from a file (first line)
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Read settings from a YAML file (same keys as /etc/kubealived/config.yaml); flags override it
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Take the VIP and port from controlPlaneEndpoint of a kubeadm config file
    /// (or discovery.bootstrapToken.apiServerEndpoint of a JoinConfiguration);
    /// when it is a DNS name, give the VIP with --vip
    #[arg(long, value_name = "FILE")]
    pub kubeadm_config: Option<PathBuf>,
    /// Remove a setting from the saved settings (or from --config FILE), so its
    /// default applies: a config.yaml key or its flag's name, e.g. password,
    /// peers, interface (repeatable, or comma-separated). A flag given as well
    /// still sets it
    #[arg(long, value_name = "KEY", value_delimiter = ',', value_parser = unset_parser())]
    pub unset: Vec<String>,
}

impl Settings {
    /// The keys of config.yaml, as serde names them.
    pub fn keys() -> &'static [&'static str] {
        serde_aux::serde_introspection::serde_introspect::<Settings>()
    }

    /// A value of every key, as config.yaml would hold it: the examples
    /// that messages about a file's types show.
    pub fn example() -> Settings {
        Settings {
            vips: vec!["192.0.2.10".into()],
            interface: Some("eth0".into()),
            peers: vec!["192.0.2.11".into(), "192.0.2.12".into()],
            priority: Some(250),
            router_id: Some(10),
            advert_interval: Some(0.3),
            vrrp_version: Some(2),
            apiserver_port: Some(6443),
            image: Some("registry.example.com/kubealived:1.0".into()),
            agent_listen: Some("127.0.0.1:10290".into()),
            password: Some("s3cr3t".into()),
            vrrp_filter: Some(true),
            load_balance: Some(true),
            endpoint_port: Some(443),
        }
    }

    /// `over`'s values win where it has them. Each side is taken as the
    /// YAML mapping it serializes to, which leaves out unset values, so
    /// the overlay follows the one definition above.
    pub fn overlay(self, over: Settings) -> Settings {
        let mut merged = to_mapping(&self);
        merged.extend(to_mapping(&over));
        from_mapping(merged)
    }

    /// These settings without `keys` (config.yaml keys).
    pub fn without(self, keys: &[String]) -> Settings {
        let mut map = to_mapping(&self);
        for key in keys {
            map.remove(key.as_str());
        }
        from_mapping(map)
    }

    /// The keys these settings set.
    pub fn set_keys(&self) -> Vec<String> {
        to_mapping(self)
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect()
    }

    /// Settings from a YAML file. An empty file sets nothing. Each
    /// mistake gets its own fix: the syntax, an unknown key, or a key's
    /// value of the wrong type (with an example of the right one).
    pub fn from_yaml(text: &str, origin: &Path) -> Result<Settings> {
        let file = origin.display();
        let value: Value = serde_yaml_ng::from_str(text).map_err(|e| {
            usage!(
                "{file} is not valid YAML: {e}.\nFix: correct the YAML there, one `key: value` per line \
                 (e.g. `vips: [192.0.2.10]`)."
            )
        })?;
        let map = match value {
            Value::Null => return Ok(Settings::default()),
            Value::Mapping(map) => map,
            _ => {
                return Err(usage!(
                    "{file} is not a mapping of kubealived settings.\nFix: write one `key: value` per line, \
                     e.g. `vips: [192.0.2.10]`, with the keys {}.",
                    Settings::keys().join(", ")
                ))
            }
        };
        for (key, value) in &map {
            let Some(name) = key.as_str().filter(|k| Settings::keys().contains(k)) else {
                let shown = serde_yaml_ng::to_string(key).unwrap_or_default();
                return Err(usage!(
                    "{file} is not a valid kubealived config: unknown key {}.\n\
                     Fix: use only the keys {} (see `kubealived install --help`).",
                    shown.trim(),
                    Settings::keys().join(", ")
                ));
            };
            let alone = Mapping::from_iter([(key.clone(), value.clone())]);
            if let Err(e) = serde_yaml_ng::from_value::<Settings>(Value::Mapping(alone)) {
                return Err(usage!(
                    "{file}: the value of `{name}` has the wrong type ({e}).\nFix: write it like `{}`.",
                    example_line(name)
                ));
            }
        }
        serde_yaml_ng::from_value(Value::Mapping(map))
            .map_err(|e| usage!("{file} is not a valid kubealived config: {e}.\nFix: write each key like the example in `kubealived install --help`."))
    }

    pub fn to_yaml(&self) -> String {
        let body = serde_yaml_ng::to_string(self).expect("settings always serialize");
        format!(
            "# kubealived settings, re-applied by `kubealived install` with no flags\n\
             # and at boot by kubealived.service. Change them with `kubealived install`.\n{body}"
        )
    }
}

fn to_mapping(settings: &Settings) -> Mapping {
    match serde_yaml_ng::to_value(settings).expect("settings always serialize") {
        Value::Mapping(map) => map,
        _ => unreachable!("a struct serializes to a mapping"),
    }
}

fn from_mapping(map: Mapping) -> Settings {
    serde_yaml_ng::from_value(Value::Mapping(map)).expect("settings from settings deserialize")
}

/// `key: value` of [`Settings::example`], lists in flow style.
fn example_line(key: &str) -> String {
    let map = to_mapping(&Settings::example());
    let value = &map[key];
    let scalar = |v: &Value| {
        serde_yaml_ng::to_string(v)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let shown = match value {
        Value::Sequence(items) => {
            let items: Vec<String> = items.iter().map(scalar).collect();
            format!("[{}]", items.join(", "))
        }
        other => scalar(other),
    };
    format!("{key}: {shown}")
}

/// The long flag of the config.yaml key `key`: `vips` → `--vip`. Only
/// used in messages, so a key that is no setting is shown as it is.
pub fn flag(key: &str) -> String {
    let long = long_flags()
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(key, |(_, long)| long);
    format!("--{long}")
}

/// Each config.yaml key with its long flag (without dashes), as clap
/// and serde name them: (`vips`, `vip`), (`routerId`, `router-id`).
fn long_flags() -> &'static [(&'static str, &'static str)] {
    static TABLE: std::sync::OnceLock<Vec<(&'static str, &'static str)>> =
        std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let command = Settings::augment_args(clap::Command::new("kubealived"));
        Settings::keys()
            .iter()
            .map(|key| {
                let id: String = key
                    .chars()
                    .flat_map(|c| {
                        let underscore = c.is_ascii_uppercase().then_some('_');
                        underscore.into_iter().chain([c.to_ascii_lowercase()])
                    })
                    .collect();
                let long = command
                    .get_arguments()
                    .find(|a| a.get_id() == id.as_str())
                    .and_then(|a| a.get_long())
                    .unwrap_or_else(|| panic!("{key} has no flag"));
                // Once per process: the table lives as long as the program.
                (*key, &*Box::leak(long.to_string().into_boxed_str()))
            })
            .collect()
    })
}

/// `--unset KEY`: a config.yaml key, or its flag's name as an alias;
/// yields the key.
fn unset_parser() -> impl TypedValueParser<Value = String> {
    let values = long_flags().iter().map(|&(key, long)| {
        let value = PossibleValue::new(key);
        if long == key {
            value
        } else {
            value.alias(long)
        }
    });
    PossibleValuesParser::new(values).map(|given: String| {
        long_flags()
            .iter()
            .find(|(key, long)| *key == given || *long == given)
            .map_or(given.clone(), |(key, _)| key.to_string())
    })
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Its flag; also what settings built in code are taken for.
    Flag,
    /// A key of `--config FILE`.
    ConfigFile(PathBuf),
    /// A key of the saved config.yaml.
    Saved(PathBuf),
    /// `--password-file FILE`.
    PasswordFile(PathBuf),
    /// The endpoint (`field`) of `--kubeadm-config FILE`.
    Kubeadm(PathBuf, &'static str),
}

/// Where each setting came from, as far as messages need it: a key not
/// noted here came from its flag.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origins {
    /// The file the run started from (`--config`, or the saved settings).
    pub base: Option<Origin>,
    by_key: BTreeMap<String, Origin>,
}

impl Origins {
    pub fn of(&self, key: &str) -> &Origin {
        self.by_key.get(key).unwrap_or(&Origin::Flag)
    }

    pub fn note(&mut self, key: &str, origin: Origin) {
        self.by_key.insert(key.to_string(), origin);
    }

    /// The setting with a value, as a message's subject: `--priority 0`,
    /// `` `priority: 0` in FILE``.
    pub fn subject(&self, key: &str, value: impl Display) -> String {
        match self.of(key) {
            Origin::Flag => format!("{} {value}", flag(key)),
            Origin::ConfigFile(path) | Origin::Saved(path) => {
                format!("`{key}: {value}` in {}", path.display())
            }
            Origin::PasswordFile(path) => format!("the password in {}", path.display()),
            Origin::Kubeadm(path, field) => format!("{value} ({field} in {})", path.display()),
        }
    }

    /// The setting without a value: `--vip`, `` `vips` in FILE``.
    pub fn name(&self, key: &str) -> String {
        match self.of(key) {
            Origin::Flag => flag(key),
            Origin::ConfigFile(path) | Origin::Saved(path) => {
                format!("`{key}` in {}", path.display())
            }
            Origin::PasswordFile(path) => format!("--password-file {}", path.display()),
            Origin::Kubeadm(path, field) => format!("{field} in {}", path.display()),
        }
    }

    /// A fix that takes the value away, so the default applies: `drop
    /// --password`, `` remove `password` from FILE``, `add --unset password`.
    pub fn unset(&self, key: &str) -> String {
        match self.of(key) {
            Origin::Flag => format!("drop {}", flag(key)),
            Origin::ConfigFile(path) => format!("remove `{key}` from {}", path.display()),
            Origin::Saved(path) => format!("add --unset {key} (it is saved in {})", path.display()),
            Origin::PasswordFile(_) => "drop --password-file".to_string(),
            Origin::Kubeadm(..) => "drop --kubeadm-config".to_string(),
        }
    }
}

/// The settings for this run, where they came from, and the kubeadm
/// config they took the VIP or port from.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub settings: Settings,
    pub origins: Origins,
    /// `--kubeadm-config FILE` and what was read from it.
    pub kubeadm: Option<(PathBuf, Kubeadm)>,
}

impl Loaded {
    /// Settings built in code: every value counts as a flag.
    pub fn from_flags(settings: Settings) -> Loaded {
        Loaded {
            settings,
            ..Default::default()
        }
    }
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
/// otherwise the saved settings are (so `install` alone re-applies them,
/// and `install --vip X` keeps the saved peers and VRRP version);
/// `--unset` takes keys out of the base; flags override it.
pub fn load(flags: &Settings, sources: &Sources, saved: Option<&Path>) -> Result<Loaded> {
    let (base, base_origin) = if let Some(path) = &sources.config {
        let text = read_input_file(path, "config file")?;
        (
            Settings::from_yaml(&text, path)?,
            Some(Origin::ConfigFile(path.clone())),
        )
    } else {
        // The saved settings are the base whatever the flags say: a
        // re-run of the quick-start line (`install --vip X`) on a node
        // installed with --peer or VRRPv2 must not switch it to multicast
        // v3 and split the cluster. `--unset KEY` drops what should go.
        match saved.map(|path| (path, read_saved(path))) {
            Some((path, found)) => match found? {
                Some(settings) => (settings, Some(Origin::Saved(path.to_path_buf()))),
                None => (Settings::default(), None),
            },
            None => (Settings::default(), None),
        }
    };
    let base = base.without(&sources.unset);
    let mut origins = Origins {
        base: base_origin.clone(),
        ..Default::default()
    };
    if let Some(origin) = &base_origin {
        for key in base.set_keys() {
            origins.note(&key, origin.clone());
        }
    }
    let mut flags = flags.clone();
    for key in flags.set_keys() {
        origins.note(&key, Origin::Flag);
    }
    if let Some(path) = &sources.password_file {
        flags.password = Some(read_password_file(path)?);
        origins.note("password", Origin::PasswordFile(path.clone()));
    }
    let mut loaded = Loaded {
        settings: base.overlay(flags),
        origins,
        kubeadm: None,
    };
    if let Some(path) = &sources.kubeadm_config {
        let text = read_input_file(path, "kubeadm config")?;
        let kubeadm = kubeadm::read(&text, path)?;
        take_endpoint(&mut loaded, path, &kubeadm)?;
        loaded.kubeadm = Some((path.clone(), kubeadm));
    }
    Ok(loaded)
}

/// The VIP (unless it is a DNS name) of a kubeadm endpoint and the port
/// kube-apiserver listens on, where nothing else sets them, or checked
/// against what does.
fn take_endpoint(loaded: &mut Loaded, path: &Path, kubeadm: &Kubeadm) -> Result<()> {
    let Loaded {
        settings, origins, ..
    } = loaded;
    let endpoint = &kubeadm.endpoint;
    let (file, field, text) = (path.display(), endpoint.field, &endpoint.text);
    let origin = Origin::Kubeadm(path.to_path_buf(), field);
    match &endpoint.address {
        Address::Ip(ip) if settings.vips.is_empty() => {
            settings.vips = vec![ip.to_string()];
            origins.note("vips", origin.clone());
        }
        Address::Ip(ip) => {
            if !settings
                .vips
                .iter()
                .any(|v| v.parse::<IpAddr>().ok() == Some(*ip))
            {
                return Err(usage!(
                    "{} conflicts with {field} {text:?} in {file}.\n\
                     Fix: {} (the kubeadm config already names the VIP), or make them agree.",
                    origins.subject("vips", settings.vips.join(", ")),
                    origins.unset("vips")
                ));
            }
        }
        Address::Name(name) if settings.vips.is_empty() => {
            let port = match endpoint.port {
                Some(port) => format!(" (port {port} is taken from {field})"),
                None => String::new(),
            };
            return Err(usage!(
                "{field} {text:?} in {file} names the endpoint by the DNS name {name}, and no VIP was given.\n\
                 Fix: keep the name there and give the address it resolves to, the VIP, with --vip: \
                 `--kubeadm-config {file} --vip IP`{port}."
            ));
        }
        // The VIP is the one given; what the name resolves to is checked
        // on the host (a warning: DNS may not be set up yet).
        Address::Name(_) => {}
    }
    // An endpoint port kube-apiserver does not listen on: only load
    // balancing maps it to the apiservers' (loadBalance from a flag or a
    // config file; the kubeadm config cannot say it).
    if let (Some(why), Some(endpoint_port)) = (&kubeadm.other_port, endpoint.port) {
        if settings.load_balance != Some(true) {
            return Err(usage!("{why}"));
        }
        settings.endpoint_port = Some(i64::from(endpoint_port));
        origins.note("endpointPort", origin.clone());
    }
    // The port kube-apiserver listens on (the endpoint's too, where it
    // names the same one), and where the file says so; kubeadm's default
    // where it does not, then only checked against.
    let (port, bind_field) = (kubeadm.bind_port.port, kubeadm.bind_port.field);
    let said = match (endpoint.port, bind_field) {
        (Some(p), _) if p == port => {
            Some((field, format!("port {port} of {field} {text:?} in {file}")))
        }
        (Some(_), Some(bind_field)) => Some((bind_field, format!("{bind_field} {port} in {file}"))),
        (Some(_), None) => None,
        (None, Some(bind_field)) => Some((bind_field, format!("{bind_field} {port} in {file}"))),
        (None, None) => None,
    };
    match (settings.apiserver_port, said) {
        (Some(p), said) if p != i64::from(port) => {
            let source = said.map_or_else(
                || {
                    format!(
                        "{file}, which sets no localAPIEndpoint.bindPort: kube-apiserver listens \
                         on kubeadm's default, {port}"
                    )
                },
                |(_, what)| what,
            );
            Err(usage!(
                "{} conflicts with {source}.\nFix: {}, or make them agree.",
                origins.subject("apiserverPort", p),
                origins.unset("apiserverPort")
            ))
        }
        (_, Some((field, _))) => {
            settings.apiserver_port = Some(i64::from(port));
            origins.note("apiserverPort", Origin::Kubeadm(path.to_path_buf(), field));
            Ok(())
        }
        (_, None) => Ok(()),
    }
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
                 vrrpVersion, apiserverPort, image, agentListen, password, vrrpFilter, loadBalance, \
                 endpointPort (see"
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
        assert_eq!(Settings::keys().len(), 14);
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
            vrrp_filter: Some(true),
            load_balance: Some(true),
            endpoint_port: Some(1),
        };
        let yaml = all.to_yaml();
        for key in Settings::keys() {
            assert!(yaml.contains(&format!("\n{key}:")), "{key} not in {yaml}");
        }
        for flag in ["password-file", "config", "kubeadm-config", "unset"] {
            assert!(flags.iter().any(|f| f == flag), "--{flag} missing");
            let key = flag.replace('-', "");
            assert!(
                !Settings::keys().iter().any(|k| k.to_lowercase() == key),
                "{flag} is a config.yaml key"
            );
        }
        assert_eq!(flags.len(), 18, "{flags:?}");
        // The example shows every key, for the messages about a file's types.
        assert_eq!(Settings::example().set_keys(), Settings::keys());
    }

    #[test]
    fn origins_name_a_value_by_its_flag_or_its_file_key() {
        assert_eq!(flag("vips"), "--vip");
        assert_eq!(flag("peers"), "--peer");
        assert_eq!(flag("routerId"), "--router-id");
        assert_eq!(flag("agentListen"), "--agent-listen");
        let mut o = Origins::default();
        assert_eq!(o.subject("priority", 0), "--priority 0");
        assert_eq!(o.unset("password"), "drop --password");
        o.note("priority", Origin::ConfigFile("c.yaml".into()));
        o.note("password", Origin::Saved("config.yaml".into()));
        assert_eq!(o.subject("priority", 0), "`priority: 0` in c.yaml");
        assert_eq!(o.name("priority"), "`priority` in c.yaml");
        assert_eq!(o.unset("priority"), "remove `priority` from c.yaml");
        assert_eq!(
            o.unset("password"),
            "add --unset password (it is saved in config.yaml)"
        );
    }

    #[test]
    fn unset_takes_keys_or_flag_names_and_removes_them_from_the_base() {
        let cli = Cli::parse_from(["x", "--unset", "password,peer", "--unset", "router-id"]);
        assert_eq!(cli.sources.unset, ["password", "peers", "routerId"]);
        assert!(Cli::try_parse_from(["x", "--unset", "vip-address"]).is_err());
        let dir = tempfile::tempdir().unwrap();
        let saved = dir.path().join("config.yaml");
        let base = Settings {
            vips: vec!["192.0.2.10".into()],
            peers: vec!["192.0.2.11".into()],
            password: Some("abc123".into()),
            vrrp_version: Some(2),
            ..Default::default()
        };
        std::fs::write(&saved, base.to_yaml()).unwrap();
        let flags = Settings {
            vrrp_version: Some(3),
            ..Default::default()
        };
        let loaded = load(&flags, &cli.sources, Some(&saved)).unwrap();
        assert_eq!(
            loaded.settings,
            Settings {
                vips: vec!["192.0.2.10".into()],
                vrrp_version: Some(3),
                ..Default::default()
            }
        );
        assert_eq!(loaded.origins.of("vips"), &Origin::Saved(saved.clone()));
        assert_eq!(loaded.origins.of("vrrpVersion"), &Origin::Flag);
        assert_eq!(loaded.origins.base, Some(Origin::Saved(saved)));
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
