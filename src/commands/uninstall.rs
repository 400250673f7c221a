//! `kubealived uninstall`: remove exactly what install wrote. The manifest
//! goes first so kubelet stops the pod (keepalived then hands the VIP over
//! with a priority-0 advert) before its config disappears.

use crate::cli::RootArgs;
use crate::fs::{self, Root, LOCK, MANIFEST, OWNED_FILES};
use crate::render::manifest;
use crate::usage;
use anyhow::Result;

pub fn run(args: &RootArgs) -> Result<()> {
    let root = Root::new(&args.root);
    if root.is_host_root() && !nix::unistd::geteuid().is_root() {
        return Err(usage!(
            "uninstall removes files under /etc, which needs root.\nFix: run it with sudo."
        ));
    }
    let manifest_path = root.path(MANIFEST);
    let foreign = fs::read_optional(&manifest_path)?.is_some_and(|m| !manifest::written_by_us(&m));
    let lock = fs::lock(&root)?;
    let mut removed = 0;
    for relative in OWNED_FILES.iter().rev() {
        let path = root.path(relative);
        fs::remove_if_present(&fs::temp_path(&path))?;
        if *relative == MANIFEST && foreign {
            eprintln!(
                "warning: leaving {}: kubealived did not write it",
                path.display()
            );
            continue;
        }
        if fs::remove_if_present(&path)? {
            println!("removed   {}", path.display());
            removed += 1;
        }
    }
    drop(lock);
    fs::remove_if_present(&root.path(LOCK))?;
    // Our own directory goes too, but only if nothing else was put there.
    let dir = root.path(crate::fs::SAVED_CONFIG);
    if let Some(dir) = dir.parent() {
        let _ = std::fs::remove_dir(dir);
    }
    if removed == 0 {
        println!(
            "nothing to remove: kubealived is not installed under {}",
            args.root.display()
        );
    }
    Ok(())
}
