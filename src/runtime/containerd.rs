//! containerd, asked with `ctr` in the `k8s.io` namespace (the one the CRI
//! plugin, and so kubelet, uses).

use super::{run, Runtime};
use crate::paths::CONTAINERD_NAMESPACE;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::Command;

/// containerd through `ctr`, in the `k8s.io` namespace.
pub struct Containerd {
    pub socket: PathBuf,
}

impl Containerd {
    fn ctr(&self) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(&self.socket)
            .args(["--namespace", CONTAINERD_NAMESPACE]);
        cmd
    }
}

impl Runtime for Containerd {
    fn name(&self) -> String {
        "containerd".into()
    }

    fn has_image(&self, reference: &str) -> Result<bool> {
        let listed = run(self.ctr().args(["images", "list", "--quiet"]))?;
        Ok(listed.lines().any(|line| line.trim() == reference))
    }

    fn import(&self, archive: &Path, _reference: &str) -> Result<()> {
        run(self.ctr().args(["images", "import"]).arg(archive)).map(drop)
    }

    fn manual_import(&self, archive: &Path) -> String {
        format!(
            "ctr -n {CONTAINERD_NAMESPACE} images import {}",
            archive.display()
        )
    }
}
