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
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab import Lab  # noqa: E402
from machine import binary, missing_prerequisites  # noqa: E402
from stats import summary  # noqa: E402


def out(*args):
    print(*args, flush=True)


def settle(L, seconds):
    """Wait for exactly one holder, then `seconds` more."""
    holder = L.wait_holder(30)
    assert holder, f"no single holder: {L.holders.now()}"
    time.sleep(seconds)
    return L.wait_holder(30)


def hard_loss(L, trials, rise_wait, probe):
    gaps = []
    for _ in range(trials):
        holder = settle(L, 1)
        t0 = time.monotonic()
        L.link(holder, False)
        if L.wait_moved(holder, t0, 30) is None:
            raise RuntimeError("VIP did not move after hard loss")
        gaps.append(L.client_gap(probe, t0))
        L.link(holder, True)
        time.sleep(rise_wait)
    return gaps


def apiserver_death(L, trials, rise_wait):
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
    return moved, flapped_back


def graceful(L, trials, rise_wait, probe):
    gaps = []
    for _ in range(trials):
        holder = settle(L, 1)
        t0 = time.monotonic()
        L.stop_keepalived(holder, graceful=True)
        if L.wait_moved(holder, t0, 30) is None:
            raise RuntimeError("VIP did not move after graceful stop")
        gaps.append(L.client_gap(probe, t0))
        L.start_keepalived(holder, install=False)
        time.sleep(rise_wait)
    return gaps


def profile(name, trials, guide=False, install_args=()):
    rise_wait = 8 if guide else 3  # the checks' rise: 2 x 3 s (guide), 2 x 1 s (kubealived)
    out(f"\n--- {name}: 3 masters, {trials} trials each")
    with Lab(masters=3, mode="host", guide=guide, install_args=install_args, log=out) as L:
        L.start_cluster(rise_wait)
        probe = L.probe()
        hl = hard_loss(L, trials, rise_wait, probe)
        out(f"hard loss, client gap:        {summary(hl)}")
        ad, flaps = apiserver_death(L, trials, rise_wait)
        out(f"apiserver death -> VIP moved: {summary(ad)}; moved back on recovery {flaps}/{trials}")
        gr = graceful(L, trials, rise_wait, probe)
        out(f"graceful stop, client gap:    {summary(gr)}")
    return {"hard": hl, "apiserver": ad, "graceful": gr, "flaps": flaps}


class Stress:
    """Busy loops inside every master namespace, stopped by their own pids."""

    def __init__(self, L, per_master):
        self.procs = [L.spawn(i, sys.executable, "-c", "while True: pass") for i in L.masters for _ in range(per_master)]

    def stop(self):
        for p in self.procs:
            p.kill()
            p.wait()


def soak(advert, seconds, per_master, trials):
    args = [] if advert is None else ["--advert-interval", str(advert)]
    label = "default" if advert is None else f"{advert} s"
    with Lab(masters=3, mode="host", install_args=args, log=out) as L:
        L.start_cluster()
        probe = L.probe()
        stress = Stress(L, per_master)
        try:
            time.sleep(2)
            t0 = time.monotonic()
            time.sleep(seconds)
            moves = [e for e in L.holders.since(t0) if e[3]]
            gaps = probe.gaps_since(t0)
            hl = hard_loss(L, trials, 3, probe) if trials else []
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

    ours = profile("kubealived defaults (VRRPv3, advert 0.3 s, check 1 s x 2, weight -50)", args.trials)
    if not args.no_guide:
        guide = profile("kubeadm HA guide (VRRPv2, advert 1 s, check 3 s x 10, weight -2)", args.trials, guide=True)
        out("\n--- kubealived / guide (medians)")
        for key, what in (("hard", "hard loss"), ("apiserver", "apiserver death"), ("graceful", "graceful stop")):
            a, b = statistics.median(ours[key]), statistics.median(guide[key])
            out(f"{what:<16} {a:6.2f} s vs {b:6.2f} s   ratio {a / b:.2f}")

    out("\n--- hard loss by cluster size (kubealived defaults)")
    for n in args.sizes:
        with Lab(masters=n, mode="host", log=out) as L:
            L.start_cluster()
            probe = L.probe()
            gaps = hard_loss(L, max(3, args.trials // 2), 3, probe)
        out(f"{n} masters: {summary(gaps)}")

    out(f"\n--- soak under CPU stress, {args.soak_seconds} s each")
    spurious = soak(None, args.soak_seconds, args.stress_per_master, 0)
    for advert in args.adverts:
        if advert != 0.3:
            soak(advert, max(60, args.soak_seconds // 3), args.stress_per_master, max(3, args.trials // 2))
    out(f"\nspurious VIP moves with the defaults under stress: {spurious} (goal 0)")


if __name__ == "__main__":
    main()
