#!/usr/bin/env python3
"""Failover benchmark: kubealived's defaults against the kubeadm HA guide's
keepalived configuration, on the same lab, in one run. Prints numbers; it
is not a test. Run as root:

    .venv/bin/python tests/lab/bench.py            # the full benchmark (~35 min)
    .venv/bin/python tests/lab/bench.py --trials 3 --sizes 3 --soak-seconds 60 --adverts 0.3   # short (CI)

Measured, per configuration (3 masters, host keepalived on the rendered
config, real TCP clients on VIP:6443 from their own namespace):
  hard loss    the holder's bridge port goes down; client gap on VIP:6443
  apiserver    the holder's apiserver process dies; time until another master holds the VIP
  graceful     the holder's keepalived gets SIGTERM; client gap
then the hard-loss median for each cluster size, and a soak with every core
busy counting VIP moves that nothing caused (goal 0), for each advert interval.

Another design to compare (Lab options) goes into DESIGNS, another scenario
(a function of the lab, trials, rise time and client) into SCENARIOS.
"""
import argparse
import contextlib
import dataclasses
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab import Lab  # noqa: E402
from machine import binary, missing_prerequisites, stop  # noqa: E402
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


def apiserver_death(L, trials, rise_wait, probe):
    """The holder's apiserver dies: until another master holds the VIP;
    and whether it moves back when the apiserver returns."""
    moved, flapped_back = [], 0
    for _ in range(trials):
        holder = settle(L, 1)
        t0 = time.monotonic()
        L.stop_apiserver(holder)
        m = L.wait_moved(holder, t0, 90)
        if m is None:
            raise RuntimeError("VIP did not move after apiserver death")
        moved.append(m)
        new = L.wait_holder(10)
        L.start_apiserver(holder)
        t1 = time.monotonic()
        time.sleep(rise_wait + 4)
        if any(e[1] == holder and e[3] for e in L.holders.since(t1)):
            flapped_back += 1
        assert new is not None
    return moved, f"; moved back on recovery {flapped_back}/{trials}"


def graceful(L, trials, rise_wait, probe):
    """The holder's keepalived is stopped (SIGTERM, or the pod stopped):
    the client's gap."""
    return client_gaps(L, trials, rise_wait, probe, "graceful stop",
                       lambda holder: L.stop_master(holder, graceful=True),
                       lambda holder: L.start_master(holder, install=False))


SCENARIOS = [  # (key, what is printed before the numbers, how it is measured)
    ("hard loss", "hard loss, client gap:       ", hard_loss),
    ("apiserver death", "apiserver death -> VIP moved:", apiserver_death),
    ("graceful stop", "graceful stop, client gap:   ", graceful),
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
    Design("kubealived", "kubealived defaults (VRRPv3, advert 0.3 s, check 1 s x 2, weight -50)", 3),
    Design("guide", "kubeadm HA guide (VRRPv2, advert 1 s, check 3 s x 10, weight -2)", 8, {"guide": True}),
]


def profile(design, trials):
    """Every scenario on one cluster of the design: {key: seconds}."""
    out(f"\n--- {design.name}: 3 masters, {trials} trials each")
    results = {}
    with cluster(design.rise_wait, **design.lab) as (L, probe):
        for key, label, measure in SCENARIOS:
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


def soak(advert, seconds, per_master, trials):
    args = [] if advert is None else ["--advert-interval", str(advert)]
    label = "default" if advert is None else f"{advert} s"
    with cluster(install_args=args) as (L, probe):
        stress = Stress(L, per_master)
        try:
            time.sleep(2)
            t0 = time.monotonic()
            time.sleep(seconds)
            moves = [e for e in L.holders.since(t0) if e[3]]
            gaps = probe.gaps_since(t0)
            hl = hard_loss(L, trials, 3, probe)[0] if trials else []
        finally:
            stress.stop()
    out(f"advert {label:>7}, {L.n * per_master} busy loops on {os.cpu_count()} cores: "
        f"{len(moves)} spurious VIP moves and {len(gaps)} client gaps in {seconds} s; "
        f"hard loss under stress: {summary(hl)}")
    return len(moves)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--sizes", type=int, nargs="*", default=[3, 5, 7])
    ap.add_argument("--soak-seconds", type=int, default=600)
    ap.add_argument("--adverts", type=float, nargs="*", default=[0.1, 0.3, 0.5],
                    help="advert intervals for the stressed soak (the default is always included)")
    ap.add_argument("--stress-per-master", type=int, default=2)
    ap.add_argument("--no-guide", action="store_true", help="skip the kubeadm guide baseline")
    args = ap.parse_args()
    missing = missing_prerequisites()
    if missing:
        sys.exit(f"bench.py needs {', '.join(missing)} (run `sudo scripts/setup`, then as root)")
    keepalived = subprocess.run(["keepalived", "--version"], capture_output=True, text=True).stderr.splitlines()[0]
    out(f"kubealived failover benchmark: {keepalived}, {os.cpu_count()} cores, binary {binary()}")

    designs = [d for d in DESIGNS if not (args.no_guide and d.key == "guide")]
    results = {d.key: profile(d, args.trials) for d in designs}
    ours = results[designs[0].key]
    for other in designs[1:]:
        out(f"\n--- {designs[0].key} / {other.key} (medians)")
        for key, *_ in SCENARIOS:
            a, b = statistics.median(ours[key]), statistics.median(results[other.key][key])
            out(f"{key:<16} {a:6.2f} s vs {b:6.2f} s   ratio {a / b:.2f}")

    out("\n--- hard loss by cluster size (kubealived defaults)")
    for n in args.sizes:
        with cluster(masters=n) as (L, probe):
            gaps, _ = hard_loss(L, max(3, args.trials // 2), 3, probe)
        out(f"{n} masters: {summary(gaps)}")

    out(f"\n--- soak under CPU stress, {args.soak_seconds} s each")
    spurious = soak(None, args.soak_seconds, args.stress_per_master, 0)
    for advert in args.adverts:
        if advert != 0.3:
            soak(advert, max(60, args.soak_seconds // 3), args.stress_per_master, max(3, args.trials // 2))
    out(f"\nspurious VIP moves with the defaults under stress: {spurious} (goal 0)")


if __name__ == "__main__":
    main()
