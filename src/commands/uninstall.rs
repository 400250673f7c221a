//! `kubealived uninstall`: remove exactly what install wrote. The manifest
//! goes first so kubelet stops the pod before its config disappears: on
//! the holder the agent hands the VIP over make-before-break (its priority
//! lowered until a backup holds the VIP), then keepalived stops.

use super::{require_root, RootArgs};
use crate::paths::{read_optional, MANIFEST, OWNED_FILES};
use crate::render::manifest;
use crate::write;
use anyhow::Result;
use std::io::Write;

pub fn run(args: &RootArgs, out: &mut dyn Write) -> Result<()> {
    let root = args.root();
    require_root(
        &root,
        "uninstall removes files under /etc",
        "run it with sudo",
    )?;
    let lock = write::lock(&root)?;
    // Judged under the lock: an install --force may have just replaced it.
    let foreign =
        read_optional(&root.path(MANIFEST))?.is_some_and(|m| !manifest::written_by_us(&m));
    write::sweep_temp_files(&root)?;
    let mut removed = 0;
    for relative in OWNED_FILES.iter().rev() {
        let path = root.path(relative);
        if *relative == MANIFEST && foreign {
            eprintln!(
                "warning: leaving {}: kubealived did not write it",
                path.display()
            );
            continue;
        }
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
            args.root.display()
        )?;
    }
    Ok(())
}
