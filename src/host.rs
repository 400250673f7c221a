//! The boundary to the machine: its interfaces and addresses, and its
//! container runtime. Everything else is pure, so tests can hand in a
//! [`FakeHost`].

use crate::paths::Root;
use crate::runtime::Runtime;
use anyhow::{Context, Result};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub up: bool,
    pub loopback: bool,
    /// Address with its prefix length, as `ip -o addr` shows it.
    pub addrs: Vec<IpNet>,
}

pub trait Host {
    fn interfaces(&self) -> Result<Vec<Interface>>;
    /// The container runtime whose socket answers under `root`, if any.
    fn runtime(&self, root: &Root) -> Option<Box<dyn Runtime>>;
    /// The addresses a DNS name resolves to here (the system resolver:
    /// /etc/hosts, DNS); empty when it does not resolve.
    fn resolve(&self, name: &str) -> Vec<IpAddr>;
}

/// The machine we run on: its devices from getifaddrs(3), their addresses
/// from rtnetlink.
pub struct RealHost;

impl Host for RealHost {
    /// getifaddrs names an IPv4 address by its label (`ip addr add ...
    /// label eth0:vip`), which is no device: keepalived and the agent
    /// reject it. So only its device entries are used (a link-level or
    /// empty address, under the device's own name), and each address is
    /// put on the device rtnetlink says it is on, by index.
    fn interfaces(&self) -> Result<Vec<Interface>> {
        use nix::net::if_::InterfaceFlags;
        let mut devices = Vec::new();
        for ifa in nix::ifaddrs::getifaddrs().context("cannot list network interfaces")? {
            let is_device = ifa
                .address
                .as_ref()
                .is_none_or(|a| a.as_link_addr().is_some());
            // A device that went away meanwhile has no index: skip it.
            let index = nix::net::if_::if_nametoindex(ifa.interface_name.as_str());
            if let (true, Ok(index)) = (is_device, index) {
                devices.push((
                    index,
                    Interface {
                        name: ifa.interface_name.clone(),
                        up: ifa.flags.contains(InterfaceFlags::IFF_UP),
                        loopback: ifa.flags.contains(InterfaceFlags::IFF_LOOPBACK),
                        addrs: Vec::new(),
                    },
                ));
            }
        }
        Ok(assemble(devices, netlink_addresses()?))
    }

    fn runtime(&self, root: &Root) -> Option<Box<dyn Runtime>> {
        crate::runtime::find(root)
    }

    fn resolve(&self, name: &str) -> Vec<IpAddr> {
        use std::net::ToSocketAddrs;
        let mut found: Vec<IpAddr> = Vec::new();
        for addr in (name, 0).to_socket_addrs().into_iter().flatten() {
            if !found.contains(&addr.ip()) {
                found.push(addr.ip());
            }
        }
        found
    }
}

/// Devices by index, each with the addresses on that index, in the order
/// the kernel lists them (primary before secondary); sorted by name.
fn assemble(devices: Vec<(u32, Interface)>, addrs: Vec<(u32, IpNet)>) -> Vec<Interface> {
    let mut by_index: BTreeMap<u32, Interface> = BTreeMap::new();
    for (index, device) in devices {
        by_index.entry(index).or_insert(device);
    }
    for (index, net) in addrs {
        if let Some(device) = by_index.get_mut(&index) {
            device.addrs.push(net);
        }
    }
    let mut all: Vec<Interface> = by_index.into_values().collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// Every address of this network namespace with its device's index
/// (RTM_GETADDR), as `ip -o addr` lists them.
fn netlink_addresses() -> Result<Vec<(u32, IpNet)>> {
    use netlink_packet_core::{
        NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
    };
    use netlink_packet_route::address::{AddressAttribute, AddressMessage};
    use netlink_packet_route::RouteNetlinkMessage;
    use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

    let mut socket = Socket::new(NETLINK_ROUTE).context("cannot open a netlink socket")?;
    socket.bind_auto().context("cannot bind a netlink socket")?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .context("cannot connect a netlink socket")?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = 1;
    let request = RouteNetlinkMessage::GetAddress(AddressMessage::default());
    let mut request = NetlinkMessage::new(header, NetlinkPayload::from(request));
    request.finalize();
    let mut buf = vec![0; request.header.length as usize];
    request.serialize(&mut buf[..]);
    socket
        .send(&buf, 0)
        .context("cannot list addresses (netlink send)")?;

    let mut found = Vec::new();
    let mut rx = vec![0u8; 64 * 1024];
    loop {
        let size = socket
            .recv(&mut &mut rx[..], 0)
            .context("cannot list addresses (netlink recv)")?;
        let mut offset = 0;
        while offset < size {
            let msg: NetlinkMessage<RouteNetlinkMessage> =
                NetlinkMessage::deserialize(&rx[offset..size])
                    .context("cannot parse the kernel's list of addresses")?;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(found),
                NetlinkPayload::Error(e) => {
                    return Err(anyhow::Error::new(e.to_io()).context("cannot list addresses"))
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(a)) => {
                    // IPv4 keeps the address in IFA_LOCAL (IFA_ADDRESS is
                    // the peer on point-to-point links), IPv6 in IFA_ADDRESS.
                    let attr = |local: bool| {
                        a.attributes.iter().find_map(|attr| match attr {
                            AddressAttribute::Local(ip) if local => Some(*ip),
                            AddressAttribute::Address(ip) if !local => Some(*ip),
                            _ => None,
                        })
                    };
                    if let Some(net) = attr(true)
                        .or_else(|| attr(false))
                        .and_then(|ip| IpNet::new(ip, a.header.prefix_len).ok())
                    {
                        found.push((a.header.index, net));
                    }
                }
                _ => {}
            }
            let len = msg.header.length as usize;
            if len == 0 {
                break;
            }
            offset += len;
        }
    }
}

/// A host described in code, for tests.
#[cfg(test)]
#[derive(Default)]
pub struct FakeHost(
    pub Vec<Interface>,
    pub Option<std::rc::Rc<crate::runtime::FakeRuntime>>,
    /// What names resolve to; others do not resolve.
    pub BTreeMap<String, Vec<IpAddr>>,
);

#[cfg(test)]
impl FakeHost {
    /// `FakeHost::default().with("eth0", &["192.0.2.11/24"])`: an interface that is up.
    pub fn with(mut self, name: &str, addrs: &[&str]) -> Self {
        self.0.push(Interface {
            name: name.to_string(),
            up: true,
            loopback: name == "lo",
            addrs: addrs
                .iter()
                .map(|a| a.parse().expect("test address"))
                .collect(),
        });
        self
    }

    /// A container runtime answers, shared with the test to look into.
    pub fn runtime(mut self, runtime: std::rc::Rc<crate::runtime::FakeRuntime>) -> Self {
        self.1 = Some(runtime);
        self
    }

    /// `name` resolves to `addrs`.
    pub fn resolves(mut self, name: &str, addrs: &[&str]) -> Self {
        let addrs = addrs.iter().map(|a| a.parse().expect("test address"));
        self.2.insert(name.to_string(), addrs.collect());
        self
    }

    pub fn down(mut self) -> Self {
        if let Some(last) = self.0.last_mut() {
            last.up = false;
        }
        self
    }
}

#[cfg(test)]
impl Host for FakeHost {
    fn interfaces(&self) -> Result<Vec<Interface>> {
        Ok(self.0.clone())
    }

    fn runtime(&self, _root: &Root) -> Option<Box<dyn Runtime>> {
        self.1.clone().map(|rt| Box::new(rt) as Box<dyn Runtime>)
    }

    fn resolve(&self, name: &str) -> Vec<IpAddr> {
        self.2.get(name).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_go_to_the_device_they_are_on_whatever_their_label() {
        let device = |name: &str| Interface {
            name: name.into(),
            up: true,
            loopback: false,
            addrs: Vec::new(),
        };
        let net = |a: &str| a.parse::<IpNet>().unwrap();
        // getifaddrs would name the first "eth0:vip" and the second "eth0:x".
        let all = assemble(
            vec![(3, device("eth1")), (2, device("eth0"))],
            vec![
                (2, net("192.0.2.11/24")),
                (3, net("198.51.100.21/24")),
                (2, net("192.0.2.99/24")),
                (9, net("192.0.2.77/24")),
            ],
        );
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].name, "eth0");
        assert_eq!(all[0].addrs, [net("192.0.2.11/24"), net("192.0.2.99/24")]);
        assert_eq!(all[1].addrs, [net("198.51.100.21/24")]);
    }
}
