"""Opt-in load balancing (`install --load-balance`, docs/load-balancing.md)
on three lab masters with the agent, real keepalived and the real
nftables: new connections to VIP:6443 spread over every ready stand-in
apiserver, from a client, from the holder and from a backup; what it
costs against going straight to one apiserver; a killed apiserver gets no
new connection within 0.3 s while the VIP moves as fast as without
balancing; a hard loss; nothing left after a stop, or after an agent's
death and `uninstall`. Prints its figures (`pytest -rP`)."""
import json
import subprocess
import sys
import time

from conftest import assert_single_holder
from machine import HERE, sh
from names import BALANCE_TABLE, VIP4, addr4
from spread import ask

def table(L, i):
    """Master i's balancing table as nft lists it ('' if there is none)."""
    return sh("ip", "netns", "exec", L.ns(i), "nft", "list", "table", *BALANCE_TABLE.split(), check=False).stdout


def sends_to(L, i, backend):
    return f": {backend} . 6443" in table(L, i)


def test_load_balancing_spreads_over_the_ready_masters_and_moves_with_the_vip(new_lab):
    peers = [arg for i in (1, 2, 3) for arg in ("--peer", addr4(i))]
    L = new_lab(masters=3, mode="host", install_args=["--load-balance", *peers])
    holder = L.start_cluster()
    backup = next(i for i in L.masters if i != holder)
    everyone = lambda: all(sends_to(L, i, addr4(j)) for i in L.masters for j in L.masters)  # noqa: E731
    assert L.wait(everyone, 10), {i: table(L, i) for i in L.masters}

    # Spread: 300 fresh TLS connections from the client, then 30 from the
    # holder itself (its kubelet's case: the output hook) and from a backup.
    r = ask(L.client, 300, VIP4)
    print(f"spread of 300 fresh TLS connections from the client: {r['names']}")
    for i in L.masters:
        assert 0.25 * 300 <= r["names"].get(f"master{i}", 0) <= 0.42 * 300, r
    for who, ns in [("the holder", L.ns(holder)), ("a backup", L.ns(backup))]:
        r = ask(ns, 30, VIP4)
        print(f"from {who}: {r['names']}")
        assert "-" not in r["names"] and len(r["names"]) == 3, r

    # Cost: the same client through the VIP and straight to the holder's apiserver.
    via, direct = ask(L.client, 300, VIP4), ask(L.client, 300, addr4(holder))
    rate = lambda r: 300 / r["seconds"]  # noqa: E731
    print(f"requests/s on fresh TLS connections: through the VIP {rate(via):.0f}, straight to one apiserver "
          f"{rate(direct):.0f}, ratio {rate(via) / rate(direct):.2f}")
    assert "-" not in via["names"] and "-" not in direct["names"]

    # The holder's apiserver killed while a client asks: no new connection
    # fails 0.3 s after the kill, and the VIP moves as without balancing.
    client = L.spawn(L.client, sys.executable, str(HERE / "spread.py"), VIP4, "6443", "600",
                     stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    t0 = time.monotonic()
    L.stop_apiserver(holder)
    moved = L.wait_moved(holder, t0, 5)
    r = json.loads(client.communicate(timeout=60)[0])
    late = [t - t0 for t in r["failed_at"] if t > t0]
    print(f"apiserver killed on the holder: VIP moved after {moved:.3f} s; failed requests after the kill "
          f"{len(late)}, the last {max(late, default=0):.3f} s after it; spread {r['names']}")
    assert moved is not None and moved < 0.5
    assert max(late, default=0) <= 0.3, late
    assert [t for t in r["failed_at"] if t < t0] == [], r
    L.start_apiserver(holder)

    # A hard loss of the new holder: the VIP moves, the spread resumes over the two left.
    holder = L.wait_holder(5)
    t0 = time.monotonic()
    L.link(holder, False)
    moved = L.wait_moved(holder, t0, 5)
    print(f"hard loss of the holder: VIP moved after {moved:.3f} s")
    assert moved is not None and moved < 1.5
    left = [i for i in L.masters if i != holder]
    assert L.wait(lambda: all(not sends_to(L, i, addr4(holder)) for i in left), 5)
    r = ask(L.client, 60, VIP4)
    print(f"after it, from the client: {r['names']}")
    assert set(r["names"]) == {f"master{i}" for i in left}, r
    L.link(holder, True)

    assert L.wait_holder(10) is not None
    assert_single_holder(L, exclude=((t0, time.monotonic()),))  # the cut master kept it meanwhile

    # Cleanup: a stopped agent takes its table; one SIGKILLed may leave it
    # (as a pod SIGKILL leaves the VIP), and uninstall removes it.
    a, b = left
    L.stop_master(a, graceful=True)
    assert table(L, a) == ""
    L.stop_master(b, graceful=False)
    print(f"after SIGKILL of master{b}'s agent, its table: {'kept' if table(L, b) else 'gone'}")
    L.kubealived(b, "uninstall")
    assert table(L, b) == ""
