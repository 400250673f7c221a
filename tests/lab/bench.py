#!/usr/bin/env python3
"""Failover benchmark: kubealived's defaults against the kubeadm HA guide's
keepalived configuration, on the same lab, in one run. Prints numbers; it
is not a test. Run as root:

    .venv/bin/python tests/lab/bench.py            # the full benchmark (~50 min)
    .venv/bin/python tests/lab/bench.py --trials 3 --sizes 3 --soak-seconds 60 --adverts 0.3   # short (CI)

Designs: kubealived's agent (keepalived under `kubealived agent`, as in
the pod), the design before it (keepalived runs check-apiserver every
second), the kubeadm HA guide. Measured, per design (3 masters, real TCP
clients on VIP:6443 from their own namespace):
  hard loss           the holder's bridge port goes down; client gap on VIP:6443
  apiserver killed    the holder's apiserver process dies; until another master holds the VIP
  apiserver hung      it accepts connections and never answers; likewise
  apiserver graceful  /readyz red for 2 s while it serves (--shutdown-delay-duration), then it
                      stops; client gaps (goal: none)
  SIGTERM             the holder's keepalived (the agent) gets SIGTERM; client gap
  kills               SIGKILL of the holder's VRRP process, or of all of keepalived, again and
                      again; how long two masters held the VIP after each
then graceful shutdowns whose hand-over the client misses, with the masters
forwarding (as every kubeadm node does) and not, the hard-loss median for
each cluster size, and a soak with every core
busy counting VIP moves that nothing caused (goal 0), for each advert interval.

Another design to compare (Lab options) goes into DESIGNS, another scenario
(a function of the lab, trials, rise time and client) into SCENARIOS.
"""
import argparse
import contextlib
import dataclasses
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab import Lab  # noqa: E402
from machine import binary, missing_prerequisites, stop  # noqa: E402
from names import addr4  # noqa: E402
from stats import summary  # noqa: E402


def out(*args):
    print(*args, flush=True)


def settle(L, seconds):
    """Wait for exactly one holder, then `seconds` more."""
    holder = L.wait_holder(30)
    assert holder, f"no single holder: {L.holders.now()}"
    time.sleep(seconds)
    return L.wait_holder(30)


@contextlib.contextmanager
def cluster(rise_wait=3, masters=3, **options):
    """A started cluster of host keepalived (unless options say otherwise)
    and a connected client."""
    with Lab(masters=masters, log=out, **options) as L:
        L.start_cluster(rise_wait)
        yield L, L.probe()


# The scenarios measured for each design. Each takes (lab, trials, the
# checks' rise time, the client) and returns (seconds, a note to print).
def client_gaps(L, trials, rise_wait, probe, what, fault, undo):
    """The client's gap after `fault(holder)`, which must move the VIP, in
    each trial; `undo(holder)` after it."""
    gaps = []
    for _ in range(trials):
        holder = settle(L, 1)
        t0 = time.monotonic()
        fault(holder)
        if L.wait_moved(holder, t0, 30) is None:
            raise RuntimeError(f"VIP did not move after {what}")
        gaps.append(L.client_gap(probe, t0))
        undo(holder)
        time.sleep(rise_wait)
    return gaps, ""


def hard_loss(L, trials, rise_wait, probe):
    """The holder's bridge port goes down: the client's gap."""
    return client_gaps(L, trials, rise_wait, probe, "hard loss",
                       lambda holder: L.link(holder, False), lambda holder: L.link(holder, True))


def apiserver_fault(L, trials, rise_wait, fault, undo):
    """`fault(holder)` on the holder's apiserver: until another master holds
    the VIP; `undo(holder)`, then whether the VIP moves back."""
    moved, flapped_back = [], 0
    for _ in range(trials):
        holder = settle(L, 1)
        t0 = time.monotonic()
        fault(holder)
        m = L.wait_moved(holder, t0, 90)
        if m is None:
            raise RuntimeError("VIP did not move after an apiserver fault")
        moved.append(m)
        new = L.wait_holder(10)
        undo(holder)
        t1 = time.monotonic()
        time.sleep(rise_wait + 2)
        if any(e[1] == holder and e[3] for e in L.holders.since(t1)):
            flapped_back += 1
        assert new is not None
    return moved, f"; moved back on recovery {flapped_back}/{trials}"


def apiserver_death(L, trials, rise_wait, probe):
    """The holder's apiserver process is killed."""
    return apiserver_fault(L, trials, rise_wait, L.stop_apiserver, L.start_apiserver)


def apiserver_hung(L, trials, rise_wait, probe):
    """The holder's apiserver accepts connections and never answers."""
    return apiserver_fault(L, trials, rise_wait, lambda i: L.set_mode(i, "hang"), lambda i: L.set_mode(i, "ok"))


SHUTDOWN_DELAY = 2.0  # s, kube-apiserver --shutdown-delay-duration


def apiserver_graceful(L, trials, rise_wait, probe, arp_held=None):
    """The holder's apiserver shuts down gracefully: /readyz red (/livez
    still green) for SHUTDOWN_DELAY while it serves, then it stops. The
    client's gaps from the start of the shutdown until the VIP has settled
    (goal: none). arp_held: the client takes in no ARP for the VIP from the
    shutdown's start until that many seconds after the VIP moved (a client
    that missed the new holder's gratuitous ARP)."""
    failed, worst = 0, []
    for _ in range(trials):
        holder = settle(L, 1)
        t0 = time.monotonic()
        if arp_held is not None:
            L.client_hears_arp(False)
        L.set_mode(holder, "graceful")
        if arp_held is not None:
            L.wait_moved(holder, t0, SHUTDOWN_DELAY)
            time.sleep(arp_held)
            L.client_hears_arp(True)
        time.sleep(max(0.0, SHUTDOWN_DELAY - (time.monotonic() - t0)))
        L.stop_apiserver(holder)
        if L.wait_moved(holder, t0, 60) is None:
            raise RuntimeError("VIP did not move after a graceful apiserver shutdown")
        L.wait_holder(30)
        worst.append(L.client_gap(probe, t0))
        failed += bool(probe.gaps_since(t0))
        L.start_apiserver(holder)
        time.sleep(rise_wait)
    return worst, f"; shutdowns with a failed connection: {failed} of {trials} (goal 0)"


KILL_WAIT = 15.0  # s: how long a killed keepalived may take to come back before the bench restarts it


def repeated_kills(L, trials, probe, everything):
    """SIGKILL of the holder's VRRP process (or of all of keepalived), again
    and again, about 3 s apart: how long two masters held the VIP after each
    kill (while the killed one still had it on its interface)."""
    doubles = []
    for _ in range(trials):
        holder = settle(L, 0.5)
        t0 = time.monotonic()
        old = L.kill_vrrp(holder, everything)
        back = L.wait(lambda: L.vrrp_pid(holder) not in (None, old), KILL_WAIT)
        if not back or L.wait(lambda: len(L.holders.now()) == 1, 5) is None:
            L.stop_keepalived(holder, graceful=False)  # a human (or kubelet) restarts it
            L.start_keepalived(holder, install=False)
        L.wait(lambda: len(L.holders.now()) == 1, 10)
        doubles.append(max(L.holders.spans(lambda held: held >= 2, t0=t0), default=0.0))
        time.sleep(2.5)
    return doubles, f"; over 0.5 s: {sum(d > 0.5 for d in doubles)}/{trials}"


def kill_vrrp(L, trials, rise_wait, probe):
    return repeated_kills(L, trials, probe, everything=False)


def kill_all(L, trials, rise_wait, probe):
    return repeated_kills(L, trials, probe, everything=True)


def graceful(L, trials, rise_wait, probe):
    """The holder's keepalived is stopped (SIGTERM, or the pod stopped):
    the client's gap."""
    return client_gaps(L, trials, rise_wait, probe, "graceful stop",
                       lambda holder: L.stop_master(holder, graceful=True),
                       lambda holder: L.start_master(holder, install=False))


SCENARIOS = [  # (key, printed label, how it is measured, the designs it runs for (None: all))
    ("hard loss", "hard loss, client gap:            ", hard_loss, None),
    ("apiserver killed", "apiserver killed -> VIP moved:    ", apiserver_death, None),
    # The guide's check takes 3 s x 10 for any apiserver fault: measured once.
    ("apiserver hung", "apiserver hung -> VIP moved:      ", apiserver_hung, ("agent", "script")),
    ("apiserver graceful", "apiserver graceful, client gap:   ", apiserver_graceful, ("agent", "script", "balanced")),
    ("graceful stop", "keepalived/agent SIGTERM, gap:    ", graceful, None),
    ("kill VRRP", "VRRP process SIGKILLed, 2 holders:", kill_vrrp, ("agent", "script")),
    ("kill all", "keepalived SIGKILLed, 2 holders:  ", kill_all, ("agent", "script")),
]


@dataclasses.dataclass
class Design:
    """A way of running keepalived that the benchmark compares: Lab options
    and the time its checks take to rise again (2 x the check interval)."""
    key: str
    name: str
    rise_wait: float
    lab: dict = dataclasses.field(default_factory=dict)


DESIGNS = [  # the first is kubealived's, which the others are compared with
    Design("agent", "kubealived agent (VRRPv3, advert 0.3 s, /readyz every 0.1 s x 2, track_file)", 1.5,
           {"design": "agent"}),
    Design("script", "before the agent (VRRPv3, advert 0.3 s, vrrp_script /livez 1 s x 2, weight -50)", 3,
           {"design": "script"}),
    Design("guide", "kubeadm HA guide (VRRPv2, advert 1 s, check 3 s x 10, weight -2)", 8, {"guide": True}),
    Design("balanced", "kubealived agent with --load-balance (every master a --peer; docs/load-balancing.md)", 1.5,
           {"design": "agent", "install_args": ["--load-balance", *(a for i in (1, 2, 3) for a in ("--peer", addr4(i)))]}),
]


def profile(design, trials, scenarios):
    """The scenarios on one cluster of the design: {key: seconds}."""
    out(f"\n--- {design.name}: 3 masters, {trials} trials each")
    results = {}
    with cluster(design.rise_wait, **design.lab) as (L, probe):
        for key, label, measure, only in scenarios:
            if only and design.key not in only:
                continue
            results[key], note = measure(L, trials, design.rise_wait, probe)
            out(f"{label} {summary(results[key])}{note}")
    return results


class Stress:
    """Busy loops inside every master namespace, stopped by their own pids."""

    def __init__(self, L, per_master):
        self.procs = [L.spawn(i, sys.executable, "-c", "while True: pass")
                      for i in L.masters for _ in range(per_master)]

    def stop(self):
        for p in self.procs:
            stop(p)


def with_lines(conf, global_lines=(), instance_lines=()):
    """keepalived.conf with lines added to global_defs and vrrp_instance."""
    for line in global_lines:
        conf = conf.replace("global_defs {\n", f"global_defs {{\n    {line}\n", 1)
    for line in instance_lines:
        conf = re.sub(r"(\n    advert_int \S+\n)", rf"\1    {line}\n", conf, count=1)
    return conf


VARIANTS = {  # node-loss variants: keepalived.conf edits
    "": None,
    "down_timer_adverts 2": lambda c: with_lines(c, instance_lines=["down_timer_adverts 2"]),
    "vrrp_rt_priority 50": lambda c: with_lines(c, global_lines=["vrrp_rt_priority 50"]),
}


def state_log(L):
    """Every master's state changes and the agents' lines, so a spurious
    move can be explained (the lab's directory goes at close)."""
    keep = ("kubealived agent:", "Entering", "priority", "Receive advertisement")
    lines = []
    for i in L.masters:
        lines += [f"m{i} {line}" for line in L.keepalived_log(i) if any(k in line for k in keep)]
    return "\n".join(lines[-60:])


def soak(advert, seconds, per_master, trials, variant=""):
    """Every master busy: VIP moves nothing caused, then hard loss."""
    args = [] if advert is None else ["--advert-interval", str(advert)]
    label = ("default" if advert is None else f"{advert} s") + (f", {variant}" if variant else "")
    with cluster(install_args=args, conf_edit=VARIANTS[variant]) as (L, probe):
        stress = Stress(L, per_master)
        try:
            time.sleep(2)
            t0 = time.monotonic()
            time.sleep(seconds)
            moves = [e for e in L.holders.since(t0) if e[3]]
            gaps = probe.gaps_since(t0)
            if moves:
                out(f"spurious moves (t from the soak's start, master): {[(round(t - t0, 2), m) for t, m, *_ in moves]}; "
                    f"what the agents and keepalived said:\n{state_log(L)}")
            hl = hard_loss(L, trials, 2, probe)[0] if trials else []
        finally:
            stress.stop()
    out(f"advert {label:<30} {L.n * per_master} busy loops on {os.cpu_count()} cores: "
        f"{len(moves)} spurious VIP moves and {len(gaps)} client gaps in {seconds} s; "
        f"hard loss under stress: {summary(hl)}")
    return len(moves)


SECTIONS = ["designs", "handover", "sizes", "soak", "node-loss"]
ARP_HELD = 0.5  # s after the move that the client takes in no ARP for the VIP


def handover_window(trials):
    """Graceful shutdowns whose hand-over the client misses (it keeps the
    old holder's MAC until ARP_HELD s after the move): masters that forward,
    as every kubeadm node does, against masters that do not. A forwarding
    old holder passes what still reaches it on to the new one."""
    out(f"\n--- graceful shutdown, the client deaf to ARP for the VIP until {ARP_HELD} s after the move")
    for forwarding in (True, False):
        with cluster(DESIGNS[0].rise_wait, forwarding=forwarding) as (L, probe):
            gaps, note = apiserver_graceful(L, trials, DESIGNS[0].rise_wait, probe, arp_held=ARP_HELD)
        out(f"masters {'forwarding' if forwarding else 'not forwarding'}: client gap {summary(gaps)}{note}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--sizes", type=int, nargs="*", default=[3, 5, 7])
    ap.add_argument("--soak-seconds", type=int, default=300)
    ap.add_argument("--adverts", type=float, nargs="*", default=[0.15, 0.2, 0.3],
                    help="advert intervals for the node-loss table under stress")
    ap.add_argument("--node-loss-seconds", type=int, default=40, help="stressed soak before each node-loss row")
    ap.add_argument("--stress-per-master", type=int, default=2)
    ap.add_argument("--no-guide", action="store_true", help="skip the kubeadm guide baseline")
    ap.add_argument("--designs", nargs="+", choices=[d.key for d in DESIGNS], help="only these designs")
    ap.add_argument("--scenarios", nargs="+", choices=[k for k, *_ in SCENARIOS], help="only these scenarios")
    ap.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS, help="only these sections")
    args = ap.parse_args()
    missing = missing_prerequisites()
    if missing:
        sys.exit(f"bench.py needs {', '.join(missing)} (run `sudo scripts/setup`, then as root)")
    keepalived = subprocess.run(["keepalived", "--version"], capture_output=True, text=True).stderr.splitlines()[0]
    out(f"kubealived failover benchmark: {keepalived}, {os.cpu_count()} cores, binary {binary()}")

    load = os.getloadavg()
    out(f"load average at the start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    if "designs" in args.only:
        compare(args)
    if "handover" in args.only:
        handover_window(args.trials)
    if "sizes" in args.only:
        out("\n--- hard loss by cluster size (kubealived defaults)")
        for n in args.sizes:
            with cluster(masters=n) as (L, probe):
                gaps, _ = hard_loss(L, max(3, args.trials // 2), 3, probe)
            out(f"{n} masters: {summary(gaps)}")
    if "soak" in args.only:
        out(f"\n--- soak under CPU stress with the defaults, {args.soak_seconds} s")
        spurious = soak(None, args.soak_seconds, args.stress_per_master, 0)
        out(f"spurious VIP moves with the defaults under stress: {spurious} (goal 0)")
    if "node-loss" in args.only:
        out(f"\n--- node loss under CPU stress, {args.node_loss_seconds} s soak each")
        for advert in args.adverts:
            for variant in VARIANTS:
                soak(advert, args.node_loss_seconds, args.stress_per_master, max(3, args.trials // 2), variant)


def compare(args):
    """Every scenario for every design, then each design against the first."""
    designs = [d for d in DESIGNS if not (args.no_guide and d.key == "guide")
               and (args.designs is None or d.key in args.designs)]
    scenarios = [s for s in SCENARIOS if args.scenarios is None or s[0] in args.scenarios]
    results = {d.key: profile(d, args.trials, scenarios) for d in designs}
    ours = results[designs[0].key]
    for other in designs[1:]:
        out(f"\n--- {designs[0].key} / {other.key} (medians)")
        for key, *_ in scenarios:
            if key in ours and key in results[other.key]:
                a, b = statistics.median(ours[key]), statistics.median(results[other.key][key])
                out(f"{key:<20} {a:6.2f} s vs {b:6.2f} s" + (f"   ratio {a / b:.2f}" if b else ""))


if __name__ == "__main__":
    main()
