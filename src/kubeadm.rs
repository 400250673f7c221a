//! `--kubeadm-config`: take the VIP and port from `controlPlaneEndpoint`
//! of the ClusterConfiguration in a kubeadm config file, so the VIP is
//! written down once.

use crate::error::usage;
use anyhow::Result;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

const SUPPORTED: [&str; 2] = ["kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"];

pub fn control_plane_endpoint(text: &str, path: &Path) -> Result<(IpAddr, Option<u16>)> {
    let file = path.display();
    let mut found = None;
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = serde_yaml_ng::Value::deserialize(document)
            .map_err(|e| usage!("{file} is not valid YAML: {e}.\nFix: check the file with `kubeadm config validate --config {file}`."))?;
        let field = |k: &str| value.get(k).and_then(|v| v.as_str());
        if field("kind") != Some("ClusterConfiguration") {
            continue;
        }
        let api = field("apiVersion").unwrap_or("");
        if !SUPPORTED.contains(&api) {
            return Err(usage!(
                "{file}: ClusterConfiguration has apiVersion {api:?}, which kubealived does not read.\n\
                 Fix: use {} (`kubeadm config migrate` converts older files).",
                SUPPORTED.join(" or ")
            ));
        }
        found = Some(field("controlPlaneEndpoint").map(str::to_string));
    }
    match found {
        None => Err(usage!(
            "{file} has no ClusterConfiguration document.\nFix: add one with controlPlaneEndpoint: \"VIP:6443\", or pass --vip."
        )),
        Some(None) => Err(usage!(
            "{file}: ClusterConfiguration has no controlPlaneEndpoint.\nFix: set controlPlaneEndpoint: \"VIP:6443\" there, or pass --vip."
        )),
        Some(Some(endpoint)) => parse_endpoint(&endpoint).map_err(|()| {
            usage!(
                "controlPlaneEndpoint {endpoint:?} in {file} is not an IP address (with an optional port).\n\
                 Fix: a VIP must be an IP: set controlPlaneEndpoint to e.g. 192.0.2.10:6443 or [2001:db8::10]:6443, \
                 or keep the DNS name there and pass the address it resolves to with --vip."
            )
        }),
    }
}

/// `192.0.2.10`, `192.0.2.10:6443`, `2001:db8::10`, `[2001:db8::10]:6443`.
fn parse_endpoint(endpoint: &str) -> Result<(IpAddr, Option<u16>), ()> {
    if let Ok(sock) = endpoint.parse::<SocketAddr>() {
        return Ok((sock.ip(), Some(sock.port())));
    }
    let bare = endpoint
        .strip_prefix('[')
        .and_then(|e| e.strip_suffix(']'))
        .unwrap_or(endpoint);
    bare.parse::<IpAddr>().map(|ip| (ip, None)).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use indoc::indoc;

    fn endpoint(text: &str) -> Result<(IpAddr, Option<u16>)> {
        control_plane_endpoint(text, Path::new("kubeadm.yaml"))
    }

    #[test]
    fn reads_v1beta4_multi_document_files() {
        let text = indoc! {r#"
            apiVersion: kubeadm.k8s.io/v1beta4
            kind: InitConfiguration
            nodeRegistration:
              name: m1
            ---
            apiVersion: kubeadm.k8s.io/v1beta4
            kind: ClusterConfiguration
            controlPlaneEndpoint: "[2001:db8::10]:6443"
        "#};
        assert_eq!(
            endpoint(text).unwrap(),
            ("2001:db8::10".parse().unwrap(), Some(6443))
        );
    }

    #[test]
    fn reads_v1beta3_without_port() {
        let text = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.10\n";
        assert_eq!(
            endpoint(text).unwrap(),
            ("192.0.2.10".parse().unwrap(), None)
        );
    }

    #[test]
    fn a_dns_name_is_a_clear_error() {
        let text = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: api.example:6443\n";
        let msg = endpoint(text).unwrap_err().to_string();
        assert!(
            msg.contains("api.example:6443") && msg.contains("must be an IP"),
            "{msg}"
        );
    }

    #[test]
    fn old_api_versions_and_missing_fields_are_errors() {
        assert!(
            endpoint("apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n").is_err()
        );
        assert!(
            endpoint("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n").is_err()
        );
        assert!(endpoint("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n").is_err());
    }
}
