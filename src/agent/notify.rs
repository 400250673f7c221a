//! keepalived's `notify_fifo`: one line per state change, such as
//! `INSTANCE "kubealived" MASTER 250`.

use serde::{Deserialize, Serialize};

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
        "MASTER" => Role::Master,
        "BACKUP" => Role::Backup,
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
    fn ignores_everything_else() {
        for line in [
            "",
            "GROUP \"g\" MASTER",
            "INSTANCE kubealived MASTER 250",
            "INSTANCE \"kubealived\" SOMETHING 1",
            "INSTANCE \"unterminated MASTER 250",
            "VS [10.0.0.1]:tcp:80 UP",
        ] {
            assert_eq!(parse_line(line), None, "{line:?}");
        }
    }
}
