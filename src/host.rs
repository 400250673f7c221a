//! The boundary to the machine: its interfaces and addresses, and its
//! container runtime. Everything else is pure, so tests can hand in a
//! [`FakeHost`].

use crate::paths::Root;
use crate::runtime::Runtime;
use anyhow::{Context, Result};
use ipnet::IpNet;
use std::collections::BTreeMap;

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
}

/// The machine we run on, read with getifaddrs(3).
pub struct RealHost;

impl Host for RealHost {
    fn interfaces(&self) -> Result<Vec<Interface>> {
        use nix::net::if_::InterfaceFlags;
        let mut by_name: BTreeMap<String, Interface> = BTreeMap::new();
        for ifa in nix::ifaddrs::getifaddrs().context("cannot list network interfaces")? {
            let entry = by_name
                .entry(ifa.interface_name.clone())
                .or_insert_with(|| Interface {
                    name: ifa.interface_name.clone(),
                    up: ifa.flags.contains(InterfaceFlags::IFF_UP),
                    loopback: ifa.flags.contains(InterfaceFlags::IFF_LOOPBACK),
                    addrs: Vec::new(),
                });
            if let Some(net) = to_ipnet(ifa.address.as_ref(), ifa.netmask.as_ref()) {
                entry.addrs.push(net);
            }
        }
        Ok(by_name.into_values().collect())
    }

    fn runtime(&self, root: &Root) -> Option<Box<dyn Runtime>> {
        crate::runtime::find(root)
    }
}

fn to_ipnet(
    addr: Option<&nix::sys::socket::SockaddrStorage>,
    mask: Option<&nix::sys::socket::SockaddrStorage>,
) -> Option<IpNet> {
    let (addr, mask) = (addr?, mask?);
    if let (Some(a), Some(m)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) {
        return IpNet::with_netmask(a.ip().into(), m.ip().into()).ok();
    }
    if let (Some(a), Some(m)) = (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
        return IpNet::with_netmask(a.ip().into(), m.ip().into()).ok();
    }
    None
}

/// A host described in code, for tests.
#[cfg(test)]
#[derive(Default)]
pub struct FakeHost(
    pub Vec<Interface>,
    pub Option<std::rc::Rc<crate::runtime::FakeRuntime>>,
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
}
