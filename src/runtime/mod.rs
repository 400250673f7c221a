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
    fn has_image(&self, reference: &str) -> Result<bool>;
    /// Import the OCI archive, which names `reference` (ctr and podman read
    /// the name from the archive; skopeo needs it said).
    fn import(&self, archive: &Path, reference: &str) -> Result<()>;
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
/// carries (`packaged`) and the runtime lacks it, import `archive`. A failed
/// import is an error (nothing should be written then: the pod would wait
/// for a pull); everything else that leaves the image missing is an
/// [`Outcome`] the caller warns about, because kubelet can still pull it.
pub fn ensure(
    runtime: Option<&dyn Runtime>,
    image: &str,
    packaged: &str,
    archive: &Path,
    dry_run: bool,
) -> Result<Outcome> {
    if image != packaged {
        return Ok(Outcome::NotPackaged);
    }
    let Some(runtime) = runtime else {
        return Ok(Outcome::NoRuntime);
    };
    let name = runtime.name();
    match runtime.has_image(image) {
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
    if !archive.is_file() {
        return Ok(Outcome::NoArchive {
            runtime: name,
            archive: archive.to_path_buf(),
            manual_import: runtime.manual_import(Path::new("FILE")),
        });
    }
    if dry_run {
        return Ok(Outcome::WouldImport {
            runtime: name,
            archive: archive.to_path_buf(),
        });
    }
    if let Err(e) = runtime.import(archive, image) {
        bail!(
            "cannot import {} into {name}: {e:#}\nFix: free the runtime's disk or repair it, then \
             run `kubealived install` again (nothing was written); or pass --image with an image \
             kubelet can pull.",
            archive.display()
        );
    }
    if !runtime.has_image(image)? {
        bail!(
            "{name} imported {} but still has no {image}: the archive names another image.\n\
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
/// A runtime in memory: which images it has, what was imported, and
/// whether asking or importing fails.
#[derive(Default)]
pub struct FakeRuntime {
    pub images: std::cell::RefCell<Vec<String>>,
    pub imports: std::cell::RefCell<Vec<PathBuf>>,
    /// What an import adds (the archive's image), or None to fail it.
    pub import_adds: Option<String>,
    pub cannot_ask: bool,
}

#[cfg(test)]
impl Runtime for std::rc::Rc<FakeRuntime> {
    fn name(&self) -> String {
        "fake".into()
    }
    fn has_image(&self, reference: &str) -> Result<bool> {
        if self.cannot_ask {
            bail!(ToolMissing("fake-ctr".into()));
        }
        Ok(self.images.borrow().iter().any(|i| i == reference))
    }
    fn manual_import(&self, archive: &Path) -> String {
        format!("fake-import {}", archive.display())
    }
    fn import(&self, archive: &Path, _reference: &str) -> Result<()> {
        self.imports.borrow_mut().push(archive.to_path_buf());
        match &self.import_adds {
            Some(image) => {
                self.images.borrow_mut().push(image.clone());
                Ok(())
            }
            None => bail!("disk full"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    const PACKAGED: &str = "ghcr.io/kubealived/kubealived:0.1.0";

    fn archive() -> tempfile::NamedTempFile {
        tempfile::NamedTempFile::new().unwrap()
    }

    #[test]
    fn a_missing_packaged_image_is_imported_once() {
        let rt = Rc::new(FakeRuntime {
            import_adds: Some(PACKAGED.into()),
            ..Default::default()
        });
        let a = archive();
        let first = ensure(Some(&rt), PACKAGED, PACKAGED, a.path(), false).unwrap();
        assert_eq!(
            first,
            Outcome::Imported {
                runtime: "fake".into(),
                archive: a.path().into()
            }
        );
        let again = ensure(Some(&rt), PACKAGED, PACKAGED, a.path(), false).unwrap();
        assert_eq!(
            again,
            Outcome::Present {
                runtime: "fake".into()
            }
        );
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
            false,
        )
        .unwrap();
        assert_eq!(out, Outcome::NotPackaged);
        assert!(rt.imports.borrow().is_empty());
    }

    #[test]
    fn dry_run_imports_nothing() {
        let rt = Rc::new(FakeRuntime {
            import_adds: Some(PACKAGED.into()),
            ..Default::default()
        });
        let a = archive();
        let out = ensure(Some(&rt), PACKAGED, PACKAGED, a.path(), true).unwrap();
        assert!(matches!(out, Outcome::WouldImport { .. }));
        assert!(rt.imports.borrow().is_empty());
    }

    #[test]
    fn no_runtime_no_archive_or_no_tool_warn_and_go_on() {
        let none = ensure(None, PACKAGED, PACKAGED, archive().path(), false).unwrap();
        assert_eq!(none, Outcome::NoRuntime);

        let rt = Rc::new(FakeRuntime::default());
        let missing = Path::new("/nonexistent/kubealived-image.oci.tar");
        let out = ensure(Some(&rt), PACKAGED, PACKAGED, missing, false).unwrap();
        assert!(
            matches!(out, Outcome::NoArchive { manual_import, .. } if manual_import == "fake-import FILE")
        );

        let rt = Rc::new(FakeRuntime {
            cannot_ask: true,
            ..Default::default()
        });
        let out = ensure(Some(&rt), PACKAGED, PACKAGED, archive().path(), false).unwrap();
        assert!(
            matches!(out, Outcome::CannotCheck { missing_tool: Some(t), .. } if t == "fake-ctr")
        );
        assert!(rt.imports.borrow().is_empty());
    }

    #[test]
    fn a_failed_import_is_an_error_with_the_fix() {
        let rt = Rc::new(FakeRuntime::default());
        let a = archive();
        let err = ensure(Some(&rt), PACKAGED, PACKAGED, a.path(), false).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("cannot import") && msg.contains("Fix:") && msg.contains("disk full"),
            "{msg}"
        );
    }

    #[test]
    fn an_archive_of_another_image_is_an_error() {
        let rt = Rc::new(FakeRuntime {
            import_adds: Some("ghcr.io/kubealived/kubealived:0.0.9".into()),
            ..Default::default()
        });
        let err = ensure(Some(&rt), PACKAGED, PACKAGED, archive().path(), false).unwrap_err();
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
