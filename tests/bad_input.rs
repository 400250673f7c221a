//! The bad-input matrix: every input, many ways wrong. Each case must exit
//! 2 (1 for runtime I/O failures) with a message naming the problem and the
//! fix, and leave the installed tree byte-for-byte and mtime-for-mtime as it
//! was. Runs the real binary in a network namespace (detection is real).

mod common;
use common::*;
use std::fs;
use std::path::Path;

type Case = (
    &'static str,
    &'static [&'static str],
    i32,
    &'static [&'static str],
);

/// (what, install arguments, exit code, text the message must contain;
/// `!text`: must not contain). `{f}` stands for the fixtures directory.
/// Cases with no --vip start from the saved settings (192.0.2.10), so they
/// test one value alone.
const CASES: &[Case] = &[
    // --vip
    (
        "vip: out of range",
        &["--vip", "300.1.2.3"],
        2,
        &["300.1.2.3", "not an IP"],
    ),
    (
        "vip: truncated",
        &["--vip", "192.0.2"],
        2,
        &["192.0.2", "not an IP"],
    ),
    (
        "vip: with prefix",
        &["--vip", "192.0.2.10/24"],
        2,
        &["192.0.2.10/24", "without prefix"],
    ),
    (
        "vip: with port",
        &["--vip", "192.0.2.10:6443"],
        2,
        &["192.0.2.10:6443"],
    ),
    ("vip: empty", &["--vip", ""], 2, &["not an IP"]),
    (
        "vip: newline",
        &["--vip", "192.0.2.10\nvrrp_script x"],
        2,
        &["not an IP"],
    ),
    (
        "vip: leading space",
        &["--vip", " 192.0.2.10"],
        2,
        &["not an IP"],
    ),
    (
        "vip: unspecified",
        &["--vip", "0.0.0.0"],
        2,
        &["0.0.0.0", "unspecified"],
    ),
    (
        "vip: loopback",
        &["--vip", "127.0.0.1"],
        2,
        &["127.0.0.1", "loopback"],
    ),
    (
        "vip: multicast",
        &["--vip", "224.0.0.18"],
        2,
        &["224.0.0.18", "multicast"],
    ),
    (
        "vip: limited broadcast",
        &["--vip", "255.255.255.255"],
        2,
        &["255.255.255.255", "broadcast"],
    ),
    (
        "vip: v4 link-local",
        &["--vip", "169.254.1.1"],
        2,
        &["169.254.1.1", "link-local"],
    ),
    (
        "vip: v6 link-local",
        &["--vip", "fe80::1"],
        2,
        &["fe80::1", "link-local"],
    ),
    (
        "vip: v6 loopback",
        &["--vip", "::1"],
        2,
        &["::1", "loopback"],
    ),
    ("vip: v6 unspecified", &["--vip", "::"], 2, &["unspecified"]),
    (
        "vip: v6 multicast",
        &["--vip", "ff02::12"],
        2,
        &["ff02::12", "multicast"],
    ),
    (
        "vip: v4-mapped v6",
        &["--vip", "::ffff:192.0.2.10"],
        2,
        &["IPv4-mapped"],
    ),
    (
        "vip: node's own address",
        &["--vip", "192.0.2.11"],
        2,
        &["192.0.2.11", "own address"],
    ),
    (
        "vip: network address",
        &["--vip", "192.0.2.0"],
        2,
        &["192.0.2.0", "network address"],
    ),
    (
        "vip: broadcast address",
        &["--vip", "192.0.2.255"],
        2,
        &["192.0.2.255", "broadcast address"],
    ),
    (
        "vip: no interface's subnet",
        &["--vip", "198.51.100.10"],
        2,
        &["198.51.100.10", "eth0", "192.0.2.11/24", "--interface"],
    ),
    (
        "vip: two IPv4",
        &["--vip", "192.0.2.10", "--vip", "192.0.2.20"],
        2,
        &["same family"],
    ),
    (
        "vip: duplicate",
        &["--vip", "192.0.2.10", "--vip", "192.0.2.10"],
        2,
        &["twice"],
    ),
    (
        "vip: three",
        &[
            "--vip",
            "192.0.2.10",
            "--vip",
            "2001:db8::10",
            "--vip",
            "192.0.2.20",
        ],
        2,
        &["3 VIPs"],
    ),
    // --interface
    (
        "interface: space",
        &["--interface", "eth 0"],
        2,
        &["eth 0", "interface name"],
    ),
    (
        "interface: slash",
        &["--interface", "eth/0"],
        2,
        &["eth/0", "interface name"],
    ),
    (
        "interface: newline",
        &["--interface", "eth0\nvrrp_script"],
        2,
        &["interface name"],
    ),
    (
        "interface: brace",
        &["--interface", "eth0}"],
        2,
        &["eth0}", "interface name"],
    ),
    (
        "interface: quote",
        &["--interface", "eth0\""],
        2,
        &["interface name"],
    ),
    (
        "interface: 16 characters",
        &["--interface", "abcdefghijklmnop"],
        2,
        &["abcdefghijklmnop", "1-15"],
    ),
    (
        "interface: empty",
        &["--interface", ""],
        2,
        &["interface name"],
    ),
    (
        "interface: dot-dot",
        &["--interface", ".."],
        2,
        &["interface name"],
    ),
    (
        "interface: nonexistent",
        &["--interface", "eth9"],
        2,
        &["eth9", "eth0", "--interface"],
    ),
    (
        "interface: an address label",
        &["--interface", "eth0:vip"],
        2,
        &["\"eth0:vip\" is an address label", "--interface eth0 ("],
    ),
    // --vrrp-filter
    (
        "vrrp-filter: without unicast peers",
        &["--vrrp-filter"],
        2,
        &[
            "--vrrp-filter accepts VRRP only from the unicast peers",
            "--peer IP",
        ],
    ),
    (
        "vrrp-filter: not a boolean",
        &["--vrrp-filter=yes"],
        2,
        &["yes"],
    ),
    // --peer
    (
        "peer: not an IP",
        &["--peer", "192.0.2.300"],
        2,
        &["192.0.2.300", "not an IP"],
    ),
    (
        "peer: other family",
        &["--peer", "2001:db8::12"],
        2,
        &["2001:db8::12", "family"],
    ),
    (
        "peer: the VIP",
        &["--peer", "192.0.2.10"],
        2,
        &["192.0.2.10", "is the VIP"],
    ),
    (
        "peer: only this node",
        &["--peer", "192.0.2.11"],
        2,
        &["own", "all masters"],
    ),
    (
        "peer: multicast",
        &["--peer", "224.0.0.1"],
        2,
        &["224.0.0.1", "multicast"],
    ),
    (
        "peer: this node's address on another interface than the VIP's",
        &[
            "--peer",
            "198.51.100.221",
            "--peer",
            "198.51.100.222",
            "--peer",
            "198.51.100.223",
        ],
        2,
        &["198.51.100.221", "eth1", "eth0", "192.0.2.11"],
    ),
    (
        "peer: this node not listed",
        &["--peer", "192.0.2.12", "--peer", "192.0.2.13"],
        2,
        &["none of the --peer", "--peer 192.0.2.11"],
    ),
    (
        "peer: two of this node's addresses",
        &[
            "--peer",
            "192.0.2.11",
            "--peer",
            "192.0.2.99",
            "--peer",
            "192.0.2.12",
        ],
        2,
        &["192.0.2.11 (eth0)", "192.0.2.99 (eth0)"],
    ),
    // --priority, --router-id, --apiserver-port, --advert-interval, --vrrp-version
    (
        "priority: 0",
        &["--priority", "0"],
        2,
        &["--priority 0", "51-254"],
    ),
    (
        "priority: 50 (weight would reach 0)",
        &["--priority", "50"],
        2,
        &["--priority 50", "51-254"],
    ),
    (
        "priority: 255 (address owner)",
        &["--priority", "255"],
        2,
        &["--priority 255"],
    ),
    (
        "priority: not a number",
        &["--priority", "high"],
        2,
        &["high", "--priority"],
    ),
    (
        "router-id: 0",
        &["--router-id", "0"],
        2,
        &["--router-id 0", "1-255"],
    ),
    (
        "router-id: 256",
        &["--router-id", "256"],
        2,
        &["--router-id 256", "1-255"],
    ),
    (
        "router-id: negative",
        &["--router-id=-1"],
        2,
        &["--router-id -1", "1-255"],
    ),
    (
        "apiserver-port: 0",
        &["--apiserver-port", "0"],
        2,
        &["--apiserver-port 0", "1-65535"],
    ),
    (
        "apiserver-port: 65536",
        &["--apiserver-port", "65536"],
        2,
        &["--apiserver-port 65536", "1-65535"],
    ),
    (
        "agent-listen: a port alone",
        &["--agent-listen", "10290"],
        2,
        &["--agent-listen \"10290\"", "this node's own address"],
    ),
    (
        "agent-listen: port 0",
        &["--agent-listen", "127.0.0.1:0"],
        2,
        &["--agent-listen \"127.0.0.1:0\"", "Fix:"],
    ),
    (
        "agent-listen: kube-apiserver's port",
        &["--agent-listen", "0.0.0.0:6443"],
        2,
        &[
            "--agent-listen 0.0.0.0:6443",
            "kube-apiserver's port",
            "Fix:",
            ":10290",
        ],
    ),
    (
        "agent-listen: the --apiserver-port given",
        &[
            "--apiserver-port",
            "8443",
            "--agent-listen",
            "127.0.0.1:8443",
        ],
        2,
        &[
            "--agent-listen 127.0.0.1:8443",
            "kube-apiserver's port",
            ":10290",
        ],
    ),
    (
        "agent-listen: kubelet's port",
        &["--agent-listen", "0.0.0.0:10250"],
        2,
        &[
            "--agent-listen 0.0.0.0:10250",
            "kubelet's API port",
            ":10290",
        ],
    ),
    (
        "agent-listen: kubelet's health port",
        &["--agent-listen", "127.0.0.1:10248"],
        2,
        &["10248", "kubelet's health port"],
    ),
    (
        "agent-listen: etcd's port",
        &["--agent-listen", "[::1]:2379"],
        2,
        &["[::1]:2379", "etcd's client port"],
    ),
    (
        "apiserver-port: the agent's port",
        &["--apiserver-port", "10290"],
        2,
        &["--apiserver-port 10290", "check itself", "--agent-listen"],
    ),
    (
        "apiserver-port: kubelet's port",
        &["--apiserver-port", "10250"],
        2,
        &["--apiserver-port 10250", "kubelet's API port", "6443"],
    ),
    (
        "advert-interval: 0",
        &["--advert-interval", "0"],
        2,
        &["--advert-interval 0", "0.01-40.95"],
    ),
    (
        "advert-interval: 41",
        &["--advert-interval", "41"],
        2,
        &["--advert-interval 41", "0.01-40.95"],
    ),
    (
        "advert-interval: finer than 10 ms",
        &["--advert-interval", "0.005"],
        2,
        &["0.005", "steps of 0.01"],
    ),
    (
        "advert-interval: NaN",
        &["--advert-interval", "NaN"],
        2,
        &["NaN"],
    ),
    (
        "advert-interval: fraction with v2",
        &["--advert-interval", "0.5", "--vrrp-version", "2"],
        2,
        &["0.5", "whole seconds"],
    ),
    (
        "vrrp-version: 4",
        &["--vrrp-version", "4"],
        2,
        &["--vrrp-version 4", "3 (default) or 2"],
    ),
    (
        "vrrp-version: v2 with an IPv6 VIP",
        &["--vip", "2001:db8::10", "--vrrp-version", "2"],
        2,
        &["2001:db8::10", "IPv4 only"],
    ),
    // --image
    (
        "image: space",
        &["--image", "registry.example/kube alived:1"],
        2,
        &["kube alived", "image reference"],
    ),
    (
        "image: newline",
        &["--image", "registry.example/k:1\n- x"],
        2,
        &["image reference"],
    ),
    (
        "image: upper case",
        &["--image", "Registry.example/KubeAlived:1"],
        2,
        &["KubeAlived", "image reference"],
    ),
    ("image: empty", &["--image", ""], 2, &["image reference"]),
    (
        "image: short digest",
        &["--image", "k@sha256:abc"],
        2,
        &["k@sha256:abc", "image reference"],
    ),
    // --password (VRRPv2 only), --password-file
    (
        "password: with VRRPv3",
        &["--password", "pw"],
        2,
        &["VRRPv3 has no authentication", "--vrrp-version 2"],
    ),
    (
        "password: empty",
        &["--vrrp-version", "2", "--password", ""],
        2,
        &["1-8"],
    ),
    (
        "password: 9 characters",
        &["--vrrp-version", "2", "--password", "123456789"],
        2,
        &["9 characters", "truncates"],
    ),
    (
        "password: quote",
        &["--vrrp-version", "2", "--password", "ab\"cd"],
        2,
        &["quote"],
    ),
    (
        "password: brace",
        &["--vrrp-version", "2", "--password", "ab}cd"],
        2,
        &["brace"],
    ),
    (
        "password: newline",
        &["--vrrp-version", "2", "--password", "ab\ncd"],
        2,
        &["printable ASCII"],
    ),
    (
        "password: space",
        &["--vrrp-version", "2", "--password", "ab cd"],
        2,
        &["space"],
    ),
    (
        "password: non-ASCII",
        &["--vrrp-version", "2", "--password", "pässw"],
        2,
        &["non-ASCII"],
    ),
    (
        "password: empty, the fix says how to have none",
        &["--vrrp-version", "2", "--password", ""],
        2,
        &["--unset password"],
    ),
    (
        "password-file: with VRRPv3, named as the file",
        &["--password-file", "{f}/password"],
        2,
        &[
            "--password-file {f}/password",
            "Fix: drop --password-file",
            "!--password ",
        ],
    ),
    (
        "password-file: missing",
        &["--vrrp-version", "2", "--password-file", "{f}/nope"],
        2,
        &["{f}/nope", "password file"],
    ),
    (
        "password-file: a directory",
        &["--vrrp-version", "2", "--password-file", "{f}"],
        2,
        &["password file"],
    ),
    (
        "password-file: too long",
        &[
            "--vrrp-version",
            "2",
            "--password-file",
            "{f}/long-password",
        ],
        2,
        &["characters", "1-8"],
    ),
    // --config
    (
        "config: unknown key",
        &["--config", "{f}/unknown-key.yaml"],
        2,
        &["unknown-key.yaml", "vip"],
    ),
    (
        "config: wrong type",
        &["--config", "{f}/wrong-type.yaml"],
        2,
        &["wrong-type.yaml", "priority"],
    ),
    (
        "config: vips not a list",
        &["--config", "{f}/vips-string.yaml"],
        2,
        &["vips-string.yaml"],
    ),
    (
        "config: not YAML",
        &["--config", "{f}/garbage.yaml"],
        2,
        &["garbage.yaml"],
    ),
    (
        "config: missing",
        &["--config", "{f}/missing.yaml"],
        2,
        &["missing.yaml", "config file"],
    ),
    (
        "config: bad value inside",
        &["--config", "{f}/bad-vip.yaml"],
        2,
        &["192.0.2.999"],
    ),
    (
        "config: a bad value is named by the file's key",
        &["--config", "{f}/bad-vip.yaml"],
        2,
        &["`vips: \"192.0.2.999\"` in {f}/bad-vip.yaml", "!--vip"],
    ),
    (
        "config: a password with VRRPv3 is the file's key to remove",
        &["--config", "{f}/password-v3.yaml"],
        2,
        &[
            "`password` in {f}/password-v3.yaml",
            "Fix: remove `password` from {f}/password-v3.yaml",
            "!--password",
        ],
    ),
    (
        "config: empty",
        &["--config", "{f}/empty.yaml"],
        2,
        &[
            "{f}/empty.yaml sets no VIP",
            "add `vips: [IP]` to",
            "!--config FILE",
        ],
    ),
    (
        "config: a wrong type's fix shows the type",
        &["--config", "{f}/wrong-type.yaml"],
        2,
        &[
            "`priority` has the wrong type",
            "`priority: 250`",
            "!use only the keys",
        ],
    ),
    (
        "config: a list, not a mapping",
        &["--config", "{f}/list.yaml"],
        2,
        &["{f}/list.yaml is not a mapping", "`key: value`"],
    ),
    // --unset
    (
        "unset: an unknown key",
        &["--unset", "vip-address"],
        2,
        &["vip-address", "routerId"],
    ),
    (
        "unset: the saved VIP leaves none",
        &["--unset", "vips"],
        2,
        &["saved settings", "have no VIP", "pass --vip IP"],
    ),
    // --kubeadm-config
    (
        // The saved VIP would do; without it the name alone names none.
        "kubeadm: DNS name, no --vip",
        &[
            "--kubeadm-config",
            "{f}/kubeadm-dns.yaml",
            "--unset",
            "vips",
        ],
        2,
        &[
            "k8s-api.example.internal:6443",
            "DNS name",
            "`--kubeadm-config {f}/kubeadm-dns.yaml --vip IP`",
        ],
    ),
    (
        "kubeadm: port out of range",
        &["--kubeadm-config", "{f}/kubeadm-port-99999.yaml"],
        2,
        &["port 99999 is out of range", "1-65535", "!not an IP"],
    ),
    (
        "kubeadm: port 0",
        &["--kubeadm-config", "{f}/kubeadm-port-0.yaml"],
        2,
        &[
            "controlPlaneEndpoint",
            "port 0 is out of range",
            "!--apiserver-port",
        ],
    ),
    (
        "kubeadm: two ClusterConfigurations",
        &["--kubeadm-config", "{f}/kubeadm-twice.yaml"],
        2,
        &["two ClusterConfiguration documents", "keep one"],
    ),
    (
        "kubeadm: join by file discovery names no endpoint",
        &["--kubeadm-config", "{f}/kubeadm-join-file.yaml"],
        2,
        &[
            "no discovery.bootstrapToken.apiServerEndpoint",
            "drop --kubeadm-config and pass --vip",
        ],
    ),
    (
        "kubeadm: join endpoint conflicting with --vip",
        &[
            "--kubeadm-config",
            "{f}/kubeadm-join.yaml",
            "--vip",
            "192.0.2.20",
        ],
        2,
        &[
            "192.0.2.20",
            "discovery.bootstrapToken.apiServerEndpoint",
            "conflicts",
        ],
    ),
    (
        "kubeadm: port conflicting with a --config file's",
        &[
            "--config",
            "{f}/port-8443.yaml",
            "--kubeadm-config",
            "{f}/kubeadm.yaml",
        ],
        2,
        &[
            "`apiserverPort: 8443` in {f}/port-8443.yaml",
            "remove `apiserverPort` from",
            "!--apiserver-port",
        ],
    ),
    (
        "kubeadm: conflicting --vip",
        &[
            "--kubeadm-config",
            "{f}/kubeadm.yaml",
            "--vip",
            "192.0.2.20",
        ],
        2,
        &["192.0.2.20", "conflicts"],
    ),
    (
        "kubeadm: conflicting port",
        &[
            "--kubeadm-config",
            "{f}/kubeadm.yaml",
            "--apiserver-port",
            "8443",
        ],
        2,
        &["8443", "conflicts"],
    ),
    (
        "kubeadm: no endpoint",
        &["--kubeadm-config", "{f}/kubeadm-noendpoint.yaml"],
        2,
        &["no controlPlaneEndpoint"],
    ),
    (
        "kubeadm: v1beta2",
        &["--kubeadm-config", "{f}/kubeadm-old.yaml"],
        2,
        &["v1beta2"],
    ),
    (
        "kubeadm: bind-address on the node's address (v1beta4 list)",
        &["--kubeadm-config", "{f}/kubeadm-bind.yaml"],
        2,
        &[
            "bind-address 192.0.2.11 in {f}/kubeadm-bind.yaml",
            "connections to the VIP 192.0.2.10 would be refused",
            "Fix: drop bind-address from apiServer.extraArgs",
        ],
    ),
    (
        "kubeadm: bind-address on the node's address (v1beta3 map)",
        &["--kubeadm-config", "{f}/kubeadm-bind-v1beta3.yaml"],
        2,
        &["bind-address 192.0.2.11", "would be refused", "0.0.0.0"],
    ),
    (
        "kubeadm: bind-address not an address",
        &["--kubeadm-config", "{f}/kubeadm-bind-name.yaml"],
        2,
        &["bind-address \"master1\"", "not an IP address"],
    ),
    (
        "kubeadm: endpoint port 443, bindPort 6443",
        &["--kubeadm-config", "{f}/kubeadm-port-443.yaml"],
        2,
        &[
            "names port 443, but kube-apiserver listens on 6443 (localAPIEndpoint.bindPort there)",
            "cannot map one port to another",
            "controlPlaneEndpoint: \"192.0.2.10:6443\"",
            "localAPIEndpoint.bindPort: 443",
            "!--apiserver-port",
        ],
    ),
    (
        "kubeadm: endpoint port 443, no bindPort (kubeadm's 6443)",
        &["--kubeadm-config", "{f}/kubeadm-port-443-default.yaml"],
        2,
        &[
            "listens on 6443 (kubeadm's default",
            "localAPIEndpoint.bindPort: 443 in an InitConfiguration",
        ],
    ),
    (
        "kubeadm: join endpoint port differs from its bindPort",
        &["--kubeadm-config", "{f}/kubeadm-join-port.yaml"],
        2,
        &[
            "apiServerEndpoint \"192.0.2.10:443\"",
            "controlPlane.localAPIEndpoint.bindPort there",
        ],
    ),
    (
        "kubeadm: bindPort not a port",
        &["--kubeadm-config", "{f}/kubeadm-bindport-99999.yaml"],
        2,
        &["localAPIEndpoint.bindPort 99999", "not a TCP port"],
    ),
    (
        "kubeadm: --apiserver-port conflicting with bindPort",
        &[
            "--kubeadm-config",
            "{f}/kubeadm-bindport-8443.yaml",
            "--apiserver-port",
            "6443",
        ],
        2,
        &[
            "--apiserver-port 6443 conflicts with localAPIEndpoint.bindPort 8443",
            "drop --apiserver-port",
        ],
    ),
    (
        "kubeadm: missing file",
        &["--kubeadm-config", "{f}/nope.yaml"],
        2,
        &["nope.yaml"],
    ),
    // the command line itself
    ("flags: unknown", &["--vips", "192.0.2.10"], 2, &["--vips"]),
    ("flags: missing value", &["--vip"], 2, &["--vip"]),
    (
        "flags: password and password-file",
        &["--password", "a", "--password-file", "{f}/long-password"],
        2,
        &["cannot be used with"],
    ),
];

fn fixtures(dir: &Path) {
    let files: &[(&str, &str)] = &[
        ("long-password", "123456789\n"),
        ("unknown-key.yaml", "vip: 192.0.2.10\n"),
        ("wrong-type.yaml", "vips: [192.0.2.10]\npriority: high\n"),
        ("vips-string.yaml", "vips: 192.0.2.10\n"),
        ("garbage.yaml", "{{{ not yaml\n"),
        ("bad-vip.yaml", "vips: [192.0.2.999]\n"),
        ("kubeadm-dns.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: k8s-api.example.internal:6443\n"),
        ("kubeadm-port-99999.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.10:99999\n"),
        ("kubeadm-port-0.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.10:0\n"),
        ("kubeadm-twice.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.10:6443\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.20:6443\n"),
        ("kubeadm-join-file.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  file:\n    kubeConfigPath: cluster-info.yaml\n"),
        ("kubeadm-join.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: 192.0.2.10:6443\n    token: abcdef.0123456789abcdef\n    unsafeSkipCAVerification: true\n"),
        ("password", "abc123\n"),
        ("password-v3.yaml", "vips: [192.0.2.10]\npassword: abc123\n"),
        ("empty.yaml", ""),
        ("list.yaml", "- vips: [192.0.2.10]\n"),
        ("port-8443.yaml", "vips: [192.0.2.10]\napiserverPort: 8443\n"),
        ("kubeadm.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.10:6443\n"),
        ("kubeadm-noendpoint.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"),
        ("kubeadm-bind.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.10:6443\napiServer:\n  extraArgs:\n  - name: bind-address\n    value: 192.0.2.11\n"),
        ("kubeadm-bind-v1beta3.yaml", "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.10:6443\napiServer:\n  extraArgs:\n    bind-address: 192.0.2.11\n"),
        ("kubeadm-bind-name.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.10:6443\napiServer:\n  extraArgs:\n  - name: bind-address\n    value: master1\n"),
        ("kubeadm-port-443.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.10:443\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  bindPort: 6443\n"),
        ("kubeadm-port-443-default.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.10:443\n"),
        ("kubeadm-join-port.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: 192.0.2.10:443\n    token: abcdef.0123456789abcdef\n    unsafeSkipCAVerification: true\ncontrolPlane:\n  localAPIEndpoint:\n    bindPort: 6443\n"),
        ("kubeadm-bindport-99999.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.10\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  bindPort: 99999\n"),
        ("kubeadm-bindport-8443.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.10\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  bindPort: 8443\n"),
        ("kubeadm-old.yaml", "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: 192.0.2.10:6443\n"),
    ];
    for (name, content) in files {
        fs::write(dir.join(name), content).unwrap();
    }
}

#[test]
fn every_bad_input_exits_2_explains_and_changes_nothing() {
    if !prerequisites("bad-input matrix", true, &["ip"]) {
        return;
    }
    assert!(CASES.len() >= 60, "the matrix has {} cases", CASES.len());
    let ns = Netns::new();
    ns.veth(
        "eth0",
        &["192.0.2.11/24", "192.0.2.99/24", "2001:db8::11/64"],
    );
    ns.veth("eth1", &["198.51.100.221/25"]);
    let fx = tempfile::tempdir().unwrap();
    fixtures(fx.path());
    let f = fx.path().to_str().unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let out = ns.kubealived(&["install", "--root", r, "--vip", "192.0.2.10"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = snapshot(root.path());

    let mut failures = Vec::new();
    for (what, args, code, needles) in CASES {
        let args: Vec<String> = args.iter().map(|a| a.replace("{f}", f)).collect();
        let mut full = vec!["install".to_string(), "--root".into(), r.into()];
        full.extend(args.iter().cloned());
        let out = run(ns.exec(BIN).args(&full));
        let err = text(&out.stderr);
        let mut problems = Vec::new();
        if out.status.code() != Some(*code) {
            problems.push(format!("exit {:?}, want {code}", out.status.code()));
        }
        for needle in needles.iter().map(|n| n.replace("{f}", f)) {
            match needle.strip_prefix('!') {
                Some(absent) if err.contains(absent) => {
                    problems.push(format!("message has {absent:?}"))
                }
                Some(_) => {}
                None if !err.contains(&needle) => {
                    problems.push(format!("message lacks {needle:?}"))
                }
                None => {}
            }
        }
        // Our own messages always say how to fix it; clap's say how to get help.
        if !err.contains("Fix:") && !err.contains("--help") {
            problems.push("message has no fix".into());
        }
        if what.starts_with("password") {
            for secret in ["123456789", "ab\"cd", "ab}cd", "ab cd", "pässw", "abc123"] {
                if err.contains(secret) {
                    problems.push(format!("message leaks the password {secret:?}"));
                }
            }
        }
        if snapshot(root.path()) != before {
            problems.push("the installed tree changed".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{what} {args:?}: {}\n  stderr: {}",
                problems.join("; "),
                err.trim().replace('\n', "\n          ")
            ));
        }
    }
    eprintln!(
        "bad-input matrix: {} cases, {} failed",
        CASES.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// Install run again after kubeadm, on a node whose kube-apiserver.yaml
/// binds the apiserver to the node's address (a CIS-style hardening): the
/// VIP would be refused there. Exit 2, the fix, nothing changed (a dry run
/// too); unspecified serves the VIP and installs.
#[test]
fn an_apiserver_bound_to_the_node_s_address_is_refused() {
    if !prerequisites("bind-address", true, &["ip"]) {
        return;
    }
    let ns = Netns::new();
    ns.veth("eth0", &["192.0.2.11/24"]);
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let install = ["install", "--root", r, "--vip", "192.0.2.10"];
    assert!(ns.kubealived(&install).status.success());
    let manifest = root
        .path()
        .join("etc/kubernetes/manifests/kube-apiserver.yaml");
    let apiserver = |bind: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: kube-apiserver, namespace: kube-system}}\n\
             spec:\n  containers:\n  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.35.4\n\
             \x20   command:\n    - kube-apiserver\n    - --advertise-address=192.0.2.11\n\
             \x20   - --bind-address={bind}\n"
        )
    };
    fs::write(&manifest, apiserver("192.0.2.11")).unwrap();
    let before = snapshot(root.path());
    for extra in [&["--priority", "120"][..], &["--dry-run"]] {
        let out = ns.kubealived(&[&install[..], extra].concat());
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        for needle in [
            "kube-apiserver binds 192.0.2.11 only, so connections to the VIP 192.0.2.10 are refused",
            "Fix: remove --bind-address from ",
            "or set it to 0.0.0.0",
        ] {
            assert!(err.contains(needle), "{extra:?}: {needle:?} not in {err}");
        }
        assert_eq!(snapshot(root.path()), before, "{extra:?}");
    }
    fs::write(&manifest, apiserver("0.0.0.0")).unwrap();
    let out = ns.kubealived(&[&install[..], &["--priority", "120"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn targets_that_are_not_files_and_read_only_roots_fail_cleanly() {
    if !prerequisites("bad targets", true, &["ip", "mount"]) {
        return;
    }
    let ns = Netns::new();
    ns.veth("eth0", &["192.0.2.11/24"]);
    // A directory where a file should be, and a foreign manifest: exit 2.
    for (blocker, as_dir) in [
        ("etc/kubealived/keepalived.conf", true),
        ("etc/kubernetes/manifests/kubealived.yaml", false),
    ] {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join(blocker);
        if as_dir {
            fs::create_dir_all(&target).unwrap();
        } else {
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            fs::write(
                &target,
                "apiVersion: v1\nkind: Pod\nmetadata: {name: etcd}\n",
            )
            .unwrap();
        }
        let before = snapshot(root.path());
        let out = ns.kubealived(&[
            "install",
            "--root",
            root.path().to_str().unwrap(),
            "--vip",
            "192.0.2.10",
        ]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{blocker}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stderr).contains(blocker), "{}", text(&out.stderr));
        assert_eq!(snapshot(root.path()), before, "{blocker}");
    }
    // A read-only root is a runtime failure: exit 1, nothing changed. The
    // bind mount lives only in this command's private mount namespace.
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    assert!(ns
        .kubealived(&["install", "--root", r, "--vip", "192.0.2.10"])
        .status
        .success());
    let before = snapshot(root.path());
    let out = run(ns.exec("sh").arg("-c").arg(format!(
        "mount --bind {r} {r} && mount -o remount,ro,bind {r} && exec {BIN} install --root {r} --vip 192.0.2.10 --priority 120"
    )));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(snapshot(root.path()), before);
}
