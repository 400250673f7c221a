"""The baselines the benchmark compares against: keepalived.conf as the
kubeadm HA guide (ha-considerations.md) writes it, and kubealived's own
design before the agent."""
import re

from names import IMAGE_BINARY


def guide_config(master, vip, interface="eth0"):
    """VRRPv2, 1 s adverts, check every 3 s with weight -2 and fall 10,
    MASTER 101 on the first node and BACKUP 100 on the others. Its check is
    the same HTTPS /livez probe (kubealived check-apiserver stands in for
    its curl script)."""
    state, priority = ("MASTER", 101) if master == 1 else ("BACKUP", 100)
    return f"""global_defs {{
    router_id LVS_DEVEL
    script_user root
    enable_script_security
}}
vrrp_script check_apiserver {{
    script "{IMAGE_BINARY} check-apiserver --port 6443"
    interval 3
    weight -2
    fall 10
    rise 2
}}
vrrp_instance VI_1 {{
    state {state}
    interface {interface}
    virtual_router_id 51
    priority {priority}
    authentication {{
        auth_type PASS
        auth_pass 42
    }}
    virtual_ipaddress {{
        {vip}
    }}
    track_script {{
        check_apiserver
    }}
}}
"""


SCRIPT_CHECK = f"""vrrp_script kubealived_apiserver {{
    script "{IMAGE_BINARY} check-apiserver --port 6443"
    interval 1
    timeout 3
    fall 2
    rise 2
    weight -50
    init_fail
}}
"""


def script_config(conf):
    """The design before the agent, the benchmark's baseline: the same
    rendered keepalived.conf, but keepalived itself runs `kubealived
    check-apiserver` (/livez) every second (vrrp_script, fall 2, weight -50,
    init_fail) instead of reading the agent's track file."""
    out = re.sub(r"    notify_fifo \S+\n", "    script_user root\n    enable_script_security\n", conf)
    out = re.sub(r"track_file kubealived_apiserver \{\n.*?\n\}\n", SCRIPT_CHECK, out, flags=re.S)
    out = re.sub(r"\n    priority (\d+)\n", lambda m: f"\n    priority {int(m.group(1)) + 50}\n", out)
    out = out.replace("    track_file {\n", "    track_script {\n")
    assert "track_file" not in out and "vrrp_script" in out, "keepalived.conf shape changed"
    return out
