"""Chaos: rounds of random faults on 3 masters running real keepalived on
kubealived's rendered config. After every heal there must be exactly one
holder within 2 s; the VIP must never be absent from every master longer
than the failover target plus one advert interval; and faults that leave
every master reachable (apiserver failures and flaps) must never make two
holders. A client connects to VIP:6443 throughout: its gaps are printed, and
one over CLIENT_LIMIT fails (a client black-holed by a stale ARP entry).

A killed VRRP process, or a killed keepalived, must not leave its VIP on
the interface: the agent removes it at once and starts keepalived again.
Two holders after a kill must never last longer than KILL_DOUBLE_LIMIT.

KUBEALIVED_CHAOS_ROUNDS (default 100) and KUBEALIVED_CHAOS_SEED set the run.
"""
import os
import random
import time

from conftest import TIE_BREAK, overlaps

FAILOVER_TARGET = 1.0  # s, hard loss (README, Performance)
ADVERT = 0.3  # s, the default advert interval
MAX_ABSENT = FAILOVER_TARGET + ADVERT
# The client also saw gaps the VIP does not explain: before garp_master_refresh,
# in 2 of 3 runs, a 1.7-1.8 s gap in a round where only a backup's link went
# down and the VIP never moved (40 such rounds alone showed none). Gaps over
# MAX_ABSENT are printed with how the client's connections failed, whose MAC
# it sent to, and keepalived's log. CLIENT_LIMIT catches a stale-ARP black
# hole (about 6 s after a tied takeover, 8 s after a partition heal).
CLIENT_LIMIT = 3 * FAILOVER_TARGET
HEAL_LIMIT = 2.0  # s, from heal to exactly one holder (issue: partition heal)
KILL_DOUBLE_LIMIT = 0.5  # s, two holders after a kill of keepalived or its VRRP process (issue 12)


def wait_respawned(L, i, old_pid):
    """The agent starts keepalived again 0.1 s later, up to 5 s apart while it keeps dying."""
    assert L.wait(lambda: L.vrrp_pid(i) not in (None, old_pid), 15), f"master{i}: VRRP process not restarted"


def client_log(L, probe, t0):
    """The client's connection failures and recoveries, and its neighbour
    entry for the VIP, since t0, with masters' MACs named."""
    names = L.mac_names()
    lines = []
    for t, what in probe.log_since(t0):
        for mac, name in names.items():
            what = what.replace(mac, name)
        lines.append(f"  {t - t0:+.2f} s {what}")
    return "\n".join(lines) or "  (nothing)"


def test_chaos_rounds(new_lab):
    rounds = int(os.environ.get("KUBEALIVED_CHAOS_ROUNDS", "100"))
    seed = int(os.environ.get("KUBEALIVED_CHAOS_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    counts, gaps, absent, slow, doubles, while_dead, worst_settle = {}, [], [], [], [], [], 0.0
    L = new_lab(masters=3, mode="host")
    L.start_cluster()
    probe = L.probe()
    for n in range(rounds):
        holder = L.wait_holder(10)
        assert holder, f"round {n}: no single holder before the fault: {L.holders.now()}"
        fault = rng.choice(["link", "partition", "kill", "kill-all", "apiserver", "flap", "other-link"])
        counts[fault] = counts.get(fault, 0) + 1
        t0, wall0 = time.monotonic(), time.time()
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
        elif fault in ("kill", "kill-all"):
            victim = rng.choice([holder, holder, rng.choice((1, 2, 3))])
            old_pid = L.kill_vrrp(victim, everything=fault == "kill-all")
            time.sleep(rng.uniform(0.5, 2))
            wait_respawned(L, victim, old_pid)
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
        settle = time.monotonic() - t_heal
        assert settle <= HEAL_LIMIT, f"round {n} ({fault}): {settle:.2f} s to a single holder after heal"
        worst_settle = max(worst_settle, settle)
        assert L.wait(probe.up, 10), f"round {n} ({fault}): the client got no answer 10 s after the heal"
        time.sleep(2.5)  # let the checks rise again before the next fault
        # A gap open now is counted with this round once it closes; one
        # still open after CLIENT_LIMIT counts as infinite, and fails.
        L.wait(probe.up, CLIENT_LIMIT)
        round_gaps = probe.gap_spans_since(t0)
        gaps += [b - a for a, b in round_gaps]
        absent += [(n, fault, round(a, 2)) for a in L.holders.spans(lambda held: held == 0, t0=t0)]
        for a, b in round_gaps:
            g = b - a
            if g > MAX_ABSENT:
                slow.append((n, fault, round(g, 2), [(round(t - t0, 2), m, h) for t, m, _, h in L.holders.since(t0)]))
                # Times from the fault's start, so the gap can be put
                # against the fault, its heal and keepalived's log.
                end = f"{b - t0:+.2f} s" if b != float("inf") else "(no answer since)"
                print(f"round {n} ({fault}): client gap {g:.2f} s, from {a - t0:+.2f} s to {end}; "
                      f"healed at {t_heal - t0:+.2f} s; the client's failures and neighbour entry:\n"
                      f"{client_log(L, probe, t0)}\nkeepalived said (fault at {time.ctime(wall0)}):\n"
                      f"{L.masters_log(wall0)}")
        # Two holders longer than the tie-break, outside the faults that
        # cut a master off (a partition, a link down, a dead VRRP process).
        during = [(t0, t_heal + HEAL_LIMIT)] if fault in ("partition", "link", "other-link", "kill", "kill-all") else []
        doubles += [(n, fault, round(d, 3)) for d in overlaps(L.holders, t0=t0, exclude=during) if d > TIE_BREAK]
        if fault in ("kill", "kill-all"):
            while_dead += [(n, fault, round(d, 3)) for d in overlaps(L.holders, t0=t0)]
    max_gap = max(gaps, default=0.0)
    max_absent = max((a for *_, a in absent), default=0.0)
    print(f"\nchaos: {rounds} rounds (seed {seed}), faults {dict(sorted(counts.items()))}, "
          f"VIP absent {len(absent)} times, at most {max_absent:.2f} s; "
          f"client gaps {len(gaps)}, max gap {max_gap:.2f} s, {len(slow)} over {MAX_ABSENT} s; double-holder instants {len(doubles)} "
          f"(plus {len(while_dead)} after a kill of keepalived or its VRRP process: {[d for *_, d in while_dead]} s), "
          f"single holder within {worst_settle:.2f} s of every heal")
    assert not doubles, f"two holders with every master reachable (round, fault, seconds): {doubles}"
    killed = [x for x in while_dead if x[2] > KILL_DOUBLE_LIMIT]
    assert not killed, f"two holders for over {KILL_DOUBLE_LIMIT} s after a kill (round, fault, seconds): {killed}"
    long = [x for x in absent if x[2] > MAX_ABSENT]
    assert not long, f"no master held the VIP for longer than {MAX_ABSENT} s (round, fault, seconds): {long}"
    black = [x for x in slow if x[2] > CLIENT_LIMIT]
    assert not black, f"the client got no answer for longer than {CLIENT_LIMIT} s (round, fault, gap, VIP events): {black}"
