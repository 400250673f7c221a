//! keepalived's `notify_fifo`: one line per state change, such as
//! `INSTANCE "kubealived" MASTER 250`, and per change of the effective
//! priority, `INSTANCE "kubealived" MASTER_PRIORITY 200`; the FIFO made
//! and read here.

use super::log;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::BufRead;
use std::path::Path;
use std::thread;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    /// keepalived has not reported yet.
    Unknown,
    Backup,
    Master,
    Fault,
    /// keepalived stopped or is not running: this node holds no VIP.
    Stopped,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Unknown,
        Role::Backup,
        Role::Master,
        Role::Fault,
        Role::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Unknown => "UNKNOWN",
            Role::Backup => "BACKUP",
            Role::Master => "MASTER",
            Role::Fault => "FAULT",
            Role::Stopped => "STOPPED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub instance: String,
    pub role: Role,
    pub priority: Option<u8>,
}

/// `INSTANCE "NAME" STATE PRIORITY`; other lines (groups, checkers) and
/// unknown states are None.
pub fn parse_line(line: &str) -> Option<Event> {
    let rest = line.trim_end().strip_prefix("INSTANCE ")?;
    let rest = rest.strip_prefix('"')?;
    let (instance, rest) = rest.split_once('"')?;
    let mut words = rest.split_whitespace();
    let role = match words.next()? {
        // `*_PRIORITY`: the effective priority changed, the state did not.
        "MASTER" | "MASTER_PRIORITY" => Role::Master,
        "BACKUP" | "BACKUP_PRIORITY" => Role::Backup,
        "FAULT" => Role::Fault,
        "STOP" | "DELETED" => Role::Stopped,
        _ => return None,
    };
    let priority = words.next().and_then(|p| p.parse().ok());
    Some(Event {
        instance: instance.to_string(),
        role,
        priority,
    })
}

/// The FIFO at `path`, made unless it is one already.
pub fn make_fifo(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_fifo() => return Ok(()),
        Ok(_) => std::fs::remove_file(path)?,
        Err(_) => {}
    }
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .with_context(|| format!("cannot create the FIFO {}", path.display()))
}

/// Every event keepalived writes into the FIFO goes to `on_event`, for
/// ever. Opened read-write, so the read never sees end-of-file while
/// keepalived restarts; reopened if the FIFO is replaced.
pub fn read_fifo(path: &Path, mut on_event: impl FnMut(Event)) {
    loop {
        if let Err(e) = make_fifo(path) {
            log(format!("{e:#}"));
            thread::sleep(Duration::from_secs(1));
            continue;
        }
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
        {
            Ok(f) => f,
            Err(e) => {
                log(format!("cannot open {}: {e}", path.display()));
                thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        for line in std::io::BufReader::new(file).lines() {
            let Ok(line) = line else { break };
            if let Some(event) = parse_line(&line) {
                on_event(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_instance_lines() {
        assert_eq!(
            parse_line("INSTANCE \"kubealived\" MASTER 250\n"),
            Some(Event {
                instance: "kubealived".into(),
                role: Role::Master,
                priority: Some(250)
            })
        );
        assert_eq!(
            parse_line("INSTANCE \"a b\" BACKUP 200").map(|e| (e.instance, e.role)),
            Some(("a b".to_string(), Role::Backup))
        );
        assert_eq!(
            parse_line("INSTANCE \"kubealived\" FAULT 0").unwrap().role,
            Role::Fault
        );
        assert_eq!(
            parse_line("INSTANCE \"kubealived\" STOP").unwrap().priority,
            None
        );
    }

    #[test]
    fn a_priority_change_keeps_the_role_and_gives_the_new_priority() {
        for (line, role, priority) in [
            (
                "INSTANCE \"kubealived\" MASTER_PRIORITY 200",
                Role::Master,
                200,
            ),
            (
                "INSTANCE \"kubealived\" BACKUP_PRIORITY 250",
                Role::Backup,
                250,
            ),
        ] {
            let e = parse_line(line).unwrap();
            assert_eq!((e.role, e.priority), (role, Some(priority)), "{line}");
        }
    }

    #[test]
    fn ignores_everything_else() {
        for line in [
            "",
            "GROUP \"g\" MASTER",
            "INSTANCE kubealived MASTER 250",
            "INSTANCE \"kubealived\" SOMETHING 1",
            "INSTANCE \"kubealived\" MASTER_RX_LOWER_PRI 250",
            "INSTANCE \"unterminated MASTER 250",
            "VS [10.0.0.1]:tcp:80 UP",
        ] {
            assert_eq!(parse_line(line), None, "{line:?}");
        }
    }
}
