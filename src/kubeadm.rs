//! `--kubeadm-config`: take the VIP and port from a kubeadm config file,
//! so the endpoint is written down once: `controlPlaneEndpoint` of the
//! ClusterConfiguration (what `kubeadm init` reads), else
//! `discovery.bootstrapToken.apiServerEndpoint` of the JoinConfiguration
//! (what a joining master usually has).
//!
//! The endpoint may name the VIP by a DNS name; then the VIP itself must
//! come from `--vip`, and only the port is taken from here.
//!
//! The VIP carries connections to the apiservers as they are: it cannot
//! change their port, nor reach an apiserver bound to another address. So
//! the endpoint's port must be the one kube-apiserver listens on
//! (`localAPIEndpoint.bindPort`, 6443 by default), and `bind-address` in
//! `apiServer.extraArgs` is read for install to judge against the VIPs.

use crate::error::usage;
use crate::paths::DEFAULT_APISERVER_PORT;
use anyhow::Result;
use serde::Deserialize;
use serde_yaml_ng::Value;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;

const SUPPORTED: [&str; 2] = ["kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"];
const CLUSTER_FIELD: &str = "controlPlaneEndpoint";
const JOIN_FIELD: &str = "discovery.bootstrapToken.apiServerEndpoint";
const INIT_PORT_FIELD: &str = "localAPIEndpoint.bindPort";
const JOIN_PORT_FIELD: &str = "controlPlane.localAPIEndpoint.bindPort";
const BIND_FIELD: &str = "apiServer.extraArgs bind-address";

/// The host part of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Ip(IpAddr),
    /// A DNS name, as written.
    Name(String),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Ip(ip) => write!(f, "{ip}"),
            Address::Name(name) => f.write_str(name),
        }
    }
}

/// The endpoint a kubeadm config names, and where it found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub address: Address,
    pub port: Option<u16>,
    /// `controlPlaneEndpoint` or `discovery.bootstrapToken.apiServerEndpoint`.
    pub field: &'static str,
    /// The value as the file writes it.
    pub text: String,
}

/// The port kube-apiserver listens on, and the field that sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindPort {
    pub port: u16,
    /// `localAPIEndpoint.bindPort` or `controlPlane.localAPIEndpoint.bindPort`;
    /// None when the file sets neither (kubeadm's default, 6443, applies).
    pub field: Option<&'static str>,
}

/// What kubealived takes from a kubeadm config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kubeadm {
    pub endpoint: Endpoint,
    /// Always the endpoint's port, when the endpoint names one.
    pub bind_port: BindPort,
    /// `apiServer.extraArgs` bind-address of the ClusterConfiguration.
    pub bind_address: Option<IpAddr>,
    /// When the endpoint names a port kube-apiserver does not listen on:
    /// the error to give unless the VIP is load-balanced (which maps one
    /// port to the other).
    pub other_port: Option<String>,
}

/// The documents kubealived reads, by kind.
#[derive(Default)]
struct Documents {
    cluster: Option<Value>,
    init: Option<Value>,
    join: Option<Value>,
}

/// The value at `keys` in `doc`.
fn at<'a>(doc: &'a Option<Value>, keys: &[&str]) -> Option<&'a Value> {
    let mut v = doc.as_ref()?;
    for key in keys {
        v = v.get(key)?;
    }
    Some(v)
}

/// What the kubeadm config `text`, read from `path`, gives: the endpoint,
/// the port kube-apiserver listens on (the same), its bind-address.
pub fn read(text: &str, path: &Path) -> Result<Kubeadm> {
    let docs = documents(text, path)?;
    let endpoint = endpoint(&docs, path)?;
    let bind_port = bind_port(&docs, path)?;
    let other_port = endpoint
        .port
        .filter(|p| *p != bind_port.port)
        .map(|port| other_port(&docs, &endpoint, port, &bind_port, path).to_string());
    Ok(Kubeadm {
        bind_address: bind_address(&docs, path)?,
        endpoint,
        bind_port,
        other_port,
    })
}

/// The error for an endpoint naming `port` while kube-apiserver listens on
/// another: nothing would answer it.
fn other_port(
    docs: &Documents,
    endpoint: &Endpoint,
    port: u16,
    bind_port: &BindPort,
    path: &Path,
) -> anyhow::Error {
    let (bound, set) = (bind_port.port, bind_port.field);
    // Where a bindPort would go: a joining master's own document, else
    // an InitConfiguration.
    let (unset, place) = match (&docs.init, &docs.join) {
        (None, Some(_)) => (JOIN_PORT_FIELD, "the JoinConfiguration"),
        _ => (INIT_PORT_FIELD, "an InitConfiguration"),
    };
    let listens = match set {
        Some(field) => format!("{bound} ({field} there)"),
        None => format!("{bound} (kubeadm's default: the file sets no {unset})"),
    };
    let same = match &endpoint.address {
        Address::Ip(IpAddr::V6(ip)) => format!("[{ip}]:{bound}"),
        address => format!("{address}:{bound}"),
    };
    let set_port = match set {
        Some(field) => format!("{field}: {port}"),
        None => format!("{unset}: {port} in {place}"),
    };
    usage!(
        "{} {:?} in {} names port {port}, but kube-apiserver listens on {listens}: clients of \
         port {port} would reach nothing, since a VIP carries connections to the apiservers' \
         own port and cannot map one port to another.\n\
         Fix: use the same port in both: {}: \"{same}\", or set {set_port}; or add \
         --load-balance, which spreads VIP:{port} over every master's :{bound} (needs --peer).",
        endpoint.field,
        endpoint.text,
        path.display(),
        endpoint.field,
    )
}

/// The ClusterConfiguration, InitConfiguration and JoinConfiguration of
/// `text`, each at most once and of a version kubealived reads.
fn documents(text: &str, path: &Path) -> Result<Documents> {
    let file = path.display();
    let mut docs = Documents::default();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|e| {
            usage!("{file} is not valid YAML: {e}.\nFix: check the file with `kubeadm config validate --config {file}`.")
        })?;
        let kind = value.get("kind").and_then(Value::as_str);
        let slot = match kind {
            Some("ClusterConfiguration") => &mut docs.cluster,
            Some("InitConfiguration") => &mut docs.init,
            Some("JoinConfiguration") => &mut docs.join,
            _ => continue,
        };
        let kind = kind.unwrap_or_default();
        if slot.is_some() {
            // kubeadm refuses such a file ("kind is specified twice").
            return Err(usage!(
                "{file} has two {kind} documents; kubeadm refuses such a file.\n\
                 Fix: keep one {kind} (the one `kubeadm` should use) and delete the other."
            ));
        }
        let api = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !SUPPORTED.contains(&api) {
            return Err(usage!(
                "{file}: {kind} has apiVersion {api:?}, which kubealived does not read.\n\
                 Fix: use {} (`kubeadm config migrate` converts older files).",
                SUPPORTED.join(" or ")
            ));
        }
        *slot = Some(value);
    }
    Ok(docs)
}

/// The endpoint the documents name.
fn endpoint(docs: &Documents, path: &Path) -> Result<Endpoint> {
    let file = path.display();
    let text_at = |doc: &Option<Value>, keys: &[&str]| -> Option<String> {
        at(doc, keys)?
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let (cluster, join) = (&docs.cluster, &docs.join);
    let from_cluster = text_at(cluster, &[CLUSTER_FIELD])
        .map(|t| parse(&t, CLUSTER_FIELD, path))
        .transpose()?;
    let from_join = text_at(join, &["discovery", "bootstrapToken", "apiServerEndpoint"])
        .map(|t| parse(&t, JOIN_FIELD, path))
        .transpose()?;
    match (from_cluster, from_join) {
        (Some(c), Some(j)) if (&c.address, c.port) != (&j.address, j.port) => Err(usage!(
            "{file}: {CLUSTER_FIELD} {:?} and {JOIN_FIELD} {:?} disagree.\n\
             Fix: make both the endpoint of the cluster (the VIP, or a DNS name for it, and the port).",
            c.text,
            j.text
        )),
        (Some(endpoint), _) | (None, Some(endpoint)) => Ok(endpoint),
        (None, None) => Err(match (cluster.is_some(), join.is_some()) {
            (false, false) => usage!(
                "{file} has no ClusterConfiguration and no JoinConfiguration document.\n\
                 Fix: drop --kubeadm-config and pass --vip IP, or give the file kubeadm init or join reads."
            ),
            (true, false) => usage!(
                "{file}: ClusterConfiguration has no {CLUSTER_FIELD}.\n\
                 Fix: set {CLUSTER_FIELD}: \"VIP:6443\" there, or drop --kubeadm-config and pass --vip IP."
            ),
            _ => usage!(
                "{file}: JoinConfiguration has no {JOIN_FIELD} (a file discovery, or none), \
                 and no ClusterConfiguration names {CLUSTER_FIELD}.\n\
                 Fix: drop --kubeadm-config and pass --vip IP (the address of the cluster's {CLUSTER_FIELD})."
            ),
        }),
    }
}

/// The port kube-apiserver listens on: the InitConfiguration's
/// `localAPIEndpoint.bindPort`, or a JoinConfiguration's
/// `controlPlane.localAPIEndpoint.bindPort` (they must agree when both are
/// set), else kubeadm's default. 0 is unset, as kubeadm takes it.
fn bind_port(docs: &Documents, path: &Path) -> Result<BindPort> {
    let file = path.display();
    let port_at = |doc: &Option<Value>, keys: &[&str], field: &'static str| {
        let Some(value) = at(doc, keys) else {
            return Ok(None);
        };
        match value.as_u64() {
            Some(0) => Ok(None),
            Some(n @ 1..=65535) => Ok(Some(BindPort {
                port: n as u16,
                field: Some(field),
            })),
            _ => Err(usage!(
                "{field} {} in {file} is not a TCP port.\n\
                 Fix: set it to a port 1-65535 (kube-apiserver listens on 6443 by default), \
                 the same as the endpoint's.",
                serde_yaml_ng::to_string(value).unwrap_or_default().trim()
            )),
        }
    };
    let init = port_at(
        &docs.init,
        &["localAPIEndpoint", "bindPort"],
        INIT_PORT_FIELD,
    )?;
    let join = port_at(
        &docs.join,
        &["controlPlane", "localAPIEndpoint", "bindPort"],
        JOIN_PORT_FIELD,
    )?;
    match (init, join) {
        (Some(i), Some(j)) if i.port != j.port => Err(usage!(
            "{file}: {INIT_PORT_FIELD} {} and {JOIN_PORT_FIELD} {} disagree.\n\
             Fix: give every apiserver the port of the cluster's endpoint.",
            i.port,
            j.port
        )),
        (Some(bind), _) | (None, Some(bind)) => Ok(bind),
        (None, None) => Ok(BindPort {
            port: DEFAULT_APISERVER_PORT,
            field: None,
        }),
    }
}

/// The ClusterConfiguration's `apiServer.extraArgs` bind-address: a
/// mapping in v1beta3, a list of `{name, value}` in v1beta4 (the last
/// one wins, as in kube-apiserver's flag parser).
fn bind_address(docs: &Documents, path: &Path) -> Result<Option<IpAddr>> {
    let value = match at(&docs.cluster, &["apiServer", "extraArgs"]) {
        Some(Value::Mapping(args)) => args.get("bind-address"),
        Some(Value::Sequence(args)) => args
            .iter()
            .filter(|arg| arg.get("name").and_then(Value::as_str) == Some("bind-address"))
            .filter_map(|arg| arg.get("value"))
            .next_back(),
        _ => None,
    };
    let Some(text) = value.and_then(Value::as_str) else {
        return Ok(None);
    };
    text.parse().map(Some).map_err(|_| {
        usage!(
            "{BIND_FIELD} {text:?} in {} is not an IP address: kube-apiserver would not start.\n\
             Fix: drop bind-address from apiServer.extraArgs there (kube-apiserver then listens \
             on every address, the VIP among them).",
            path.display()
        )
    })
}

/// `192.0.2.10`, `192.0.2.10:6443`, `2001:db8::10`, `[2001:db8::10]:6443`,
/// `k8s-api.example.internal:6443`.
fn parse(text: &str, field: &'static str, path: &Path) -> Result<Endpoint> {
    let bad = |problem: String, fix: &str| {
        usage!(
            "{field} {text:?} in {}: {problem}.\nFix: {fix}",
            path.display()
        )
    };
    let shape_fix = "write it as HOST or HOST:PORT, where HOST is the VIP (192.0.2.10, \
                     [2001:db8::10] with a port) or a DNS name for it (k8s-api.example.internal), \
                     e.g. 192.0.2.10:6443.";
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err(bad("the '[' has no ']'".into(), shape_fix));
        };
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return Err(bad(format!("{after:?} follows the ']'"), shape_fix)),
            },
        };
        match inside.parse::<Ipv6Addr>() {
            Ok(ip) => (Address::Ip(IpAddr::V6(ip)), port),
            Err(_) => return Err(bad(format!("{inside:?} is not an IPv6 address"), shape_fix)),
        }
    } else if text.matches(':').count() > 1 {
        // A bare IPv6 address: a port needs the brackets.
        match text.parse::<Ipv6Addr>() {
            Ok(ip) => (Address::Ip(IpAddr::V6(ip)), None),
            Err(_) => {
                return Err(bad(
                    "it is not an IPv6 address (with a port, write [IPv6]:PORT)".into(),
                    shape_fix,
                ))
            }
        }
    } else {
        let (host, port) = match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        };
        (
            address(host).map_err(|problem| bad(problem, shape_fix))?,
            port,
        )
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u32>() {
            Ok(n @ 1..=65535) => Some(n as u16),
            Ok(n) => {
                return Err(bad(
                    format!("port {n} is out of range"),
                    "use a TCP port 1-65535 there (kube-apiserver listens on 6443 by default).",
                ))
            }
            Err(_) => return Err(bad(format!("port {p:?} is not a number"), shape_fix)),
        },
    };
    Ok(Endpoint {
        address: host,
        port,
        field,
        text: text.to_string(),
    })
}

/// An IPv4 address or a DNS name (RFC 1123 labels). Digits and dots
/// alone are a mistyped address, not a name.
fn address(host: &str) -> Result<Address, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Address::Ip(ip));
    }
    if !host.is_empty() && host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("{host:?} is not an IP address"));
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(Address::Name(host.to_string()))
    } else {
        Err(format!("{host:?} is neither an IP address nor a DNS name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indoc::indoc;

    fn read(text: &str) -> Result<Kubeadm> {
        super::read(text, Path::new("kubeadm.yaml"))
    }

    fn endpoint(text: &str) -> Result<Endpoint> {
        read(text).map(|k| k.endpoint)
    }

    fn ip_port(text: &str) -> (Address, Option<u16>) {
        let e = endpoint(text).unwrap();
        (e.address, e.port)
    }

    fn error(text: &str) -> String {
        let err = endpoint(text).unwrap_err();
        assert!(crate::error::is_usage(&err));
        err.to_string()
    }

    fn ip(s: &str) -> Address {
        Address::Ip(s.parse().unwrap())
    }

    fn cluster(endpoint: &str) -> String {
        format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: \"{endpoint}\"\n")
    }

    #[test]
    fn reads_v1beta4_multi_document_files() {
        let text = indoc! {r#"
            apiVersion: kubeadm.k8s.io/v1beta4
            kind: InitConfiguration
            nodeRegistration:
              name: m1
            ---
            apiVersion: kubeadm.k8s.io/v1beta4
            kind: ClusterConfiguration
            controlPlaneEndpoint: "[2001:db8::10]:6443"
        "#};
        assert_eq!(ip_port(text), (ip("2001:db8::10"), Some(6443)));
    }

    #[test]
    fn reads_v1beta3_without_port() {
        let text = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.10\n";
        assert_eq!(ip_port(text), (ip("192.0.2.10"), None));
        assert_eq!(
            ip_port(&cluster("2001:db8::10")),
            (ip("2001:db8::10"), None)
        );
    }

    #[test]
    fn a_dns_name_is_read_as_a_name_with_its_port() {
        let e = endpoint(&cluster("k8s-api.example.internal:6443")).unwrap();
        assert_eq!(e.address, Address::Name("k8s-api.example.internal".into()));
        assert_eq!((e.port, e.field), (Some(6443), "controlPlaneEndpoint"));
        assert_eq!(
            ip_port(&cluster("K8s-API.example.com")),
            (Address::Name("K8s-API.example.com".into()), None)
        );
    }

    #[test]
    fn a_join_configuration_names_the_endpoint_in_its_discovery() {
        let join = indoc! {r#"
            apiVersion: kubeadm.k8s.io/v1beta4
            kind: JoinConfiguration
            discovery:
              bootstrapToken:
                apiServerEndpoint: "192.0.2.10:6443"
                token: abcdef.0123456789abcdef
                caCertHashes: ["sha256:0000"]
            controlPlane:
              localAPIEndpoint:
                advertiseAddress: 192.0.2.12
        "#};
        let e = endpoint(join).unwrap();
        assert_eq!((e.address, e.port), (ip("192.0.2.10"), Some(6443)));
        assert_eq!(e.field, "discovery.bootstrapToken.apiServerEndpoint");
        // With a ClusterConfiguration beside it, both must agree.
        let both = format!("{}---\n{join}", cluster("192.0.2.10:6443"));
        assert_eq!(endpoint(&both).unwrap().field, "controlPlaneEndpoint");
        let msg = error(&format!("{}---\n{join}", cluster("192.0.2.20:6443")));
        assert!(msg.contains("disagree"), "{msg}");
        // File discovery names no endpoint.
        let file = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  file:\n    kubeConfigPath: /x\n";
        let msg = error(file);
        assert!(
            msg.contains("no discovery.bootstrapToken.apiServerEndpoint")
                && msg.contains("drop --kubeadm-config and pass --vip"),
            "{msg}"
        );
    }

    #[test]
    fn two_documents_of_one_kind_are_refused_as_kubeadm_does() {
        let text = format!(
            "{}---\n{}",
            cluster("192.0.2.10:6443"),
            cluster("192.0.2.20:6443")
        );
        let msg = error(&text);
        assert!(
            msg.contains("two ClusterConfiguration documents") && msg.contains("Fix: keep one"),
            "{msg}"
        );
    }

    #[test]
    fn ports_out_of_range_are_named_as_ports() {
        for (endpoint, says) in [
            ("192.0.2.10:99999", "port 99999 is out of range"),
            ("192.0.2.10:0", "port 0 is out of range"),
            ("[2001:db8::10]:70000", "port 70000 is out of range"),
            ("k8s-api.example.internal:0", "port 0 is out of range"),
            ("192.0.2.10:https", "port \"https\" is not a number"),
        ] {
            let msg = error(&cluster(endpoint));
            assert!(
                msg.contains(says) && msg.contains("Fix:"),
                "{endpoint}: {msg}"
            );
            assert!(!msg.contains("not an IP"), "{endpoint}: {msg}");
            assert!(!msg.contains("--apiserver-port"), "{endpoint}: {msg}");
        }
    }

    #[test]
    fn malformed_hosts_are_errors() {
        for (endpoint, says) in [
            ("300.1.2.3:6443", "\"300.1.2.3\" is not an IP address"),
            ("192.0.2:6443", "\"192.0.2\" is not an IP address"),
            ("[2001:db8::10:6443", "no ']'"),
            ("2001:db8::zz", "not an IPv6 address"),
            (
                "api_server.example.com",
                "neither an IP address nor a DNS name",
            ),
            ("-api.example.com", "neither"),
        ] {
            let msg = error(&cluster(endpoint));
            assert!(
                msg.contains(says) && msg.contains("Fix:"),
                "{endpoint}: {msg}"
            );
        }
    }

    fn init(bind_port: &str) -> String {
        format!("---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 192.0.2.11\n  bindPort: {bind_port}\n")
    }

    #[test]
    fn the_apiservers_listen_on_the_endpoint_s_port() {
        let port = |text: &str| read(text).unwrap().bind_port;
        // Read, but said unless the VIP is load-balanced (settings.rs).
        let other = |text: &str| read(text).unwrap().other_port.expect("another port");
        // Nothing set: kubeadm's default, and the endpoint's port agrees.
        let default = BindPort {
            port: 6443,
            field: None,
        };
        assert_eq!(port(&cluster("192.0.2.10:6443")), default);
        assert_eq!(port(&cluster("192.0.2.10")), default);
        // bindPort set: it is the port, with or without one in the endpoint.
        let at_8443 = BindPort {
            port: 8443,
            field: Some("localAPIEndpoint.bindPort"),
        };
        assert_eq!(port(&(cluster("192.0.2.10:8443") + &init("8443"))), at_8443);
        assert_eq!(port(&(cluster("192.0.2.10") + &init("8443"))), at_8443);
        assert_eq!(port(&(cluster("192.0.2.10:6443") + &init("0"))), default);
        // The endpoint's port differs from the apiservers': nothing would
        // answer it, and the VIP cannot change ports.
        assert_eq!(read(&cluster("192.0.2.10:6443")).unwrap().other_port, None);
        let msg = other(&(cluster("192.0.2.10:443") + &init("6443")));
        assert!(
            msg.contains(
                "controlPlaneEndpoint \"192.0.2.10:443\" in kubeadm.yaml names port 443, but \
                 kube-apiserver listens on 6443 (localAPIEndpoint.bindPort there)"
            ) && msg.contains("cannot map one port to another")
                && msg.contains(
                    "Fix: use the same port in both: controlPlaneEndpoint: \"192.0.2.10:6443\", \
                     or set localAPIEndpoint.bindPort: 443; or add --load-balance, which spreads \
                     VIP:443 over every master's :6443 (needs --peer)."
                ),
            "{msg}"
        );
        let msg = other(&cluster("[2001:db8::10]:443"));
        assert!(
            msg.contains("listens on 6443 (kubeadm's default: the file sets no localAPIEndpoint.bindPort)")
                && msg.contains("controlPlaneEndpoint: \"[2001:db8::10]:6443\", or set localAPIEndpoint.bindPort: 443 in an InitConfiguration;"),
            "{msg}"
        );
        // A joining master's own port.
        let join = indoc! {r#"
            apiVersion: kubeadm.k8s.io/v1beta3
            kind: JoinConfiguration
            discovery:
              bootstrapToken:
                apiServerEndpoint: "192.0.2.10:8443"
                token: abcdef.0123456789abcdef
            controlPlane:
              localAPIEndpoint:
                bindPort: 6443
        "#};
        let msg = other(join);
        assert!(
            msg.contains("names port 8443, but kube-apiserver listens on 6443 (controlPlane.localAPIEndpoint.bindPort there)")
                && msg.contains("or set controlPlane.localAPIEndpoint.bindPort: 8443;"),
            "{msg}"
        );
        assert_eq!(
            port(&join.replace("bindPort: 6443", "bindPort: 8443")).field,
            Some("controlPlane.localAPIEndpoint.bindPort")
        );
        let msg = other(&join.replace("    bindPort: 6443\n", ""));
        assert!(
            msg.contains(
                "(kubeadm's default: the file sets no controlPlane.localAPIEndpoint.bindPort)"
            ) && msg.contains(
                "or set controlPlane.localAPIEndpoint.bindPort: 8443 in the JoinConfiguration;"
            ),
            "{msg}"
        );
        // Ports that are none, and two that disagree.
        for bad in ["70000", "-1", "https"] {
            let msg = error(&(cluster("192.0.2.10") + &init(bad)));
            assert!(
                msg.contains("localAPIEndpoint.bindPort") && msg.contains("is not a TCP port"),
                "{bad}: {msg}"
            );
        }
        let both = format!(
            "{}{}---\n{}",
            cluster("192.0.2.10"),
            init("8443"),
            join.replace("bindPort: 6443", "bindPort: 9443")
        );
        let msg = error(&both.replace(":8443\"", "\""));
        assert!(
            msg.contains("8443 and controlPlane.localAPIEndpoint.bindPort 9443 disagree"),
            "{msg}"
        );
    }

    #[test]
    fn bind_address_is_read_from_both_forms_of_extra_args() {
        let bind = |text: &str| read(text).unwrap().bind_address;
        assert_eq!(bind(&cluster("192.0.2.10:6443")), None);
        let v1beta3 = indoc! {r#"
            apiVersion: kubeadm.k8s.io/v1beta3
            kind: ClusterConfiguration
            controlPlaneEndpoint: 192.0.2.10:6443
            apiServer:
              extraArgs:
                bind-address: 192.0.2.11
                shutdown-delay-duration: 2s
        "#};
        assert_eq!(bind(v1beta3), Some(ip_addr("192.0.2.11")));
        let v1beta4 = indoc! {r#"
            apiVersion: kubeadm.k8s.io/v1beta4
            kind: ClusterConfiguration
            controlPlaneEndpoint: 192.0.2.10:6443
            apiServer:
              extraArgs:
              - name: bind-address
                value: 192.0.2.11
              - name: shutdown-delay-duration
                value: 2s
              - name: bind-address
                value: "::"
        "#};
        assert_eq!(bind(v1beta4), Some(ip_addr("::")), "the last one wins");
        let msg = error(&v1beta3.replace("192.0.2.11", "node1"));
        assert!(
            msg.contains(
                "apiServer.extraArgs bind-address \"node1\" in kubeadm.yaml is not an IP address"
            ) && msg.contains("Fix: drop bind-address"),
            "{msg}"
        );
    }

    fn ip_addr(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn old_api_versions_and_missing_fields_are_errors() {
        assert!(
            endpoint("apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n").is_err()
        );
        let msg = error("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n");
        assert!(
            msg.contains("no controlPlaneEndpoint")
                && msg.contains("drop --kubeadm-config and pass --vip"),
            "{msg}"
        );
        let msg = error("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n");
        assert!(
            msg.contains("no ClusterConfiguration and no JoinConfiguration"),
            "{msg}"
        );
        let msg = error("apiVersion: kubeadm.k8s.io/v1beta2\nkind: JoinConfiguration\n");
        assert!(msg.contains("JoinConfiguration has apiVersion"), "{msg}");
    }
}
