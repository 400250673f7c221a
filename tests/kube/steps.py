"""The scenario, one function per step, each asserted (Failed) and timed
(report.timed). Steps 1-5 build the cluster; the breaking steps after them
take their number from e2e's list (tests/kube/README.md numbers them). Times are CLOCK_MONOTONIC,
the clock of watch.py's observers."""
import os
import signal
import time

import designs
import kubeadm
from constants import ADVERT_S, ETCD_LOST_S, KUBEALIVED_IMAGE_2, PORT, VIP
from host import Failed, log, sh, wait
from names import BALANCE_TABLE  # tests/lab's
from watch import ACCEPTS, READY, GoClient


def start_nodes(cluster, report):
    """Before step 1: the nodes' namespaces and containerds, the images in them."""
    t = time.monotonic()
    for n in cluster.nodes:
        n.create()
    report.timed(0, "3 nodes: mount ns, containerd up", time.monotonic() - t)
    t = time.monotonic()
    for n in cluster.nodes:
        n.import_images(cluster.build.control_plane_archive)
        n.ship_kubealived_archive(cluster.build.kubealived_archive)
    report.timed(0, "import control-plane images into 3 containerds (ctr import)", time.monotonic() - t)
    images_in = cluster.nodes[0].run("ctr", "-n", "k8s.io", "images", "ls", "-q").stdout.split()
    log("images in master1's containerd: " + " ".join(i for i in images_in if not i.startswith("sha256:")))


def install(cluster, report):
    """1: install on each master, the real binary at the real paths."""
    t = time.monotonic()
    # No --image: install imports the packaged archive into the node's
    # containerd itself (the air-gapped path) and names it in the manifest.
    for n in cluster.nodes:
        out = n.kubealived("install", "--vip", VIP)
        log(f"{n.name}: kubealived install --vip {VIP}:\n" + out.stdout.strip())
        if not n.manifest():
            raise Failed(f"{n.name}: no /etc/kubernetes/manifests/kubealived.yaml after install")
    report.timed(1, "kubealived install on 3 masters (each imports the packaged image)", time.monotonic() - t)
    # The packaged image by digest: NAME:TAG@sha256:..., the archive's own.
    cluster.kubealived_image = cluster.nodes[0].kubealived_image()
    tagged, _, digest = cluster.kubealived_image.partition("@")
    if not digest.startswith("sha256:"):
        raise Failed(f"the manifest names the packaged image without its digest: {cluster.kubealived_image}")
    by_digest = tagged.rsplit(":", 1)[0] + "@" + digest
    for n in cluster.nodes:
        have = n.run("ctr", "-n", "k8s.io", "images", "ls", "-q").stdout.split()
        if tagged not in have or by_digest not in have:
            raise Failed(f"{n.name}: install did not import {tagged} and {by_digest} into containerd: {have}")
        n.run("ctr", "-n", "k8s.io", "images", "tag", tagged, KUBEALIVED_IMAGE_2)
    manifest = cluster.nodes[0].manifest()
    log("manifest master1 (as written, unedited):\n" + manifest)


def init(cluster, report):
    """2 and 3: kubelet (supervised like systemd) starts once kubeadm writes
    its config; the static pod comes up with the control plane, and master1
    holds the VIP before its apiserver is ready; kubeadm init through the VIP."""
    for n in cluster.nodes:
        n.start_supervisor()
    m1 = cluster.nodes[0]
    t0 = time.monotonic()
    p = kubeadm.run(m1, "init", kubeadm.init_config(m1, cluster.build.version, cluster.build.etcd_tag),
                    "--upload-certs")
    init_s = time.monotonic() - t0
    out = p.stdout
    prints = report.prints
    prints["init"] = next((line for line in out.splitlines() if "initialized successfully" in line), None)
    if not prints["init"]:
        raise Failed("kubeadm init printed no success line:\n" + out[-3000:])
    t_vip = cluster.holders.first(m1.name, t0)
    t_port = m1.apiserver.first(t0, ACCEPTS)
    t_api = m1.apiserver.first(t0, READY)
    if t_vip is None:
        raise Failed("master1 never held the VIP during kubeadm init")
    if t_api is None or t_vip >= t_api:
        raise Failed(f"master1's apiserver was ready at {t_api and t_api - t0} s, the VIP came at {t_vip - t0:.2f} s: not before")
    others = [n.name for n in cluster.nodes[1:] if cluster.holders.first(n.name, t0)]
    if others:
        raise Failed(f"the VIP was on {others} during init")
    report.timed(2, "VIP on master1 after kubeadm init started", t_vip - t0)
    report.timed(2, "  apiserver port 6443 on master1 first accepted", (t_port or t_api) - t0)
    report.timed(2, "  apiserver on master1 first ready (/readyz 200)", t_api - t0)
    report.timed(3, "kubeadm init (through the VIP)", init_s)
    # The agent asks /readyz where kubelet does: kube-apiserver.yaml's
    # probe, on the node's advertise address (not 127.0.0.1).
    wanted = f"asking https://{m1.addr}:{PORT}/readyz"
    wait(f"master1's agent {wanted}", lambda: wanted in m1.kubealived_log(), 30)
    prints["server"] = cluster.take_admin_conf(m1)
    cluster.join = kubeadm.join_from(out)


def join(cluster, report):
    """4: two control-plane joins through the VIP, which stays on master1."""
    m1 = cluster.nodes[0]
    t_join0 = time.monotonic()
    for n in cluster.nodes[1:]:
        t0 = time.monotonic()
        kubeadm.run(n, "join", kubeadm.join_config(n, cluster.join))
        report.timed(4, f"kubeadm join --control-plane {n.name}", time.monotonic() - t0)
    now = time.monotonic()
    spans1 = cluster.holders.holding_spans(m1.name, t_join0, now)
    if not (len(spans1) == 1 and spans1[0][0] <= t_join0 and spans1[0][1] >= now - 0.2):
        raise Failed(f"the VIP did not stay on master1 during the joins: {spans1}")
    for n in cluster.nodes[1:]:
        if cluster.holders.holding_spans(n.name, t_join0, now):
            raise Failed(f"{n.name} held the VIP during the joins")
    log("VIP stayed on master1 throughout both joins")


def three_ready(cluster, report):
    """5: three Ready control-plane nodes, through the VIP, from the client."""
    t0 = time.monotonic()
    wait("3 Ready control-plane nodes", lambda: len(cluster.ready_nodes()) == 3, 300, interval=2)
    report.timed(5, "3 nodes Ready after the last join", time.monotonic() - t0)
    # kubeadm's certs phase runs before kubelet-start, so every agent has
    # the cluster CA (a FileOrCreate hostPath) from its first check on.
    verified = "the apiserver's certificate: verified against the cluster CA at /etc/kubernetes/pki/ca.crt"
    for n in cluster.nodes:
        wait(f"{n.name}'s agent verifying the apiserver's certificate", lambda: verified in n.kubealived_log(), 30)
        if "not verified" in n.kubealived_log():
            raise Failed(f"{n.name}'s agent ran unverified first: kubelet started the pod before the CA existed")
    log("every agent verifies its apiserver's certificate against the cluster CA")
    report.prints["nodes"] = cluster.kubectl("get", "nodes", "-o", "wide", check=True).stdout
    report.prints["pods"] = cluster.kubectl("get", "pods", "-n", "kube-system", "-o", "wide", check=True).stdout


def cut_link(cluster, client, report, step):
    """The holder's link is cut."""
    h = cluster.settle()
    t0 = time.monotonic()
    sh("ip", "-n", cluster.lan, "link", "set", h.port, "down")
    try:
        moved = wait("the VIP on another node", lambda: cluster.taken_elsewhere(h, t0), 60, 0.05)
        ok = wait("kubectl answering again", lambda: client.first_ok_after(t0), 120, 0.1)
    finally:
        sh("ip", "-n", cluster.lan, "link", "set", h.port, "up")
    report.timed(step, f"link of {h.name} cut: VIP on another node", moved - t0)
    report.timed(step, f"link of {h.name} cut: kubectl through the VIP answers again", ok - t0)


def move_apiserver_away(cluster, client, report, step):
    """The holder's kube-apiserver manifest moved away."""
    h = cluster.settle()
    src = "/etc/kubernetes/manifests/kube-apiserver.yaml"
    dst = "/etc/kubernetes/kube-apiserver.yaml.moved"
    t0 = time.monotonic()
    h.run("mv", src, dst)
    try:
        moved = wait("the VIP on another node", lambda: cluster.taken_elsewhere(h, t0), 120, 0.05)
        wait("kubectl answering", lambda: client.first_ok_after(moved), 60, 0.1)
        time.sleep(3)
        gap7 = client.longest_gap(t0)
    finally:
        h.run("mv", dst, src)
    report.timed(step, f"{h.name}'s apiserver manifest moved away: VIP on another node", moved - t0)
    report.timed(step, "  longest kubectl gap (no answer; a request every 50 ms)", gap7)
    client_failures(client, cluster, t0, step, [moved])
    # The README's shutdown delay (2 s) lets the VIP leave before the
    # listener closes: one request lost in an unexplained run cost 1.21 s;
    # the design before the agent (vrrp_script) cost 2.16 s.
    if gap7 > 1.5:
        raise Failed(f"step {step}: kubectl through the VIP got no answer for {gap7:.2f} s (at most 1.5 s)")
    wait(f"{h.name}'s apiserver back", lambda: h.apiserver.now() == READY, 180)


def client_failures(client, cluster, since, step, moves=(), until=None):
    """Logs every failed request in [since, until] with its time, its
    error, who held the VIP when it started and when it ended; returns
    those that were not in flight when the VIP moved (at one of `moves`).

    A request in flight at a move is lost by TCP, not by the hand-over:
    its connection is to the old holder's apiserver, and once the new
    holder's gratuitous ARP reaches the client, the client's next segment
    of that connection goes to the new holder, whose kernel knows no such
    connection and answers with a reset. Every L2 VIP (keepalived, kube-vip,
    Talos) loses that one request; client-go retries a GET after a reset
    (1 s later), which the kubectl loop's --request-timeout=1s cuts off."""
    def at(t):
        return [n.name for n in cluster.nodes if cluster.holders.held_at(n.name, t)] or "nobody"

    others = []
    failed = client.failures(since, until)
    for i, (s, e, error) in enumerate(failed):
        cut = any(s - 0.05 <= m <= e + 0.05 for m in moves)
        if i < 10:
            log(f"step {step}: request at +{s - since:.2f}..+{e - since:.2f} s failed ({error}); "
                f"VIP held by {at(s)} when it started, {at(e)} when it ended"
                + ("; it was in flight when the VIP moved: its connection went with the old holder" if cut else ""))
        if not cut:
            others.append((s, e, error))
    if len(failed) > 10:
        log(f"step {step}: ... and {len(failed) - 10} more failed requests, the last at +{failed[-1][0] - since:.2f} s")
    return others


def change_setting(cluster, client, report, step):
    """A setting changed with install on the holder: kubelet replaces the
    pod; the VIP hands over."""
    h = cluster.settle()
    before = h.manifest()
    t0 = time.monotonic()
    # An upgrade of kubealived's image: the operator imports the new image and
    # names it (here the same image under a second name, tagged at setup).
    h.kubealived("install", "--image", KUBEALIVED_IMAGE_2)
    if h.manifest() == before:
        raise Failed("install with a changed setting left the manifest unchanged")
    left = wait(f"the VIP leaving {h.name}", lambda: cluster.holders.first(h.name, t0, held=False), 120, 0.05)
    taken = wait("the VIP on another node", lambda: cluster.taken_elsewhere(h, t0), 60, 0.05)
    time.sleep(3)
    wait(f"the new pod on {h.name}", h.pod_running, 120)
    report.timed(step, f"install with a new setting on {h.name}: VIP left it", left - t0)
    report.timed(step, "  hand-over: another node held it after it left (negative: overlap)", taken - left)
    gap8 = client.longest_gap(t0)
    report.timed(step, "  longest kubectl gap (no answer; a request every 50 ms)", gap8)
    # Make-before-break: no request may fail while the pod is replaced, but
    # the one in flight when the VIP moved (see client_failures).
    lost = client_failures(client, cluster, t0, step, [taken])
    if lost or gap8 > 1.0:
        raise Failed(f"step {step}: the hand-over cost {len(lost)} request(s) not in flight at the move "
                     f"(longest gap {gap8:.2f} s, at most 1.0 s): make-before-break broke")


def harden_apiservers(cluster, client, report, step):
    """kubeadm upgrade's way, one master at a time: each kube-apiserver
    manifest is changed, and the next master's only once that apiserver is
    Ready again. The change hardens it as CIS-minded clusters do:
    anonymous requests only to /livez, /readyz and /healthz (an
    AuthenticationConfiguration). A client-go client (one kept connection,
    its own retries) must see no failed request; the kubectl loop (a fresh
    connection each time, no retry) may lose only a request in flight when
    the VIP moved."""
    cluster.settle()
    t0 = time.monotonic()
    with GoClient(cluster) as go:
        wait("the client-go client answering", lambda: go.first_ok_after(t0), 60, 0.1)
        for n in cluster.nodes:
            t = time.monotonic()
            was_holder = cluster.holders.holds(n.name)
            kubeadm.harden_apiserver(n)
            wait(f"{n.name}'s apiserver restarting", lambda: n.apiserver.now() < READY, 120, 0.05)
            wait(f"{n.name}'s apiserver Ready again", lambda: n.apiserver.now() == READY, 300, 0.1)
            report.timed(step, f"{n.name}{' (holder)' if was_holder else ''}: apiserver hardened and Ready again",
                         time.monotonic() - t)
        until = time.monotonic()
        time.sleep(1)
    moves = [t for _, t, _ in cluster.holders.takes(t0, until)]
    report.timed(step, f"  the VIP moved {len(moves)} time(s); longest client-go gap", go.longest_gap(t0, until))
    report.timed(step, "  longest kubectl gap (a fresh connection each 50 ms)", client.longest_gap(t0, until))
    lost_go = go.failures(t0, until)
    for s, e, err in lost_go[:10]:
        log(f"step {step}: client-go request at +{s - t0:.2f}..+{e - t0:.2f} s failed: {err}")
    lost = client_failures(client, cluster, t0, step, moves, until)
    if lost_go or lost:
        raise Failed(f"step {step}: the rolling restart failed {len(lost_go)} client-go request(s) (target 0) "
                     f"and {len(lost)} kubectl request(s) not in flight at a move of the VIP")
    for n in cluster.nodes:
        def anonymous(path):
            return n.run("curl", "-sk", "--max-time", "2", "-o", "/dev/null", "-w", "%{http_code}",
                         f"https://{n.addr}:{PORT}{path}", check=False).stdout
        if (anonymous("/readyz"), anonymous("/version")) != ("200", "401"):
            raise Failed(f"step {step}: {n.name}: anonymous /readyz answered {anonymous('/readyz')} (200), "
                         f"/version {anonymous('/version')} (401): the hardening did not take")


def kill_hardened_apiserver(cluster, client, report, step):
    """On the hardened control plane of the step before: the holder's
    kube-apiserver is SIGKILLed. The agent's anonymous /readyz is still
    allowed (the AuthenticationConfiguration's conditions), so the VIP
    moves within 0.5 s, as on a default control plane."""
    h = cluster.settle()
    apiserver = [cid for cid, image in h.running().items() if "/kube-apiserver:" in image]
    if len(apiserver) != 1:
        raise Failed(f"{h.name}: expected one running kube-apiserver container, found {apiserver}")
    t0 = time.monotonic()
    h.run("ctr", "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", apiserver[0])
    moved = wait("the VIP on another node", lambda: cluster.taken_elsewhere(h, t0), 60, 0.02)
    wait("kubectl answering", lambda: client.first_ok_after(moved), 60, 0.1)
    report.timed(step, f"{h.name}'s hardened apiserver SIGKILLed: VIP on another node", moved - t0)
    report.timed(step, "  longest kubectl gap", client.longest_gap(t0))
    client_failures(client, cluster, t0, step, [moved])
    wait(f"{h.name}'s apiserver back", lambda: h.apiserver.now() == READY, 180)
    if moved - t0 > 0.5:
        raise Failed(f"step {step}: the VIP left a dead hardened apiserver after {moved - t0:.2f} s (at most 0.5 s)")


def lose_etcd_quorum(cluster, client, report, step):
    """etcd stopped on two masters (their manifests moved away) for 30 s:
    every apiserver is unready, and exactly one master keeps the VIP all
    along (none for at most one advert interval, never two); once etcd is
    back, kubectl answers again and the VIP has moved at most once."""
    h = cluster.settle()
    stopped = [h, next(n for n in cluster.nodes if n is not h)]
    src, dst = "/etc/kubernetes/manifests/etcd.yaml", "/etc/kubernetes/etcd.yaml.moved"
    names = " and ".join(n.name for n in stopped)
    t0 = time.monotonic()
    for n in stopped:
        n.run("mv", src, dst)
    try:
        unready = wait("every apiserver unready",
                       lambda: all(n.apiserver.now() < READY for n in cluster.nodes) and time.monotonic(), 120, 0.05)
        time.sleep(ETCD_LOST_S)
        until = time.monotonic()
    finally:
        for n in stopped:
            n.run("mv", dst, src)
    back = wait("kubectl answering again", lambda: client.first_ok_after(until), 300, 0.1)
    none = cluster.holders.longest(unready, until, lambda holders: holders == 0)
    two = cluster.holders.longest(unready, until, lambda holders: holders >= 2)
    takes = cluster.holders.moves(t0, back)
    report.timed(step, f"etcd stopped on {names}: every apiserver unready after", unready - t0)
    report.timed(step, f"  {ETCD_LOST_S} s without quorum: longest time no master held the VIP", none)
    report.timed(step, "  ... and two masters held it", two)
    report.timed(step, "  etcd back: kubectl through the VIP answers again", back - until)
    log(f"step {step}: the VIP moved {takes} time(s) from the stop to the first answer after the restore")
    # An apiserver whose liveness probe failed while etcd was gone sits in
    # kubelet's crash-loop back-off (10 s, 20 s, ... up to 5 min) after the
    # restore: minutes, kubelet's and not the VIP's, but the next step
    # needs all three.
    wait("all apiservers ready again", lambda: all(n.apiserver.now() == READY for n in cluster.nodes), 600, 0.5)
    report.timed(step, "  all three apiservers ready again (kubelet's back-off)", time.monotonic() - until)
    # Two holders only for VRRP's tie-break (two backups taking it at the
    # same moment, the lower yielding at the first advert: about 1 ms).
    if none > ADVERT_S or two > 0.01 or takes > 1:
        raise Failed(f"step {step}: without quorum the VIP was held by nobody for {none:.2f} s (at most {ADVERT_S} s), "
                     f"by two for {two:.3f} s (never, but a tie-break), and moved {takes} time(s) (at most once)")


def reboot_holder(cluster, client, report, step):
    """A power cut on the holder: its link and every process of it gone at
    once. Then a boot: the link up with no VIP on it (a reboot clears
    addresses), containerd, the boot unit's `kubealived install` (ordered
    After=containerd, Before=kubelet), kubelet. The VIP moves once and does
    not move back; a client starting a fresh connection every 50 ms (none
    waiting for a request hung on the dead holder) has no answer for at
    most 1 s."""
    h = cluster.settle()
    started = time.monotonic()
    with GoClient(cluster, fresh=True) as fresh:
        wait("the fresh-connection client answering", lambda: fresh.first_ok_after(started), 60, 0.1)
        t0 = time.monotonic()
        sh("ip", "-n", cluster.lan, "link", "set", h.port, "down")
        killed = h.power_off()
        moved = wait("the VIP on another node", lambda: cluster.taken_elsewhere(h, t0), 60, 0.05)
        report.timed(step, f"{h.name} powered off ({killed} processes): VIP on another node", moved - t0)
        t1 = time.monotonic()
        h.run("ip", "addr", "del", f"{VIP}/32", "dev", "eth0", check=False)
        sh("ip", "-n", cluster.lan, "link", "set", h.port, "up")
        h.start_containerd()
        out = h.kubealived("install")
        log(f"{h.name}: the boot unit's kubealived install:\n" + out.stdout.strip())
        h.kubelet_enabled = True
        wait(f"the kubealived pod on {h.name}", h.pod_running, 300)
        wait(f"{h.name}'s apiserver Ready", lambda: h.apiserver.now() == READY, 300)
        report.timed(step, f"  boot of {h.name}: kubealived pod Running, apiserver Ready", time.monotonic() - t1)
        time.sleep(3)
        until = time.monotonic()
    takes = cluster.holders.moves(t0, until)
    gap = fresh.longest_gap(t0, until)
    report.timed(step, "  longest gap of the fresh-connection client (a request every 50 ms)", gap)
    report.timed(step, "  longest kubectl gap (one request at a time, 1 s timeout)", client.longest_gap(t0, until))
    log(f"step {step}: the VIP moved {takes} time(s); {h.name} holds it now: {cluster.holders.holds(h.name)}")
    if takes != 1 or gap > 1.0:
        raise Failed(f"step {step}: after the power cut the VIP moved {takes} time(s) (once) and the fresh-connection "
                     f"client had no answer for {gap:.2f} s (at most 1.0 s)")


def keepalived_restart_loop(cluster, client, report, step):
    """keepalived stuck in a restart loop on a non-holder: its
    keepalived.conf names an interface the node lacks (a hand edit gone
    wrong) and keepalived is stopped once, so the agent's restarts all
    fail. The agent's /healthz turns red, kubelet's liveness probe fails
    and kubelet restarts the container; the VIP stays where it is. Then
    `kubealived install` writes the config back and the next container
    is healthy."""
    h = cluster.settle()
    n = next(m for m in cluster.nodes if m is not h)
    conf = "/etc/kubealived/keepalived.conf"
    good = n.host_path(conf).read_text()
    t0 = time.monotonic()
    n.write(conf + ".new", good.replace("interface eth0", "interface eth9"))
    n.run("mv", conf + ".new", conf)
    for p in n.pids_named(("keepalived",)):
        os.kill(p, signal.SIGTERM)
    loop = wait(f"{n.name}'s agent seeing a restart loop", lambda: "restart loop" in n.kubealived_log() and time.monotonic(),
                60, 0.1)
    # kubelet's events, as `kubectl describe pod` shows them: Unhealthy
    # ("Liveness probe failed ... 503"), then Killing.
    killing = "Container keepalived failed liveness probe, will be restarted"
    restarted = wait(f"kubelet restarting {n.name}'s kubealived container for its liveness probe",
                     lambda: killing in cluster.kubectl(
                         "get", "events", "-n", "kube-system", "--field-selector",
                         f"involvedObject.name=kubealived-{n.name},reason=Killing",
                         "-o", "jsonpath={.items[*].message}", "--request-timeout=5s").stdout and time.monotonic(),
                     120, 1)
    report.timed(step, f"keepalived in a restart loop on {n.name}: the agent says so after", loop - t0)
    report.timed(step, "  kubelet's liveness probe restarted the container after", restarted - t0)
    n.kubealived("install")
    if n.host_path(conf).read_text() != good:
        raise Failed(f"step {step}: install did not write {n.name}'s keepalived.conf back")
    def healthz():
        return n.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:10290/healthz",
                     check=False).stdout

    # Healthy for good: 10 s of 200 in a row (a loop shows within 1 s).
    healthy, since_ok = None, None
    deadline = time.monotonic() + 300
    while healthy is None:
        ok = healthz() == "200"
        since_ok = (since_ok or time.monotonic()) if ok else None
        if since_ok and time.monotonic() - since_ok >= 10:
            healthy = since_ok
        elif time.monotonic() > deadline:
            raise Failed(f"step {step}: {n.name}'s agent not healthy for 10 s in a row within 300 s of the fix")
        time.sleep(0.5)
    report.timed(step, "  install wrote the config back: /healthz 200 for good after", healthy - t0)
    spans = cluster.holders.holding_spans(h.name, t0, time.monotonic())
    if len(spans) != 1 or cluster.holders.moves(t0, time.monotonic()):
        raise Failed(f"step {step}: the VIP moved while {n.name}, a backup, was in a restart loop: {spans}")


def reset_and_rejoin(cluster, client, report, step):
    """kubeadm reset on a node that does not hold the VIP, then install
    with no flags brings the same manifest back; the rejoined node's kubelet
    runs the pod again."""
    h = cluster.settle()
    r = next(n for n in reversed(cluster.nodes) if n is not h)
    before = r.manifest()
    t0 = time.monotonic()
    r.stop_kubelet()  # what `systemctl stop kubelet` in kubeadm reset does
    kubeadm.reset(r)
    after_reset = r.manifest()
    log(f"{r.name}: after kubeadm reset the kubealived manifest is {'gone' if after_reset is None else 'still there'}")
    r.kubealived("install")
    if r.manifest() != before:
        raise Failed(f"install with no flags after reset wrote a different manifest on {r.name}")
    report.timed(step, f"kubeadm reset + install (no flags) on {r.name}", time.monotonic() - t0)
    t1 = time.monotonic()
    # The cluster still has the Node: an operator deletes it before rejoining.
    cluster.kubectl("delete", "node", r.name, "--request-timeout=20s", check=True, timeout=60)
    r.kubelet_enabled = True  # the unit stays enabled: kubelet starts once join writes its config
    kubeadm.run(r, "join", kubeadm.join_config(r, cluster.join))
    wait(f"the kubealived pod on {r.name}", r.pod_running, 180)
    report.timed(step, f"  rejoin {r.name}: the pod is back", time.monotonic() - t1)
    wait("3 Ready nodes again", lambda: len(cluster.ready_nodes()) == 3, 300, interval=2)


def uninstall(cluster, client, report, step):
    """uninstall on the holder: kubelet stops the pod, the VIP leaves."""
    h = cluster.settle()
    t0 = time.monotonic()
    h.kubealived("uninstall")
    if h.manifest() is not None:
        raise Failed(f"uninstall left the manifest on {h.name}")
    left = wait(f"the VIP leaving {h.name}", lambda: cluster.holders.first(h.name, t0, held=False), 120, 0.05)
    taken = wait("the VIP on another node", lambda: cluster.taken_elsewhere(h, t0), 60, 0.05)
    wait(f"no kubealived pod on {h.name}", lambda: not h.pod_running(), 60)
    report.timed(step, f"uninstall on {h.name}: VIP left it", left - t0)
    report.timed(step, "  VIP on another node", taken - t0)
    report.prints["pods_end"] = cluster.kubectl("get", "pods", "-n", "kube-system", "-o", "wide").stdout


def kube_vip_instead(cluster, client, report, step):
    """The peer on the same control plane: kubealived uninstalled on every
    master, kube-vip's generated static pod (designs.KubeVip, admin.conf)
    written on each. One of them takes the VIP, kubectl answers through it
    again, and every kube-vip says it talks to its own apiserver. (The
    side-by-side measurement is tests/kube/bench; this checks, in every CI
    run, that the kube-vip it builds works here.)"""
    kube_vip = designs.KubeVip()
    t0 = time.monotonic()
    for n in cluster.nodes:
        if n.manifest() is not None:
            n.kubealived("uninstall")
    wait("no VIP holder once kubealived is gone", lambda: not cluster.holding(), 120, 0.05)
    t1 = time.monotonic()
    report.timed(step, "kubealived uninstalled on every master: no VIP", t1 - t0)
    for n in cluster.nodes:
        kube_vip.before_join(n)
    holder = wait("kube-vip taking the VIP", lambda: (cluster.holding() or [None])[0], 300, 0.05)
    report.timed(step, f"  kube-vip's static pods written: {holder.name} took the VIP after", cluster.holders.first(holder.name, t1) - t1)
    wait("kubectl through kube-vip's VIP", cluster.answers, 60)
    for n in cluster.nodes:
        wait(f"{n.name}'s kube-vip using its own apiserver", lambda: kube_vip.reaches_local_apiserver(n), 120)
    time.sleep(5)
    if len(cluster.holding()) != 1 or cluster.holders.moves(t1, time.monotonic()) != 1:
        raise Failed(f"step {step}: kube-vip's VIP on {[n.name for n in cluster.holding()]}, "
                     f"moved {cluster.holders.moves(t1, time.monotonic())} time(s) since its pods came")
    report.prints["pods_end"] = cluster.kubectl("get", "pods", "-n", "kube-system", "-o", "wide").stdout


SPREAD = 300  # fresh connections through the VIP in step 17


def load_balance(cluster, client, report, step):
    """kubealived's opt-in load balancing on the real control plane:
    kube-vip's pods removed, `kubealived install --load-balance` with every
    master a --peer on each. One master takes the VIP, its table sends to
    all three, and SPREAD fresh connections through the VIP are answered
    by every apiserver, each 25-42 % (which one answered: the address in
    its serving certificate, as vipclient reports it). Then uninstall on
    every master leaves no table."""
    t0 = time.monotonic()
    for n in cluster.nodes:
        n.run("rm", "-f", designs.KubeVip.manifest)
    for n in cluster.nodes:
        wait(f"kube-vip gone from {n.name}", lambda: not n.pids_named(designs.KubeVip.processes), 120)
    peers = [a for n in cluster.nodes for a in ("--peer", n.addr)]
    for n in cluster.nodes:
        n.kubealived("install", "--vip", VIP, "--load-balance", *peers)
    holder = wait("one master holding the VIP", lambda: len(cluster.holding()) == 1 and cluster.holding()[0], 180, 0.05)
    table = lambda n: n.run("nft", "list", "table", *BALANCE_TABLE.split(), check=False).stdout  # noqa: E731
    wait(f"{holder.name}'s table sending to every master",
         lambda: all(f"{n.addr} . {PORT}" in table(holder) for n in cluster.nodes), 120, 0.2)
    report.timed(step, f"install --load-balance on 3 masters: {holder.name} spreads over all 3 after",
                 time.monotonic() - t0)
    t1 = time.monotonic()
    with GoClient(cluster, fresh=True, every="20ms") as c:
        wait(f"{SPREAD} answers through the VIP", lambda: len(c.answers) >= SPREAD, 60, 0.2)
    answers = [who for _, who, _ in c.answers[:SPREAD]]
    counts = {n.name: sum(1 for who in answers if n.addr in who) for n in cluster.nodes}
    report.timed(step, f"  {SPREAD} fresh connections through the VIP, answered by "
                 + " / ".join(f"{k} {v}" for k, v in counts.items()) + ", in", time.monotonic() - t1)
    if not all(0.25 * SPREAD <= v <= 0.42 * SPREAD for v in counts.values()):
        raise Failed(f"step {step}: {SPREAD} fresh connections through the VIP spread {counts}, "
                     f"not 25-42 % each over the three apiservers")
    for n in cluster.nodes:
        n.kubealived("uninstall")
    for n in cluster.nodes:
        wait(f"no table on {n.name} after uninstall", lambda: not table(n), 60)
