//! The config resolved on a host: which interface carries the VIP (the one
//! with an address whose subnet contains it, `ip -o addr` semantics), this
//! node's own address, and the peers without it. Pure: the host's
//! interfaces are passed in.

use crate::config::Config;
use crate::error::usage;
use crate::host::Interface;
use anyhow::Result;
use ipnet::IpNet;
use std::fmt::Write;
use std::net::IpAddr;

/// The config resolved against this host: what the renderers need.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub config: Config,
    /// The interface VRRP advertises on (the primary VIP's).
    pub interface: String,
    /// Every VIP with the interface it goes on, primary first.
    pub vips: Vec<(IpAddr, String)>,
    /// This node's address in the primary VIP's subnet, as unicast source.
    pub unicast_src: Option<IpAddr>,
    /// `config.peers` without this node's own addresses.
    pub peers: Vec<IpAddr>,
    pub warnings: Vec<String>,
}

impl Node {
    /// Every master as listed, and this node's address if not listed: the
    /// VRRP filter's sources and the balancing's backends, the same list
    /// on every master.
    pub fn masters(&self) -> Vec<IpAddr> {
        let mut all = self.config.peers.clone();
        all.extend(self.unicast_src.filter(|ip| !all.contains(ip)));
        all
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub interface: String,
    /// This node's address in the VIP's subnet, if it has one: the source
    /// of unicast adverts.
    pub local_addr: Option<IpAddr>,
    pub warnings: Vec<String>,
}

/// Addresses that say something about which subnet a node is in.
fn usable(addr: &IpNet, vip: IpAddr) -> bool {
    let held_vip = addr.addr() == vip && addr.prefix_len() == addr.max_prefix_len();
    let link_local_v6 = matches!(addr.addr(), IpAddr::V6(a) if a.is_unicast_link_local());
    !held_vip && !link_local_v6
}

pub fn choose_interface(
    interfaces: &[Interface],
    vip: IpAddr,
    requested: Option<&str>,
) -> Result<Detected> {
    let candidates: Vec<&Interface> = interfaces.iter().filter(|i| !i.loopback).collect();
    for iface in &candidates {
        for addr in &iface.addrs {
            if addr.addr() == vip && usable(addr, vip) {
                return Err(usage!(
                    "the VIP {vip} is this node's own address ({addr} on {}).\n\
                     Fix: choose a free address in that subnet for the VIP; it must not belong to any node.",
                    iface.name
                ));
            }
        }
    }
    let matching_addr = |iface: &Interface| {
        iface
            .addrs
            .iter()
            .find(|a| usable(a, vip) && a.prefix_len() < a.max_prefix_len() && a.contains(&vip))
            .copied()
    };

    let (iface, local) = match requested {
        Some(name) => {
            let Some(iface) = candidates.iter().find(|i| i.name == name) else {
                return Err(usage!(
                    "there is no interface named {name:?} on this host.\n{}\
                     Fix: pass one of these names to --interface.",
                    list(&candidates, vip)
                ));
            };
            (*iface, matching_addr(iface))
        }
        None => {
            let matches: Vec<(&Interface, IpNet)> = candidates
                .iter()
                .filter_map(|i| matching_addr(i).map(|a| (*i, a)))
                .collect();
            match matches.as_slice() {
                [(iface, addr)] => (*iface, Some(*addr)),
                [] => {
                    return Err(usage!(
                        "no interface has an address in a subnet that contains the VIP {vip}.\n{}\
                         Fix: use a VIP inside one of these subnets, or name the interface with --interface.",
                        list(&candidates, vip)
                    ))
                }
                _ => {
                    return Err(usage!(
                        "several interfaces have a subnet that contains the VIP {vip}, so the choice is ambiguous.\n{}\
                         Fix: name the one that should carry the VIP with --interface.",
                        list(&candidates, vip)
                    ))
                }
            }
        }
    };

    let mut warnings = Vec::new();
    if let Some(net) = local {
        if let (IpNet::V4(v4), IpAddr::V4(v)) = (net, vip) {
            if v4.prefix_len() <= 30 && (v == v4.network() || v == v4.broadcast()) {
                return Err(usage!(
                    "the VIP {vip} is the {} address of {net} on {}.\n\
                     Fix: choose a host address inside the subnet.",
                    if v == v4.network() {
                        "network"
                    } else {
                        "broadcast"
                    },
                    iface.name
                ));
            }
        }
    } else {
        warnings.push(format!(
            "{} has no address in a subnet that contains {vip}; keepalived will still add the VIP there, \
             but clients reach it only if it is routed to this link",
            iface.name
        ));
    }
    if !iface.up {
        warnings.push(format!(
            "{} is down; the VIP will not answer until it is up",
            iface.name
        ));
    }
    Ok(Detected {
        interface: iface.name.clone(),
        local_addr: local.map(|n| n.addr()),
        warnings,
    })
}

/// Every candidate with its addresses, marking the ones whose subnet holds the VIP.
fn list(candidates: &[&Interface], vip: IpAddr) -> String {
    let mut out = String::from("Interfaces on this host:\n");
    if candidates.is_empty() {
        out.push_str("  (none besides loopback)\n");
    }
    for iface in candidates {
        let addrs: Vec<String> = iface.addrs.iter().map(|a| a.to_string()).collect();
        let holds = iface
            .addrs
            .iter()
            .any(|a| usable(a, vip) && a.prefix_len() < a.max_prefix_len() && a.contains(&vip));
        let _ = writeln!(
            out,
            "  {:<15} {:<4} {}{}",
            iface.name,
            if iface.up { "up" } else { "down" },
            if addrs.is_empty() {
                "(no address)".to_string()
            } else {
                addrs.join(", ")
            },
            if holds {
                "   <- subnet contains the VIP"
            } else {
                ""
            }
        );
    }
    out
}

/// Resolve a validated config against this host's interfaces. With
/// `on_this_host` false (`render`), a named interface is taken as given and
/// the peers are kept as listed: that renders for another machine, whose
/// addresses are not known here. Without a name, render detects on this
/// host, so everything is resolved here, the same as install.
pub fn resolve(config: &Config, interfaces: &[Interface], on_this_host: bool) -> Result<Node> {
    let here = on_this_host || config.interface.is_none();
    let mut warnings = Vec::new();
    let mut vips = Vec::new();
    let mut local_addr = None;
    for (i, vip) in config.vips.iter().enumerate() {
        let dev = match (&config.interface, here) {
            (Some(name), false) => name.clone(),
            (requested, _) => {
                let found = choose_interface(interfaces, *vip, requested.as_deref())?;
                warnings.extend(found.warnings);
                if i == 0 {
                    local_addr = found.local_addr;
                }
                found.interface
            }
        };
        vips.push((*vip, dev));
    }
    if config.agent_listen.ip().is_unspecified() {
        warnings.push(format!(
            "the agent listens on {} (agentListen), on every address of this node: anyone who can \
             reach it can read /metrics and /status; prefer 127.0.0.1 (the default), or this node's \
             address on the network Prometheus scrapes from",
            config.agent_listen
        ));
    }
    let interface = vips[0].1.clone();
    let (unicast_src, peers) = match (config.peers.is_empty(), here) {
        (true, _) => (None, Vec::new()),
        // keepalived sends from that machine's first address on the interface.
        (false, false) => (None, config.peers.clone()),
        (false, true) => {
            let (src, peers) = unicast_source(config, interfaces, &interface, local_addr)?;
            (Some(src), peers)
        }
    };
    Ok(Node {
        config: config.clone(),
        interface,
        vips,
        unicast_src,
        peers,
        warnings,
    })
}

/// The unicast source and the peers to advertise to. The other masters
/// know this node by the address of it in their own peer list (the same
/// list on every master), and with `check_unicast_src` they drop adverts
/// from any other: so this node must send from exactly that address, and
/// from the VRRP interface, the only one keepalived sends and receives
/// adverts on (it binds its sockets to it).
fn unicast_source(
    config: &Config,
    interfaces: &[Interface],
    interface: &str,
    local_addr: Option<IpAddr>,
) -> Result<(IpAddr, Vec<IpAddr>)> {
    let owner = |ip: &IpAddr| {
        interfaces
            .iter()
            .find(|i| i.addrs.iter().any(|a| a.addr() == *ip))
            .map(|i| i.name.as_str())
    };
    let (mine, peers): (Vec<IpAddr>, Vec<IpAddr>) =
        config.peers.iter().partition(|p| owner(p).is_some());
    if peers.is_empty() {
        return Err(usage!(
            "every --peer is an address of this node, so there is no one to advertise to.\n\
             Fix: list the addresses of all masters (the same list on each); this node's own is dropped."
        ));
    }
    // What this node should be listed as: its address on the VRRP
    // interface, the one in the VIP's subnet if it has one.
    let vip = config.primary_vip();
    let suggestion = local_addr.or_else(|| {
        interfaces
            .iter()
            .filter(|i| i.name == interface)
            .flat_map(|i| &i.addrs)
            .find(|a| {
                a.addr().is_ipv4() == vip.is_ipv4() && usable(a, vip) && !is_link_local(a.addr())
            })
            .map(|a| a.addr())
    });
    let this_node = match suggestion {
        Some(ip) => format!("this node's is {ip}"),
        None => format!("this node's is its address on {interface}"),
    };
    match mine.as_slice() {
        [src] if owner(src) == Some(interface) => Ok((*src, peers)),
        [src] => Err(usage!(
            "--peer {src} is this node's address on {other}, but VRRP runs on {interface}, the VIP's \
             interface: keepalived sends and receives adverts there only, so the masters would never hear \
             this node at {src} and each would take the VIP.\n\
             Fix: list the masters' addresses on {interface}'s network instead ({this_node}), the same \
             list on every master.",
            other = owner(src).unwrap_or("another interface"),
        )),
        [] => Err(usage!(
            "none of the --peer addresses is this node's, so it is unknown which address the other \
             masters expect this node's adverts from; if keepalived sent from another, check_unicast_src \
             would make them drop its adverts, and every master would take the VIP.\n\
             Fix: list every master, this node too, the same list on each: add --peer {}.",
            suggestion.map_or(format!("ADDRESS (this node's on {interface})"), |ip| ip.to_string())
        )),
        several => {
            let listed: Vec<String> = several
                .iter()
                .map(|ip| format!("{ip} ({})", owner(ip).unwrap_or("?")))
                .collect();
            let plain: Vec<String> = several.iter().map(|ip| ip.to_string()).collect();
            Err(usage!(
                "--peer lists several addresses of this node: {}. keepalived sends from one address \
                 only, so which one the other masters should expect is ambiguous.\n\
                 Fix: list each master once, the same list on every master: keep one of {} for this node.",
                listed.join(", "),
                plain.join(", ")
            ))
        }
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.is_unicast_link_local(),
    }
}

/// All addresses of this host, to drop the node itself from `--peer`.
pub fn own_addresses(interfaces: &[Interface]) -> Vec<IpAddr> {
    interfaces
        .iter()
        .flat_map(|i| i.addrs.iter().map(|a| a.addr()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{FakeHost, Host};

    fn detect(host: FakeHost, vip: &str, requested: Option<&str>) -> Result<Detected> {
        choose_interface(&host.interfaces().unwrap(), vip.parse().unwrap(), requested)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn picks_the_interface_whose_subnet_holds_the_vip() {
        let host = FakeHost::default()
            .with("lo", &["127.0.0.1/8", "::1/128"])
            .with("ens3f0np0", &["198.51.100.11/24"])
            .with(
                "bond0.100",
                &["203.0.113.5/28", "192.0.2.11/24", "2001:db8::11/64"],
            );
        let d = detect(host, "192.0.2.10", None).unwrap();
        assert_eq!(d.interface, "bond0.100");
        assert_eq!(d.local_addr, Some(ip("192.0.2.11")));
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn ipv6_vip_and_fifteen_character_names() {
        let host = FakeHost::default()
            .with("eth0", &["192.0.2.11/24", "fe80::1/64"])
            .with("enp0s31f6abcdef", &["2001:db8::11/64", "fe80::2/64"]);
        let d = detect(host, "2001:db8::10", None).unwrap();
        assert_eq!(d.interface, "enp0s31f6abcdef");
        assert_eq!(d.local_addr, Some(ip("2001:db8::11")));
    }

    #[test]
    fn the_vip_already_held_here_is_ignored() {
        // Re-run on the node that holds the VIP: keepalived added it as /32.
        let host = FakeHost::default()
            .with("eth0", &["192.0.2.11/24", "192.0.2.10/32"])
            .with("eth1", &["198.51.100.11/24"]);
        assert_eq!(detect(host, "192.0.2.10", None).unwrap().interface, "eth0");
    }

    #[test]
    fn host_routes_do_not_match_by_subnet() {
        let host = FakeHost::default()
            .with("eth0", &["192.0.2.11/32"])
            .with("eth1", &["2001:db8::11/128"]);
        let err = detect(host, "192.0.2.10", None).unwrap_err().to_string();
        assert!(err.contains("no interface"), "{err}");
        assert!(err.contains("192.0.2.11/32"), "{err}");
    }

    #[test]
    fn link_local_and_loopback_never_match() {
        let host = FakeHost::default()
            .with("lo", &["127.0.0.1/8"])
            .with("eth0", &["fe80::1/64"]);
        assert!(detect(host, "fe80::10", None).is_err());
    }

    #[test]
    fn no_match_lists_every_candidate_and_suggests_interface() {
        let host = FakeHost::default()
            .with("eth0", &["198.51.100.11/24", "2001:db8::11/64"])
            .with("eth1", &[])
            .down();
        let err = detect(host, "192.0.2.10", None).unwrap_err();
        assert!(crate::error::is_usage(&err));
        let msg = err.to_string();
        for needle in [
            "eth0",
            "198.51.100.11/24",
            "2001:db8::11/64",
            "eth1",
            "down",
            "--interface",
        ] {
            assert!(msg.contains(needle), "missing {needle:?} in:\n{msg}");
        }
    }

    #[test]
    fn several_matches_are_ambiguous() {
        let host = FakeHost::default()
            .with("eth0", &["192.0.2.11/24"])
            .with("eth1", &["192.0.2.111/25"]);
        let msg = detect(host, "192.0.2.10", None).unwrap_err().to_string();
        assert!(msg.contains("ambiguous"), "{msg}");
        assert_eq!(
            msg.matches("<- subnet contains the VIP").count(),
            2,
            "{msg}"
        );
    }

    #[test]
    fn requested_interface_wins_and_warns_when_off_subnet_or_down() {
        let host = FakeHost::default()
            .with("eth0", &["192.0.2.11/24"])
            .with("eth1", &["198.51.100.11/24"])
            .down();
        let d = detect(host, "192.0.2.10", Some("eth1")).unwrap();
        assert_eq!(d.interface, "eth1");
        assert_eq!(d.local_addr, None);
        assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
    }

    #[test]
    fn requested_interface_must_exist() {
        let host = FakeHost::default().with("eth0", &["192.0.2.11/24"]);
        let msg = detect(host, "192.0.2.10", Some("eth9"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("eth9") && msg.contains("eth0"), "{msg}");
    }

    /// Issue 23's host: two addresses in the VIP's subnet, and another
    /// network on eth1.
    fn two_networks() -> Vec<Interface> {
        FakeHost::default()
            .with("lo", &["127.0.0.1/8"])
            .with("bond0.100", &["192.0.2.11/24", "192.0.2.99/24"])
            .with("eth1", &["198.51.100.21/24"])
            .interfaces()
            .unwrap()
    }

    fn unicast(peers: &[&str], interface: Option<&str>, on_this_host: bool) -> Result<Node> {
        let settings = crate::settings::Settings {
            vips: vec!["192.0.2.10".into()],
            interface: interface.map(String::from),
            peers: peers.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        };
        let config = Config::validate(&settings).unwrap();
        resolve(&config, &two_networks(), on_this_host)
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|a| ip(a)).collect()
    }

    #[test]
    fn the_unicast_source_is_this_nodes_address_in_the_peer_list() {
        for on_this_host in [true, false] {
            let node = unicast(
                &["192.0.2.99", "192.0.2.12", "192.0.2.13"],
                None,
                on_this_host,
            )
            .unwrap();
            assert_eq!(node.unicast_src, Some(ip("192.0.2.99")), "{on_this_host}");
            assert_eq!(node.peers, ips(&["192.0.2.12", "192.0.2.13"]));
        }
        // render without --interface detects here, so it drops this node too.
        let node = unicast(&["192.0.2.11", "192.0.2.12", "192.0.2.13"], None, false).unwrap();
        assert_eq!(node.unicast_src, Some(ip("192.0.2.11")));
        assert_eq!(node.peers, ips(&["192.0.2.12", "192.0.2.13"]));
    }

    #[test]
    fn render_for_another_machine_keeps_the_peers_and_names_no_source() {
        let node = unicast(
            &["192.0.2.11", "192.0.2.12", "192.0.2.13"],
            Some("eth0"),
            false,
        )
        .unwrap();
        assert_eq!(node.unicast_src, None);
        assert_eq!(node.peers, ips(&["192.0.2.11", "192.0.2.12", "192.0.2.13"]));
    }

    fn refused(peers: &[&str], on_this_host: bool) -> String {
        let err = unicast(peers, None, on_this_host).unwrap_err();
        assert!(crate::error::is_usage(&err), "{err:#}");
        let msg = err.to_string();
        assert!(msg.contains("Fix:"), "{msg}");
        msg
    }

    #[test]
    fn this_nodes_peer_address_on_another_interface_is_refused() {
        let msg = refused(&["198.51.100.21", "198.51.100.22", "198.51.100.23"], true);
        for needle in ["198.51.100.21", "eth1", "bond0.100", "192.0.2.11"] {
            assert!(msg.contains(needle), "missing {needle:?} in:\n{msg}");
        }
    }

    #[test]
    fn a_peer_list_without_this_node_is_refused_and_names_its_address() {
        let msg = refused(&["192.0.2.12", "192.0.2.13"], true);
        assert!(msg.contains("--peer 192.0.2.11"), "{msg}");
    }

    #[test]
    fn several_of_this_nodes_addresses_in_the_peer_list_are_refused() {
        let msg = refused(&["192.0.2.11", "192.0.2.99", "192.0.2.12"], false);
        assert!(
            msg.contains("192.0.2.11") && msg.contains("192.0.2.99"),
            "{msg}"
        );
    }

    #[test]
    fn a_wildcard_agent_listen_warns() {
        let node = |listen: &str| {
            let settings = crate::settings::Settings {
                vips: vec!["192.0.2.10".into()],
                agent_listen: Some(listen.into()),
                ..Default::default()
            };
            resolve(&Config::validate(&settings).unwrap(), &two_networks(), true).unwrap()
        };
        for wildcard in ["0.0.0.0:10290", "[::]:10290"] {
            let warnings = node(wildcard).warnings.join("\n");
            assert!(warnings.contains("anyone who can reach it"), "{warnings}");
        }
        for specific in ["127.0.0.1:10290", "192.0.2.11:10290"] {
            assert!(node(specific).warnings.is_empty(), "{specific}");
        }
    }

    #[test]
    fn own_address_network_and_broadcast_are_rejected() {
        let host = || FakeHost::default().with("eth0", &["192.0.2.11/24"]);
        for (vip, word) in [
            ("192.0.2.11", "own address"),
            ("192.0.2.0", "network"),
            ("192.0.2.255", "broadcast"),
        ] {
            let msg = detect(host(), vip, None).unwrap_err().to_string();
            assert!(msg.contains(word), "{vip}: {msg}");
        }
    }
}
