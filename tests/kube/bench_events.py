"""The events tests/kube/bench puts every design through, one function per
event, each one trial on a settled cluster. A trial returns a dict of
measurements (seconds, counts, percent, MiB); None where a thing did not
happen (the VIP never moved). The client is cmd/vipclient -fresh -every
20ms: a new connection for every request, none waiting for the one
before, so a gap is the time between two answered requests."""
import os
import signal
import time
from pathlib import Path

import kubeadm
from constants import ETCD_LOST_S, VIP
from host import log, sh, wait, within
from watch import READY, GoClient

EVERY = "20ms"
SETTLE_S = 600  # kubelet's crash-loop back-off can hold an apiserver for minutes
BACKOFF_S = 330  # kubelet's crash-loop back-off tops out at 300 s
SPREAD_FRESH = 300
STABLE_S = 5  # more than VRRP's master-down interval (3 adverts and a skew)


def _settle(cluster):
    """The holder once the VIP has stayed put for STABLE_S: after a link
    comes back, a design whose first master has the highest priority (the
    guide's MASTER 101) takes the VIP back one master-down interval later,
    and that move belongs to the trial before, not to the next one."""
    cluster.settle(SETTLE_S)
    wait(f"the VIP on one master for {STABLE_S} s", lambda: len(cluster.holding()) == 1 and not [
        e for e in cluster.holders.since(0.0, VIP) if e[0] > time.monotonic() - STABLE_S], 120, 0.2)
    return cluster.holding()[0]


def _freezer(pid):
    """The cgroup v1 freezer directory of pid's cgroup."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            return Path("/sys/fs/cgroup/freezer" + path)
    raise RuntimeError(f"pid {pid} has no freezer cgroup")


def _kill(node, names):
    """SIGKILL every process of node named names at one instant: their
    cgroups frozen, each killed, then thawed, so that none of them sees
    another die first (keepalived gets SIGTERM when its parent dies, and
    would then tell its peers it is going: not a crash)."""
    pids = node.pids_named(names)
    groups = {_freezer(p) for p in pids}
    try:
        for g in groups:
            (g / "freezer.state").write_text("FROZEN")
        for g in groups:
            wait(f"{g} frozen", lambda: (g / "freezer.state").read_text().strip() == "FROZEN", 10, 0.01)
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    finally:
        for g in groups:
            (g / "freezer.state").write_text("THAWED")
    return len(pids)


def _client(cluster):
    c = GoClient(cluster, fresh=True, every=EVERY)
    started = time.monotonic()
    wait("the bench client answering", lambda: c.first_ok_after(started), 60, 0.05)
    return c


def _after(client, t, quiet=2.0, timeout=120):
    """The end of a trial: the first answer after t, then quiet s more."""
    ok = within(lambda: client.first_ok_after(t), timeout)
    time.sleep(quiet)
    return ok, time.monotonic()


def link_cut(cluster, design):
    h = _settle(cluster)
    with _client(cluster) as c:
        t0 = time.monotonic()
        sh("ip", "-n", cluster.lan, "link", "set", h.port, "down")
        try:
            moved = within(lambda: cluster.taken_elsewhere(h, t0), 120)
            _, until = _after(c, t0)
        finally:
            sh("ip", "-n", cluster.lan, "link", "set", h.port, "up")
    return {"gap": c.longest_gap(t0, until), "moved": moved and moved - t0}


def apiserver_killed(cluster, design):
    h = _settle(cluster)
    with _client(cluster) as c:
        t0 = time.monotonic()
        _kill(h, ("kube-apiserver",))
        # 45 s: the guide's check fails after 10 x 3 s, its weight then moves the VIP.
        moved = within(lambda: cluster.taken_elsewhere(h, t0), 45)
        _, until = _after(c, t0)
    return {"gap": c.longest_gap(t0, until), "moved": moved and moved - t0}


def vip_pod_killed(cluster, design):
    """Every process of the holder's VIP pod SIGKILLed at once. The address stays on
    the holder's interface until a restarted pod removes it, and kubelet
    restarts a container that keeps dying later each time (its crash-loop
    back-off: 10 s, 20 s, ... 300 s, forgotten after 10 min of running), so
    the trial ends only once one master holds the VIP again, or after
    BACKOFF_S."""
    h = _settle(cluster)
    if not h.pids_named(design.processes):
        # kube-vip exits when it loses its lease, and kubelet's back-off can
        # hold it while the VIP it left stays: a trial kills a running pod.
        log(f"{design.name}: the holder {h.name} runs none of {design.processes}; waiting for kubelet")
        wait(f"{design.name}'s processes on {h.name}", lambda: h.pids_named(design.processes), BACKOFF_S)
        h = _settle(cluster)
    with _client(cluster) as c:
        old = set(h.pids_named(design.processes))
        t0 = time.monotonic()
        killed = _kill(h, design.processes)
        # Watched together: kubelet may restart the pod before the VIP moves.
        moved = back = None
        while time.monotonic() < t0 + BACKOFF_S and (back is None or (moved is None and time.monotonic() < t0 + 30)):
            moved = moved or cluster.taken_elsewhere(h, t0)
            if back is None and set(h.pids_named(design.processes)) - old:
                back = time.monotonic()
            time.sleep(0.05)
        within(lambda: len(cluster.holding()) == 1, BACKOFF_S)
        _, until = _after(c, t0, quiet=2.0)
    log(f"{design.name}: SIGKILLed {killed} processes of its pod on {h.name}")
    return {"gap": c.longest_gap(t0, until), "moved": moved and moved - t0,
            "back": back and back - t0, "two": cluster.holders.longest(t0, until, lambda k: k >= 2)}


def _roll(cluster, *flags):
    """Each kube-apiserver manifest changed in turn (an env var the
    apiserver ignores, and flags), the next once that apiserver is Ready
    again."""
    for n in cluster.nodes:
        kubeadm.touch_apiserver(n, *flags)
        wait(f"{n.name}'s apiserver restarting", lambda: n.apiserver.now() < READY, 120, 0.05)
        wait(f"{n.name}'s apiserver Ready again", lambda: n.apiserver.now() == READY, 300, 0.1)


def rolling_restart(cluster, design):
    _settle(cluster)
    with _client(cluster) as c:
        t0 = time.monotonic()
        _roll(cluster)
        time.sleep(2)
        until = time.monotonic()
    return {"failed": len(c.failures(t0, until)), "gap": c.longest_gap(t0, until),
            "moves": cluster.holders.moves(t0, until)}


def quorum_lost(cluster, design):
    """etcd stopped on the holder and one other master for ETCD_LOST_S,
    then back: how many masters held the VIP meanwhile, and when the API
    answered again through it."""
    h = _settle(cluster)
    stopped = [h, next(n for n in cluster.nodes if n is not h)]
    src, dst = "/etc/kubernetes/manifests/etcd.yaml", "/etc/kubernetes/etcd.yaml.moved"
    with _client(cluster) as c:
        t0 = time.monotonic()
        for n in stopped:
            n.run("mv", src, dst)
        try:
            time.sleep(ETCD_LOST_S)
            until = time.monotonic()
        finally:
            for n in stopped:
                n.run("mv", dst, src)
        back, _ = _after(c, until, quiet=0, timeout=SETTLE_S)
    return {"none": cluster.holders.longest(t0, until, lambda k: k == 0),
            "two": cluster.holders.longest(t0, until, lambda k: k >= 2),
            "recovered": back and back - until, "moves": cluster.holders.moves(t0, until)}


def _usage(node, names):
    """(CPU seconds, PSS bytes) of node's processes named names, now. PSS,
    not RSS: keepalived's and the agent's processes are forks that share
    pages, which a sum of RSS would count once per process."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu = pss = 0
    for p in node.pids_named(names):
        try:
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        cpu += (int(stat[11]) + int(stat[12])) / tick
        pss += next((int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith("Pss:")), 0)
    return cpu, pss


def idle(cluster, design, seconds=60):
    """CPU (percent of one core) and memory (PSS) of each master's VIP pod
    over seconds of nothing happening; the highest master's."""
    _settle(cluster)
    before = {n.name: _usage(n, design.processes) for n in cluster.nodes}
    t0 = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    after = {n.name: _usage(n, design.processes) for n in cluster.nodes}
    cpu = max((after[k][0] - before[k][0]) / elapsed * 100 for k in after)
    pss = max(after[k][1] for k in after) / 2**20
    return {"cpu": cpu, "pss": pss}


def _per_master(cluster, whos):
    """'a / b / c': how many of whos (sets of certificate IPs) each master's
    apiserver answered, master1 first."""
    return " / ".join(str(sum(1 for w in whos if n.addr in w)) for n in cluster.nodes)


def _kubelets(cluster):
    """The nodes' long-lived connections through the VIP (their kubelets':
    the workers', as kubeadm points the masters' at their own apiserver),
    per apiserver: those that reached the holder unchanged (local address
    the VIP), and those the holder's balancing sent on (its conntrack
    table: the reply's source is the backend)."""
    counts = {n.addr: 0 for n in cluster.nodes}
    nodes = {n.addr for n in cluster.nodes + cluster.workers}
    for n in cluster.nodes:
        out = n.run("ss", "-tnH", "state", "established", "src", f"{VIP}:6443").stdout
        # apiserver listens on [::]:6443: IPv4 peers show as [::ffff:192.0.2.21]:40000
        peers = (line.split()[-1].rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:") for line in out.splitlines())
        counts[n.addr] += sum(1 for p in peers if p in nodes | {VIP})
    for h in cluster.holding():
        out = h.run("conntrack", "-L", "-p", "tcp", "-d", VIP, "--dport", "6443", "--state", "ESTABLISHED",
                    check=False).stdout
        for line in out.splitlines():
            # src=CLIENT dst=VIP ... src=BACKEND dst=... : the original, then the reply
            srcs = [f[len("src="):] for f in line.split() if f.startswith("src=")]
            if len(srcs) == 2 and srcs[0] in nodes | {VIP} and srcs[1] in counts:
                counts[srcs[1]] += 1
    return " / ".join(str(counts[n.addr]) for n in cluster.nodes)


SPREAD_CONNS = 30
GOAWAY = "--goaway-chance=0.02"  # kube-apiserver's maximum
AFTER_ROLL_S = 60


def spread(cluster, design):
    """Which apiserver answers through the VIP: SPREAD_FRESH fresh
    connections; SPREAD_CONNS kept-alive HTTP/2 connections and the
    kubelets' connections AFTER_ROLL_S after a rolling restart, then after
    one that adds kube-apiserver's --goaway-chance (which stays: run
    last)."""
    _settle(cluster)
    with GoClient(cluster, fresh=True, every=EVERY) as c:
        time.sleep(SPREAD_FRESH * 0.02)
    fresh = _per_master(cluster, [w for _, w, _ in c.answers])
    time.sleep(2)  # the fresh connections closed
    with GoClient(cluster, conns=SPREAD_CONNS, every="200ms") as c:
        def last(since):
            """Each connection's last answerer since since."""
            return list({conn: w for end, w, conn in list(c.answers) if end >= since}.values())
        wait(f"{SPREAD_CONNS} kept connections answering", lambda: len(last(0.0)) == SPREAD_CONNS, 60, 0.2)
        _roll(cluster)
        time.sleep(AFTER_ROLL_S)
        rolled, kubelets = _per_master(cluster, last(time.monotonic() - 1)), _kubelets(cluster)
        _roll(cluster, GOAWAY)
        time.sleep(AFTER_ROLL_S)
        goaway, kubelets_goaway = _per_master(cluster, last(time.monotonic() - 1)), _kubelets(cluster)
    return {"fresh": fresh, "rolled": rolled, "goaway": goaway, "kubelets": kubelets,
            "kubelets goaway": kubelets_goaway}


EVENTS = [
    ("link cut", link_cut),
    ("apiserver killed", apiserver_killed),
    ("rolling restart", rolling_restart),
    ("VIP pod killed", vip_pod_killed),
    ("etcd quorum lost", quorum_lost),
    ("idle", idle),
    ("spread", spread),  # last: it leaves --goaway-chance on the apiservers
]
