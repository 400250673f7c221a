"""Chaos: rounds of random faults on 3 masters running real keepalived on
kubealived's rendered config. After every round everything is healed and
there must be exactly one holder; a client on VIP:6443 must never go without
an answer longer than the failover target plus one advert interval.

KUBEALIVED_CHAOS_ROUNDS (default 100) and KUBEALIVED_CHAOS_SEED set the run.
"""
import os
import random
import signal
import time

from lab import Lab
from test_scenarios import overlaps, require

FAILOVER_TARGET = 1.0  # s, hard loss (README, Performance)
ADVERT = 0.3  # s, the default advert interval
MAX_GAP = FAILOVER_TARGET + ADVERT


def kill_vrrp_child(L, i):
    """SIGKILL keepalived's VRRP process by its pid file; the keepalived
    parent respawns it, as a container runtime would restart the pod."""
    pid = int((L.dir / f"m{i}.vrrp.pid").read_text().strip())
    os.kill(pid, signal.SIGKILL)


def test_chaos_rounds():
    require()
    rounds = int(os.environ.get("KUBEALIVED_CHAOS_ROUNDS", "100"))
    seed = int(os.environ.get("KUBEALIVED_CHAOS_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    counts, gaps, double, worst_settle = {}, [], 0, 0.0
    with Lab(masters=3, mode="host") as L:
        for i in (1, 2, 3):
            L.start_apiserver(i)
            L.start_master(i)
        assert L.wait_holder(15)
        time.sleep(3)
        probe = L.probe()
        assert L.wait(probe.up, 10)
        for n in range(rounds):
            holder = L.wait_holder(10)
            assert holder, f"round {n}: no single holder before the fault: {L.holders.now()}"
            fault = rng.choice(["link", "partition", "kill", "apiserver", "flap", "other-link"])
            counts[fault] = counts.get(fault, 0) + 1
            t0 = time.monotonic()
            if fault == "link":  # the holder vanishes, then returns
                L.link(holder, False)
                time.sleep(rng.uniform(0.5, 3))
                L.link(holder, True)
            elif fault == "other-link":  # a backup vanishes, then returns
                other = rng.choice([i for i in (1, 2, 3) if i != holder])
                L.link(other, False)
                time.sleep(rng.uniform(0.5, 3))
                L.link(other, True)
            elif fault == "partition":
                side = rng.sample([1, 2, 3], rng.choice([1, 2]))
                L.partition(side)
                time.sleep(rng.uniform(0.5, 3))
                L.heal(side)
            elif fault == "kill":
                kill_vrrp_child(L, rng.choice([holder, holder, rng.choice((1, 2, 3))]))
                time.sleep(rng.uniform(0.5, 2))
            elif fault == "apiserver":  # the holder's apiserver fails, then recovers
                L.set_healthy(holder, False)
                time.sleep(rng.uniform(2.5, 4))
                L.set_healthy(holder, True)
            else:  # "flap": an apiserver flaps fast, faster than fall/rise
                target = rng.choice((1, 2, 3))
                for _ in range(rng.randint(2, 6)):
                    L.set_healthy(target, False)
                    time.sleep(rng.uniform(0.1, 0.9))
                    L.set_healthy(target, True)
                    time.sleep(rng.uniform(0.1, 0.9))
            t_heal = time.monotonic()
            settled = L.wait(lambda: len(L.holders.now()) == 1, 10)
            assert settled, f"round {n} ({fault}): {L.holders.now()} holders 10 s after heal"
            worst_settle = max(worst_settle, time.monotonic() - t_heal)
            L.wait(probe.up, 10)
            time.sleep(2.5)  # let the checks rise again before the next fault
            round_gaps = probe.gaps_since(t0)
            gaps += round_gaps
            # Two holders outside a partition, longer than the tie-break.
            exclude = [(t0, t_heal + 2)] if fault in ("partition", "link", "other-link") else []
            double += len([d for d in overlaps(L.holders, t0=t0, exclude=exclude) if d > 0.1])
    max_gap = max(gaps, default=0.0)
    print(f"\nchaos: {rounds} rounds (seed {seed}), faults {dict(sorted(counts.items()))}, "
          f"client gaps {len(gaps)}, max gap {max_gap:.2f} s, double-holder instants {double}, "
          f"single holder within {worst_settle:.2f} s of every heal")
    assert double == 0
    assert max_gap <= MAX_GAP, f"the VIP did not answer for {max_gap:.2f} s (limit {MAX_GAP} s)"
