//! keepalived.conf. Every value comes from a validated `Config`, so plain
//! formatting is safe: no input can add a line, brace or directive.
//! keepalived's parser takes one keyword per line; keep it that way.

use crate::config::HEALTH_WEIGHT;
use crate::node::Node;
use crate::paths::{
    on_node, AGENT_RUN_DIR, INSTANCE_NAME, NOTIFY_FIFO, SAVED_CONFIG, TRACK_FILE, TRACK_NAME,
};
use indoc::formatdoc;
use std::net::IpAddr;

fn host_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// 30 → "0.3", 100 → "1", 5 → "0.05".
pub fn seconds(centis: u32) -> String {
    let s = format!("{}.{:02}", centis / 100, centis % 100);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// keepalived.conf for the static pod: its header says where the settings
/// live on the node.
pub fn render(node: &Node) -> String {
    render_with(
        node,
        &formatdoc! {"
            # Written by kubealived {}. Do not edit: change the settings with
            # `kubealived install` (saved in {}).
        ", env!("CARGO_PKG_VERSION"), on_node(SAVED_CONFIG)},
    )
}

/// keepalived.conf for the DaemonSet bundle's ConfigMap, which no node's
/// settings file describes: its header says how it was made.
pub fn render_for_daemonset(node: &Node) -> String {
    render_with(
        node,
        &formatdoc! {"
            # Written by kubealived {}. Do not edit: change it by running
            # `kubealived render --kind daemonset` again and applying its output.
        ", env!("CARGO_PKG_VERSION")},
    )
}

fn render_with(node: &Node, header: &str) -> String {
    let c = &node.config;
    let version = c.version.number();
    // Gratuitous ARP/NA pacing: when the holder vanishes, the backups (equal
    // priority) time out together and both claim the VIP until the higher
    // address wins. With the default burst, the loser's ARPs could be the
    // last a client saw, black-holing it for ~6 s (2 of 14 trials in the
    // lab). Spacing the burst (0.05 s) lets the winner speak last, and a
    // second burst after 1 s (default 5) bounds what is left: worst 0.89 s
    // in 16 trials.
    //
    // Health: the agent (`kubealived agent`, the pod's entrypoint) writes 1
    // into the track file while the apiserver's /readyz answers, 0 when
    // not; keepalived watches it with inotify and adds 1 × weight to the
    // base priority. The base is the configured priority minus the weight,
    // so a healthy node runs at `priority` and an unhealthy one at
    // `priority - weight`. A missing, empty or unreadable file reads as 0
    // (fail-safe); `init_file 0` starts unhealthy, so a joining master
    // never takes the VIP before its own apiserver is ready, and a lone
    // master still takes it at the lower priority. The notify FIFO tells
    // the agent MASTER/BACKUP/FAULT, and each change of the effective
    // priority (`vrrp_notify_priority_changes`): without it the priority
    // `status` shows would be the one of the last state change, the lower
    // one on a master that turned ready after taking the VIP.
    let mut out = header.to_string();
    out += &formatdoc! {"

        global_defs {{
            vrrp_version {version}
            vrrp_garp_interval 0.05
            vrrp_gna_interval 0.05
            notify_fifo {AGENT_RUN_DIR}/{NOTIFY_FIFO}
            vrrp_notify_priority_changes
        }}

        track_file {TRACK_NAME} {{
            file \"{AGENT_RUN_DIR}/{TRACK_FILE}\"
            weight {HEALTH_WEIGHT}
            init_file 0
        }}

        vrrp_instance {INSTANCE_NAME} {{
            state BACKUP
            interface {interface}
            virtual_router_id {router_id}
            priority {priority}
            advert_int {advert}
            garp_master_delay 1
            garp_master_refresh 1
        ",
        interface = node.interface,
        router_id = c.router_id,
        priority = c.priority - HEALTH_WEIGHT,
        advert = seconds(c.advert_centis),
    };
    // Everyone is BACKUP at one priority: the first master up takes the
    // VIP, and a recovered master never takes it back (equal priority does
    // not preempt), so nothing flaps.
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    if !node.peers.is_empty() {
        if let Some(src) = node.unicast_src {
            line(format!("    unicast_src_ip {src}"));
        }
        line("    unicast_peer {".into());
        for peer in &node.peers {
            line(format!("        {peer}"));
        }
        line("    }".into());
        // Ignore adverts from anyone not listed: the real isolation.
        line("    check_unicast_src".into());
    }
    if let Some(password) = &c.password {
        line("    authentication {".into());
        line("        auth_type PASS".into());
        line(format!("        auth_pass {password}"));
        line("    }".into());
    }
    let (primary, others) = node.vips.split_first().expect("at least one VIP");
    line("    virtual_ipaddress {".into());
    line(format!(
        "        {}/{} dev {}",
        primary.0,
        host_prefix(primary.0),
        primary.1
    ));
    line("    }".into());
    if !others.is_empty() {
        // The other family rides on the same instance: both VIPs always
        // move together.
        line("    virtual_ipaddress_excluded {".into());
        for (ip, dev) in others {
            line(format!("        {ip}/{} dev {dev}", host_prefix(*ip)));
        }
        line("    }".into());
    }
    line("    track_file {".into());
    line(format!("        {TRACK_NAME}"));
    line("    }".into());
    line("}".into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_short() {
        assert_eq!(seconds(30), "0.3");
        assert_eq!(seconds(5), "0.05");
        assert_eq!(seconds(100), "1");
        assert_eq!(seconds(4095), "40.95");
    }
}
