//! `kubealived uninstall`: remove exactly what install wrote. The manifest
//! goes first so kubelet stops the pod before its config disappears: on
//! the holder the agent hands the VIP over make-before-break (its priority
//! lowered until a backup holds the VIP), then keepalived stops.
//!
//! All or nothing: a manifest at kubealived's path that kubealived did not
//! write (or whose label was edited away) makes uninstall refuse and change
//! nothing, since removing keepalived.conf under a running pod that still
//! mounts it would leave a pod that cannot restart; `--force` removes it
//! with the rest.
//!
//! Then it waits, bounded, for the VIPs the pod managed to leave this
//! node (kubelet stops the pod, which hands them over): a pod whose PID 1
//! was SIGKILLed, or whose grace period ran out, can leave one behind, and
//! uninstall removes it itself and says so.

use super::{require_root, Cli, Command, RootArgs};
use crate::agent::args::AgentArgs;
use crate::agent::vips::Vips;
use crate::error::usage;
use crate::host::Host;
use crate::node::own_addresses;
use crate::paths::{read_optional, MANIFEST, NFT_BALANCE_TABLE, NFT_TABLE, OWNED_FILES};
use crate::render::manifest;
use crate::write;
use anyhow::Result;
use clap::{Args, Parser};
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub root: RootArgs,
    /// Also remove a manifest at kubealived's path that kubealived did not write
    #[arg(long)]
    pub force: bool,
    /// How long the pod may take to stop and drop the VIPs from this node
    /// before uninstall removes them itself
    #[arg(long, value_name = "SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub wait: u64,
}

pub fn run(args: &UninstallArgs, host: &dyn Host, out: &mut dyn Write) -> Result<()> {
    let root = args.root.root();
    require_root(
        &root,
        "uninstall removes files under /etc",
        "run it with sudo",
    )?;
    let lock = write::lock(&root)?;
    // Judged under the lock: an install --force may have just replaced it.
    let manifest_path = root.path(MANIFEST);
    if let Some(existing) = read_optional(&manifest_path)? {
        if !args.force && !manifest::written_by_us(&existing) {
            let why = if String::from_utf8_lossy(&existing).contains("Written by kubealived") {
                "carries kubealived's header but not its label app.kubernetes.io/managed-by \
                 (edited by hand?)"
            } else {
                "was not written by kubealived"
            };
            return Err(usage!(
                "{} {why}, so uninstall changed nothing: removing only the rest would leave a pod \
                 that cannot restart.\nFix: if it is kubealived's, `kubealived uninstall --force` \
                 removes it with the rest; if it belongs to another tool, move it away first.",
                manifest_path.display()
            ));
        }
    }
    // What the pod manages, as its own command line says: read before the
    // manifest goes.
    let agent = read_optional(&manifest_path)?
        .as_deref()
        .and_then(agent_args);
    let vips = agent.as_ref().map(AgentArgs::vips);
    let filter = agent.as_ref().is_some_and(|a| !a.vrrp_from.is_empty());
    let balance = agent.as_ref().is_some_and(|a| a.balance_port.is_some());
    write::sweep_temp_files(&root)?;
    let mut removed = 0;
    for relative in OWNED_FILES.iter().rev() {
        let path = root.path(relative);
        if write::remove_if_present(&path)? {
            writeln!(out, "removed   {}", path.display())?;
            removed += 1;
        }
    }
    // The lock file goes too, and our own directory if nothing else was put there.
    write::unlock_and_remove(lock, &root)?;
    if let Some(vips) = vips {
        let_go(&vips, host, Duration::from_secs(args.wait), out)?;
    }
    remove_nft_table(host, NFT_TABLE, "the VRRP filter", filter, out)?;
    remove_nft_table(host, NFT_BALANCE_TABLE, "the load balancing", balance, out)?;
    if removed == 0 {
        writeln!(
            out,
            "nothing to remove: kubealived is not installed under {}",
            args.root.root.display()
        )?;
    }
    Ok(())
}

/// The manifest's agent's arguments (the VIPs it manages, with their
/// interfaces; its VRRP filter), read with the agent's own parser.
pub(super) fn agent_args(manifest: &[u8]) -> Option<AgentArgs> {
    let pod: k8s_openapi::api::core::v1::Pod = serde_yaml_ng::from_slice(manifest).ok()?;
    let command = pod.spec?.containers.into_iter().next()?.command?;
    match Cli::try_parse_from(&command).ok()?.command {
        Command::Agent(agent) => Some(agent),
        _ => None,
    }
}

/// A pod killed hard leaves its nftables tables (the VRRP filter's, the
/// load balancing's) behind: removed with this host's `nft`, best effort.
/// A failure is reported only when the manifest had that table on (`asked`).
fn remove_nft_table(
    host: &dyn Host,
    table: &str,
    what: &str,
    asked: bool,
    out: &mut dyn Write,
) -> Result<()> {
    match host.remove_nft_table(table) {
        Ok(true) => writeln!(out, "removed   {what} (nftables table {table})")?,
        Ok(false) => {}
        Err(e) if asked => writeln!(
            out,
            "warning   {what} (nftables table {table}) may be left: {e:#}; \
             a pod that stopped cleanly removed it (`nft delete table {table}` does)"
        )?,
        Err(_) => {}
    }
    Ok(())
}

/// Waits until none of `vips` is on this node any more, at most `wait`;
/// then removes what is left and says so.
fn let_go(vips: &Vips, host: &dyn Host, wait: Duration, out: &mut dyn Write) -> Result<()> {
    let held = || -> Result<Vec<std::net::IpAddr>> {
        let own = own_addresses(&host.interfaces()?);
        Ok(vips
            .0
            .iter()
            .map(|(ip, _)| *ip)
            .filter(|ip| own.contains(ip))
            .collect())
    };
    if held()?.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "waiting   for the pod to stop and hand the VIP over (at most {} s)",
        wait.as_secs()
    )?;
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if held()?.is_empty() {
            writeln!(out, "released  the VIP: the pod handed it over")?;
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for ip in vips.remove()? {
        writeln!(
            out,
            "removed   VIP {ip}: it was still on this node {} s after the manifest went \
             (is kubelet running? `crictl ps --name keepalived`)",
            wait.as_secs()
        )?;
    }
    Ok(())
}
