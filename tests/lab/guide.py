"""The baseline the benchmark compares against: keepalived.conf as the
kubeadm HA guide (ha-considerations.md) writes it."""
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
