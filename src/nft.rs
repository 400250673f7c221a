//! kubealived's nftables tables, each its own, applied and removed with
//! the `nft` CLI:
//! - the opt-in VRRP filter (`--vrrp-filter`, [`ruleset`]): drops VRRP
//!   (IP protocol 112) from every source but the given ones (the peers
//!   and this node);
//! - the opt-in load balancing (`--load-balance`, [`balance_ruleset`]):
//!   new connections to VIP:PORT spread over the ready apiservers.

use crate::paths::{NFT_BALANCE_TABLE, NFT_TABLE};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The table, replacing a leftover one of the same name in the same
/// transaction (the first line makes sure there is one to delete). Its
/// input chain comes before every other (priority -400) and drops VRRP
/// whose source is not in `from`, per family `from` has addresses of.
pub fn ruleset(from: &[IpAddr]) -> String {
    let mut rules = String::new();
    for (family, v4) in [("ip", true), ("ip6", false)] {
        let set: Vec<String> = from
            .iter()
            .filter(|ip| ip.is_ipv4() == v4)
            .map(IpAddr::to_string)
            .collect();
        if !set.is_empty() {
            rules += &format!(
                "\t\t{family} saddr != {{ {} }} meta l4proto 112 counter drop\n",
                set.join(", ")
            );
        }
    }
    format!(
        "table {NFT_TABLE}\ndelete table {NFT_TABLE}\ntable {NFT_TABLE} {{\n\tchain input {{\n\
         \t\ttype filter hook input priority -400; policy accept;\n{rules}\t}}\n}}\n"
    )
}

/// One balanced service: new TCP connections to `vip`:`port` go to the
/// `backends` (each at `backend_port`) in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub vip: IpAddr,
    pub port: u16,
    pub backends: Vec<IpAddr>,
    pub backend_port: u16,
}

/// The services for the VIPs of `vips`: each spread over the ready
/// backends of its family, in address order.
pub fn services(vips: &[IpAddr], port: u16, ready: &[IpAddr], backend_port: u16) -> Vec<Service> {
    vips.iter()
        .map(|vip| Service {
            vip: *vip,
            port,
            backends: ready
                .iter()
                .filter(|b| b.is_ipv4() == vip.is_ipv4())
                .copied()
                .collect(),
            backend_port,
        })
        .collect()
}

/// The balancing table, replacing a leftover one in the same transaction.
/// Kernel NAT, as kube-proxy's nftables mode does it: a new connection to
/// a VIP:PORT is DNATed to the next backend (`numgen inc`: round robin),
/// from other hosts (prerouting) and from this one (output: its kubelet);
/// what leaves for another master is masqueraded, so the answer comes
/// back through this node and is un-NATed. Every rule holds only while
/// the VIP is an address of this node (`fib daddr type local`): the same
/// table on every master balances on the holder alone, and moves with
/// the VIP in the same instant. A service with no backends is left out
/// (its VIP then reaches this node's own apiserver, as without balancing).
pub fn balance_ruleset(services: &[Service]) -> String {
    let (mut dnat, mut masq) = (String::new(), String::new());
    for s in services.iter().filter(|s| !s.backends.is_empty()) {
        let family = if s.vip.is_ipv4() { "ip" } else { "ip6" };
        let map: Vec<String> = s
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| format!("{i} : {b} . {}", s.backend_port))
            .collect();
        dnat += &format!(
            "\t\t{family} daddr {} tcp dport {} fib daddr type local counter \
             dnat {family} to numgen inc mod {} map {{ {} }}\n",
            s.vip,
            s.port,
            map.len(),
            map.join(", ")
        );
        masq += &format!(
            "\t\tmeta l4proto tcp ct status dnat ct original {family} daddr {} \
             ct original proto-dst {} counter masquerade\n",
            s.vip, s.port
        );
    }
    let t = NFT_BALANCE_TABLE;
    format!(
        "table {t}\ndelete table {t}\ntable {t} {{\n\
         \tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n{dnat}\t}}\n\
         \tchain output {{\n\t\ttype nat hook output priority -100; policy accept;\n{dnat}\t}}\n\
         \tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n{masq}\t}}\n}}\n"
    )
}

/// Installs the balancing (atomically replacing what was there).
pub fn apply_balance(nft: &Path, services: &[Service]) -> Result<()> {
    run(nft, &["-f", "-"], Some(&balance_ruleset(services))).map(drop)
}

/// Installs the filter (atomically replacing a leftover one).
pub fn apply(nft: &Path, from: &[IpAddr]) -> Result<()> {
    run(nft, &["-f", "-"], Some(&ruleset(from))).map(drop)
}

/// The kernel's verdict on `ruleset` (`nft --check`: the whole
/// transaction is sent, validated, loading what modules it needs, and
/// aborted), applying nothing.
pub fn check(nft: &Path, ruleset: &str) -> Result<()> {
    run(nft, &["--check", "-f", "-"], Some(ruleset)).map(drop)
}

/// Removes the VRRP filter's table; false when there was none.
pub fn remove(nft: &Path) -> Result<bool> {
    remove_table(nft, NFT_TABLE)
}

/// Removes the balancing table; false when there was none.
pub fn remove_balance(nft: &Path) -> Result<bool> {
    remove_table(nft, NFT_BALANCE_TABLE)
}

/// Removes `table` ("family name"); false when there was none.
pub fn remove_table(nft: &Path, table: &str) -> Result<bool> {
    let table: Vec<&str> = table.split(' ').collect();
    if run(nft, &[&["list", "table"][..], &table].concat(), None).is_err() {
        return Ok(false);
    }
    run(nft, &[&["delete", "table"][..], &table].concat(), None).map(|_| true)
}

fn run(nft: &Path, args: &[&str], input: Option<&str>) -> Result<Output> {
    let shown = format!("{} {}", nft.display(), args.join(" "));
    let mut child = Command::new(nft)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {shown}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(input.unwrap_or_default().as_bytes())?;
    drop(stdin);
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ruleset_replaces_a_leftover_and_drops_vrrp_from_others() {
        let from: Vec<IpAddr> = ["192.0.2.11", "192.0.2.12"]
            .map(|a| a.parse().unwrap())
            .into();
        assert_eq!(
            ruleset(&from),
            "table inet kubealived\ndelete table inet kubealived\ntable inet kubealived {\n\
             \tchain input {\n\t\ttype filter hook input priority -400; policy accept;\n\
             \t\tip saddr != { 192.0.2.11, 192.0.2.12 } meta l4proto 112 counter drop\n\t}\n}\n"
        );
        let v6: Vec<IpAddr> = vec!["2001:db8::11".parse().unwrap()];
        assert!(ruleset(&v6)
            .contains("\t\tip6 saddr != { 2001:db8::11 } meta l4proto 112 counter drop\n"));
        assert!(!ruleset(&v6).contains("ip saddr"));
    }

    #[test]
    fn the_balance_dnats_the_vip_port_round_robin_only_where_the_vip_is_local() {
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        let services = [
            Service {
                vip: ip("192.0.2.10"),
                port: 443,
                backends: vec![ip("192.0.2.11"), ip("192.0.2.12"), ip("192.0.2.13")],
                backend_port: 6443,
            },
            Service {
                vip: ip("2001:db8::10"),
                port: 443,
                backends: vec![],
                backend_port: 6443,
            },
        ];
        let dnat = "\t\tip daddr 192.0.2.10 tcp dport 443 fib daddr type local counter dnat ip to \
                    numgen inc mod 3 map { 0 : 192.0.2.11 . 6443, 1 : 192.0.2.12 . 6443, 2 : 192.0.2.13 . 6443 }\n";
        assert_eq!(
            balance_ruleset(&services),
            format!(
                "table inet kubealived_lb\ndelete table inet kubealived_lb\ntable inet kubealived_lb {{\n\
                 \tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n{dnat}\t}}\n\
                 \tchain output {{\n\t\ttype nat hook output priority -100; policy accept;\n{dnat}\t}}\n\
                 \tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
                 \t\tmeta l4proto tcp ct status dnat ct original ip daddr 192.0.2.10 ct original proto-dst 443 \
                 counter masquerade\n\t}}\n}}\n"
            )
        );
        let v6 = balance_ruleset(&[Service {
            backends: vec![ip("2001:db8::11")],
            ..services[1].clone()
        }]);
        assert!(
            v6.contains(
                "\t\tip6 daddr 2001:db8::10 tcp dport 443 fib daddr type local counter dnat ip6 \
                             to numgen inc mod 1 map { 0 : 2001:db8::11 . 6443 }\n"
            ),
            "{v6}"
        );
    }

    #[test]
    fn a_missing_nft_is_an_error_that_names_it() {
        let e = apply(Path::new("/nonexistent/nft"), &[]).unwrap_err();
        assert!(
            format!("{e:#}").contains("cannot run /nonexistent/nft -f -"),
            "{e:#}"
        );
    }

    #[test]
    fn each_vip_is_spread_over_the_ready_backends_of_its_family() {
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        let s = services(
            &[ip("192.0.2.10"), ip("2001:db8::10")],
            443,
            &[ip("192.0.2.11"), ip("192.0.2.13"), ip("2001:db8::12")],
            6443,
        );
        assert_eq!(s[0].backends, [ip("192.0.2.11"), ip("192.0.2.13")]);
        assert_eq!(s[1].backends, [ip("2001:db8::12")]);
        assert!(s.iter().all(|s| s.port == 443 && s.backend_port == 6443));
    }
}
