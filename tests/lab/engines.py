#!/usr/bin/env python3
"""The load balancing's engine, measured: the kernel's NAT (what `kubealived
install --load-balance` sets up) against Debian's haproxy in TCP mode (what
the kubeadm HA guide and OpenShift run), on the same lab, in one run.
Prints numbers; it is not a test. Run as root:

    .venv/bin/python tests/lab/engines.py [--count 300]

For each engine: three lab masters (kubealived's agent, real keepalived,
stand-in HTTPS apiservers that answer /name with their master's name), and
VIP:443 spread over the masters' :6443, from the client's namespace:

  spread   COUNT requests, each on a fresh TLS connection: per master
  cost     requests/s through the VIP, against the same client straight to
           one apiserver, in the same run
  killed   a backup's apiserver stopped while the client asks: failed
           requests, and the last one's time after the stop
  CPU      the engine's user-space CPU over the cost run (haproxy's
           process; NAT has none: its work is the kernel's softirq)

haproxy is configured as the guide's (round robin, a health check per
backend) with the agent's cadence (every 100 ms, out after 2 failures, in
after 2 passes) and a retry on another backend when a connect fails
(`option redispatch`). It runs on the holder only: this compares the
engines, not how each moves with the VIP (docs/load-balancing.md).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab import Lab  # noqa: E402
from machine import HERE, missing_prerequisites, sh, stop  # noqa: E402
from spread import ask  # noqa: E402
from names import VIP4, addr4  # noqa: E402

PORT = 443
MASTERS = (1, 2, 3)
PEERS = [a for i in MASTERS for a in ("--peer", addr4(i))]

HAPROXY_CFG = """global
    maxconn 4096
defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 1
    option redispatch
frontend api
    bind {vip}:{port}
    default_backend masters
backend masters
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check check-ssl verify none inter 100ms fall 2 rise 2
{servers}
"""


def out(*args):
    print(*args, flush=True)


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def haproxy(L, holder):
    """Debian's haproxy on the holder, once its checks pass on every backend."""
    cfg = L.lab_file("haproxy.cfg")
    servers = "\n".join(f"    server master{i} {addr4(i)}:6443" for i in MASTERS)
    cfg.write_text(HAPROXY_CFG.format(vip=VIP4, port=PORT, servers=servers))
    sh("haproxy", "-c", "-q", "-f", cfg)
    proc = L.spawn(holder, "haproxy", "-db", "-f", str(cfg), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert L.wait(lambda: "-" not in ask(L.client, 6, VIP4, PORT)["names"], 10), "haproxy never answered on every backend"
    return proc


def measure(name, L, holder, count, engine_pid=None):
    r = ask(L.client, count, VIP4, PORT)
    out(f"{name}: spread of {count} fresh TLS connections: {dict(sorted(r['names'].items()))}")

    before = cpu_seconds(engine_pid) if engine_pid else 0.0
    via = ask(L.client, count, VIP4, PORT)
    used = (cpu_seconds(engine_pid) - before) if engine_pid else 0.0
    direct = ask(L.client, count, addr4(holder))
    rate = lambda r: count / r["seconds"]  # noqa: E731
    out(f"{name}: requests/s on fresh TLS connections: through the VIP {rate(via):.0f}, straight to one "
        f"apiserver {rate(direct):.0f}, ratio {rate(via) / rate(direct):.2f}; the engine's user-space CPU "
        f"{used:.2f} s for {count} connections")

    backup = next(i for i in MASTERS if i != holder)
    client = L.spawn(L.client, sys.executable, str(HERE / "spread.py"), VIP4, str(PORT), str(2 * count),
                     stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    t0 = time.monotonic()
    L.stop_apiserver(backup)
    r = json.loads(client.communicate(timeout=120)[0])
    late = [t - t0 for t in r["failed_at"] if t > t0]
    out(f"{name}: a backup's apiserver stopped while the client asks: {len(late)} of {2 * count} requests "
        f"failed, the last {max(late, default=0):.3f} s after the stop; spread {dict(sorted(r['names'].items()))}")
    L.start_apiserver(backup)
    return {"ratio": rate(via) / rate(direct), "failed": len(late), "cpu": used}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=300)
    args = ap.parse_args()
    missing = missing_prerequisites() + ([] if shutil.which("haproxy") else ["haproxy"])
    if missing:
        sys.exit(f"engines.py needs {', '.join(missing)} (run `sudo scripts/setup`, then as root)")
    version = sh("haproxy", "-v").stdout.splitlines()[0]
    out(f"load-balancing engines: the kernel's NAT (nftables) against {version}, {os.cpu_count()} cores")
    results = {}
    with Lab(masters=3, log=out, install_args=["--load-balance", "--endpoint-port", str(PORT), *PEERS]) as L:
        holder = L.start_cluster()
        assert L.wait(lambda: "-" not in ask(L.client, 6, VIP4, PORT)["names"], 10), "the NAT never reached every backend"
        results["NAT"] = measure("NAT", L, holder, args.count)
    with Lab(masters=3, log=out) as L:
        holder = L.start_cluster()
        proc = haproxy(L, holder)
        results["haproxy"] = measure("haproxy", L, holder, args.count, proc.pid)
        stop(proc)
    n, h = results["NAT"], results["haproxy"]
    out(f"engines: NAT / haproxy: cost ratio {n['ratio']:.2f} vs {h['ratio']:.2f}, failed after a backend "
        f"stopped {n['failed']} vs {h['failed']}, user-space CPU {n['cpu']:.2f} s vs {h['cpu']:.2f} s")


if __name__ == "__main__":
    main()
