//! `kubealived status`: are the files there and current, does the container
//! runtime have the image, is the interface there, does this node hold the
//! VIP, what does the pod's agent say. It reports everything it can find,
//! always (also when the settings are gone or no longer fit this host),
//! as text or, with `-o json`, with stable keys for scripts.
//!
//! Exit codes: 0 when everything is in place; 1 when anything is not (not
//! installed, a file missing, stale or foreign, the settings unreadable or
//! no longer resolvable here (an interface gone), the runtime lacking the
//! packaged image, the agent not answering); 2 for bad arguments.

use super::{vrrp_summary, Rendered, RootArgs};
use crate::agent::state::{Balance, StatusReport};
use crate::agent::target;
use crate::error::is_usage;
use crate::host::Host;
use crate::node::own_addresses;
use crate::paths::{
    read_optional, Root, APISERVER_MANIFEST_IN_POD, IMAGE_ARCHIVE, MANIFEST, OWNED_FILES,
    SAVED_CONFIG,
};
use crate::render::manifest;
use crate::runtime;
use crate::settings;
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Lines for people
    Text,
    /// One JSON object with stable keys, for scripts
    Json,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub root: RootArgs,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// What status finds for one file; only `Current` is healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FileState {
    Current,
    Missing,
    Foreign,
    Stale,
    /// There, but nothing to compare it with: the settings are missing or
    /// do not render on this host.
    Present,
}

impl FileState {
    fn of(relative: &str, have: Option<&[u8]>, want: Option<&str>) -> FileState {
        match (have, want) {
            (None, _) => FileState::Missing,
            (Some(have), _) if relative == MANIFEST && !manifest::written_by_us(have) => {
                FileState::Foreign
            }
            (Some(_), None) => FileState::Present,
            (Some(have), Some(want)) if have == want.as_bytes() => FileState::Current,
            (Some(_), Some(_)) => FileState::Stale,
        }
    }

    fn says(self) -> &'static str {
        match self {
            FileState::Current => "current",
            FileState::Missing => "missing (run `kubealived install` to restore it)",
            FileState::Foreign => "not written by kubealived (install --force replaces it)",
            FileState::Stale => {
                "stale: differs from what the settings render (run `kubealived install`)"
            }
            FileState::Present => "present (not compared: see the settings line)",
        }
    }
}

/// Everything status found; `-o json` prints exactly this.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// True when every check below passed (exit code 0).
    pub healthy: bool,
    /// What is wrong, each with its fix; empty when healthy.
    pub problems: Vec<String>,
    pub settings: SettingsStatus,
    pub files: Vec<FileStatus>,
    pub interface: Option<InterfaceStatus>,
    pub image: Option<ImageStatus>,
    pub vips: Vec<VipStatus>,
    /// The VRRP settings in one line.
    pub vrrp: Option<String>,
    /// The pod's agent; null under `--root` (it runs on this host only).
    pub agent: Option<AgentStatus>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsStatus {
    pub path: String,
    /// `current` (read and rendered), `missing`, `invalid` (cannot be
    /// read) or `unresolvable` (read, but they do not fit this host).
    pub state: &'static str,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileStatus {
    /// `manifest` or `keepalived.conf`.
    pub name: &'static str,
    pub path: String,
    pub state: FileState,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceStatus {
    pub name: String,
    pub present: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageStatus {
    /// The image's name and tag.
    pub reference: String,
    /// The digest the manifest pins it to (the package's archive's), null
    /// when it names the image by tag alone (`--image`, or no archive).
    pub digest: Option<String>,
    /// `present`, `missing` (the packaged image, not in the runtime),
    /// `pullable` (another image, kubelet pulls it), `noRuntime` or
    /// `unknown` (the runtime cannot be asked).
    pub state: &'static str,
    pub runtime: Option<String>,
    pub detail: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VipStatus {
    pub address: IpAddr,
    pub interface: String,
    pub held_here: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentStatus {
    pub listen: SocketAddr,
    pub reachable: bool,
    pub error: Option<String>,
    /// What the agent reports (role, readiness, transitions), when reachable.
    pub report: Option<StatusReport>,
}

pub fn run(args: &StatusArgs, host: &dyn Host, out: &mut dyn Write) -> Result<()> {
    let status = gather(&args.root.root(), host)?;
    match args.output {
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&status)?)?,
        Output::Text => {
            for line in text(&status) {
                writeln!(out, "{line}")?;
            }
        }
    }
    if !status.healthy {
        match args.output {
            Output::Text => bail!(
                "status found {} problem(s), listed above",
                status.problems.len()
            ),
            Output::Json => bail!("status found: {}", status.problems.join("; ")),
        }
    }
    Ok(())
}

/// Find out everything, going on past every problem.
pub fn gather(root: &Root, host: &dyn Host) -> Result<Status> {
    let mut problems = Vec::new();
    let saved = root.path(SAVED_CONFIG);
    let (settings, rendered) = match settings::read_saved(&saved) {
        Ok(None) => (
            SettingsStatus {
                path: saved.display().to_string(),
                state: "missing",
                error: None,
            },
            None,
        ),
        Ok(Some(settings)) => match Rendered::from_settings(settings, host, true)
            .and_then(|r| r.with_archive(&root.path(IMAGE_ARCHIVE)))
        {
            Ok(rendered) => (
                SettingsStatus {
                    path: saved.display().to_string(),
                    state: "current",
                    error: None,
                },
                Some(rendered),
            ),
            Err(e) => {
                let state = if is_usage(&e) {
                    "unresolvable"
                } else {
                    "invalid"
                };
                (
                    SettingsStatus {
                        path: saved.display().to_string(),
                        state,
                        error: Some(format!("{e:#}")),
                    },
                    None,
                )
            }
        },
        Err(e) => (
            SettingsStatus {
                path: saved.display().to_string(),
                state: "invalid",
                error: Some(format!("{e:#}")),
            },
            None,
        ),
    };
    let wanted = rendered.as_ref().map(|r| r.owned_files());
    let mut files = Vec::new();
    for relative in OWNED_FILES {
        if relative == SAVED_CONFIG {
            continue;
        }
        let want = wanted.as_ref().and_then(|w| {
            w.iter()
                .find(|(r, _)| *r == relative)
                .map(|(_, c)| c.as_str())
        });
        let path = root.path(relative);
        let state = FileState::of(relative, read_optional(&path)?.as_deref(), want);
        if !matches!(state, FileState::Current | FileState::Present) {
            problems.push(format!("{} is {}", path.display(), state.says()));
        }
        files.push(FileStatus {
            name: if relative == MANIFEST {
                "manifest"
            } else {
                "keepalived.conf"
            },
            path: path.display().to_string(),
            state,
        });
    }
    let installed_files = files.iter().any(|f| f.state != FileState::Missing);
    match (settings.state, installed_files) {
        ("missing", false) => {
            problems.push(format!(
                "kubealived is not installed: {} does not exist.\nFix: kubealived install --vip IP",
                settings.path
            ));
        }
        ("missing", true) => problems.push(format!(
            "{} is missing, so the files cannot be checked, and the boot unit and `kubealived install` \
             with no flags have nothing to re-apply.\nFix: run `kubealived install` with the settings \
             you want (e.g. --vip IP); or `kubealived uninstall` to remove the rest.",
            settings.path
        )),
        ("current", _) => {}
        (_, _) => problems.push(format!(
            "the saved settings {} cannot be used here: {}",
            settings.path,
            settings.error.as_deref().unwrap_or("")
        )),
    }

    let interfaces = host.interfaces()?;
    let interface_name = rendered
        .as_ref()
        .map(|r| r.node.interface.clone())
        .or_else(|| installed_interface(root));
    let interface = interface_name.map(|name| InterfaceStatus {
        present: interfaces.iter().any(|i| i.name == name),
        name,
    });
    if let Some(i) = interface.as_ref().filter(|i| !i.present) {
        problems.push(format!(
            "interface {}, which the installed files use, is not on this host (renamed or gone).\n\
             Fix: `kubealived install --interface NAME` with the interface that now carries the \
             masters' subnet (`ip -o addr` lists them).",
            i.name
        ));
    }

    let Some(rendered) = rendered else {
        return Ok(Status {
            healthy: problems.is_empty(),
            problems,
            settings,
            files,
            interface,
            image: None,
            vips: Vec::new(),
            vrrp: None,
            agent: None,
        });
    };
    let node = &rendered.node;
    let image = image_status(root, host, &node.config.image, rendered.digest.as_deref());
    if image.state == "missing" {
        problems.push(format!("{}: {}", image.reference, image.detail));
    }
    let addresses = own_addresses(&interfaces);
    let vips = node
        .vips
        .iter()
        .map(|(vip, dev)| VipStatus {
            address: *vip,
            interface: dev.clone(),
            held_here: addresses.contains(vip),
        })
        .collect();
    // The pod's agent runs on this node, not under another --root.
    let agent = root.is_host_root().then(|| {
        let listen = node.config.agent_listen;
        match crate::agent::client::fetch_status(listen) {
            Ok(report) => AgentStatus {
                listen,
                reachable: true,
                error: None,
                report: Some(report),
            },
            Err(e) => AgentStatus {
                listen,
                reachable: false,
                error: Some(format!("{e:#}")),
                report: None,
            },
        }
    });
    if let Some(report) = agent.as_ref().and_then(|a| a.report.as_ref()) {
        problems.extend(agent_problems(report));
    }
    if let Some(a) = agent.as_ref().filter(|a| !a.reachable) {
        problems.push(format!(
            "the pod's agent does not answer at {}: the kubealived pod is not running.\n\
             Fix: `crictl ps --name keepalived` and `crictl logs` on this node; kubelet starts the \
             pod from {}.",
            a.listen,
            root.path(MANIFEST).display()
        ));
    }
    Ok(Status {
        healthy: problems.is_empty(),
        problems,
        settings,
        files,
        interface,
        image: Some(image),
        vips,
        vrrp: Some(vrrp_summary(node)),
        agent,
    })
}

/// Load balancing: where new connections go, each backend not ready and
/// why, a table that cannot be applied.
fn balance_lines(b: &Balance) -> Vec<String> {
    let ready = b.backends.iter().filter(|b| b.ready).count();
    let mut lines = vec![format!(
        "{:<16} new connections to the VIP's port {} go to {} ({ready} of {} backends ready; \
         only while this node holds the VIP)",
        "balance",
        b.port,
        if b.sending_to.is_empty() {
            "this node's apiserver alone".to_string()
        } else {
            b.sending_to.join(", ")
        },
        b.backends.len()
    )];
    for backend in b.backends.iter().filter(|b| !b.ready) {
        lines.push(format!(
            "{:<16} {} not ready{}",
            "backend",
            backend.address,
            backend
                .error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
    }
    if let Some(e) = &b.table_error {
        lines.push(format!("{:<16} cannot be applied: {e}", "balance table"));
    }
    lines
}

/// What the agent's report says is wrong, each with its fix.
pub fn agent_problems(r: &StatusReport) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(why) = &r.apiserver_denied {
        problems.push(format!(
            "the apiserver refuses the agent's anonymous /readyz ({why}): this node never counts \
             as ready, so its apiserver failing would not move the VIP.\nFix: allow anonymous \
             requests to /readyz, /livez and /healthz (kubeadm's default; on a hardened apiserver \
             an AuthenticationConfiguration with anonymous.conditions for those three paths)."
        ));
    }
    if let Some(why) = &r.vip_refused {
        problems.push(format!(
            "{why}: this node counts as not ready, so a master that serves the VIP takes it.\nFix: {}.",
            target::bind_fix(APISERVER_MANIFEST_IN_POD)
        ));
    }
    if let Some(e) = r.balance.as_ref().and_then(|b| b.table_error.as_ref()) {
        problems.push(format!(
            "the load-balancing table cannot be applied ({e}): new connections to the VIP may \
             still go to a backend that is down.\nFix: the pod's log says why nft refused it \
             (the pod needs NET_ADMIN, and the kernel nftables' nat support); `sudo kubealived \
             uninstall` removes the table."
        ));
    }
    if let Some(why) = &r.keepalived_restart_loop {
        problems.push(format!(
            "{why}: the pod's /healthz fails, so kubelet restarts the pod.\nFix: the pod's log \
             (`crictl ps --name keepalived`, then `crictl logs`) says why keepalived exits (a \
             keepalived.conf it refuses, an interface that is gone, a capability the pod lacks)."
        ));
    }
    problems
}

/// The interface the installed manifest gives the agent (`--interface
/// NAME`), for when the settings cannot tell.
fn installed_interface(root: &Root) -> Option<String> {
    let text = read_optional(&root.path(MANIFEST)).ok()??;
    let pod: k8s_openapi::api::core::v1::Pod = serde_yaml_ng::from_slice(&text).ok()?;
    let command = pod.spec?.containers.into_iter().next()?.command?;
    let at = command.iter().position(|a| a == "--interface")?;
    command.get(at + 1).cloned()
}

fn image_status(root: &Root, host: &dyn Host, image: &str, digest: Option<&str>) -> ImageStatus {
    let (state, runtime, detail) = match host.runtime(root) {
        None => (
            "noRuntime",
            None,
            format!("no container runtime answers ({})", runtime::sockets(root)),
        ),
        Some(rt) => {
            let name = rt.name();
            match rt.has_image(image, digest) {
                Ok(true) => ("present", Some(name.clone()), format!("present in {name}")),
                Ok(false) if *image == crate::config::default_image() => (
                    "missing",
                    Some(name.clone()),
                    format!(
                        "missing from {name}, or another image under its tag (run `kubealived \
                         install` to import it)"
                    ),
                ),
                Ok(false) => (
                    "pullable",
                    Some(name.clone()),
                    format!("not in {name} yet (kubelet pulls it)"),
                ),
                Err(e) => (
                    "unknown",
                    Some(name.clone()),
                    format!("cannot ask {name}: {e:#}"),
                ),
            }
        }
    };
    ImageStatus {
        reference: image.to_string(),
        digest: digest.map(String::from),
        state,
        runtime,
        detail,
    }
}

/// The text form: one line per fact, `what  value`.
pub fn text(s: &Status) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<16} {}{}",
        "settings",
        s.settings.path,
        match s.settings.state {
            "current" => String::new(),
            state => format!(" {state}"),
        }
    )];
    for f in &s.files {
        lines.push(format!("{:<16} {} {}", f.name, f.path, f.state.says()));
    }
    if let Some(i) = &s.interface {
        let there = if i.present {
            "present"
        } else {
            "not on this host"
        };
        lines.push(format!("{:<16} {}: {there}", "interface", i.name));
    }
    if let Some(image) = &s.image {
        let digest = image.digest.as_ref().map(|d| format!("@{d}"));
        lines.push(format!(
            "{:<16} {}{}: {}",
            "image",
            image.reference,
            digest.unwrap_or_default(),
            image.detail
        ));
    }
    for v in &s.vips {
        let held = if v.held_here {
            "held by this node"
        } else {
            "not held by this node"
        };
        lines.push(format!(
            "{:<16} {} on {}: {held}",
            "vip", v.address, v.interface
        ));
    }
    if let Some(vrrp) = &s.vrrp {
        lines.push(format!("{:<16} {vrrp}", "vrrp"));
    }
    if let Some(a) = &s.agent {
        match &a.report {
            Some(report) => lines.extend(agent_lines(report)),
            None => lines.push(format!(
                "{:<16} not reachable at {} ({})",
                "agent",
                a.listen,
                a.error.as_deref().unwrap_or("")
            )),
        }
    }
    for problem in &s.problems {
        lines.push(String::new());
        lines.push(problem.clone());
    }
    lines
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
    if let Some(why) = &r.keepalived_restart_loop {
        lines.push(format!("{:<16} failing: {why}", "liveness"));
    }
    if let Some(why) = &r.vip_refused {
        lines.push(format!("{:<16} {why}", "bind address"));
    }
    if let Some(e) = &r.track_file_error {
        lines.push(format!(
            "{:<16} cannot be written, so this node counts as not ready: {e}",
            "track file"
        ));
    }
    if let Some(what) = &r.apiserver_certificate {
        lines.push(format!("{:<16} {what}", "apiserver cert"));
    }
    if let Some(b) = &r.balance {
        lines.extend(balance_lines(b));
    }
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
    use crate::agent::state::{State, Transition};

    #[test]
    fn agent_lines_show_a_restart_loop() {
        let s = State::new();
        for _ in 0..3 {
            s.keepalived_started();
            s.keepalived_exited(true, "exit status: 2");
        }
        let lines = agent_lines(&s.report());
        assert!(
            lines.iter().any(|l| l.starts_with(
                "liveness         failing: keepalived is in a restart loop: it exited 3 times"
            )),
            "{lines:?}"
        );
    }

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
            apiserver_certificate: None,
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
            track_file_error: None,
            apiserver_denied: None,
            keepalived_restart_loop: None,
            vip_refused: None,
            balance: None,
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

    /// Load balancing in the report: where new connections go, each
    /// backend that is not ready and why, its own key in `-o json`, its
    /// metrics; a table that cannot be applied is a problem with its fix.
    #[test]
    fn load_balancing_says_where_new_connections_go_and_which_backends_are_out() {
        let ip = |a: &str| a.parse::<std::net::IpAddr>().unwrap();
        let state = State::new();
        assert_eq!(state.report().balance, None);
        state.balance_started(
            6443,
            &[ip("192.0.2.13"), ip("192.0.2.11"), ip("192.0.2.12")],
        );
        for (b, ready, error) in [
            ("192.0.2.11", true, None),
            ("192.0.2.12", true, None),
            ("192.0.2.13", false, Some("connection refused".to_string())),
        ] {
            state.backend_changed(ip(b), ready, error);
        }
        state.balance_applied(Ok(&[ip("192.0.2.11"), ip("192.0.2.12")]));
        let r = state.report();
        let lines = agent_lines(&r);
        for line in [
            "balance          new connections to the VIP's port 6443 go to 192.0.2.11, \
             192.0.2.12 (2 of 3 backends ready; only while this node holds the VIP)",
            "backend          192.0.2.13 not ready: connection refused",
        ] {
            assert!(lines.contains(&line.to_string()), "{line}\n{lines:#?}");
        }
        assert_eq!(
            serde_json::to_value(&r).unwrap()["balance"]["sendingTo"],
            serde_json::json!(["192.0.2.11", "192.0.2.12"])
        );
        assert!(agent_problems(&r).is_empty());
        let text = state.metrics_text();
        for metric in [
            "kubealived_backend_ready{backend=\"192.0.2.11\"} 1",
            "kubealived_backend_ready{backend=\"192.0.2.13\"} 0",
            "kubealived_balance_backends 2",
        ] {
            assert!(text.contains(metric), "{metric}\n{text}");
        }

        state.balance_applied(Err("nft: Operation not permitted".into()));
        let problems = agent_problems(&state.report());
        assert!(
            problems[0].starts_with(
                "the load-balancing table cannot be applied (nft: Operation not permitted)"
            ),
            "{problems:?}"
        );
        assert!(state
            .metrics_text()
            .contains("kubealived_balance_apply_errors_total 1"));
    }

    /// kube-apiserver bound to the node's address: a line, a key of its
    /// own in `-o json`, and a problem with its fix (so status exits 1).
    #[test]
    fn a_bind_address_that_refuses_the_vip_is_a_problem_with_its_fix() {
        let state = State::new();
        assert!(agent_problems(&state.report()).is_empty());
        let why = "kube-apiserver binds 192.0.2.11 only, so connections to the VIP 192.0.2.10 \
                   are refused on this node";
        state.vip_refused(Some(why.into()));
        let r = state.report();
        assert_eq!(serde_json::to_value(&r).unwrap()["vipRefused"], why);
        assert!(
            agent_lines(&r).contains(&format!("bind address     {why}")),
            "{:?}",
            agent_lines(&r)
        );
        assert_eq!(
            agent_problems(&r),
            [format!(
                "{why}: this node counts as not ready, so a master that serves the VIP takes it.\n\
                 Fix: remove --bind-address from /etc/kubernetes/manifests/kube-apiserver.yaml \
                 (kubeadm: drop it from apiServer.extraArgs, or `kubeadm upgrade` writes it \
                 again), or set it to 0.0.0.0."
            )]
        );
        // The report of an agent from before the key still reads.
        let old = serde_yaml_ng::to_string(&r)
            .unwrap()
            .replace(&format!("vipRefused: {why}\n"), "");
        let back: StatusReport = serde_yaml_ng::from_str(&old).unwrap();
        assert_eq!(back.vip_refused, None);
    }

    /// What the check verifies: a line, and a key of its own in `-o json`
    /// (none from an agent that does not say it).
    #[test]
    fn agent_lines_say_what_the_apiserver_certificate_is_verified_against() {
        let state = crate::agent::state::State::new();
        let said = |r: &StatusReport| {
            let json = serde_json::to_value(r).unwrap();
            let line = agent_lines(r)
                .into_iter()
                .find(|l| l.starts_with("apiserver cert"));
            (json["apiserverCertificate"].clone(), line)
        };
        assert_eq!(said(&state.report()), (serde_json::Value::Null, None));
        let what = "not verified: no cluster CA yet at /etc/kubernetes/pki/ca.crt";
        state.apiserver_certificate(what);
        assert_eq!(
            said(&state.report()),
            (
                serde_json::Value::from(what),
                Some(format!("apiserver cert   {what}"))
            )
        );
    }
}
