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

/// Take the lock. uninstall removes the lock file while it holds it, so a
/// run that was waiting on that file wakes up holding a lock nobody else
/// will ever see: it checks that the path still names the file it locked,
/// and starts over on a new one if not.
pub fn lock(root: &Root) -> Result<Lock> {
    use std::os::unix::fs::MetadataExt;
    let path = root.path(LOCK);
    let dir = path.parent().expect("lock path has a parent");
    // Each round means an uninstall removed the file meanwhile; a bound
    // keeps a path that can never be locked (a dangling link) from spinning.
    for _ in 0..100 {
        create_private_dirs(dir)?;
        let file = match OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
        {
            // uninstall removed the directory between the two calls.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            other => other.with_context(|| format!("cannot open lock file {}", path.display()))?,
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                eprintln!(
                    "kubealived: another kubealived run holds {}; waiting for it",
                    path.display()
                );
                #[cfg(test)]
                waiters::waiting(&path);
                file.lock()
                    .with_context(|| format!("cannot lock {}", path.display()))?;
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
        let locked = file.metadata()?;
        match fs::metadata(&path) {
            Ok(now) if (now.dev(), now.ino()) == (locked.dev(), locked.ino()) => {
                return Ok(Lock(file))
            }
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot stat {}", path.display())),
        }
    }
    anyhow::bail!(
        "cannot lock {}: it keeps disappearing, or does not stay the file that was locked",
        path.display()
    )
}

/// uninstall's end: remove the lock file, and its directory if that leaves
/// it empty, while still holding the lock; then give the lock up. Whoever
/// waited on the old file notices and locks a new one.
pub fn unlock_and_remove(lock: Lock, root: &Root) -> Result<()> {
    let path = root.path(LOCK);
    remove_if_present(&path)?;
    remove_dir_if_empty(path.parent().expect("lock path has a parent"))?;
    drop(lock);
    Ok(())
}

/// Remove a directory if it is empty. Returns whether it was removed; a
/// directory that holds something, or is gone, is left without complaint,
/// any other failure (permissions, I/O, a mount point) is an error.
pub fn remove_dir_if_empty(dir: &Path) -> Result<bool> {
    match fs::remove_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.kind(), ErrorKind::DirectoryNotEmpty | ErrorKind::NotFound) => {
            Ok(false)
        }
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", dir.display())),
    }
}

/// Tests know when a run waits for the lock, instead of sleeping and
/// hoping it got there.
#[cfg(test)]
pub mod waiters {
    use super::{Root, LOCK};
    use std::path::{Path, PathBuf};
    use std::sync::{Condvar, Mutex};
    use std::time::{Duration, Instant};

    static WAITING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    static CHANGED: Condvar = Condvar::new();

    /// A run found the lock at `path` held and is about to wait for it.
    pub fn waiting(path: &Path) {
        WAITING.lock().unwrap().push(path.to_path_buf());
        CHANGED.notify_all();
    }

    /// Returns once a run waits for the lock under `root` (each wait is
    /// seen once); panics after a minute.
    pub fn wait_for_waiter(root: &Root) {
        let path = root.path(LOCK);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut waiting = WAITING.lock().unwrap();
        loop {
            if let Some(i) = waiting.iter().position(|p| *p == path) {
                waiting.remove(i);
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no run waited for {}", path.display());
            waiting = CHANGED.wait_timeout(waiting, left).unwrap().0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// uninstall removes the lock file. An install that was already waiting
    /// on the old file, and one that comes later and creates a new file,
    /// must still never hold the lock at once.
    #[test]
    fn a_removed_lock_file_never_lets_two_holders_in() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let held = Arc::new(AtomicBool::new(false));
        // Holding the lock: flag it, stay a while, unflag.
        let hold = |held: &AtomicBool, who: &str| {
            assert!(
                !held.swap(true, Ordering::SeqCst),
                "{who} got the lock while another run held it"
            );
            std::thread::sleep(Duration::from_millis(300));
            held.store(false, Ordering::SeqCst);
        };
        let uninstall = lock(&root).unwrap();
        let waiting = {
            let (root, held) = (root.clone(), held.clone());
            std::thread::spawn(move || {
                let _lock = lock(&root).unwrap();
                hold(&held, "the install that waited on the old lock file");
            })
        };
        // Once it waits on the old file, finish uninstall.
        waiters::wait_for_waiter(&root);
        unlock_and_remove(uninstall, &root).unwrap();
        let later = {
            let (root, held) = (root.clone(), held.clone());
            std::thread::spawn(move || {
                let _lock = lock(&root).unwrap();
                hold(&held, "the install that came after uninstall");
            })
        };
        for thread in [waiting, later] {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}
