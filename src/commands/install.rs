//! `kubealived install`: validate and render everything first, then take
//! the lock and write only what changed, the manifest last.

use super::{require_root, vrrp_summary, warn, Rendered, RootArgs};
use crate::error::usage;
use crate::host::Host;
use crate::paths::{read_optional, Root, IMAGE_ARCHIVE, MANIFEST, OWNED_FILES, SAVED_CONFIG};
use crate::plan::{self, Action};
use crate::render::manifest;
use crate::runtime;
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
    let rendered = Rendered::prepare(&args.settings, &args.sources, Some(&saved), host, true)?;
    let node = &rendered.node;
    let files = rendered.owned_files();
    check_targets(&root, args.force)?;
    warn(&node.warnings);

    let image = &node.config.image;
    let packaged = crate::config::default_image();
    let archive = root.path(IMAGE_ARCHIVE);
    if args.dry_run {
        write!(out, "{}", plan::describe(&plan::plan(&root, &files)?))?;
        let found = host.runtime(&root);
        let outcome = runtime::ensure(found.as_deref(), image, &packaged, &archive, true)?;
        writeln!(out, "{}", outcome.report(image, &root).0)?;
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
    let outcome = runtime::ensure(found.as_deref(), image, &packaged, &archive, false)?;
    let (line, warning) = outcome.report(image, &root);
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
