//! CRI-O: its images live in containers-storage, which podman and skopeo
//! on the same host share.

use super::{run, Runtime, ToolMissing};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// CRI-O's containers-storage, through podman or skopeo. `storage` is
/// (graph root, run root) when not the host's default.
pub struct Crio {
    pub storage: Option<(PathBuf, PathBuf)>,
}

impl Crio {
    fn tool(&self) -> Result<&'static str> {
        ["podman", "skopeo"]
            .into_iter()
            .find(|t| on_path(t))
            .ok_or_else(|| ToolMissing("podman or skopeo".into()).into())
    }

    fn podman(&self) -> Command {
        let mut cmd = Command::new("podman");
        if let Some((graph, run)) = &self.storage {
            cmd.arg("--root").arg(graph).arg("--runroot").arg(run);
        }
        cmd
    }

    fn skopeo_storage(&self, reference: &str) -> String {
        match &self.storage {
            Some((graph, run)) => format!(
                "containers-storage:[{}+{}]{reference}",
                graph.display(),
                run.display()
            ),
            None => format!("containers-storage:{reference}"),
        }
    }
}

impl Runtime for Crio {
    fn name(&self) -> String {
        "CRI-O".into()
    }

    fn has_image(&self, reference: &str) -> Result<bool> {
        let out = match self.tool()? {
            "podman" => self.podman().args(["image", "exists", reference]).output(),
            _ => Command::new("skopeo")
                .args(["inspect", "--raw"])
                .arg(self.skopeo_storage(reference))
                .output(),
        }
        .context("cannot run podman or skopeo")?;
        Ok(out.status.success())
    }

    fn import(&self, archive: &Path, reference: &str) -> Result<()> {
        match self.tool()? {
            "podman" => run(self
                .podman()
                .args(["load", "--quiet", "--input"])
                .arg(archive)),
            _ => run(Command::new("skopeo")
                .arg("copy")
                .arg(format!("oci-archive:{}", archive.display()))
                .arg(self.skopeo_storage(reference))),
        }
        .map(drop)
    }

    fn manual_import(&self, archive: &Path) -> String {
        format!("podman load --input {}", archive.display())
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
}
