#!/usr/bin/env python3
"""What `kubealived agent` costs at its polling rate: CPU and memory of the
agent's two processes (the PID-1 guard and the worker), measured on one
master made here (a network namespace, host keepalived under the agent, the
lab's stand-in apiserver answering /readyz). Prints numbers; not a test.

    sudo .venv/bin/python tests/lab/agent_cost.py [--seconds 60] [--interval-ms 100]

How: after a warm-up, CPU time is utime + stime from /proc/PID/stat of both
agent processes (keepalived and the apiserver excluded), at the start and
the end of the window, over the wall time between; memory is VmRSS from
/proc/PID/status at the end (resident pages, shared ones counted in each
process). The number of checks comes from the agent's own /metrics, to show
the rate was the one asked for.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--interval-ms", type=int, default=100)
    ap.add_argument("--binary", default=str(REPO / "target/release/kubealived"))
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("keepalived"):
        sys.exit("agent_cost.py needs root and keepalived")
    ns = f"kal{os.getpid()}-cost"
    work = Path(tempfile.mkdtemp(prefix=f"kal{os.getpid()}-"))
    procs = []
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "kp0")
        sh("ip", "-n", ns, "addr", "add", "192.0.2.11/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "kp0", "up")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kube-apiserver",
           "-keyout", str(work / "key.pem"), "-out", str(work / "cert.pem"))
        (work / "health").write_text("ok")
        api = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-u", str(HERE / "apiserver.py"),
                                str(work / "cert.pem"), str(work / "key.pem"), str(work / "health")],
                               stdout=subprocess.PIPE, text=True)
        procs.append(api)
        assert api.stdout.readline().strip() == "ready"
        conf = sh("ip", "netns", "exec", ns, args.binary, "render", "--keepalived-conf", "--vip", "192.0.2.10").stdout
        run = work / "run"
        run.mkdir()
        (work / "keepalived.conf").write_text(conf.replace("/run/kubealived", str(run)))
        log = open(work / "agent.log", "w")
        agent = subprocess.Popen(["ip", "netns", "exec", ns, args.binary, "agent",
                                  "--keepalived-conf", str(work / "keepalived.conf"), "--interface", "eth0",
                                  "--vip", "192.0.2.10", "--run-dir", str(run),
                                  "--interval-ms", str(args.interval_ms)], stdout=log, stderr=log)
        procs.append(agent)
        time.sleep(5)  # warm-up: keepalived up, connection established
        # `ip netns exec` execs the agent: its pid is the guard's.
        guard = agent.pid
        worker = int(Path(f"/proc/{guard}/task/{guard}/children").read_text().split()[0])
        pids = [guard, worker]

        def checks():
            out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c",
                                  "import urllib.request; print(urllib.request.urlopen("
                                  "'http://127.0.0.1:10290/metrics', timeout=5).read().decode())"],
                                 capture_output=True, text=True, check=True).stdout
            return sum(float(m) for m in re.findall(r'^kubealived_apiserver_checks_total\{[^}]*\} (\S+)$', out, re.M))

        def connections():
            """The client ends of TCP connections to the apiserver."""
            out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-tnH", "state", "established",
                                  "( dport = :6443 )"], capture_output=True, text=True, check=True).stdout
            return sorted(line.split()[-2] for line in out.splitlines() if line.strip())

        conn0 = connections()
        c0, t0, n0 = sum(cpu_seconds(p) for p in pids), time.monotonic(), checks()
        time.sleep(args.seconds)
        c1, t1, n1 = sum(cpu_seconds(p) for p in pids), time.monotonic(), checks()
        conn1 = connections()
        wall = t1 - t0
        load = os.getloadavg()
        print(f"kubealived agent at {args.interval_ms} ms polling, {wall:.1f} s window, "
              f"{os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
        print(f"  checks: {n1 - n0:.0f} ({(n1 - n0) / wall:.1f}/s); connections to the apiserver at the start "
              f"{conn0}, at the end {conn1}" + (" (the same one: kept alive)" if conn0 == conn1 and len(conn0) == 1 else ""))
        print(f"  CPU (guard + worker, utime+stime): {c1 - c0:.2f} s = {100 * (c1 - c0) / wall:.2f}% of one core")
        print(f"  RSS: worker {rss_kib(worker) / 1024:.1f} MiB, guard {rss_kib(guard) / 1024:.1f} MiB "
              f"(keepalived and the apiserver not counted)")
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=15)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
