//! The opt-in VRRP filter (`--vrrp-filter`): an nftables table of our
//! own that drops VRRP (IP protocol 112) from every source but the given
//! ones (the peers and this node), applied and removed with the `nft` CLI.

use crate::paths::NFT_TABLE;
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

/// Installs the filter (atomically replacing a leftover one).
pub fn apply(nft: &Path, from: &[IpAddr]) -> Result<()> {
    run(nft, &["-f", "-"], Some(&ruleset(from))).map(drop)
}

/// Removes the table; false when there was none.
pub fn remove(nft: &Path) -> Result<bool> {
    let table: Vec<&str> = NFT_TABLE.split(' ').collect();
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
    fn a_missing_nft_is_an_error_that_names_it() {
        let e = apply(Path::new("/nonexistent/nft"), &[]).unwrap_err();
        assert!(
            format!("{e:#}").contains("cannot run /nonexistent/nft -f -"),
            "{e:#}"
        );
    }
}
