//! The last stage: atomic, change-only writes, the lock, and the sweep of
//! temp files a crash left behind.
//!
//! Files are written as a dot-file in the
//! target directory, fsynced, renamed over the target, and the directory is
//! fsynced: a crash leaves the old file or the new one, never a torn one,
//! and never a stray file kubelet would try to read as a manifest.

use anyhow::{Context, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::paths::{read_optional, Root, LOCK, OWNED_FILES, TEMP_SUFFIX};

/// Write `content` to `path` with mode 0600 unless it already holds exactly
/// these bytes (then nothing is touched: kubelet restarts a static pod when
/// its manifest's mtime changes). Returns whether the file was written.
pub fn write_if_changed(path: &Path, content: &[u8]) -> Result<bool> {
    if read_optional(path)?.as_deref() == Some(content) && mode_is_private(path)? {
        return Ok(false);
    }
    write_atomic(path, content)?;
    Ok(true)
}

fn mode_is_private(path: &Path) -> Result<bool> {
    let meta = fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    Ok(meta.permissions().mode() & 0o777 == 0o600)
}

pub fn write_atomic(path: &Path, content: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .context("target path has no parent directory")?;
    create_private_dirs(dir)?;
    // A dot-file in the same directory: rename(2) is atomic only within one
    // filesystem, and kubelet ignores hidden files in the manifests dir.
    let tmp = temp_path(path);
    let result = (|| -> Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        // The umask may have narrowed the mode, or the file pre-existed.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(content)?;
        file.sync_all()?;
        crate::faults::hit(&format!("before-rename:{}", file_name(path)));
        fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
        File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// The temp file `write_atomic` uses for `path`; a crash can leave it
/// behind, so install and uninstall sweep it.
pub fn temp_path(path: &Path) -> PathBuf {
    path.with_file_name(format!(".{}{TEMP_SUFFIX}", file_name(path)))
}

/// Remove the temp files a crashed run may have left beside the owned files.
pub fn sweep_temp_files(root: &Root) -> Result<()> {
    for relative in OWNED_FILES {
        remove_if_present(&temp_path(&root.path(relative)))?;
    }
    Ok(())
}

pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Missing directories are made 0700: they hold a password and a manifest.
fn create_private_dirs(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Remove a file; a missing file is not an error. Returns whether it existed.
pub fn remove_if_present(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

/// An exclusive lock held for the life of the value, so two `install` runs
/// at once cannot interleave their writes. The second one waits.
pub struct Lock(#[allow(dead_code)] File);

pub fn lock(root: &Root) -> Result<Lock> {
    let path = root.path(LOCK);
    let dir = path.parent().expect("lock path has a parent");
    create_private_dirs(dir)?;
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(Lock(file))
}

/// Give up the lock and remove the lock file (uninstall).
pub fn unlock_and_remove(lock: Lock, root: &Root) -> Result<()> {
    drop(lock);
    remove_if_present(&root.path(LOCK))?;
    Ok(())
}
