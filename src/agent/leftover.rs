//! A VIP left behind by a predecessor whose every process was killed at
//! once (the pod SIGKILLed: no resign, no cleanup). The peers take the
//! VIP only when their master-down timer runs out, up to 4 adverts after
//! this node's last one; removing the address at once, as keepalived
//! does when it starts, leaves no holder until then, while this node's
//! apiserver may well answer. So the holder's check loop marks each check
//! with the mtime of [`HOLDER_MARK`] (in the run directory, an emptyDir:
//! it outlives the container, not the pod), and a new agent that finds a
//! VIP keeps it, holding keepalived back, until that time has run out
//! since the mark. Then a peer holds the VIP, or none can: keepalived
//! starts, removes it, and takes it again as any master would.

use crate::paths::HOLDER_MARK;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The holder's mark, touched at each check while this node is MASTER.
pub struct Mark {
    path: PathBuf,
    file: Option<File>,
}

impl Mark {
    pub fn new(run_dir: &Path) -> Self {
        Mark {
            path: run_dir.join(HOLDER_MARK),
            file: None,
        }
    }

    /// Now is the last check while holding. Errors are ignored: without
    /// a mark a successor removes the VIP at once, as it always did.
    pub fn holding(&mut self) {
        if self.file.is_none() {
            self.file = File::create(&self.path).ok();
        }
        if let Some(f) = &self.file {
            let _ = f.set_modified(SystemTime::now());
        }
    }

    /// The last check while holding, if a predecessor (or this agent) made one.
    pub fn last(&self) -> Option<SystemTime> {
        std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok()
    }
}

/// How long to keep a leftover VIP: `window` (the peers' longest
/// master-down time, and a check interval) from the holder's `last` mark;
/// zero without a mark or once it has run out. A mark in the future (the
/// clock was set back) counts as now.
pub fn keep_for(last: Option<SystemTime>, now: SystemTime, window: Duration) -> Duration {
    let Some(last) = last else {
        return Duration::ZERO;
    };
    let since = now.duration_since(last).unwrap_or(Duration::ZERO);
    window.saturating_sub(since)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leftover_is_kept_until_the_window_from_the_last_mark_has_run_out() {
        let w = Duration::from_millis(1300);
        let now = SystemTime::now();
        let ago = |ms| now - Duration::from_millis(ms);
        assert_eq!(keep_for(None, now, w), Duration::ZERO, "no mark");
        assert_eq!(keep_for(Some(ago(400)), now, w), Duration::from_millis(900));
        assert_eq!(keep_for(Some(ago(1300)), now, w), Duration::ZERO);
        assert_eq!(
            keep_for(Some(ago(60_000)), now, w),
            Duration::ZERO,
            "kubelet's back-off"
        );
        let later = now + Duration::from_secs(3600);
        assert_eq!(
            keep_for(Some(later), now, w),
            w,
            "never longer than the window"
        );
    }

    #[test]
    fn the_mark_is_the_last_check_while_holding() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Mark::new(dir.path());
        assert_eq!(m.last(), None);
        let before = SystemTime::now();
        m.holding();
        let last = m.last().unwrap();
        assert!(last >= before - Duration::from_millis(10), "{last:?}");
        assert_eq!(
            Mark::new(dir.path()).last(),
            Some(last),
            "a successor reads it"
        );
    }
}
