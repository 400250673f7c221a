//! What `install` would change: per file, create / update / unchanged,
//! with a unified diff. Passwords never reach the output.

use crate::paths::{read_optional, Root};
use anyhow::Result;
use similar::TextDiff;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Unchanged,
}

#[derive(Debug)]
pub struct Change {
    pub relative: &'static str,
    pub path: PathBuf,
    pub action: Action,
    pub old: Option<Vec<u8>>,
    pub new: String,
}

pub fn plan(root: &Root, files: &[(&'static str, String)]) -> Result<Vec<Change>> {
    files
        .iter()
        .map(|(relative, new)| {
            let path = root.path(relative);
            let old = read_optional(&path)?;
            let action = match &old {
                None => Action::Create,
                Some(bytes) if bytes == new.as_bytes() => Action::Unchanged,
                Some(_) => Action::Update,
            };
            Ok(Change {
                relative,
                path,
                action,
                old,
                new: new.clone(),
            })
        })
        .collect()
}

/// Hide secrets in anything we print: keepalived's auth_pass and the
/// password key of config.yaml.
pub fn redact(text: &str) -> String {
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            for key in ["auth_pass ", "password: "] {
                if trimmed.starts_with(key) {
                    let indent = &line[..line.len() - trimmed.len()];
                    return format!("{indent}{key}********\n");
                }
            }
            format!("{line}\n")
        })
        .collect()
}

pub fn describe(changes: &[Change]) -> String {
    let mut out = String::new();
    for change in changes {
        let word = match change.action {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
        };
        let _ = writeln!(out, "{word:<9} {}", change.path.display());
        if change.action == Action::Unchanged {
            continue;
        }
        let old = redact(&String::from_utf8_lossy(
            change.old.as_deref().unwrap_or_default(),
        ));
        let new = redact(&change.new);
        let name = format!("/{}", change.relative);
        if old == new {
            let _ = writeln!(out, "  (only the password changes; it is not shown)");
            continue;
        }
        let diff = TextDiff::from_lines(&old, &new);
        let _ = write!(
            out,
            "{}",
            diff.unified_diff().context_radius(3).header(&name, &name)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_structure() {
        let text = "a\n        auth_pass s3cret\npassword: s3cret\n";
        let out = redact(text);
        assert!(!out.contains("s3cret"), "{out}");
        assert!(out.contains("        auth_pass ********"));
    }
}
