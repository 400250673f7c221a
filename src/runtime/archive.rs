//! The image archive the packages carry (an OCI image layout in one tar,
//! packaging/container/build): the digest of the image its tag names, which
//! the manifest pins (`NAME:TAG@sha256:...`).
//!
//! That digest is the one in the archive's `index.json`: the descriptor
//! whose `io.containerd.image.name` (or `org.opencontainers.image.ref.name`)
//! is the tag. It is the image manifest's digest, not that of `index.json`
//! itself (the archive's index is a wrapper no runtime keeps): `ctr images
//! import` makes that descriptor the image's target (the DIGEST `ctr images
//! ls` shows), and `podman load` keeps the manifest's bytes, so `podman
//! image inspect --format {{.Digest}}` says the same (tests/image.rs checks
//! both with the real tools).

use anyhow::{bail, Context, Result};
use std::path::Path;

/// The digest of the image `reference` names in the OCI archive at `path`.
pub fn digest(path: &Path, reference: &str) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let Some(index) = tar_file(&bytes, "index.json") else {
        bail!(
            "{} is not an OCI image archive: it has no index.json",
            path.display()
        );
    };
    let index: serde_json::Value = serde_json::from_slice(index)
        .with_context(|| format!("{}: index.json is not JSON", path.display()))?;
    let names = |m: &serde_json::Value| {
        [
            "io.containerd.image.name",
            "org.opencontainers.image.ref.name",
        ]
        .iter()
        .any(|key| m["annotations"][key] == reference)
    };
    let found = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| names(m));
    let Some(digest) = found.and_then(|m| m["digest"].as_str()) else {
        bail!("{} does not name {reference}", path.display());
    };
    let hex = digest.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{}: {digest:?} is not a sha256 digest", path.display());
    }
    Ok(digest.to_string())
}

/// A file's bytes in a tar (ustar headers; no PAX records here: the build
/// writes them only for long names, and `index.json` is short).
fn tar_file<'a>(tar: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let mut at = 0;
    while at + 512 <= tar.len() {
        let header = &tar[at..at + 512];
        let field = |from: usize, len: usize| {
            let raw = &header[from..from + len];
            let end = raw.iter().position(|b| *b == 0).unwrap_or(len);
            String::from_utf8_lossy(&raw[..end]).trim().to_string()
        };
        let size = usize::from_str_radix(&field(124, 12), 8).ok()?;
        let data = tar.get(at + 512..at + 512 + size)?;
        if field(0, 100).trim_start_matches("./") == name && header[156] != b'x' {
            return Some(data);
        }
        at += 512 + size.div_ceil(512) * 512;
    }
    None
}

#[cfg(test)]
pub mod tests {
    use super::*;

    const IMAGE: &str = "ghcr.io/kubealived/kubealived:0.1.0";
    const DIGEST: &str = "sha256:84aa9747dad263cc3c504b016ccea96889180b6c29bf56d565b7df61634e0e3f";

    /// A tar with these files, as the build writes it.
    fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in files {
            let mut header = [0u8; 512];
            header[..name.len()].copy_from_slice(name.as_bytes());
            header[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
            header[156] = b'0';
            out.extend_from_slice(&header);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    /// An archive whose index names `reference` with `digest` (for the
    /// runtime's and the commands' tests).
    pub fn tar_naming(reference: &str, digest: &str) -> Vec<u8> {
        let index = format!(
            r#"{{"manifests":[{{"annotations":{{"io.containerd.image.name":"{reference}"}},"digest":"{digest}"}}]}}"#
        );
        tar(&[("oci-layout", b"{}"), ("index.json", index.as_bytes())])
    }

    fn archive(files: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), tar(files)).unwrap();
        file
    }

    #[test]
    fn the_digest_is_the_manifest_the_tag_names() {
        let a = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(a.path(), tar_naming(IMAGE, DIGEST)).unwrap();
        assert_eq!(digest(a.path(), IMAGE).unwrap(), DIGEST);
        let other = digest(a.path(), "ghcr.io/kubealived/kubealived:0.0.9").unwrap_err();
        assert!(format!("{other:#}").contains("does not name"), "{other:#}");
    }

    #[test]
    fn a_damaged_archive_is_an_error() {
        let empty = archive(&[("oci-layout", b"{}")]);
        assert!(format!("{:#}", digest(empty.path(), IMAGE).unwrap_err()).contains("no index.json"));
        let junk = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(junk.path(), b"not an image").unwrap();
        assert!(digest(junk.path(), IMAGE).is_err());
        let bad = format!(
            r#"{{"manifests":[{{"annotations":{{"org.opencontainers.image.ref.name":"{IMAGE}"}},"digest":"sha256:12"}}]}}"#
        );
        let short = archive(&[("index.json", bad.as_bytes())]);
        assert!(format!("{:#}", digest(short.path(), IMAGE).unwrap_err()).contains("not a sha256"));
    }
}
