//! CRI-O: its images live in containers-storage, which podman and skopeo
//! on the same host share.

use super::{run, Runtime, ToolMissing};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
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

    /// With a digest: the image under the tag is that one. podman reports
    /// the manifest's digest; skopeo gives the manifest's bytes, whose
    /// sha256 it is (CRI-O has no pin kubealived sets: a collected image is
    /// imported again by the next install).
    fn has_image(&self, reference: &str, digest: Option<&str>) -> Result<bool> {
        let tool = self.tool()?;
        let out = match tool {
            "podman" => self.podman().args(["image", "exists", reference]).output(),
            _ => Command::new("skopeo")
                .args(["inspect", "--raw"])
                .arg(self.skopeo_storage(reference))
                .output(),
        }
        .context("cannot run podman or skopeo")?;
        let present = absent_or_error(&out)?;
        let Some(digest) = digest.filter(|_| present) else {
            return Ok(present);
        };
        let held = match tool {
            "podman" => {
                run(self
                    .podman()
                    .args(["image", "inspect", "--format", "{{.Digest}}", reference]))?
                .trim()
                .to_string()
            }
            _ => Sha256::digest(&out.stdout)
                .iter()
                .fold("sha256:".to_string(), |hex, b| hex + &format!("{b:02x}")),
        };
        Ok(held == digest)
    }

    fn import(&self, archive: &Path, reference: &str, _digest: &str) -> Result<()> {
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

/// What `podman image exists` or `skopeo inspect` said: found, absent, or
/// an error (locked or broken storage), which must not read as "absent"
/// (install would then import over it instead of reporting it).
fn absent_or_error(out: &std::process::Output) -> Result<bool> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Ok(true),
        // podman image exists: 1 = no such image; skopeo: exit 1 and this.
        Some(1) if stderr.trim().is_empty() || stderr.contains("does not resolve to an image") => {
            Ok(false)
        }
        _ => anyhow::bail!("{}: {}", out.status, stderr.trim()),
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{ExitStatus, Output};

    fn output(code: i32, stderr: &str) -> Output {
        Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn only_a_clear_no_is_absent() {
        assert!(absent_or_error(&output(0, "")).unwrap());
        assert!(!absent_or_error(&output(1, "")).unwrap());
        let skopeo = "level=fatal msg=\"Error parsing image name ...: reference ... does not resolve to an image ID: identifier is not an image\"";
        assert!(!absent_or_error(&output(1, skopeo)).unwrap());
        // podman's storage locked or broken: an error, never "absent".
        let err =
            absent_or_error(&output(125, "Error: creating lock: permission denied")).unwrap_err();
        assert!(format!("{err:#}").contains("permission denied"), "{err:#}");
        assert!(absent_or_error(&output(1, "Error: database is locked")).is_err());
    }
}
