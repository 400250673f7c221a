//! `kubealived install`: validate and render everything first, then take
//! the lock and write only what changed, the manifest last.

use super::{prepare, warn};
use crate::cli::InstallArgs;
use crate::fs::{self, Root, KEEPALIVED_CONF, MANIFEST, OWNED_FILES, SAVED_CONFIG};
use crate::host::RealHost;
use crate::plan::{self, Action};
use crate::render::manifest;
use crate::usage;
use anyhow::Result;

pub fn run(args: &InstallArgs) -> Result<()> {
    let root = Root::new(&args.root.root);
    let saved = root.path(SAVED_CONFIG);
    let rendered = prepare(&args.settings, Some(&saved), &RealHost, true)?;
    let node = &rendered.node;
    let files = [
        (SAVED_CONFIG, rendered.settings.to_yaml()),
        (KEEPALIVED_CONF, rendered.keepalived_conf.clone()),
        (
            MANIFEST,
            manifest::static_pod(node, &rendered.keepalived_conf),
        ),
    ];
    debug_assert!(files.iter().map(|f| f.0).eq(OWNED_FILES));
    check_targets(&root, args.force)?;
    warn(&node.warnings);

    if args.dry_run {
        print!("{}", plan::describe(&plan::plan(&root, &files)?));
        return Ok(());
    }
    if root.is_host_root() && !nix::unistd::geteuid().is_root() {
        return Err(usage!(
            "install writes /etc/kubernetes/manifests and /etc/kubealived, which needs root.\n\
             Fix: run it with sudo, or add --root DIR to write under another directory, or --dry-run to only look."
        ));
    }

    let _lock = fs::lock(&root)?;
    // Re-read under the lock: another run may have written meanwhile.
    check_targets(&root, args.force)?;
    for relative in OWNED_FILES {
        fs::remove_if_present(&fs::temp_path(&root.path(relative)))?;
    }
    let mut changed = false;
    for change in plan::plan(&root, &files)? {
        let written = fs::write_if_changed(&change.path, change.new.as_bytes())?;
        let word = match (written, change.action) {
            (false, _) => "unchanged",
            (true, Action::Create) => "created",
            (true, _) => "updated",
        };
        changed |= written;
        println!("{word:<9} {}", change.path.display());
        crate::faults::hit(&format!("after:{}", fs::file_name(&change.path)));
    }
    let vips: Vec<String> = node
        .vips
        .iter()
        .map(|(ip, dev)| format!("{ip} on {dev}"))
        .collect();
    println!(
        "VIP {} (VRRPv{}, router id {}, {}).",
        vips.join(", "),
        node.config.version.number(),
        node.config.router_id,
        if node.peers.is_empty() {
            "multicast".to_string()
        } else {
            let peers: Vec<String> = node.peers.iter().map(|p| p.to_string()).collect();
            format!("unicast to {}", peers.join(", "))
        },
    );
    if changed {
        let endpoint = match node.config.primary_vip() {
            std::net::IpAddr::V4(ip) => format!("{ip}:{}", node.config.apiserver_port),
            std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", node.config.apiserver_port),
        };
        println!("Next: kubeadm init --control-plane-endpoint {endpoint} ... (first master) or kubeadm join {endpoint} ... (others).");
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
    match fs::read_optional(&root.path(MANIFEST))? {
        Some(existing) if !force && !manifest::written_by_us(&existing) => Err(usage!(
            "{} exists and was not written by kubealived.\nFix: move it away, or pass --force to replace it.",
            root.path(MANIFEST).display()
        )),
        _ => Ok(()),
    }
}
