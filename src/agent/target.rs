//! Where the agent asks whether the apiserver is ready: what kubelet asks.
//! kubeadm writes kube-apiserver.yaml with probes on the node's advertise
//! address; a hardened apiserver (`--bind-address` set to that address)
//! refuses 127.0.0.1, so probing loopback would leave every master
//! "not ready" for good, and an apiserver's death would never move the VIP.
//! The agent reads the readiness probe's host, port and scheme from that
//! manifest when it exists (kubelet's own view), and 127.0.0.1 and
//! `--apiserver-port` before `kubeadm init` has written it.

use k8s_openapi::api::core::v1::{HTTPGetAction, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// scheme://host:port, without a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: IpAddr,
    pub port: u16,
}

impl Target {
    pub fn loopback(port: u16) -> Target {
        Target {
            https: true,
            host: Ipv4Addr::LOCALHOST.into(),
            port,
        }
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        match self.host {
            IpAddr::V4(ip) => format!("{scheme}://{ip}:{}{path}", self.port),
            IpAddr::V6(ip) => format!("{scheme}://[{ip}]:{}{path}", self.port),
        }
    }
}

/// The target of kube-apiserver.yaml's readiness probe (else its liveness
/// or startup probe), as kubeadm writes it: an HTTP GET with an address
/// for host. None when the file says nothing usable (no probe, a DNS
/// name, a named port it does not declare).
pub fn from_apiserver_manifest(text: &str) -> Option<Target> {
    let pod: Pod = serde_yaml_ng::from_str(text).ok()?;
    let container = pod.spec?.containers.into_iter().next()?;
    let get: HTTPGetAction = [
        &container.readiness_probe,
        &container.liveness_probe,
        &container.startup_probe,
    ]
    .into_iter()
    .flatten()
    .find_map(|p| p.http_get.clone())?;
    let port = match &get.port {
        IntOrString::Int(p) => u16::try_from(*p).ok()?,
        IntOrString::String(name) => container
            .ports?
            .iter()
            .find(|p| p.name.as_deref() == Some(name))
            .and_then(|p| u16::try_from(p.container_port).ok())?,
    };
    Some(Target {
        https: !get
            .scheme
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("HTTP")),
        host: get.host.as_deref().unwrap_or("127.0.0.1").parse().ok()?,
        port,
    })
}

/// The current target: the manifest, re-read when it changes (looked at
/// once a second at most), else the fallback.
pub struct Discovery {
    manifest: PathBuf,
    fallback: Target,
    current: Target,
    seen: Option<SystemTime>,
    looked: Option<Instant>,
}

impl Discovery {
    pub fn new(manifest: PathBuf, fallback: Target) -> Discovery {
        Discovery {
            manifest,
            current: fallback.clone(),
            fallback,
            seen: None,
            looked: None,
        }
    }

    /// The target now, and whether it just changed (with where it is from).
    pub fn current(&mut self) -> (&Target, Option<String>) {
        if self
            .looked
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return (&self.current, None);
        }
        self.looked = Some(Instant::now());
        let modified = std::fs::metadata(&self.manifest)
            .and_then(|m| m.modified())
            .ok();
        if modified == self.seen {
            return (&self.current, None);
        }
        let found = std::fs::read_to_string(&self.manifest)
            .ok()
            .and_then(|text| from_apiserver_manifest(&text));
        // A file caught half-written is read again next time.
        if found.is_some() || modified.is_none() {
            self.seen = modified;
        }
        let (target, from) = match found {
            Some(t) => (t, format!("the probes of {}", self.manifest.display())),
            None => (
                self.fallback.clone(),
                "no usable kube-apiserver manifest yet".into(),
            ),
        };
        if target == self.current {
            return (&self.current, None);
        }
        self.current = target;
        (&self.current, Some(from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What kubeadm 1.35 writes, trimmed to the probes.
    const KUBEADM: &str = "
apiVersion: v1
kind: Pod
metadata: {name: kube-apiserver, namespace: kube-system}
spec:
  containers:
  - name: kube-apiserver
    image: registry.k8s.io/kube-apiserver:v1.35.4
    livenessProbe:
      httpGet: {host: 192.0.2.11, path: /livez, port: 6443, scheme: HTTPS}
    readinessProbe:
      httpGet: {host: 192.0.2.11, path: /readyz, port: 6443, scheme: HTTPS}
";

    #[test]
    fn kubeadm_s_probe_is_the_target() {
        let t = from_apiserver_manifest(KUBEADM).unwrap();
        assert_eq!(t.url("/readyz"), "https://192.0.2.11:6443/readyz");
        let v6 = KUBEADM.replace("192.0.2.11", "'2001:db8::11'");
        assert_eq!(
            from_apiserver_manifest(&v6).unwrap().url("/readyz"),
            "https://[2001:db8::11]:6443/readyz"
        );
        let named = KUBEADM.replace("port: 6443,", "port: probe-port,").replace(
            "    livenessProbe:",
            "    ports: [{name: probe-port, containerPort: 8443}]\n    livenessProbe:",
        );
        assert_eq!(from_apiserver_manifest(&named).unwrap().port, 8443);
        let no_host = KUBEADM.replace("host: 192.0.2.11, ", "");
        assert_eq!(
            from_apiserver_manifest(&no_host).unwrap(),
            Target::loopback(6443)
        );
        assert_eq!(from_apiserver_manifest("not: [a pod"), None);
        assert_eq!(
            from_apiserver_manifest(&KUBEADM.replace("192.0.2.11", "api.example.internal")),
            None
        );
    }

    #[test]
    fn discovery_follows_the_manifest_and_falls_back_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kube-apiserver.yaml");
        let mut d = Discovery::new(path.clone(), Target::loopback(6443));
        assert_eq!(d.current(), (&Target::loopback(6443), None));
        std::fs::write(&path, KUBEADM).unwrap();
        d.looked = None;
        let (t, changed) = d.current();
        assert_eq!(t.url("/readyz"), "https://192.0.2.11:6443/readyz");
        assert!(changed.unwrap().contains("kube-apiserver.yaml"));
        d.looked = None;
        assert_eq!(d.current().1, None, "unchanged: nothing to say");
        std::fs::remove_file(&path).unwrap();
        d.looked = None;
        assert_eq!(d.current().0, &Target::loopback(6443));
    }
}
