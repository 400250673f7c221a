"""What the e2e watches, all on CLOCK_MONOTONIC as in the lab:

- VipHolders: who holds the VIP. tests/lab's observe.Holders (one `ip -n
  NODE monitor address` per node), asked about one node at a time.
- ApiserverProbe: each node's own apiserver (apiserver_probe.py inside the
  node), its lines read by tests/lab's observe.Follow.
- ClientLoop: kubectl through the VIP from the client namespace every 50 ms,
  a fresh connection each time and no retry (--request-timeout=1s cuts
  client-go's 1 s retry off). Not the lab's ClientLog: that one logs a TCP
  connector's up/down transitions, while the e2e times whole requests and
  reports the longest time between two answered ones (slow answers count).
- GoClient: cmd/vipclient: client-go as controllers use it (one kept
  connection, client-go's retry of a GET after a reset), or -fresh: a new
  connection for every request, one started every 50 ms, none waiting for
  the one before.
"""
import sys
import threading
import time

from constants import ADVERT_S, HERE, PORT, VIP
from host import log
from observe import Follow, Holders

# ApiserverProbe's levels
DOWN, ACCEPTS, READY = 0, 1, 2  # nothing accepts; accepts, /readyz not 200; /readyz 200


class VipHolders(Holders):
    """Holders of the one VIP, nodes by name: watch(node.name, node.ns)."""

    def __init__(self):
        super().__init__([VIP])

    def _changes(self, node):
        return [(t, held) for t, master, _, held in self.since(0.0, VIP) if master == node]

    def pids(self):
        """The monitors' processes (each runs inside a node's namespace)."""
        return {m.proc.pid for m in self.monitors}

    def holds(self, node):
        return node in self.now(VIP)

    def held_at(self, node, at):
        held = False
        for t, h in self._changes(node):
            if t > at:
                break
            held = h
        return held

    def first(self, node, since, held=True):
        """When node first took (held=False: gave up) the VIP at or after since."""
        for t, h in self._changes(node):
            if t >= since and h == held:
                return t
        return None

    def segments(self, since, until):
        """[(start, end, holders)] covering [since, until], piece by piece:
        who held the VIP (a frozenset of node names)."""
        held, out, start = set(), [], since
        for t, node, _, h in self.since(0.0, VIP):
            if t > until:
                break
            if t > since:
                out.append((start, t, frozenset(held)))
                start = t
            (held.add if h else held.discard)(node)
        out.append((start, until, frozenset(held)))
        return out

    def longest(self, since, until, when):
        """The longest stretch within [since, until] during which
        when(number of holders) was true (0.0 if never)."""
        longest = run = 0.0
        for start, end, holders in self.segments(since, until):
            run = run + (end - start) if when(len(holders)) else 0.0
            longest = max(longest, run)
        return longest

    def takes(self, since, until):
        """[(node, took, held_for)] of every time a node took the VIP within
        [since, until]; held_for runs to its release or to until."""
        events = self.since(0.0, VIP)
        out = []
        for i, (t, node, _, h) in enumerate(events):
            if h and since <= t <= until:
                release = next((u for u, n, _, held in events[i + 1:] if n == node and not held), until)
                out.append((node, t, min(release, until) - t))
        return out

    def moves(self, since, until, at_least=ADVERT_S):
        """How many times the VIP moved within [since, until]: takes held
        for at least one advert interval. Two backups whose master-down
        timers fire together both take it, and the lower one yields at the
        first advert it hears (VRRP's tie-break, about a millisecond): a
        blip, logged, not a move."""
        takes = self.takes(since, until)
        for node, t, held in takes:
            if held < at_least:
                log(f"{node} held the VIP for {held:.3f} s only (VRRP's tie-break between two backups)")
        return sum(1 for _, _, held in takes if held >= at_least)

    def holding_spans(self, node, since, until):
        """[(start, end)] intervals within [since, until] where node held the VIP."""
        spans, start = [], None
        if self.held_at(node, since):
            start = since
        for t, h in self._changes(node):
            if t < since or t > until:
                continue
            if h and start is None:
                start = t
            elif not h and start is not None:
                spans.append((start, t))
                start = None
        if start is not None:
            spans.append((start, until))
        return spans


class ApiserverProbe:
    """One node's apiserver, sampled every 50 ms inside its network
    namespace: the changes of its level (DOWN, ACCEPTS, READY)."""

    def __init__(self, ns, addr):
        self.events = []  # (t, level)
        self.follow = Follow(["ip", "netns", "exec", ns, sys.executable, str(HERE / "apiserver_probe.py"), addr, str(PORT)],
                             self._read)

    def _read(self, line):
        t, level = line.split()
        self.events.append((float(t), int(level)))

    def now(self):
        return self.events[-1][1] if self.events else DOWN

    def first(self, since, level):
        """When it first reached level (or above) at or after since."""
        for t, a in self.events:
            if t >= since and a >= level:
                return t
        return None

    def stop(self):
        self.follow.stop()


class Requests:
    """A client's requests through the VIP: [(start, end, ok, error)], to
    measure how long it did not answer and which requests failed."""

    def __init__(self):
        self.results = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def first_ok_after(self, t):
        for s, e, ok, _ in self.results:
            if s >= t and ok:
                return e
        return None

    def failures(self, since, until=None):
        """(start, end, error) of every request started in [since, until] that failed."""
        until = float("inf") if until is None else until
        return [(s, e, err) for s, e, ok, err in list(self.results) if since <= s <= until and not ok]

    def longest_gap(self, since, until=None):
        """Longest time within [since, until] with no answer: between two
        answered requests, from since to the first answer (a gap that
        starts before the first success counts), and from the last answer
        to until. A window with no answer at all is one gap, its length."""
        until = time.monotonic() if until is None else until
        answered = sorted(e for s, e, ok, _ in list(self.results) if ok and since <= e <= until)
        marks = [since] + answered + [until]
        return max(b - a for a, b in zip(marks, marks[1:]))



class ClientLoop(Requests):
    """kubectl through the VIP from the client namespace, over and over: a
    fresh process and connection for each request. It asks for /version,
    as any client request: /readyz is red on purpose while a stopping
    apiserver still serves (its shutdown delay)."""

    def __init__(self, cluster):
        super().__init__()
        self.cluster, self.stopping = cluster, False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping:
            t0 = time.monotonic()
            out = self.cluster.kubectl("get", "--raw", "/version", "--request-timeout=1s", timeout=10)
            error = None if out.returncode == 0 else (out.stderr.strip().splitlines() or ["exit %d" % out.returncode])[-1]
            self.results.append((t0, time.monotonic(), error is None, error))
            time.sleep(0.05)

    def stop(self):
        self.stopping = True
        self.thread.join(15)


class GoClient(Requests):
    """cmd/vipclient through the VIP, a request every 50 ms. Kept (the
    default): client-go as controllers use it, one kept connection and
    client-go's retry of a GET after a reset. fresh=True: a new connection
    for every request, each started on the 50 ms tick whether or not the
    ones before have answered (1 s at most each, no retry), so a request
    hung on a dead holder does not stop the next from measuring."""

    def __init__(self, cluster, fresh=False, every="50ms", conns=0):
        super().__init__()
        self.answers = []  # (end, the answering apiserver's certificate IPs, connection) of each ok
        mode = ["-fresh"] if fresh else ["-conns", str(conns)] if conns else []
        self.follow = Follow(["ip", "netns", "exec", cluster.client, cluster.build.bin_dir / "vipclient",
                              *mode, "-every", every, cluster.admin_conf], self._read)

    def _read(self, line):
        start, end, outcome, *rest = line.strip().split(" ", 3)
        ok = outcome == "ok"
        self.results.append((float(start), float(end), ok, None if ok else " ".join(rest) or None))
        if ok and rest:
            who, _, conn = rest[0].partition(" ")
            self.answers.append((float(end), set(who.split(",")), conn))

    def stop(self):
        self.follow.stop()
