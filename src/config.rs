//! The one validated `Config` every later stage works from. All checks
//! live in `Config::validate`, so a bad value is rejected the same way
//! whether it came from a flag, a config file or a kubeadm config, before
//! anything on disk is touched.

use crate::error::usage;
use crate::paths::{
    DEFAULT_AGENT_LISTEN, DEFAULT_AGENT_PORT, DEFAULT_APISERVER_PORT, DEFAULT_IMAGE_REPO,
    KUBERNETES_PORTS,
};
use crate::settings::{Origin, Origins, Settings};
use anyhow::Result;
use std::net::IpAddr;

/// High, because VRRP's skew time ((256 - priority) / 256 of an advert
/// interval) is what a backup waits after the holder resigns: at 250 that is
/// 7 ms instead of 124 ms at 150. Lab: graceful handover 0.12 s max instead
/// of 0.23 s, hard loss 0.78 s median instead of 0.90 s.
pub const DEFAULT_PRIORITY: u8 = 250;
/// What a failing health check takes off the priority. Never 0: a failing
/// weight-0 script puts keepalived in FAULT, so the first master would hold
/// no VIP before its own apiserver exists.
pub const HEALTH_WEIGHT: u8 = 50;
/// VRRPv3 advert interval, in centiseconds. Chosen by measurement in the
/// lab (see README, Performance): fast failover without flapping under load.
pub const DEFAULT_ADVERT_CENTIS_V3: u32 = 30;
pub const MAX_PASSWORD_LEN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrrpVersion {
    V2,
    V3,
}

impl VrrpVersion {
    pub fn number(self) -> u8 {
        match self {
            VrrpVersion::V2 => 2,
            VrrpVersion::V3 => 3,
        }
    }
}

/// Validated settings: every value here is safe to write into
/// keepalived.conf and the manifest as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// One or two VIPs, IPv4 first. The first one's family is the family
    /// of the VRRP instance; the other rides along (virtual_ipaddress_excluded).
    pub vips: Vec<IpAddr>,
    pub interface: Option<String>,
    pub peers: Vec<IpAddr>,
    pub priority: u8,
    pub router_id: u8,
    pub advert_centis: u32,
    pub version: VrrpVersion,
    pub apiserver_port: u16,
    pub image: String,
    /// The agent's /metrics, /healthz and /status.
    pub agent_listen: std::net::SocketAddr,
    pub password: Option<String>,
    /// The agent accepts VRRP only from the peers and this node (nftables).
    pub vrrp_filter: bool,
    /// Opt-in load balancing: None without it.
    pub balance: Option<Balance>,
}

/// The load balancing: new connections to the VIP at `port` spread over
/// every master (the peers and this node) at `apiserver_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    /// The port clients use at the VIP (the endpoint's).
    pub port: u16,
}

impl Config {
    pub fn primary_vip(&self) -> IpAddr {
        self.vips[0]
    }

    /// Validate settings given as flags: messages name the flags.
    pub fn validate(s: &Settings) -> Result<Config> {
        Config::validate_from(s, &Origins::default())
    }

    /// Validate settings; messages name each value where it came from
    /// (`--priority 0`, `` `priority: 0` in FILE``), and their fixes say
    /// how to take a value away there (`o.unset`).
    pub fn validate_from(s: &Settings, o: &Origins) -> Result<Config> {
        let vips = validate_vips(&s.vips, o)?;
        let version = match s.vrrp_version {
            None | Some(3) => VrrpVersion::V3,
            Some(2) => VrrpVersion::V2,
            Some(v) => {
                return Err(usage!(
                    "{} is not a VRRP version kubealived supports.\nFix: use 3 (default) or 2.",
                    o.subject("vrrpVersion", v)
                ))
            }
        };
        if version == VrrpVersion::V2 && vips[0].is_ipv6() {
            return Err(usage!(
                "VRRPv2 ({}) carries IPv4 only, but the VIP {} is IPv6.\nFix: {} (VRRPv3 is the default).",
                o.subject("vrrpVersion", 2),
                vips[0],
                o.unset("vrrpVersion")
            ));
        }
        let interface = s
            .interface
            .as_deref()
            .map(|name| interface_from(name, o))
            .transpose()?;
        let peers = validate_peers(&s.peers, &vips, o)?;
        let priority = match s.priority {
            None => DEFAULT_PRIORITY,
            Some(p) if (i64::from(HEALTH_WEIGHT) + 1..=254).contains(&p) => p as u8,
            Some(p) => {
                return Err(usage!(
                    "{} is out of range.\nFix: use {}-254 (the health check subtracts {HEALTH_WEIGHT}, \
                     and 255 is reserved by VRRP for an address owner); the same value on every master.",
                    o.subject("priority", p),
                    HEALTH_WEIGHT + 1
                ))
            }
        };
        let router_id = match s.router_id {
            None => default_router_id(vips[0]),
            Some(id) if (1..=255).contains(&id) => id as u8,
            Some(id) => return Err(usage!("{} is out of range.\nFix: use a VRRP router id 1-255, the same on every master of this cluster and unique on the LAN.", o.subject("routerId", id))),
        };
        let advert_centis = validate_advert(s.advert_interval, version, o)?;
        let apiserver_port = match s.apiserver_port {
            None => DEFAULT_APISERVER_PORT,
            Some(p) if (1..=65535).contains(&p) => p as u16,
            Some(p) => return Err(usage!("{} is out of range.\nFix: use a TCP port 1-65535 (kube-apiserver listens on 6443 by default).", o.subject("apiserverPort", p))),
        };
        let image = match &s.image {
            None => default_image(),
            Some(image) => validate_image(image, o)?,
        };
        let agent_listen = match &s.agent_listen {
            None => DEFAULT_AGENT_LISTEN.parse().expect("a valid default"),
            Some(text) => match text.parse::<std::net::SocketAddr>() {
                Ok(addr) if addr.port() != 0 => addr,
                _ => return Err(usage!(
                    "{} is not an IP:PORT the agent can listen on.\nFix: e.g. 127.0.0.1:10290 (the default), \
                     or this node's own address (e.g. 192.0.2.11:10290, [2001:db8::11]:10290) to let Prometheus scrape /metrics.",
                    o.subject("agentListen", format!("{text:?}"))
                )),
            },
        };
        check_ports(s, apiserver_port, agent_listen, o)?;
        let password = s
            .password
            .as_deref()
            .map(|p| validate_password(p, version, o))
            .transpose()?;
        let vrrp_filter = s.vrrp_filter == Some(true);
        if vrrp_filter && peers.is_empty() {
            return Err(usage!(
                "{} accepts VRRP only from the unicast peers, and none are listed: it would drop \
                 every other master's adverts.\nFix: list every master with --peer IP (the filter \
                 needs unicast), or {}.",
                o.name("vrrpFilter"),
                o.unset("vrrpFilter")
            ));
        }
        let balance = validate_balance(s, apiserver_port, &peers, o)?;
        Ok(Config {
            vips,
            interface,
            peers,
            priority,
            router_id,
            advert_centis,
            version,
            apiserver_port,
            image,
            agent_listen,
            password,
            vrrp_filter,
            balance,
        })
    }
}

/// `loadBalance` and `endpointPort`: balancing needs the peers (they are
/// its backends, with this node), and only balancing can take clients of
/// one port at the VIP to the apiservers' other port.
fn validate_balance(
    s: &Settings,
    apiserver_port: u16,
    peers: &[IpAddr],
    o: &Origins,
) -> Result<Option<Balance>> {
    let port = match s.endpoint_port {
        None => apiserver_port,
        Some(p) if (1..=65535).contains(&p) => p as u16,
        Some(p) => {
            return Err(usage!(
                "{} is out of range.\nFix: use a TCP port 1-65535, the port of the cluster's \
                 controlPlaneEndpoint.",
                o.subject("endpointPort", p)
            ))
        }
    };
    if s.load_balance != Some(true) {
        if port != apiserver_port {
            return Err(usage!(
                "{} is not kube-apiserver's port ({apiserver_port}), and a VIP alone cannot \
                 change ports: it moves an address, so clients of port {port} would reach \
                 nothing.\nFix: use the same port for both ({}), or add --load-balance, which \
                 spreads VIP:{port} over every master's :{apiserver_port} (needs --peer).",
                o.subject("endpointPort", port),
                o.unset("endpointPort")
            ));
        }
        return Ok(None);
    }
    if peers.is_empty() {
        return Err(usage!(
            "{} spreads the API over the masters, and none are listed: its backends are the \
             peers and this node.\nFix: list every master with --peer IP, or {}.",
            o.name("loadBalance"),
            o.unset("loadBalance")
        ));
    }
    Ok(Some(Balance { port }))
}

/// The agent's port and kube-apiserver's are theirs alone: two servers on
/// one port means one of them fails to start (kube-apiserver, if it is the
/// agent's port: the agent's pod starts first), and an apiserver port that
/// is the agent's makes the agent check itself, never kube-apiserver.
fn check_ports(
    s: &Settings,
    apiserver_port: u16,
    agent: std::net::SocketAddr,
    o: &Origins,
) -> Result<()> {
    let owner = |port: u16| {
        KUBERNETES_PORTS
            .iter()
            .find(|(p, _)| *p == port)
            .map(|(_, who)| *who)
    };
    let port = match DEFAULT_AGENT_PORT {
        p if p == apiserver_port => p + 1,
        p => p,
    };
    let move_agent = format!(
        "Fix: give the agent a port nothing else uses, e.g. {}.",
        o.subject("agentListen", std::net::SocketAddr::new(agent.ip(), port))
    );
    let agent_takes = |whose: String, first: &str| {
        usage!(
            "{} uses {whose}: two servers cannot listen on one port, and whichever starts second \
             fails{first}.\n{move_agent}",
            o.subject("agentListen", agent)
        )
    };
    if agent.port() == apiserver_port && s.agent_listen.is_some() {
        return Err(agent_takes(
            format!("{apiserver_port}, kube-apiserver's port"),
            " (kubelet starts the agent's pod before kube-apiserver's)",
        ));
    }
    if agent.port() == apiserver_port {
        return Err(usage!(
            "{} is where the agent listens ({agent}), so the agent would check itself, never \
             kube-apiserver.\nFix: give the port kube-apiserver listens on (its --secure-port, 6443 by \
             default), or move the agent with --agent-listen.",
            o.subject("apiserverPort", apiserver_port)
        ));
    }
    if let Some(who) = owner(agent.port()) {
        return Err(agent_takes(format!("{}, {who}", agent.port()), ""));
    }
    if let Some(who) = owner(apiserver_port) {
        return Err(usage!(
            "{} is {who}, not kube-apiserver's: the agent would ask the wrong server whether \
             kube-apiserver is ready.\nFix: give the port kube-apiserver listens on (its --secure-port, \
             6443 by default).",
            o.subject("apiserverPort", apiserver_port)
        ));
    }
    Ok(())
}

pub fn default_image() -> String {
    format!("{DEFAULT_IMAGE_REPO}:{}", env!("CARGO_PKG_VERSION"))
}

/// The VIP's last byte: two clusters in one /24 never collide by default,
/// and the VRID is readable in a packet capture. A VIP ending in 0 gets 255.
pub fn default_router_id(vip: IpAddr) -> u8 {
    let last = match vip {
        IpAddr::V4(a) => a.octets()[3],
        IpAddr::V6(a) => a.octets()[15],
    };
    if last == 0 {
        255
    } else {
        last
    }
}

fn parse_ip(value: &str, key: &str, o: &Origins) -> Result<IpAddr> {
    value.parse().map_err(|_| {
        usage!(
            "{} is not an IP address.\nFix: give a plain IPv4 or IPv6 address \
             without prefix or port, e.g. 192.0.2.10 or 2001:db8::10.",
            o.subject(key, format!("{value:?}"))
        )
    })
}

fn check_unicast(ip: IpAddr, key: &str, o: &Origins) -> Result<()> {
    let bad = match ip {
        IpAddr::V4(a) => {
            if a.is_unspecified() || a.is_broadcast() {
                Some("unspecified or broadcast")
            } else if a.is_loopback() {
                Some("loopback")
            } else if a.is_multicast() {
                Some("multicast")
            } else if a.is_link_local() {
                Some("link-local")
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            if a.is_unspecified() {
                Some("unspecified")
            } else if a.is_loopback() {
                Some("loopback")
            } else if a.is_multicast() {
                Some("multicast")
            } else if a.is_unicast_link_local() {
                Some("link-local")
            } else if a.to_ipv4_mapped().is_some() {
                Some("IPv4-mapped")
            } else {
                None
            }
        }
    };
    match bad {
        Some(kind) => Err(usage!(
            "{} is a {kind} address.\nFix: use a routable unicast address on the masters' network.",
            o.subject(key, ip)
        )),
        None => Ok(()),
    }
}

fn validate_vips(raw: &[String], o: &Origins) -> Result<Vec<IpAddr>> {
    if raw.is_empty() {
        return Err(match &o.base {
            Some(Origin::ConfigFile(path)) => usage!(
                "{} sets no VIP (no `vips` key), and no --vip was given.\nFix: add `vips: [IP]` to {0} \
                 (the address for controlPlaneEndpoint), or pass --vip IP.",
                path.display()
            ),
            Some(Origin::Saved(path)) => usage!(
                "the saved settings {} have no VIP (no `vips` key), and no --vip was given.\n\
                 Fix: pass --vip IP (the address for controlPlaneEndpoint).",
                path.display()
            ),
            _ => usage!(
                "no VIP given and no saved settings found.\nFix: pass --vip IP (the address for controlPlaneEndpoint), \
                 or --kubeadm-config FILE, or --config FILE."
            ),
        });
    }
    let mut vips = Vec::new();
    for v in raw {
        let ip = parse_ip(v, "vips", o)?;
        check_unicast(ip, "vips", o)?;
        vips.push(ip);
    }
    match vips.as_slice() {
        [_] => {}
        [a, b] if a == b => return Err(usage!("{} is given twice.\nFix: give each VIP once.", o.subject("vips", a))),
        [a, b] if a.is_ipv4() == b.is_ipv4() => {
            return Err(usage!(
                "{} and {b} are of the same family.\nFix: give one VIP, or one IPv4 and one IPv6 VIP for dual-stack.",
                o.subject("vips", a)
            ))
        }
        [_, _] => {}
        _ => return Err(usage!("{} VIPs given ({}).\nFix: give one VIP, or one IPv4 and one IPv6 VIP for dual-stack.", vips.len(), o.name("vips"))),
    }
    vips.sort_by_key(|ip| ip.is_ipv6());
    Ok(vips)
}

fn validate_peers(raw: &[String], vips: &[IpAddr], o: &Origins) -> Result<Vec<IpAddr>> {
    let mut peers: Vec<IpAddr> = Vec::new();
    for p in raw {
        let ip = parse_ip(p, "peers", o)?;
        check_unicast(ip, "peers", o)?;
        if vips.contains(&ip) {
            return Err(usage!(
                "{} is the VIP.\nFix: list the masters' own addresses as peers, not the VIP.",
                o.subject("peers", ip)
            ));
        }
        if ip.is_ipv4() != vips[0].is_ipv4() {
            return Err(usage!(
                "{} is not of the same family as the VIP {} that VRRP advertises for.\n\
                 Fix: list the masters' {} addresses as peers.",
                o.subject("peers", ip),
                vips[0],
                if vips[0].is_ipv4() { "IPv4" } else { "IPv6" }
            ));
        }
        // Listing a master twice is harmless; keep the first.
        if !peers.contains(&ip) {
            peers.push(ip);
        }
    }
    Ok(peers)
}

/// Linux accepts up to 15 bytes without '/', ':' or white space; we also
/// keep to the characters real interface names use, so nothing else can
/// reach keepalived.conf.
pub fn validate_interface(name: &str) -> Result<String> {
    interface_from(name, &Origins::default())
}

fn interface_from(name: &str, o: &Origins) -> Result<String> {
    if let Some(device) = label_device(name) {
        return Err(usage!(
            "{} is an address label (`ip addr add ... label {name}`), not an interface: keepalived and \
             the agent need the device the address is on.\n\
             Fix: use the device it labels, {} (`ip -o addr show label {name}` shows it).",
            o.subject("interface", format!("{name:?}")),
            o.subject("interface", device)
        ));
    }
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if name.is_empty()
        || name.len() > 15
        || !ok_chars
        || name == "."
        || name == ".."
        || name.starts_with('-')
    {
        return Err(usage!(
            "{} is not a valid interface name.\nFix: use the name `ip link` shows: \
             1-15 characters from letters, digits, '_', '.', '-' (e.g. eth0, bond0.100, ens3f0np0).",
            o.subject("interface", format!("{name:?}"))
        ));
    }
    Ok(name.to_string())
}

/// `eth0:vip`, an address label (ifconfig's alias, `ip addr add ... label
/// eth0:vip`), which `ip -o addr` shows where a device name goes: the
/// device it conventionally labels, `eth0`. Only for a label made of the
/// characters interface names use.
fn label_device(name: &str) -> Option<&str> {
    let (device, alias) = name.split_once(':')?;
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    };
    (name.len() <= 15 && plain(device) && plain(alias) && !device.starts_with('-'))
        .then_some(device)
}

fn validate_advert(value: Option<f64>, version: VrrpVersion, o: &Origins) -> Result<u32> {
    let Some(secs) = value else {
        return Ok(match version {
            VrrpVersion::V3 => DEFAULT_ADVERT_CENTIS_V3,
            VrrpVersion::V2 => 100,
        });
    };
    let centis = (secs * 100.0).round();
    let exact = secs.is_finite() && (secs * 100.0 - centis).abs() < 1e-6;
    match version {
        VrrpVersion::V3 if exact && (1.0..=4095.0).contains(&centis) => Ok(centis as u32),
        VrrpVersion::V3 => Err(usage!(
            "{} is not valid for VRRPv3.\nFix: use 0.01-40.95 seconds in steps of 0.01 (default 0.3).",
            o.subject("advertInterval", secs)
        )),
        VrrpVersion::V2 if exact && centis % 100.0 == 0.0 && (100.0..=25500.0).contains(&centis) => Ok(centis as u32),
        VrrpVersion::V2 => Err(usage!(
            "{} is not valid for VRRPv2, which advertises in whole seconds.\n\
             Fix: use 1-255, or VRRPv3 (the default) for sub-second intervals.",
            o.subject("advertInterval", secs)
        )),
    }
}

fn validate_image(image: &str, o: &Origins) -> Result<String> {
    let printable = image.bytes().all(|b| b.is_ascii_graphic());
    if !printable || image.parse::<oci_spec::distribution::Reference>().is_err() {
        return Err(usage!(
            "{} is not a valid image reference.\nFix: use REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST], \
             e.g. registry.example/kubealived:{}.",
            o.subject("image", format!("{image:?}")),
            env!("CARGO_PKG_VERSION")
        ));
    }
    Ok(image.to_string())
}

fn validate_password(password: &str, version: VrrpVersion, o: &Origins) -> Result<String> {
    if version == VrrpVersion::V3 {
        return Err(usage!(
            "a password is set ({}), but VRRPv3 has no authentication (keepalived ignores it).\n\
             Fix: {} (isolate clusters with --router-id and --peer), or use --vrrp-version 2 \
             for the legacy PASS profile.",
            o.name("password"),
            o.unset("password")
        ));
    }
    if password.is_empty() {
        return Err(usage!(
            "the password ({}) is empty; VRRP PASS authentication takes 1-{MAX_PASSWORD_LEN} characters.\n\
             Fix: give a password of 1-{MAX_PASSWORD_LEN} characters, or, for none, {}.",
            o.name("password"),
            match o.of("password") {
                Origin::Flag => "drop --password (and --unset password to remove a saved one)".to_string(),
                _ => o.unset("password"),
            }
        ));
    }
    // Never echo the password itself: error messages end up in logs.
    let allowed = |c: char| c.is_ascii_graphic() && !"\"'{}#!\\".contains(c);
    if password.chars().count() > MAX_PASSWORD_LEN {
        return Err(usage!(
            "the password has {} characters; VRRP PASS authentication takes 1-{MAX_PASSWORD_LEN} \
             (keepalived silently truncates longer ones).\nFix: use a password of 1-{MAX_PASSWORD_LEN} characters.",
            password.chars().count()
        ));
    }
    if !password.chars().all(allowed) {
        return Err(usage!(
            "the password contains a character keepalived.conf cannot hold safely (space, quote, brace, \
             '#', '!', backslash or non-ASCII).\nFix: use printable ASCII letters, digits and punctuation only."
        ));
    }
    Ok(password.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vips: &[&str]) -> Settings {
        Settings {
            vips: vips.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn load_balancing_is_opt_in_needs_peers_and_alone_can_change_ports() {
        let with = |lb: Option<bool>, port: Option<i64>, peers: &[&str]| {
            Config::validate(&Settings {
                load_balance: lb,
                endpoint_port: port,
                peers: peers.iter().map(|p| p.to_string()).collect(),
                ..settings(&["192.0.2.10"])
            })
        };
        let peers = ["192.0.2.11", "192.0.2.12"];
        assert_eq!(with(None, None, &peers).unwrap().balance, None);
        assert_eq!(with(Some(false), Some(6443), &[]).unwrap().balance, None);
        assert_eq!(
            with(Some(true), None, &peers).unwrap().balance,
            Some(Balance { port: 6443 })
        );
        assert_eq!(
            with(Some(true), Some(443), &peers).unwrap().balance,
            Some(Balance { port: 443 })
        );
        let no_peers = with(Some(true), None, &[]).unwrap_err();
        assert!(crate::error::is_usage(&no_peers));
        assert_eq!(
            no_peers.to_string(),
            "--load-balance spreads the API over the masters, and none are listed: its backends \
             are the peers and this node.\nFix: list every master with --peer IP, or drop --load-balance."
        );
        let other_port = with(None, Some(443), &peers).unwrap_err();
        assert!(crate::error::is_usage(&other_port));
        let msg = other_port.to_string();
        assert!(
            msg.starts_with("--endpoint-port 443 is not kube-apiserver's port (6443), and a VIP alone cannot change ports")
                && msg.contains("Fix: use the same port for both (drop --endpoint-port), or add --load-balance, \
                                 which spreads VIP:443 over every master's :6443"),
            "{msg}"
        );
        for bad in [0, 65536] {
            let e = with(Some(true), Some(bad), &peers).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with(&format!("--endpoint-port {bad} is out of range")),
                "{e}"
            );
        }
    }

    #[test]
    fn defaults() {
        let c = Config::validate(&settings(&["192.0.2.10"])).unwrap();
        assert_eq!(c.router_id, 10);
        assert_eq!(c.priority, DEFAULT_PRIORITY);
        assert_eq!(c.advert_centis, DEFAULT_ADVERT_CENTIS_V3);
        assert_eq!(c.version, VrrpVersion::V3);
        assert_eq!(c.apiserver_port, 6443);
        assert!(c.image.ends_with(env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn dual_stack_puts_ipv4_first() {
        let c = Config::validate(&settings(&["2001:db8::10", "192.0.2.10"])).unwrap();
        assert_eq!(
            c.vips,
            vec![
                "192.0.2.10".parse::<IpAddr>().unwrap(),
                "2001:db8::10".parse().unwrap()
            ]
        );
    }

    #[test]
    fn router_id_follows_the_last_byte() {
        assert_eq!(default_router_id("192.0.2.77".parse().unwrap()), 77);
        assert_eq!(default_router_id("2001:db8::1:0".parse().unwrap()), 255);
    }

    #[test]
    fn advert_interval_rules() {
        assert_eq!(
            validate_advert(Some(0.1), VrrpVersion::V3, &Origins::default()).unwrap(),
            10
        );
        assert_eq!(
            validate_advert(Some(40.95), VrrpVersion::V3, &Origins::default()).unwrap(),
            4095
        );
        assert_eq!(
            validate_advert(Some(2.0), VrrpVersion::V2, &Origins::default()).unwrap(),
            200
        );
        for bad in [0.0, 0.005, 41.0, f64::NAN, -1.0] {
            assert!(
                validate_advert(Some(bad), VrrpVersion::V3, &Origins::default()).is_err(),
                "{bad}"
            );
        }
        assert!(validate_advert(Some(0.5), VrrpVersion::V2, &Origins::default()).is_err());
    }

    #[test]
    fn an_address_label_is_refused_and_its_device_named() {
        let label = Settings {
            interface: Some("eth0:vip".into()),
            ..settings(&["192.0.2.10"])
        };
        let msg = Config::validate(&label).unwrap_err().to_string();
        assert!(
            msg.contains("address label") && msg.contains("--interface eth0 ("),
            "{msg}"
        );
        assert_eq!(label_device("bond0.100:1"), Some("bond0.100"));
        for not_a_label in [
            "eth0",
            ":vip",
            "eth0:",
            "eth0:a:b",
            "eth0:{x}",
            "abcdefghij:klmnop",
        ] {
            assert_eq!(label_device(not_a_label), None, "{not_a_label}");
        }
    }

    #[test]
    fn ports_the_agent_and_the_apiserver_would_share_are_refused() {
        let with = |apiserver: Option<i64>, agent: Option<&str>| {
            Config::validate(&Settings {
                apiserver_port: apiserver,
                agent_listen: agent.map(String::from),
                ..settings(&["192.0.2.10"])
            })
        };
        for (apiserver, agent, says) in [
            (None, Some("0.0.0.0:6443"), "kube-apiserver's port"),
            (Some(8443), Some("127.0.0.1:8443"), "kube-apiserver's port"),
            (None, Some("0.0.0.0:10250"), "kubelet's API port"),
            (Some(10290), None, "check itself"),
            (Some(2379), None, "etcd's client port"),
        ] {
            let err = with(apiserver, agent).unwrap_err();
            assert!(crate::error::is_usage(&err), "{err:#}");
            let msg = err.to_string();
            assert!(msg.contains(says) && msg.contains("Fix:"), "{msg}");
        }
        // Both on the agent's default port: the fix offers another one.
        let msg = with(Some(10290), Some("127.0.0.1:10290"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("e.g. --agent-listen 127.0.0.1:10291"), "{msg}");
        assert!(with(Some(8443), Some("0.0.0.0:10291")).is_ok());
        assert!(with(None, Some("[::]:10290")).is_ok());
    }

    #[test]
    fn password_rules() {
        assert!(validate_password("s3cr3t!x", VrrpVersion::V2, &Origins::default()).is_err()); // '!'
        assert_eq!(
            validate_password("s3cr3t-x", VrrpVersion::V2, &Origins::default()).unwrap(),
            "s3cr3t-x"
        );
        assert!(validate_password("s3cr3t-x", VrrpVersion::V3, &Origins::default()).is_err());
        assert!(validate_password("123456789", VrrpVersion::V2, &Origins::default()).is_err());
        let msg = validate_password("a b", VrrpVersion::V2, &Origins::default())
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("a b"), "the password leaked into: {msg}");
    }
}
