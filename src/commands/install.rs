//! `kubealived install`: validate and render everything first, then take
//! the lock and write only what changed, the manifest last.

use super::{require_root, vrrp_summary, warn, Rendered, RootArgs};
use crate::agent::target;
use crate::error::usage;
use crate::host::{ConfigTest, Host};
use crate::nft;
use crate::node::Node;
use crate::paths::{
    read_optional, Root, APISERVER_MANIFEST, IMAGE_ARCHIVE, MANIFEST, OWNED_FILES, SAVED_CONFIG,
};
use crate::plan::{self, Action};
use crate::render::manifest;
use crate::runtime::{self, Outcome};
use crate::settings::{Settings, Sources};
use crate::write;
use anyhow::Result;
use clap::Args;
use std::io::Write;

#[derive(Args, Debug)]
pub struct InstallArgs {
    #[command(flatten)]
    pub settings: Settings,
    #[command(flatten)]
    pub sources: Sources,
    #[command(flatten)]
    pub root: RootArgs,
    /// Print what would change, with a diff; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Replace a manifest at the target path that kubealived did not write
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &InstallArgs, host: &dyn Host, out: &mut dyn Write) -> Result<()> {
    let root = args.root.root();
    let saved = root.path(SAVED_CONFIG);
    let archive = root.path(IMAGE_ARCHIVE);
    // The packaged image by its archive's digest; read before anything is
    // touched (a damaged archive: exit 1, nothing written).
    let rendered = Rendered::prepare(&args.settings, &args.sources, Some(&saved), host, true)?
        .with_archive(&archive)?;
    let node = &rendered.node;
    let files = rendered.owned_files();
    check_apiserver_bind(&root, &node.config.vips)?;
    check_targets(&root, args.force)?;
    warn(&node.warnings);
    check_with_keepalived(host, node, &rendered.keepalived_conf)?;
    check_with_nft(host, node)?;

    let image = &node.config.image;
    let packaged = crate::config::default_image();
    let digest = rendered.digest.as_deref();
    let named = rendered.image();
    if args.dry_run {
        write!(out, "{}", plan::describe(&plan::plan(&root, &files)?))?;
        let found = host.runtime(&root);
        let outcome = runtime::ensure(found.as_deref(), image, &packaged, &archive, digest, true)?;
        writeln!(out, "{}", image_report(&outcome, &named, &root).0)?;
        return Ok(());
    }
    require_root(
        &root,
        "install writes /etc/kubernetes/manifests and /etc/kubealived",
        "run it with sudo, or add --root DIR to write under another directory, or --dry-run to only look",
    )?;

    let _lock = write::lock(&root)?;
    // Re-read under the lock: another run may have written meanwhile.
    check_targets(&root, args.force)?;
    write::sweep_temp_files(&root)?;
    // The image the manifest names must be in the runtime before kubelet
    // reads the manifest: no pull at bootstrap.
    let found = host.runtime(&root);
    let outcome = runtime::ensure(found.as_deref(), image, &packaged, &archive, digest, false)?;
    let (line, warning) = image_report(&outcome, &named, &root);
    writeln!(out, "{line}")?;
    warn(&Vec::from_iter(warning));
    let mut changed = false;
    for change in plan::plan(&root, &files)? {
        let written = write::write_if_changed(&change.path, change.new.as_bytes())?;
        let word = match (written, change.action) {
            (false, _) => "unchanged",
            (true, Action::Create) => "created",
            (true, _) => "updated",
        };
        changed |= written;
        writeln!(out, "{word:<9} {}", change.path.display())?;
        crate::faults::hit(&format!("after:{}", write::file_name(&change.path)));
    }
    let vips: Vec<String> = node
        .vips
        .iter()
        .map(|(ip, dev)| format!("{ip} on {dev}"))
        .collect();
    writeln!(out, "VIP {} ({}).", vips.join(", "), vrrp_summary(node))?;
    if changed {
        let endpoint = match node.config.primary_vip() {
            std::net::IpAddr::V4(ip) => format!("{ip}:{}", node.config.apiserver_port),
            std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", node.config.apiserver_port),
        };
        writeln!(out, "Next: kubeadm init --control-plane-endpoint {endpoint} ... (first master) or kubeadm join {endpoint} ... (others).")?;
    }
    Ok(())
}

/// A kube-apiserver.yaml already here (install run again after kubeadm)
/// whose `--bind-address` refuses the VIP: the agent would count this
/// node as never ready, so say it now, before anything is written.
fn check_apiserver_bind(root: &Root, vips: &[std::net::IpAddr]) -> Result<()> {
    let path = root.path(APISERVER_MANIFEST);
    let Some(text) = read_optional(&path)? else {
        return Ok(());
    };
    let refused = target::bind_address(&String::from_utf8_lossy(&text))
        .and_then(|bind| target::vip_refused(bind, vips));
    match refused {
        Some(why) => Err(usage!(
            "{} says: {why}.\nFix: {}.",
            path.display(),
            target::bind_fix(&path.display().to_string())
        )),
        None => Ok(()),
    }
}

/// keepalived's own check of the rendered keepalived.conf, where this host
/// has a keepalived (the image's is checked by the tests): it knows its
/// grammar, and which interfaces exist here, better than any rule of ours.
/// Before anything is written, and in a dry run too.
fn check_with_keepalived(host: &dyn Host, node: &Node, conf: &str) -> Result<()> {
    let hide = |said: String| match &node.config.password {
        Some(password) => redact(&said, password),
        None => said,
    };
    match host.test_keepalived_conf(conf) {
        ConfigTest::Skipped(why) => warn(&Vec::from_iter(why)),
        ConfigTest::Passed(said) if said.is_empty() => {}
        ConfigTest::Passed(said) => warn(&[format!(
            "keepalived accepts the rendered keepalived.conf, but says:\n{}",
            hide(said)
        )]),
        ConfigTest::Failed(said) => {
            return Err(usage!(
                "keepalived rejects the keepalived.conf these settings render to (`keepalived --config-test`):\n\
                 {}\n\
                 Fix: change the setting keepalived's message is about (`kubealived render --keepalived-conf` \
                 with the same flags prints the file its line numbers refer to), then run install again.",
                hide(said).trim_end()
            ))
        }
    }
    Ok(())
}

/// The kernel's own check (`nft --check`) of the nftables tables the
/// agent will apply, where this host has nft: a kernel without nftables
/// NAT would otherwise show only in the pod's status, after install said
/// it was done. Before anything is written, and in a dry run too.
fn check_with_nft(host: &dyn Host, node: &Node) -> Result<()> {
    let masters = node.masters();
    let mut tables = Vec::new();
    if node.config.vrrp_filter {
        tables.push(("--vrrp-filter", nft::ruleset(&masters)));
    }
    if let Some(balance) = node.config.balance {
        let services = nft::services(
            &node.config.vips,
            balance.port,
            &masters,
            node.config.apiserver_port,
        );
        tables.push(("--load-balance", nft::balance_ruleset(&services)));
    }
    for (flag, ruleset) in tables {
        match host.test_nft_ruleset(&ruleset) {
            ConfigTest::Failed(said) => {
                return Err(usage!(
                    "this node's kernel refuses the nftables table {flag} needs (`nft --check`, which \
                     applies nothing):\n{}\n\
                     Fix: load the nftables modules it is about (nf_tables, nft_chain_nat, nft_nat, \
                     nft_numgen, nft_fib_inet, nft_ct, nft_masq; `modprobe NAME`, and list them in \
                     /etc/modules-load.d/ for the next boot), or install without {flag}.",
                    said.trim_end()
                ))
            }
            ConfigTest::Skipped(why) => warn(&Vec::from_iter(why)),
            ConfigTest::Passed(_) => {}
        }
    }
    Ok(())
}

/// `text` with every word that is `secret` replaced: keepalived's output
/// reaches the terminal and logs, the password never may. Passwords hold no
/// white space or quotes, so those delimit words.
fn redact(text: &str, secret: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in text.split_inclusive(|c: char| c.is_whitespace() || "'\"`".contains(c)) {
        let word = piece.trim_end_matches(|c: char| c.is_whitespace() || "'\"`".contains(c));
        if word == secret {
            out.push_str("<password>");
            out.push_str(&piece[word.len()..]);
        } else {
            out.push_str(piece);
        }
    }
    out
}

/// Before writing: every target is a regular file or absent, and the
/// manifest, if present, is ours (or `--force` says replace it).
fn check_targets(root: &Root, force: bool) -> Result<()> {
    for relative in OWNED_FILES {
        let path = root.path(relative);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if !meta.is_file() => {
                return Err(usage!(
                    "{} exists but is not a regular file.\nFix: move it away; kubealived writes a file there.",
                    path.display()
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot inspect {}", path.display()))),
        }
    }
    match read_optional(&root.path(MANIFEST))? {
        Some(existing) if !force && !manifest::written_by_us(&existing) => Err(usage!(
            "{} exists and was not written by kubealived.\nFix: move it away, or pass --force to replace it.",
            root.path(MANIFEST).display()
        )),
        _ => Ok(()),
    }
}

/// One line for install's output about the image (`word image` like the
/// file lines), and a warning when the image may be missing when kubelet
/// needs it.
fn image_report(outcome: &Outcome, image: &str, root: &Root) -> (String, Option<String>) {
    match outcome {
        Outcome::NotPackaged => (
            format!("{:<9} {image}: not the packaged image, kubelet pulls it", "image"),
            None,
        ),
        Outcome::Present { runtime } => (format!("{:<9} {image} in {runtime}", "present"), None),
        Outcome::Imported { runtime, archive } => (
            format!(
                "{:<9} {image} into {runtime} from {}",
                "imported",
                archive.display()
            ),
            None,
        ),
        Outcome::WouldImport { runtime, archive } => (
            format!(
                "{:<9} {image} into {runtime} from {}",
                "import",
                archive.display()
            ),
            None,
        ),
        Outcome::NoRuntime => (
            format!("{:<9} {image}: no container runtime is running", "image"),
            Some(format!(
                "no container runtime answers ({}), so {image} is not imported yet. \
                 The boot unit imports it at the next boot (after containerd or CRI-O, before kubelet). \
                 Fix, on a node you set up now: start the runtime, then run `kubealived install` \
                 again before `kubeadm init` or `join`.",
                runtime::sockets(root)
            )),
        ),
        Outcome::NoArchive {
            runtime,
            archive,
            manual_import,
        } => (
            format!("{:<9} {image} from {runtime}", "missing"),
            Some(format!(
                "{runtime} has no {image} and {} does not exist: kubelet will pull it from its registry. \
                 Fix: install the kubealived package (it carries the archive), or import the release's \
                 image archive by hand ({manual_import}).",
                archive.display()
            )),
        ),
        Outcome::CannotCheck {
            runtime,
            missing_tool: Some(tool),
            ..
        } => (
            format!("{:<9} {image}: cannot ask {runtime}", "image"),
            Some(format!(
                "cannot check whether {runtime} has {image}: {tool} is not installed; kubelet will pull \
                 the image if it is missing. Fix: install {tool}, then run `kubealived install` again."
            )),
        ),
        Outcome::CannotCheck { runtime, why, .. } => (
            format!("{:<9} {image}: cannot ask {runtime}", "image"),
            Some(format!(
                "{runtime}'s socket accepts connections but {runtime} did not answer ({why}); kubelet \
                 will pull {image} if it is missing. Fix: check that {runtime} is healthy (its log, \
                 `systemctl status {}`), then run `kubealived install` again.",
                if runtime == "CRI-O" { "crio" } else { "containerd" }
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const IMAGE: &str = "ghcr.io/kubealived/kubealived:0.1.0";

    fn warning(outcome: Outcome) -> Option<String> {
        image_report(&outcome, IMAGE, &Root::new("/")).1
    }

    #[test]
    fn only_a_possibly_missing_image_warns() {
        assert!(warning(Outcome::NotPackaged).is_none());
        assert!(warning(Outcome::Present {
            runtime: "containerd".into()
        })
        .is_none());
        let none = warning(Outcome::NoRuntime).unwrap();
        assert!(
            none.contains("boot unit imports it") && none.contains("Fix, on a node"),
            "{none}"
        );
    }

    #[test]
    fn the_manual_import_fix_is_the_runtime_s_own() {
        let crio = warning(Outcome::NoArchive {
            runtime: "CRI-O".into(),
            archive: PathBuf::from("/usr/share/kubealived/kubealived-image.oci.tar"),
            manual_import: "podman load --input FILE".into(),
        })
        .unwrap();
        assert!(
            crio.contains("Fix:") && crio.contains("podman load --input FILE"),
            "{crio}"
        );
        assert!(!crio.contains("ctr"), "{crio}");
    }

    #[test]
    fn a_runtime_that_does_not_answer_is_not_blamed_on_a_missing_tool() {
        let silent = warning(Outcome::CannotCheck {
            runtime: "containerd".into(),
            why: "ctr exit status: 1: connection refused".into(),
            missing_tool: None,
        })
        .unwrap();
        assert!(
            !silent.contains("install ctr") && !silent.contains("not installed"),
            "{silent}"
        );
        assert!(
            silent.contains("did not answer") && silent.contains("Fix:"),
            "{silent}"
        );
        let missing = warning(Outcome::CannotCheck {
            runtime: "containerd".into(),
            why: "ctr is not installed".into(),
            missing_tool: Some("ctr".into()),
        })
        .unwrap();
        assert!(missing.contains("Fix: install ctr"), "{missing}");
    }
}
