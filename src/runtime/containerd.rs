//! containerd, asked with `ctr` in the `k8s.io` namespace (the one the CRI
//! plugin, and so kubelet, uses).
//!
//! The manifest names the image `NAME:TAG@DIGEST`, which the CRI plugin
//! looks up as `NAME@DIGEST` (a reference with a tag and a digest keeps
//! the digest), so install keeps both names: the tag, which says which
//! image this version is, and the digest's own name (`ctr images import
//! --digests`). Both carry the pin label ([`CONTAINERD_PINNED_LABEL`]),
//! which kubelet's image garbage collection respects from containerd 1.7.3
//! on (the CRI plugin reports the image as pinned). containerd 1.6 ignores
//! it (Debian 12's 1.6.20 has no such string in its binary): there the
//! collector may remove the image, and the next `kubealived install`, which
//! the boot unit runs before kubelet, imports it again (tests/image.rs).

use super::{run, Runtime};
use crate::paths::{CONTAINERD_NAMESPACE, CONTAINERD_PINNED_LABEL};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::Command;

/// containerd through `ctr`, in the `k8s.io` namespace.
pub struct Containerd {
    pub socket: PathBuf,
}

/// One line of `ctr images list`.
#[derive(Debug, PartialEq)]
struct Listed {
    name: String,
    digest: String,
    pinned: bool,
}

impl Containerd {
    fn ctr(&self) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(&self.socket)
            .args(["--namespace", CONTAINERD_NAMESPACE]);
        cmd
    }

    fn images(&self) -> Result<Vec<Listed>> {
        Ok(parse_list(&run(self.ctr().args(["images", "list"]))?))
    }

    /// Set the pin label (`pinned` true) or remove it.
    fn pin(&self, name: &str, pinned: bool) -> Result<()> {
        let (key, value) = CONTAINERD_PINNED_LABEL;
        let label = format!("{key}={}", if pinned { value } else { "" });
        run(self.ctr().args(["images", "label", name, &label])).map(drop)
    }
}

/// `ctr images list`: REF TYPE DIGEST SIZE (two words) PLATFORMS LABELS
/// (comma-separated `key=value`, or `-`).
fn parse_list(listed: &str) -> Vec<Listed> {
    let (key, value) = CONTAINERD_PINNED_LABEL;
    let pin = format!("{key}={value}");
    listed
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() >= 7).then(|| Listed {
                name: fields[0].to_string(),
                digest: fields[2].to_string(),
                pinned: fields[fields.len() - 1].split(',').any(|l| l == pin),
            })
        })
        .collect()
}

/// `NAME:TAG` → `NAME` (a `:` after the last `/` starts the tag).
fn repository(reference: &str) -> &str {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => reference,
    }
}

/// The names the image has in containerd: the tag and the digest's own.
fn names(reference: &str, digest: &str) -> [String; 2] {
    [
        reference.to_string(),
        format!("{}@{digest}", repository(reference)),
    ]
}

impl Runtime for Containerd {
    fn name(&self) -> String {
        "containerd".into()
    }

    fn has_image(&self, reference: &str, digest: Option<&str>) -> Result<bool> {
        let images = self.images()?;
        let Some(digest) = digest else {
            return Ok(images.iter().any(|i| i.name == reference));
        };
        Ok(names(reference, digest).iter().all(|name| {
            images
                .iter()
                .any(|i| i.name == *name && i.digest == digest && i.pinned)
        }))
    }

    /// Import, pin both names, and unpin the repository's other images (an
    /// older version's or build's): kubelet may collect them once no pod
    /// uses them.
    fn import(&self, archive: &Path, reference: &str, digest: &str) -> Result<()> {
        let repo = repository(reference);
        run(self
            .ctr()
            .args(["images", "import", "--digests", "--base-name", repo])
            .arg(archive))?;
        let ours = names(reference, digest);
        for image in self.images()? {
            let mine = ours.contains(&image.name);
            let of_repo = [':', '@']
                .iter()
                .any(|sep| image.name.starts_with(&format!("{repo}{sep}")));
            if mine && !image.pinned {
                self.pin(&image.name, true)?;
            } else if !mine && of_repo && image.pinned {
                self.pin(&image.name, false)?;
            }
        }
        Ok(())
    }

    fn manual_import(&self, archive: &Path) -> String {
        format!(
            "ctr -n {CONTAINERD_NAMESPACE} images import {}",
            archive.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctr_s_list_is_read_by_column() {
        let d = "sha256:84aa9747dad263cc3c504b016ccea96889180b6c29bf56d565b7df61634e0e3f";
        let listed = format!(
            "REF TYPE DIGEST SIZE PLATFORMS LABELS\n\
             ghcr.io/kubealived/kubealived:0.1.0 application/vnd.oci.image.manifest.v1+json {d} 34.6 MiB linux/amd64 io.cri-containerd.pinned=pinned,io.cri-containerd.image=managed\n\
             registry.example:5000/k:1 application/vnd.oci.image.index.v1+json {d} 1.0 KiB linux/amd64,linux/arm64 -\n"
        );
        assert_eq!(
            parse_list(&listed),
            [
                Listed {
                    name: "ghcr.io/kubealived/kubealived:0.1.0".into(),
                    digest: d.into(),
                    pinned: true
                },
                Listed {
                    name: "registry.example:5000/k:1".into(),
                    digest: d.into(),
                    pinned: false
                }
            ]
        );
        assert_eq!(
            repository("registry.example:5000/k:1"),
            "registry.example:5000/k"
        );
        assert_eq!(
            repository("registry.example:5000/k"),
            "registry.example:5000/k"
        );
        assert_eq!(
            names("ghcr.io/kubealived/kubealived:0.1.0", d)[1],
            format!("ghcr.io/kubealived/kubealived@{d}")
        );
    }
}
