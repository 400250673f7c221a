//! The node's container runtime: is the image the manifest names there, and
//! if not, put the archive the package carries into it, so kubelet never
//! pulls at bootstrap (air-gapped by default).
//!
//! [`Runtime`] is the door to the runtime; [`find`] picks the one whose
//! socket answers under the root (containerd first, then CRI-O), and
//! [`ensure`] is the decision install makes, testable with a fake.
//!
//! - containerd: `ctr -n k8s.io` (the namespace the CRI plugin, and so
//!   kubelet, uses). `ctr` ships with containerd in Debian's, Ubuntu's,
//!   Docker's and upstream's packages; shelling out to it keeps a gRPC stack
//!   (tonic, prost, tokio) out of a host tool that makes two calls.
//! - CRI-O: it keeps images in containers-storage, shared with podman and
//!   skopeo on the same host: `podman load`, else `skopeo copy`.

use crate::paths::{
    Root, CONTAINERD_NAMESPACE as K8S_NAMESPACE, CONTAINERD_SOCKET, CONTAINERS_RUN_STORAGE,
    CONTAINERS_STORAGE, CRIO_SOCKET,
};
use anyhow::{bail, Context, Result};
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
}

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
    },
    /// The runtime answers but cannot be asked (no ctr, no podman/skopeo).
    CannotCheck {
        runtime: String,
        why: String,
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
                why: format!("{e:#}"),
            })
        }
    }
    if !archive.is_file() {
        return Ok(Outcome::NoArchive {
            runtime: name,
            archive: archive.to_path_buf(),
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

impl Outcome {
    /// One line for install's output (`word path` like the file lines), and
    /// a warning when the image may be missing when kubelet needs it.
    pub fn report(&self, image: &str, root: &Root) -> (String, Option<String>) {
        match self {
            Outcome::NotPackaged => (
                format!("{:<9} {image}: not the packaged image, kubelet pulls it", "image"),
                None,
            ),
            Outcome::Present { runtime } => {
                (format!("{:<9} {image} in {runtime}", "present"), None)
            }
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
                    sockets(root)
                )),
            ),
            Outcome::NoArchive { runtime, archive } => (
                format!("{:<9} {image} from {runtime}", "missing"),
                Some(format!(
                    "{runtime} has no {image} and {} does not exist: kubelet will pull it from its registry. \
                     Fix: install the kubealived package (it carries the archive), or import the release's \
                     image archive by hand (ctr -n {K8S_NAMESPACE} images import FILE).",
                    archive.display()
                )),
            ),
            Outcome::CannotCheck { runtime, why } => (
                format!("{:<9} {image}: cannot ask {runtime}", "image"),
                Some(format!(
                    "cannot check whether {runtime} has {image} ({why}); kubelet will pull it if it is missing. \
                     Fix: install {}, then run `kubealived install` again; or import it by hand.",
                    if runtime == "CRI-O" { "podman or skopeo" } else { "ctr (it comes with containerd)" }
                )),
            ),
        }
    }
}

/// Run a runtime tool; its stderr becomes the error.
fn run(cmd: &mut Command) -> Result<String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// containerd through `ctr`, in the `k8s.io` namespace.
pub struct Containerd {
    pub socket: PathBuf,
}

impl Containerd {
    fn ctr(&self) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(&self.socket)
            .args(["--namespace", K8S_NAMESPACE]);
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
}

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
            .context("neither podman nor skopeo is installed")
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
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
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
            bail!("no ctr");
        }
        Ok(self.images.borrow().iter().any(|i| i == reference))
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
        assert!(out.report(PACKAGED, &Root::new("/")).1.is_none());
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
        let (_, warning) = none.report(PACKAGED, &Root::new("/"));
        assert!(warning.unwrap().contains("boot unit imports it"));

        let rt = Rc::new(FakeRuntime::default());
        let missing = Path::new("/nonexistent/kubealived-image.oci.tar");
        let out = ensure(Some(&rt), PACKAGED, PACKAGED, missing, false).unwrap();
        assert!(matches!(out, Outcome::NoArchive { .. }));
        assert!(out
            .report(PACKAGED, &Root::new("/"))
            .1
            .unwrap()
            .contains("Fix:"));

        let rt = Rc::new(FakeRuntime {
            cannot_ask: true,
            ..Default::default()
        });
        let out = ensure(Some(&rt), PACKAGED, PACKAGED, archive().path(), false).unwrap();
        assert!(matches!(out, Outcome::CannotCheck { .. }));
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
