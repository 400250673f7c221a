//! Where the agent asks whether the apiserver is ready: what kubelet asks.
//! kubeadm writes kube-apiserver.yaml with probes on the node's advertise
//! address; a hardened apiserver (`--bind-address` set to that address)
//! refuses 127.0.0.1, so probing loopback would leave every master
//! "not ready" for good, and an apiserver's death would never move the VIP.
//! The agent reads the readiness probe's host, port and scheme from that
//! manifest when it exists (kubelet's own view), and 127.0.0.1 and
//! `--apiserver-port` before `kubeadm init` has written it.
//!
//! The same manifest says whether the apiserver can serve the VIP at all:
//! one bound to the node's address (`--bind-address=192.0.2.11`) refuses
//! connections to any other local address, the VIP among them, though it
//! answers its probes. Such a node counts as not ready ([`vip_refused`]).

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

/// kube-apiserver's `--bind-address` in the manifest `text` (the last one
/// given, as its flag parser takes it); None when there is none, or it is
/// not an address (then kube-apiserver does not start at all).
pub fn bind_address(text: &str) -> Option<IpAddr> {
    let pod: Pod = serde_yaml_ng::from_str(text).ok()?;
    let container = pod.spec?.containers.into_iter().next()?;
    let words: Vec<String> = [container.command, container.args]
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    let mut found = None;
    for (i, word) in words.iter().enumerate() {
        if let Some(value) = word.strip_prefix("--bind-address=") {
            found = Some(value);
        } else if word == "--bind-address" {
            found = words.get(i + 1).map(String::as_str);
        }
    }
    found?.parse().ok()
}

/// The VIPs a kube-apiserver bound to `bind` refuses connections to: every
/// one but `bind` itself; none when `bind` is unspecified (the default,
/// every address).
pub fn refused_vips(bind: IpAddr, vips: &[IpAddr]) -> Vec<IpAddr> {
    if bind.is_unspecified() {
        return Vec::new();
    }
    vips.iter().copied().filter(|vip| *vip != bind).collect()
}

/// `the VIP 192.0.2.10`, `the VIPs 192.0.2.10 and 2001:db8::10`.
pub fn the_vips(vips: &[IpAddr]) -> String {
    let list: Vec<String> = vips.iter().map(IpAddr::to_string).collect();
    let the = if list.len() == 1 {
        "the VIP"
    } else {
        "the VIPs"
    };
    format!("{the} {}", list.join(" and "))
}

/// Why a kube-apiserver bound to `bind` cannot serve `vips` on this node;
/// None when it serves them.
pub fn vip_refused(bind: IpAddr, vips: &[IpAddr]) -> Option<String> {
    let refused = refused_vips(bind, vips);
    (!refused.is_empty()).then(|| {
        format!(
            "kube-apiserver binds {bind} only, so connections to {} are refused on this node",
            the_vips(&refused)
        )
    })
}

/// The fix for [`vip_refused`], `manifest` being kube-apiserver.yaml.
pub fn bind_fix(manifest: &str) -> String {
    format!(
        "remove --bind-address from {manifest} (kubeadm: drop it from apiServer.extraArgs, or \
         `kubeadm upgrade` writes it again), or set it to 0.0.0.0"
    )
}

/// The current target: the manifest, re-read when it changes (looked at
/// once a second at most), else the fallback; and its `--bind-address`.
pub struct Discovery {
    manifest: PathBuf,
    fallback: Target,
    current: Target,
    bind: Option<IpAddr>,
    seen: Option<SystemTime>,
    looked: Option<Instant>,
}

impl Discovery {
    pub fn new(manifest: PathBuf, fallback: Target) -> Discovery {
        Discovery {
            manifest,
            current: fallback.clone(),
            fallback,
            bind: None,
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
        let text = std::fs::read_to_string(&self.manifest).ok();
        let found = text.as_deref().and_then(from_apiserver_manifest);
        // A file caught half-written is read again next time.
        if found.is_some() || modified.is_none() {
            self.seen = modified;
            self.bind = text.as_deref().and_then(bind_address);
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

    /// The manifest's `--bind-address`, as of the last [`Discovery::current`].
    pub fn bind_address(&self) -> Option<IpAddr> {
        self.bind
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

    /// KUBEADM with `flag` added to kube-apiserver's command line.
    fn with_flag(flag: &str) -> String {
        KUBEADM.replace(
            "    livenessProbe:",
            &format!("    command: [kube-apiserver, --advertise-address=192.0.2.11, {flag}]\n    livenessProbe:"),
        )
    }

    #[test]
    fn the_bind_address_is_read_from_the_command_line() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(bind_address(KUBEADM), None);
        assert_eq!(bind_address(&with_flag("--secure-port=6443")), None);
        assert_eq!(
            bind_address(&with_flag("--bind-address=192.0.2.11")),
            Some(ip("192.0.2.11"))
        );
        assert_eq!(
            bind_address(&with_flag("--bind-address, '2001:db8::11'")),
            Some(ip("2001:db8::11"))
        );
        // The last one wins, as in kube-apiserver's flag parser.
        assert_eq!(
            bind_address(&with_flag(
                "--bind-address=192.0.2.11, --bind-address=0.0.0.0"
            )),
            Some(ip("0.0.0.0"))
        );
        // In args as well as command.
        let args = KUBEADM.replace(
            "    livenessProbe:",
            "    command: [kube-apiserver]\n    args: [--bind-address=192.0.2.11]\n    livenessProbe:",
        );
        assert_eq!(bind_address(&args), Some(ip("192.0.2.11")));
        assert_eq!(bind_address(&with_flag("--bind-address=node1")), None);
        assert_eq!(bind_address("not: [a pod"), None);
    }

    #[test]
    fn only_an_unspecified_bind_address_or_the_vip_serves_the_vip() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let v4 = [ip("192.0.2.10")];
        let dual = [ip("192.0.2.10"), ip("2001:db8::10")];
        for bind in ["0.0.0.0", "::"] {
            assert_eq!(vip_refused(ip(bind), &dual), None, "{bind}");
        }
        assert_eq!(vip_refused(ip("192.0.2.10"), &v4), None);
        assert_eq!(
            vip_refused(ip("192.0.2.11"), &v4).unwrap(),
            "kube-apiserver binds 192.0.2.11 only, so connections to the VIP 192.0.2.10 \
             are refused on this node"
        );
        assert!(vip_refused(ip("192.0.2.11"), &dual)
            .unwrap()
            .ends_with("the VIPs 192.0.2.10 and 2001:db8::10 are refused on this node"));
        // Bound to one VIP, it refuses the other.
        assert!(vip_refused(ip("192.0.2.10"), &dual)
            .unwrap()
            .contains("the VIP 2001:db8::10 are refused"));
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
        assert_eq!(d.bind_address(), None);
        // A --bind-address added: the target is the same, the bind is new.
        std::fs::write(&path, with_flag("--bind-address=192.0.2.11")).unwrap();
        d.seen = None;
        d.looked = None;
        assert_eq!(d.current().1, None);
        assert_eq!(d.bind_address(), Some(IpAddr::from([192, 0, 2, 11])));
        std::fs::remove_file(&path).unwrap();
        d.looked = None;
        assert_eq!(d.current().0, &Target::loopback(6443));
        assert_eq!(d.bind_address(), None);
    }
}
