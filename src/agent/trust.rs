//! What the apiserver's certificate is verified against: kubeadm's cluster
//! CA (`--apiserver-ca`), followed as it appears. Without the check,
//! anything listening where the agent asks /readyz (any local user while
//! the apiserver restarts; anyone, when the apiserver binds the node's
//! address) could keep this node at ready priority.
//!
//! The name verified is the host the agent connects to: the advertise
//! address from kube-apiserver.yaml's probe ([`super::target`]). kubeadm's
//! serving certificate always carries it as an IP SAN, and kubeadm's own
//! clients (the controller-manager's and scheduler's kubeconfigs) connect
//! to that same address. 127.0.0.1 (the fallback before that manifest
//! exists) is not in it, so a check of loopback with a CA present fails,
//! and says why.
//!
//! Before `kubeadm init` writes the CA there is nothing to verify against:
//! a missing or empty file means "not verified yet" (the pod's FileOrCreate
//! mount creates an empty one if kubelet ever ran the pod first). The file
//! is looked at before each check (its size and mtime: one stat) and read
//! again when they change.

use crate::apiserver;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use ureq::tls::Certificate;

/// How the apiserver's certificate is checked now.
#[derive(Clone)]
pub enum Trust {
    /// No CA yet (missing or empty): not verified.
    NoCa,
    /// Must chain to these and name the host asked.
    Ca(Vec<Certificate<'static>>),
    /// The file is there but cannot be used (why): every check fails
    /// rather than verify nothing.
    Unusable(String),
}

impl Trust {
    fn read(path: &Path) -> Trust {
        match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Trust::NoCa,
            Err(e) => Trust::Unusable(format!("cannot read {}: {e}", path.display())),
            Ok(pem) if pem.iter().all(u8::is_ascii_whitespace) => Trust::NoCa,
            Ok(pem) => match apiserver::parse_ca(&pem) {
                Ok(certs) => Trust::Ca(certs),
                Err(e) => Trust::Unusable(format!("{}: {e:#}", path.display())),
            },
        }
    }

    /// Whether two are the same for a client: same kind, same certificates.
    fn same(&self, other: &Trust) -> bool {
        match (self, other) {
            (Trust::NoCa, Trust::NoCa) => true,
            (Trust::Ca(a), Trust::Ca(b)) => a.iter().map(|c| c.der()).eq(b.iter().map(|c| c.der())),
            (Trust::Unusable(a), Trust::Unusable(b)) => a == b,
            _ => false,
        }
    }
}

/// The CA file, followed.
pub struct ClusterCa {
    path: PathBuf,
    /// Size and mtime of the file last read (None: not there).
    seen: Option<(u64, Option<SystemTime>)>,
    now: Trust,
}

impl ClusterCa {
    pub fn new(path: PathBuf) -> ClusterCa {
        ClusterCa {
            path,
            seen: None,
            now: Trust::NoCa,
        }
    }

    pub fn trust(&self) -> &Trust {
        &self.now
    }

    /// Looks at the file; Some(the trust now) when it changed.
    pub fn poll(&mut self) -> Option<&Trust> {
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.len(), m.modified().ok()));
        if stamp == self.seen {
            return None;
        }
        let trust = Trust::read(&self.path);
        // One caught half-written is read again at the next check.
        if !matches!(trust, Trust::Unusable(_)) {
            self.seen = stamp;
        }
        if trust.same(&self.now) {
            return None;
        }
        self.now = trust;
        Some(&self.now)
    }

    /// For the log and `status`.
    pub fn describe(&self) -> String {
        let path = self.path.display();
        match &self.now {
            Trust::NoCa => format!("not verified: no cluster CA yet at {path}"),
            Trust::Ca(_) => format!("verified against the cluster CA at {path}"),
            Trust::Unusable(why) => {
                format!("the cluster CA cannot be used ({why}): every check fails until it can")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate's PEM shape (the DER inside is not looked at here).
    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n";

    #[test]
    fn missing_or_empty_is_no_ca_and_a_change_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.crt");
        let mut ca = ClusterCa::new(path.clone());
        assert!(ca.poll().is_none(), "missing: still no CA");
        assert!(ca
            .describe()
            .starts_with("not verified: no cluster CA yet at "));
        std::fs::write(&path, "").unwrap();
        assert!(ca.poll().is_none(), "empty (FileOrCreate): still no CA");
        std::fs::write(&path, PEM).unwrap();
        assert!(matches!(ca.poll(), Some(Trust::Ca(c)) if c.len() == 1));
        assert!(ca
            .describe()
            .starts_with("verified against the cluster CA at "));
        assert!(ca.poll().is_none(), "unchanged: not read again");
        // Half-written: unusable, and read again until it is whole.
        std::fs::write(&path, &PEM[..40]).unwrap();
        assert!(matches!(ca.poll(), Some(Trust::Unusable(_))));
        assert!(
            ca.describe().contains("every check fails"),
            "{}",
            ca.describe()
        );
        assert!(ca.seen.is_none_or(|(len, _)| len != 40));
        std::fs::write(&path, "not a certificate\n").unwrap();
        assert!(
            matches!(ca.poll(), Some(Trust::Unusable(why)) if why.contains("no PEM certificate"))
        );
        std::fs::write(&path, PEM).unwrap();
        assert!(matches!(ca.poll(), Some(Trust::Ca(_))));
    }
}
