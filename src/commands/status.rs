//! `kubealived status`: are the files there and current, does the container
//! runtime have the image, which interface, does this node hold the VIP. Exit 0 when installed and current, 1 when
//! something is missing or stale.

use super::{vrrp_summary, Rendered, RootArgs};
use crate::agent::state::StatusReport;
use crate::host::Host;
use crate::node::own_addresses;
use crate::paths::{read_optional, MANIFEST, SAVED_CONFIG};
use crate::render::manifest;
use crate::runtime;
use crate::settings;
use anyhow::{bail, Result};
use std::fmt;
use std::io::Write;

/// What status finds for one file; only `Current` is healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    Current,
    Missing,
    Foreign,
    Stale,
}

impl FileState {
    fn of(relative: &str, have: Option<&[u8]>, want: &str) -> FileState {
        match have {
            None => FileState::Missing,
            Some(have) if have == want.as_bytes() => FileState::Current,
            Some(have) if relative == MANIFEST && !manifest::written_by_us(have) => {
                FileState::Foreign
            }
            Some(_) => FileState::Stale,
        }
    }
}

impl fmt::Display for FileState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileState::Current => "current",
            FileState::Missing => "missing (run `kubealived install` to restore it)",
            FileState::Foreign => "not written by kubealived (install --force replaces it)",
            FileState::Stale => {
                "stale: differs from what the settings render (run `kubealived install`)"
            }
        })
    }
}

pub fn run(args: &RootArgs, host: &dyn Host, out: &mut dyn Write) -> Result<()> {
    let root = args.root();
    let saved = root.path(SAVED_CONFIG);
    let Some(settings) = settings::read_saved(&saved)? else {
        writeln!(out, "not installed: {} does not exist", saved.display())?;
        writeln!(out, "Fix: kubealived install --vip IP")?;
        bail!("kubealived is not installed");
    };
    let rendered = Rendered::from_settings(settings, host, true)?;
    let node = &rendered.node;
    let mut healthy = true;
    writeln!(out, "{:<16} {}", "settings", saved.display())?;
    // The settings file is the source the others are rendered from.
    for (relative, want) in rendered.owned_files() {
        if relative == SAVED_CONFIG {
            continue;
        }
        let path = root.path(relative);
        let state = FileState::of(relative, read_optional(&path)?.as_deref(), &want);
        healthy &= state == FileState::Current;
        writeln!(
            out,
            "{:<16} {} {state}",
            relative.rsplit('/').next().unwrap_or(relative),
            path.display()
        )?;
    }
    let image = &node.config.image;
    let (state, in_place) = match host.runtime(&root) {
        None => (
            format!("no container runtime answers ({})", runtime::sockets(&root)),
            true,
        ),
        Some(rt) => match rt.has_image(image) {
            Ok(true) => (format!("present in {}", rt.name()), true),
            Ok(false) if *image == crate::config::default_image() => (
                format!(
                    "missing from {} (run `kubealived install` to import it)",
                    rt.name()
                ),
                false,
            ),
            Ok(false) => (format!("not in {} yet (kubelet pulls it)", rt.name()), true),
            Err(e) => (format!("cannot ask {}: {e:#}", rt.name()), true),
        },
    };
    // Only a running runtime that lacks the packaged image is a problem
    // here: the pod cannot start without a pull.
    healthy &= in_place;
    writeln!(out, "{:<16} {image}: {state}", "image")?;
    let addresses = own_addresses(&host.interfaces()?);
    for (vip, dev) in &node.vips {
        let held = if addresses.contains(vip) {
            "held by this node"
        } else {
            "not held by this node"
        };
        writeln!(out, "{:<16} {vip} on {dev}: {held}", "vip")?;
    }
    writeln!(out, "{:<16} {}", "vrrp", vrrp_summary(node))?;
    // The pod's agent runs on this node, not under another --root.
    if root.is_host_root() {
        let listen = node.config.agent_listen;
        match crate::agent::client::fetch_status(listen) {
            Ok(report) => {
                for line in agent_lines(&report) {
                    writeln!(out, "{line}")?;
                }
            }
            Err(e) => writeln!(
                out,
                "{:<16} not reachable at {listen} ({e:#}): is the kubealived pod running?",
                "agent"
            )?,
        }
    }
    if !healthy {
        bail!("some files are missing or stale, or the runtime lacks the image");
    }
    Ok(())
}

/// What the pod's agent says (asked over HTTP on this node: the pod has the
/// host's network): this node's role and since when, the apiserver's
/// readiness, keepalived's restarts, the last transitions, newest first.
pub fn agent_lines(r: &StatusReport) -> Vec<String> {
    let ago = |t: f64| format!("{:.1} s ago", (r.now - t).max(0.0));
    let mut lines = vec![
        format!(
            "{:<16} {} since {}{}",
            "role",
            r.role.as_str(),
            ago(r.role_since),
            r.priority
                .map(|p| format!(", priority {p}"))
                .unwrap_or_default()
        ),
        format!(
            "{:<16} {} since {}{}{}",
            "apiserver",
            if r.apiserver_ready {
                "ready"
            } else {
                "not ready"
            },
            ago(r.apiserver_ready_since),
            r.last_check_seconds
                .map(|s| format!(", last check {:.1} ms", s * 1000.0))
                .unwrap_or_default(),
            r.last_check_error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ),
        format!(
            "{:<16} {}, restarted {} times",
            "keepalived",
            if r.keepalived_running {
                "running"
            } else {
                "not running"
            },
            r.keepalived_restarts
        ),
    ];
    for t in r.transitions.iter().rev() {
        lines.push(format!(
            "{:<16} {} -> {} {}",
            "transition",
            t.from.as_str(),
            t.to.as_str(),
            ago(t.at)
        ));
    }
    lines
}

#[cfg(test)]
mod agent_tests {
    use super::*;
    use crate::agent::notify::Role;
    use crate::agent::state::Transition;

    #[test]
    fn agent_lines_say_role_since_readiness_and_transitions() {
        let r = StatusReport {
            role: Role::Master,
            role_since: 90.0,
            priority: Some(250),
            apiserver_ready: true,
            apiserver_ready_since: 50.0,
            last_check_seconds: Some(0.0021),
            last_check_error: None,
            keepalived_running: true,
            keepalived_restarts: 1,
            transitions: vec![
                Transition {
                    at: 10.0,
                    from: Role::Unknown,
                    to: Role::Backup,
                },
                Transition {
                    at: 90.0,
                    from: Role::Backup,
                    to: Role::Master,
                },
            ],
            now: 100.0,
        };
        let lines = agent_lines(&r);
        assert_eq!(
            lines[0],
            "role             MASTER since 10.0 s ago, priority 250"
        );
        assert_eq!(
            lines[1],
            "apiserver        ready since 50.0 s ago, last check 2.1 ms"
        );
        assert_eq!(lines[2], "keepalived       running, restarted 1 times");
        assert_eq!(lines[3], "transition       BACKUP -> MASTER 10.0 s ago");
        assert_eq!(lines[4], "transition       UNKNOWN -> BACKUP 90.0 s ago");
    }
}
