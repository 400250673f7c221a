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

use super::{require_root, RootArgs};
use crate::error::usage;
use crate::paths::{read_optional, MANIFEST, OWNED_FILES};
use crate::render::manifest;
use crate::write;
use anyhow::Result;
use clap::Args;
use std::io::Write;

#[derive(Args, Debug)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub root: RootArgs,
    /// Also remove a manifest at kubealived's path that kubealived did not write
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &UninstallArgs, out: &mut dyn Write) -> Result<()> {
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
    if removed == 0 {
        writeln!(
            out,
            "nothing to remove: kubealived is not installed under {}",
            args.root.root.display()
        )?;
    }
    Ok(())
}
