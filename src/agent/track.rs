//! The file keepalived's `track_file` watches (inotify: it reacts at
//! once). keepalived multiplies the number in it by the weight and adds
//! that to the base priority: 1 = healthy. A missing, empty or unreadable
//! file reads as 0 (checked with keepalived 2.2.7), so every failure of
//! ours is fail-safe. A product below -253 puts the instance in FAULT:
//! the holder leaves MASTER with a priority-0 advert, so a backup takes
//! over at once instead of after the master-down timer.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The apiserver is ready: priority = base + weight.
    Healthy,
    /// Not ready: priority = base.
    Unhealthy,
    /// Not ready and this node holds the VIP: FAULT for a moment, so the
    /// VIP leaves now. (A backup only preempts a lower-priority master
    /// when its master-down timer runs out, three adverts later.)
    Resign,
}

/// -6 × weight 50 = -300, below keepalived's FAULT threshold of -253.
pub const RESIGN_VALUE: i32 = -6;

pub fn content(health: Health) -> String {
    let value = match health {
        Health::Healthy => 1,
        Health::Unhealthy => 0,
        Health::Resign => RESIGN_VALUE,
    };
    format!("{value}\n")
}

/// Writes the file atomically (temp file + rename; keepalived sees the
/// rename), only when the value changes.
pub struct TrackFile {
    path: PathBuf,
    last: Mutex<Written>,
}

#[derive(Default)]
struct Written {
    health: Option<Health>,
    /// Set by `pin`: later `set`s change nothing.
    pinned: bool,
}

impl TrackFile {
    pub fn new(path: PathBuf) -> Self {
        TrackFile {
            path,
            last: Mutex::new(Written::default()),
        }
    }

    /// Writes `health` for good: the check loop's later results are
    /// ignored (a stopping agent hands the VIP over).
    pub fn pin(&self, health: Health) -> Result<bool> {
        self.write(health, true)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns whether the file changed.
    pub fn set(&self, health: Health) -> Result<bool> {
        self.write(health, false)
    }

    fn write(&self, health: Health, pin: bool) -> Result<bool> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.pinned && !pin {
            return Ok(false);
        }
        last.pinned |= pin;
        if last.health == Some(health) {
            return Ok(false);
        }
        match self.replace(health) {
            Ok(()) => {
                last.health = Some(health);
                Ok(true)
            }
            Err(e) => {
                // Fail closed: a missing file reads 0 (unhealthy), where
                // the old value could be a 1 that no longer holds. The
                // next write tries again.
                last.health = None;
                let removed = match std::fs::remove_file(&self.path) {
                    Ok(()) => "removed it (reads 0)".to_string(),
                    Err(r) if r.kind() == std::io::ErrorKind::NotFound => {
                        "it is absent (reads 0)".to_string()
                    }
                    Err(r) => format!("cannot remove it either: {r}"),
                };
                Err(e.context(format!("{}: {removed}", self.path.display())))
            }
        }
    }

    /// Temp file + rename: keepalived sees the rename, never a half file.
    fn replace(&self, health: Health) -> Result<()> {
        let name = self
            .path
            .file_name()
            .context("the track file has no file name")?
            .to_string_lossy();
        let tmp = self.path.with_file_name(format!(".{name}.tmp"));
        let written =
            std::fs::File::create(&tmp).and_then(|mut f| f.write_all(content(health).as_bytes()));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e).with_context(|| format!("cannot write {}", tmp.display()));
        }
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("cannot rename onto {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write that fails (a full disk) must not leave an old 1 behind:
    /// the file goes (missing reads 0), and the next write tries again.
    #[test]
    fn a_failed_write_fails_closed_and_is_retried() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apiserver");
        let track = TrackFile::new(path.clone());
        assert!(track.set(Health::Healthy).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n");
        // The temp file's name taken by a directory: every write fails.
        let tmp = dir.path().join(".apiserver.tmp");
        std::fs::create_dir(&tmp).unwrap();
        let err = track.set(Health::Unhealthy).unwrap_err();
        assert!(
            format!("{err:#}").contains("removed it (reads 0)"),
            "{err:#}"
        );
        assert!(!path.exists(), "a failed write left the old value");
        // Still failing: the healthy value is not written either.
        assert!(track.set(Health::Healthy).is_err());
        assert!(!path.exists());
        std::fs::remove_dir(&tmp).unwrap();
        assert!(
            track.set(Health::Healthy).unwrap(),
            "no retry after the failure"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n");
    }

    #[test]
    fn content_is_one_zero_or_fault() {
        assert_eq!(content(Health::Healthy), "1\n");
        assert_eq!(content(Health::Unhealthy), "0\n");
        assert_eq!(content(Health::Resign), "-6\n");
        // keepalived puts an instance in FAULT below -253; the weight is
        // the one keepalived.conf gives.
        let weight = i32::from(crate::config::HEALTH_WEIGHT);
        assert!(RESIGN_VALUE * weight < -253);
        assert!(RESIGN_VALUE * weight >= -254 * 254);
    }

    #[test]
    fn writes_only_on_change_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready");
        let t = TrackFile::new(path.clone());
        assert!(t.set(Health::Unhealthy).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0\n");
        assert!(!t.set(Health::Unhealthy).unwrap());
        assert!(t.set(Health::Healthy).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("ready")]);
    }

    #[test]
    fn a_pinned_value_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready");
        let t = TrackFile::new(path.clone());
        t.set(Health::Healthy).unwrap();
        assert!(t.pin(Health::Unhealthy).unwrap());
        assert!(!t.set(Health::Healthy).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0\n");
    }
}
