"""A hostile segment (issue 21, point 5): VRRPv3 has no authentication. A
rogue host on the masters' LAN runs a real keepalived claiming the VIP's
router id at priority 255, against masters running real keepalived under
the agent (host mode), and the test measures what the masters do:

- unicast (`--peer`), the rogue sending from an address that is not a
  peer: `check_unicast_src` drops its adverts and a master holds the VIP
  all along; but keepalived 2.2.7's backups then time out early, so the
  VIP can move between masters (measured, printed);
- unicast, the rogue holding a listed peer's address (a master that is
  down, or a forged source): the masters take its adverts, and it has the VIP;
- multicast: any host on the segment takes the VIP.

With `--vrrp-filter` (unicast only), the agent's nftables table drops
VRRP from non-peers before keepalived sees it: the same rogue moves the
VIP not once (measured, printed), and no table outlives the agent.

What protects the VIP is the network (README, "Trust"); these tests keep
the documented behaviour honest (docs/reliability.md, "A hostile segment").
"""
import signal
import time

from machine import sh, stop
from names import VRRP_TABLE as TABLE, VIP4, addr4

ROGUE4, ROGUE6 = "192.0.2.66", "2001:db8::66"
ROUTER_ID = VIP4.rsplit(".", 1)[1]  # kubealived's default: the VIP's last byte
ROGUE_FOR = 3.0  # s of rogue adverts (10 adverts at 0.3 s)
ADVERT = 0.3  # s, the masters' advert interval
TAKEN_WITHIN = 1.0  # s: the holder yields at once to a higher-priority advert
FILTERED_FOR = 20.0  # s of rogue against the filter (unfiltered: moves in 3 of 9 3-s runs)


def start_rogue(L, source=None, peers=(), priority=255, advert=0.3):
    """A rogue host on the LAN running keepalived for the VIP's router id at
    priority 255: multicast, or unicast to `peers` from `source` (assigned
    to it when it is not its own address). Returns (namespace, process)."""
    ns = L.add_host("rogue", ROGUE4, ROGUE6)
    unicast = ""
    if source:
        if source != ROGUE4:
            sh("ip", "-n", ns, "addr", "add", f"{source}/32", "dev", "eth0")
        unicast = f"    unicast_src_ip {source}\n    unicast_peer {{\n"
        unicast += "".join(f"        {p}\n" for p in peers) + "    }\n"
    conf = L.lab_file("rogue.conf")
    conf.write_text(
        "global_defs {\n    vrrp_version 3\n}\n\n"
        "vrrp_instance rogue {\n    state MASTER\n    interface eth0\n"
        f"    virtual_router_id {ROUTER_ID}\n    priority {priority}\n    advert_int {advert}\n{unicast}"
        f"    virtual_ipaddress {{\n        {VIP4}/32 dev eth0\n    }}\n}}\n")
    with open(L.lab_file("rogue.log"), "a") as log:  # keepalived writes to its own copy
        proc = L.spawn(ns, "keepalived", "-n", "-l", "-D", "--no-syslog", "-f", str(conf),
                       "-p", str(L.lab_file("rogue.pid")), "-r", str(L.lab_file("rogue.vrrp.pid")),
                       stdout=log, stderr=log)
    assert L.wait(lambda: rogue_holds(ns), 5), f"the rogue never took MASTER:\n{rogue_log(L)}"
    return ns, proc


def rogue_holds(ns):
    return VIP4 in sh("ip", "-n", ns, "-o", "addr", "show", "dev", "eth0").stdout


def rogue_log(L):
    return L.lab_file("rogue.log").read_text()


def stop_rogue(L, ns, proc):
    """SIGTERM (the rogue resigns with a priority-0 advert), and its host gone."""
    stop(proc, signal.SIGTERM)
    sh("ip", "netns", "del", ns)
    L.namespaces.remove(ns)


def hijack(L, **rogue):
    """The rogue against a settled cluster: seconds until no master held
    the VIP (None if one still did after TAKEN_WITHIN), whether none held it
    while the rogue ran, and seconds from its SIGTERM until a master held
    it again (keepalived takes about a second to stop; the masters take
    over on its priority-0 advert)."""
    t0 = time.monotonic()
    ns, proc = start_rogue(L, **rogue)
    taken = L.wait(lambda: not L.holders.now() and time.monotonic() - t0, TAKEN_WITHIN)
    time.sleep(ROGUE_FOR)
    none_all_along = taken is not None and not [e for e in L.holders.since(t0 + taken) if e[3]]
    t_stop = time.monotonic()
    stop_rogue(L, ns, proc)
    back = L.wait(lambda: L.holders.now() and time.monotonic() - t_stop, 5)
    return taken, none_all_along, back


def seconds(t):
    return "never" if t is None else f"{t:.2f} s"


def unicast_peers(*addresses):
    return [arg for a in addresses for arg in ("--peer", a)]


def test_unicast_keeps_the_vip_from_a_non_peer_and_yields_to_a_forged_peer(new_lab):
    """Masters 1 and 2 of a 3-peer list (the third, 192.0.2.13, down)."""
    L = new_lab(masters=2, install_args=unicast_peers(addr4(1), addr4(2), addr4(3)))
    L.start_cluster(rise_wait=1.5)
    # Not a peer: every advert dropped, and a master holds the VIP all along.
    t0 = time.monotonic()
    ns, proc = start_rogue(L, source=ROGUE4, peers=[addr4(1), addr4(2)])
    time.sleep(ROGUE_FOR)
    moves = [(round(t - t0, 2), f"m{m}", "+" if held else "-") for t, m, _, held in L.holders.since(t0)]
    none = [d for t, d in L.holders.timed_spans(lambda held: held == 0) if t >= t0]
    stop_rogue(L, ns, proc)
    dropped = [line for i in L.masters for line in L.keepalived_log(i) if f"{ROGUE4} not a unicast peer" in line]
    timeouts = L.masters_log().count("Receive advertisement timeout") - 1  # one: the first master, alone
    print(f"unicast, rogue {ROGUE4} (not a peer) at priority 255 for {ROGUE_FOR} s: {len(dropped)} adverts "
          f"logged as not a peer, {timeouts} master-down timeouts, VIP changes {moves}")
    assert dropped, "no master logged the rogue's adverts: they did not arrive, and the test showed nothing"
    assert max(none, default=0.0) <= ADVERT and L.holders.now(), \
        f"the masters gave the VIP up to a non-peer: no holder {none} s\n{L.masters_log()}"
    # The third peer's address, down: the masters take the rogue's adverts.
    time.sleep(1)
    taken, none_all_along, back = hijack(L, source=addr4(3), peers=[addr4(1), addr4(2)])
    print(f"unicast, rogue with peer address {addr4(3)}: no master held the VIP after {seconds(taken)}, "
          f"none while it ran: {none_all_along}, a master again {seconds(back)} after its SIGTERM")
    assert taken is not None and none_all_along, f"a forged peer did not take the VIP (as documented)\n{rogue_log(L)}"
    assert back is not None, "no master took the VIP back after the rogue left"


def test_multicast_lets_any_host_on_the_segment_take_the_vip(new_lab):
    L = new_lab(masters=2)
    L.start_cluster(rise_wait=1.5)
    taken, none_all_along, back = hijack(L)
    print(f"multicast, rogue {ROGUE4} at priority 255: no master held the VIP after {seconds(taken)}, "
          f"none while it ran: {none_all_along}, a master again {seconds(back)} after its SIGTERM")
    assert taken is not None and none_all_along, f"the rogue did not take the VIP (as documented)\n{rogue_log(L)}"
    assert back is not None, "no master took the VIP back after the rogue left"


def nft(L, i, *args):
    return sh("ip", "netns", "exec", L.ns(i), "nft", *args, check=False).stdout


def test_the_vrrp_filter_keeps_the_vip_still_under_a_non_peer(new_lab):
    """--vrrp-filter: the same non-peer rogue, FILTERED_FOR s; a stale table
    is replaced at start, the agent removes its own at stop, uninstall a
    leftover one (what a pod killed hard leaves)."""
    L = new_lab(masters=2, install_args=unicast_peers(addr4(1), addr4(2), addr4(3)) + ["--vrrp-filter"])
    sh("ip", "netns", "exec", L.ns(1), "nft", f"add table {TABLE}; add chain {TABLE} stale")
    L.start_cluster(rise_wait=1.5)
    for i in L.masters:
        table = nft(L, i, "list", "table", *TABLE.split())
        assert "chain input" in table and "stale" not in table, f"m{i}'s filter:\n{table}\n{L.masters_log()}"
    t0 = time.monotonic()
    ns, proc = start_rogue(L, source=ROGUE4, peers=[addr4(1), addr4(2)])
    time.sleep(FILTERED_FOR)
    window = time.monotonic() - t0
    moves = [(round(t - t0, 2), f"m{m}", "+" if held else "-") for t, m, _, held in L.holders.since(t0)]
    none = [d for t, d in L.holders.timed_spans(lambda held: held == 0) if t >= t0]
    stop_rogue(L, ns, proc)
    dropped = [int(w) for i in L.masters for line in nft(L, i, "list", "table", *TABLE.split()).splitlines()
               if "counter packets" in line for w in [line.split("packets")[1].split()[0]]]
    not_peer = [line for i in L.masters for line in L.keepalived_log(i) if f"{ROGUE4} not a unicast peer" in line]
    print(f"--vrrp-filter, rogue {ROGUE4} (not a peer) at priority 255 for {window:.1f} s: {sum(dropped)} adverts "
          f"dropped by the filters {dropped}, {len(not_peer)} reached keepalived, VIP changes {moves}")
    assert sum(dropped) > 0, "the filters dropped nothing: the rogue's adverts did not arrive"
    assert not not_peer, f"the rogue's adverts reached keepalived through the filter: {not_peer[:3]}"
    assert not moves and not none and L.holders.now(), f"the VIP moved under the filter: {moves}\n{L.masters_log()}"
    for i in L.masters:
        L.stop_master(i)
        assert "kubealived" not in nft(L, i, "list", "tables"), f"m{i}'s agent left its table"
    sh("ip", "netns", "exec", L.ns(1), "nft", f"add table {TABLE}")
    out = L.kubealived(1, "uninstall", "--wait", "0").stdout
    assert f"removed   the VRRP filter (nftables table {TABLE})" in out, out
    assert "kubealived" not in nft(L, 1, "list", "tables")
