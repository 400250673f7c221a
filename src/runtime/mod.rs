//! The node's container runtime: is the image the manifest names there, and
//! if not, put the archive the package carries into it, so kubelet never
//! pulls at bootstrap (air-gapped by default).
//!
//! [`Runtime`] is the door to the runtime; [`find`] picks the one whose
//! socket answers under the root (containerd first, then CRI-O), and
//! [`ensure`] is the decision install makes, testable with a fake.
//!
//! One file per runtime behind the trait:
//!
//! - [`containerd`]: `ctr -n k8s.io` (the namespace the CRI plugin, and so
//!   kubelet, uses). `ctr` ships with containerd in Debian's, Ubuntu's,
//!   Docker's and upstream's packages; shelling out to it keeps a gRPC stack
//!   (tonic, prost, tokio) out of a host tool that makes two calls.
//! - [`crio`]: CRI-O keeps images in containers-storage, shared with podman and
//!   skopeo on the same host: `podman load`, else `skopeo copy`.
//!
//! The manifest names the packaged image by its tag and the archive's digest
//! ([`archive`]), so a rebuilt archive of the same version is imported again,
//! and an image the runtime lost (kubelet's image garbage collection) is
//! imported again by the next `install`, which the boot unit runs before
//! kubelet at every boot.

pub mod archive;
pub mod containerd;
pub mod crio;

use crate::paths::{
    Root, CONTAINERD_SOCKET, CONTAINERS_RUN_STORAGE, CONTAINERS_STORAGE, CRIO_SOCKET,
};
use anyhow::{bail, Context, Result};
use containerd::Containerd;
use crio::Crio;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;

pub trait Runtime {
    /// "containerd" or "CRI-O", for messages.
    fn name(&self) -> String;
    /// Whether the runtime holds an image under `reference` (NAME:TAG); with
    /// `digest`, whether it is that image, ready for the manifest's
    /// `NAME:TAG@DIGEST` (and pinned where the runtime pins).
    fn has_image(&self, reference: &str, digest: Option<&str>) -> Result<bool>;
    /// Import the OCI archive, which names `reference` with `digest` (ctr
    /// and podman read the name from the archive; skopeo needs it said).
    fn import(&self, archive: &Path, reference: &str, digest: &str) -> Result<()>;
    /// How an operator imports `archive` by hand, for messages.
    fn manual_import(&self, archive: &Path) -> String;
}

/// The tool a runtime is asked with is not installed (an error
/// [`Runtime::has_image`] may return, told apart from a runtime that
/// does not answer it).
#[derive(Debug)]
pub struct ToolMissing(pub String);

impl std::fmt::Display for ToolMissing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is not installed", self.0)
    }
}

impl std::error::Error for ToolMissing {}

/// The runtime whose socket accepts a connection under `root`, if any.
/// Under a root other than `/` (image builds, tests) that is the runtime of
/// the machine rooted there: its sockets and storage are under it too.
pub fn find(root: &Root) -> Option<Box<dyn Runtime>> {
    let containerd = root.path(CONTAINERD_SOCKET);
    if answers(&containerd) {
        return Some(Box::new(Containerd { socket: containerd }));
    }
    if answers(&root.path(CRIO_SOCKET)) {
        return Some(Box::new(Crio {
            storage: (!root.is_host_root()).then(|| {
                (
                    root.path(CONTAINERS_STORAGE),
                    root.path(CONTAINERS_RUN_STORAGE),
                )
            }),
        }));
    }
    None
}

/// The sockets [`find`] tries, for messages.
pub fn sockets(root: &Root) -> String {
    format!(
        "containerd at {}, CRI-O at {}",
        root.path(CONTAINERD_SOCKET).display(),
        root.path(CRIO_SOCKET).display()
    )
}

fn answers(socket: &Path) -> bool {
    UnixStream::connect(socket).is_ok()
}

/// The digest the manifest pins the image to: the archive's, when `image`
/// is the packaged one and the package's archive is there; None for any
/// other image (`--image`: named as given, kubelet pulls it) and without the
/// archive (`cargo install`: kubelet pulls the tag).
pub fn pinned_digest(image: &str, packaged: &str, archive: &Path) -> Result<Option<String>> {
    if image != packaged || !archive.is_file() {
        return Ok(None);
    }
    archive::digest(archive, image).map(Some).with_context(|| {
        format!(
            "cannot use the image archive {}.\nFix: reinstall the kubealived package, whose archive \
             matches its binary (nothing was written); or pass --image with an image kubelet can pull",
            archive.display()
        )
    })
}

/// What [`ensure`] found or did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `--image` names another image: kubelet pulls it, nothing to import.
    NotPackaged,
    Present {
        runtime: String,
    },
    Imported {
        runtime: String,
        archive: PathBuf,
    },
    /// `--dry-run`: what a real run would import.
    WouldImport {
        runtime: String,
        archive: PathBuf,
    },
    /// No runtime answers yet (cloud-init before containerd, image builds).
    NoRuntime,
    /// The runtime lacks the image and there is no archive to import.
    NoArchive {
        runtime: String,
        archive: PathBuf,
        /// How to import an archive by hand into this runtime.
        manual_import: String,
    },
    /// The runtime's socket answers but the runtime cannot be asked: its
    /// tool is missing (`missing_tool`), or the runtime did not answer it.
    CannotCheck {
        runtime: String,
        why: String,
        missing_tool: Option<String>,
    },
}

/// Make sure `image` is in `runtime`: when it is the image the package
/// carries (`packaged`) and the runtime lacks it, or holds another image
/// under its tag than the archive's `digest` ([`pinned_digest`]), import
/// `archive`. A failed
/// import is an error (nothing should be written then: the pod would wait
/// for a pull); everything else that leaves the image missing is an
/// [`Outcome`] the caller warns about, because kubelet can still pull it.
pub fn ensure(
    runtime: Option<&dyn Runtime>,
    image: &str,
    packaged: &str,
    archive: &Path,
    digest: Option<&str>,
    dry_run: bool,
) -> Result<Outcome> {
    if image != packaged {
        return Ok(Outcome::NotPackaged);
    }
    let Some(runtime) = runtime else {
        return Ok(Outcome::NoRuntime);
    };
    let name = runtime.name();
    match runtime.has_image(image, digest) {
        Ok(true) => return Ok(Outcome::Present { runtime: name }),
        Ok(false) => {}
        Err(e) => {
            return Ok(Outcome::CannotCheck {
                runtime: name,
                missing_tool: e.downcast_ref::<ToolMissing>().map(|t| t.0.clone()),
                why: format!("{e:#}"),
            })
        }
    }
    let Some(digest) = digest else {
        return Ok(Outcome::NoArchive {
            runtime: name,
            archive: archive.to_path_buf(),
            manual_import: runtime.manual_import(Path::new("FILE")),
        });
    };
    if dry_run {
        return Ok(Outcome::WouldImport {
            runtime: name,
            archive: archive.to_path_buf(),
        });
    }
    if let Err(e) = runtime.import(archive, image, digest) {
        bail!(
            "cannot import {} into {name}: {e:#}\nFix: free the runtime's disk or repair it, then \
             run `kubealived install` again (nothing was written); or pass --image with an image \
             kubelet can pull.",
            archive.display()
        );
    }
    if !runtime.has_image(image, Some(digest))? {
        bail!(
            "{name} imported {} but still has no {image}@{digest}: the archive names another image.\n\
             Fix: reinstall the kubealived package, whose archive matches its binary.",
            archive.display()
        );
    }
    Ok(Outcome::Imported {
        runtime: name,
        archive: archive.to_path_buf(),
    })
}

/// Run a runtime tool; its stderr becomes the error, and a tool that is
/// not installed is [`ToolMissing`].
fn run(cmd: &mut Command) -> Result<String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(ToolMissing(program)),
        Err(e) => return Err(e).with_context(|| format!("cannot run {program}")),
    };
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
/// A runtime in memory: which images it has (`NAME:TAG@DIGEST`), what was
/// imported, and whether asking or importing fails.
#[derive(Default)]
pub struct FakeRuntime {
    pub images: std::cell::RefCell<Vec<String>>,
    pub imports: std::cell::RefCell<Vec<PathBuf>>,
    /// What an import adds (the archive's image, `NAME:TAG@DIGEST`), or
    /// None to fail it.
    pub import_adds: Option<String>,
    pub cannot_ask: bool,
}

#[cfg(test)]
impl Runtime for std::rc::Rc<FakeRuntime> {
    fn name(&self) -> String {
        "fake".into()
    }
    fn has_image(&self, reference: &str, digest: Option<&str>) -> Result<bool> {
        if self.cannot_ask {
            bail!(ToolMissing("fake-ctr".into()));
        }
        let images = self.images.borrow();
        let mut held = images
            .iter()
            .filter_map(|i| i.split_once('@'))
            .filter(|(name, _)| *name == reference);
        Ok(held.any(|(_, d)| digest.is_none_or(|want| want == d)))
    }
    fn manual_import(&self, archive: &Path) -> String {
        format!("fake-import {}", archive.display())
    }
    fn import(&self, archive: &Path, reference: &str, _digest: &str) -> Result<()> {
        self.imports.borrow_mut().push(archive.to_path_buf());
        let Some(image) = &self.import_adds else {
            bail!("disk full");
        };
        // The tag moves to the imported image.
        let mut images = self.images.borrow_mut();
        images.retain(|i| !i.starts_with(&format!("{reference}@")));
        images.push(image.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    const PACKAGED: &str = "ghcr.io/kubealived/kubealived:0.1.0";
    const DIGEST: &str = "sha256:84aa9747dad263cc3c504b016ccea96889180b6c29bf56d565b7df61634e0e3f";
    const REBUILT: &str = "sha256:95856da6fabae6aff4bf7c394c753f5705a57004d514e7844bbda54e7c50cbfd";

    fn archive() -> tempfile::NamedTempFile {
        tempfile::NamedTempFile::new().unwrap()
    }

    /// [`ensure`] for the packaged image.
    fn packaged(
        rt: Option<&Rc<FakeRuntime>>,
        archive: &Path,
        digest: Option<&str>,
        dry_run: bool,
    ) -> Result<Outcome> {
        let rt = rt.map(|r| r as &dyn Runtime);
        ensure(rt, PACKAGED, PACKAGED, archive, digest, dry_run)
    }

    fn runtime_importing(digest: &str) -> Rc<FakeRuntime> {
        Rc::new(FakeRuntime {
            import_adds: Some(format!("{PACKAGED}@{digest}")),
            ..Default::default()
        })
    }

    #[test]
    fn a_missing_packaged_image_is_imported_once() {
        let rt = runtime_importing(DIGEST);
        let a = archive();
        let first = packaged(Some(&rt), a.path(), Some(DIGEST), false).unwrap();
        assert_eq!(
            first,
            Outcome::Imported {
                runtime: "fake".into(),
                archive: a.path().into()
            }
        );
        let again = packaged(Some(&rt), a.path(), Some(DIGEST), false).unwrap();
        assert_eq!(
            again,
            Outcome::Present {
                runtime: "fake".into()
            }
        );
        assert_eq!(rt.imports.borrow().len(), 1);
    }

    /// The same version rebuilt: the runtime holds another image under the
    /// tag, so the archive is imported again, and then it is present.
    #[test]
    fn another_image_under_the_tag_is_replaced() {
        let rt = runtime_importing(REBUILT);
        rt.images.borrow_mut().push(format!("{PACKAGED}@{DIGEST}"));
        let a = archive();
        let out = packaged(Some(&rt), a.path(), Some(REBUILT), false).unwrap();
        assert!(matches!(out, Outcome::Imported { .. }), "{out:?}");
        assert_eq!(*rt.images.borrow(), [format!("{PACKAGED}@{REBUILT}")]);
        let again = packaged(Some(&rt), a.path(), Some(REBUILT), false).unwrap();
        assert!(matches!(again, Outcome::Present { .. }), "{again:?}");
        assert_eq!(rt.imports.borrow().len(), 1);
    }

    #[test]
    fn another_image_is_never_imported() {
        let rt = Rc::new(FakeRuntime::default());
        let out = ensure(
            Some(&rt),
            "registry.example/kubealived:0.1.0",
            PACKAGED,
            archive().path(),
            None,
            false,
        )
        .unwrap();
        assert_eq!(out, Outcome::NotPackaged);
        assert!(rt.imports.borrow().is_empty());
    }

    #[test]
    fn only_the_packaged_image_with_its_archive_gets_a_digest() {
        let missing = Path::new("/nonexistent/kubealived-image.oci.tar");
        assert_eq!(pinned_digest(PACKAGED, PACKAGED, missing).unwrap(), None);
        let junk = archive();
        std::fs::write(junk.path(), b"not an image").unwrap();
        let other = "registry.example/kubealived:0.1.0";
        assert_eq!(pinned_digest(other, PACKAGED, junk.path()).unwrap(), None);
        let err = pinned_digest(PACKAGED, PACKAGED, junk.path()).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("cannot use the image archive") && msg.contains("Fix:"),
            "{msg}"
        );
        let good = archive();
        std::fs::write(good.path(), archive::tests::tar_naming(PACKAGED, DIGEST)).unwrap();
        assert_eq!(
            pinned_digest(PACKAGED, PACKAGED, good.path())
                .unwrap()
                .as_deref(),
            Some(DIGEST)
        );
    }

    #[test]
    fn dry_run_imports_nothing() {
        let rt = runtime_importing(DIGEST);
        let a = archive();
        let out = packaged(Some(&rt), a.path(), Some(DIGEST), true).unwrap();
        assert!(matches!(out, Outcome::WouldImport { .. }));
        assert!(rt.imports.borrow().is_empty());
    }

    #[test]
    fn no_runtime_no_archive_or_no_tool_warn_and_go_on() {
        let none = packaged(None, archive().path(), Some(DIGEST), false).unwrap();
        assert_eq!(none, Outcome::NoRuntime);

        let rt = Rc::new(FakeRuntime::default());
        let missing = Path::new("/nonexistent/kubealived-image.oci.tar");
        let out = packaged(Some(&rt), missing, None, false).unwrap();
        assert!(
            matches!(out, Outcome::NoArchive { manual_import, .. } if manual_import == "fake-import FILE")
        );

        let rt = Rc::new(FakeRuntime {
            cannot_ask: true,
            ..Default::default()
        });
        let out = packaged(Some(&rt), archive().path(), Some(DIGEST), false).unwrap();
        assert!(
            matches!(out, Outcome::CannotCheck { missing_tool: Some(t), .. } if t == "fake-ctr")
        );
        assert!(rt.imports.borrow().is_empty());
    }

    #[test]
    fn a_failed_import_is_an_error_with_the_fix() {
        let rt = Rc::new(FakeRuntime::default());
        let a = archive();
        let err = packaged(Some(&rt), a.path(), Some(DIGEST), false).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("cannot import") && msg.contains("Fix:") && msg.contains("disk full"),
            "{msg}"
        );
    }

    #[test]
    fn an_archive_of_another_image_is_an_error() {
        let rt = Rc::new(FakeRuntime {
            import_adds: Some(format!("ghcr.io/kubealived/kubealived:0.0.9@{DIGEST}")),
            ..Default::default()
        });
        let err = packaged(Some(&rt), archive().path(), Some(DIGEST), false).unwrap_err();
        assert!(format!("{err:#}").contains("the archive names another image"));
    }

    #[test]
    fn a_socket_nobody_listens_on_is_no_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        assert!(find(&root).is_none());
        // A stale socket file (the runtime died) does not answer either.
        std::fs::create_dir_all(root.path("run/containerd")).unwrap();
        drop(std::os::unix::net::UnixListener::bind(root.path(CONTAINERD_SOCKET)).unwrap());
        assert!(find(&root).is_none());
        let _crio = {
            std::fs::create_dir_all(root.path("run/crio")).unwrap();
            std::os::unix::net::UnixListener::bind(root.path(CRIO_SOCKET)).unwrap()
        };
        assert_eq!(find(&root).unwrap().name(), "CRI-O");
    }
}
