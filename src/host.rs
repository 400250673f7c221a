//! The boundary to the machine: its interfaces and addresses, its
//! container runtime, the keepalived installed on it and its kernel's
//! nftables. Everything else
//! is pure, so tests can hand in a [`FakeHost`].

use crate::paths::Root;
use crate::runtime::Runtime;
use anyhow::{Context, Result};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

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
    /// keepalived's own verdict on a keepalived.conf (`keepalived
    /// --config-test`), by the keepalived installed here, if any. It checks
    /// the interfaces against this network namespace, so it judges a
    /// config for this host only.
    fn test_keepalived_conf(&self, conf: &str) -> ConfigTest;
    /// The addresses a DNS name resolves to here (the system resolver:
    /// /etc/hosts, DNS); empty when it does not resolve.
    fn resolve(&self, name: &str) -> Vec<IpAddr>;
    /// Removes one of the agent's nftables tables ("family name": the VRRP
    /// filter's, the load balancing's) with this host's `nft`: true if it
    /// was there; an error when there is no `nft` here or it failed.
    fn remove_nft_table(&self, table: &str) -> Result<bool>;
    /// The kernel's verdict on one of the agent's nftables rulesets
    /// (`nft --check`, which applies nothing), asked with this host's
    /// `nft`, if any, and as root: the pod's agent applies it in this
    /// same kernel.
    fn test_nft_ruleset(&self, ruleset: &str) -> ConfigTest;
}

/// What keepalived said about a keepalived.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigTest {
    /// Not checked: no keepalived on this host (kubealived needs none:
    /// keepalived runs in the image), one too old to judge this config, or
    /// one that could not run (then why, for a warning).
    Skipped(Option<String>),
    /// Accepted; anything keepalived said all the same.
    Passed(String),
    /// Rejected, in keepalived's words.
    Failed(String),
}

/// The oldest keepalived whose verdict counts: the image's (Debian 12's
/// 2.2.7). An older one may reject keywords the image's knows.
pub const KEEPALIVED_CHECKED_SINCE: (u32, u32) = (2, 2);
/// A config test takes milliseconds; a keepalived that hangs must not
/// hang install (the boot unit runs it).
const KEEPALIVED_TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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

    fn test_keepalived_conf(&self, conf: &str) -> ConfigTest {
        match find_program("keepalived") {
            None => ConfigTest::Skipped(None),
            Some(keepalived) => keepalived_config_test(&keepalived, conf),
        }
    }

    fn remove_nft_table(&self, table: &str) -> Result<bool> {
        match find_program("nft") {
            None => anyhow::bail!("no nft on this host"),
            Some(nft) => crate::nft::remove_table(&nft, table),
        }
    }

    fn test_nft_ruleset(&self, ruleset: &str) -> ConfigTest {
        match find_program("nft") {
            // Install needs root; a dry run or a --root run may not have it.
            _ if !nix::unistd::geteuid().is_root() => ConfigTest::Skipped(None),
            None => ConfigTest::Skipped(None),
            Some(nft) => match crate::nft::check(&nft, ruleset) {
                Ok(()) => ConfigTest::Passed(String::new()),
                Err(e) => ConfigTest::Failed(format!("{e:#}")),
            },
        }
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

/// A program on PATH, or in the sbin directories a root shell has there
/// (keepalived lives in /usr/sbin; sudo and systemd put it on PATH, a
/// plain user's shell may not).
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `keepalived --version` says `Keepalived v2.2.7 (01/16,2022)`.
fn keepalived_version(said: &str) -> Option<(u32, u32)> {
    let version = said.split_whitespace().find_map(|w| w.strip_prefix('v'))?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

/// Runs `keepalived --config-test` on a private temp copy of `conf`.
fn keepalived_config_test(keepalived: &Path, conf: &str) -> ConfigTest {
    use std::process::{Command, Stdio};
    let version = Command::new(keepalived)
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    let said =
        version.map(|o| String::from_utf8_lossy(&[o.stdout, o.stderr].concat()).into_owned());
    match said.as_deref().ok().and_then(keepalived_version) {
        Some(v) if v >= KEEPALIVED_CHECKED_SINCE => {}
        _ => return ConfigTest::Skipped(None),
    }
    let run = || -> Result<(bool, String)> {
        // Private: a VRRPv2 config holds the password.
        let dir = std::env::temp_dir();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let path = dir.join(format!(".kubealived-{}-{stamp}.conf", std::process::id()));
        let mut file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?
        };
        let result = (|| {
            std::io::Write::write_all(&mut file, conf.as_bytes())?;
            drop(file);
            let mut child = Command::new(keepalived)
                .arg("--config-test")
                .arg(format!("--use-file={}", path.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?;
            let start = std::time::Instant::now();
            while child.try_wait()?.is_none() {
                if start.elapsed() > KEEPALIVED_TEST_TIMEOUT {
                    let _ = child.kill();
                    let _ = child.wait();
                    anyhow::bail!("it did not finish within {KEEPALIVED_TEST_TIMEOUT:?}");
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let out = child.wait_with_output()?;
            let said = String::from_utf8_lossy(&[out.stdout, out.stderr].concat())
                .replace(&path.display().to_string(), "keepalived.conf");
            let said = match (out.status.success(), said.trim()) {
                (false, "") => format!("keepalived --config-test failed ({})", out.status),
                (_, said) => said.to_string(),
            };
            Ok((out.status.success(), said))
        })();
        let _ = std::fs::remove_file(&path);
        result
    };
    match run() {
        Ok((true, said)) => ConfigTest::Passed(said),
        Ok((false, said)) => ConfigTest::Failed(said),
        Err(e) => ConfigTest::Skipped(Some(format!(
            "keepalived.conf was not checked with {}: {e:#}",
            keepalived.display()
        ))),
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
    Ok(crate::netlink::addresses()?
        .into_iter()
        .filter_map(|a| {
            let ip = crate::netlink::address_of(&a)?;
            let net = IpNet::new(ip, a.header.prefix_len).ok()?;
            Some((a.header.index, net))
        })
        .collect())
}

/// A host described in code, for tests.
#[cfg(test)]
#[derive(Default)]
pub struct FakeHost(
    pub Vec<Interface>,
    pub Option<std::rc::Rc<crate::runtime::FakeRuntime>>,
    /// What names resolve to; others do not resolve.
    pub BTreeMap<String, Vec<IpAddr>>,
    /// What keepalived says about every config; none: no keepalived here.
    pub Option<ConfigTest>,
    /// What the kernel says about every nftables ruleset; none: no nft here.
    pub Option<ConfigTest>,
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

    /// keepalived on this host says this about every config (default: no
    /// keepalived here).
    pub fn keepalived_says(mut self, verdict: ConfigTest) -> Self {
        self.3 = Some(verdict);
        self
    }

    /// The kernel says this about every nftables ruleset (default: no
    /// nft here).
    pub fn nft_says(mut self, verdict: ConfigTest) -> Self {
        self.4 = Some(verdict);
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

    fn test_keepalived_conf(&self, _conf: &str) -> ConfigTest {
        self.3.clone().unwrap_or(ConfigTest::Skipped(None))
    }

    fn resolve(&self, name: &str) -> Vec<IpAddr> {
        self.2.get(name).cloned().unwrap_or_default()
    }

    fn remove_nft_table(&self, _table: &str) -> Result<bool> {
        Ok(false)
    }

    fn test_nft_ruleset(&self, _ruleset: &str) -> ConfigTest {
        self.4.clone().unwrap_or(ConfigTest::Skipped(None))
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

    #[test]
    fn keepalived_versions() {
        assert_eq!(
            keepalived_version("Keepalived v2.2.7 (01/16,2022)\n\nCopyright"),
            Some((2, 2))
        );
        assert_eq!(
            keepalived_version("Keepalived v1.3.5 (03/19,2017)"),
            Some((1, 3))
        );
        assert_eq!(keepalived_version("keepalived: not found"), None);
        assert!((1, 3) < KEEPALIVED_CHECKED_SINCE && (2, 3) >= KEEPALIVED_CHECKED_SINCE);
    }
}
