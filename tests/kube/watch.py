"""What the e2e watches, all on CLOCK_MONOTONIC as in the lab:

- VipHolders: who holds the VIP. tests/lab's observe.Holders (one `ip -n
  NODE monitor address` per node), asked about one node at a time.
- ApiserverProbe: each node's own apiserver (apiserver_probe.py inside the
  node), its lines read by tests/lab's observe.Follow.
- ClientLoop: kubectl through the VIP from the client namespace every 50 ms.
  Not the lab's ClientLog: that one logs a TCP connector's up/down
  transitions, while the e2e times whole kubectl requests and reports the
  longest time between two answered ones (slow answers count too).
"""
import sys
import threading
import time

from constants import HERE, PORT, VIP
from observe import Follow, Holders

# ApiserverProbe's levels
DOWN, ACCEPTS, READY = 0, 1, 2  # nothing accepts; accepts, /readyz not 200; /readyz 200


class VipHolders(Holders):
    """Holders of the one VIP, nodes by name: watch(node.name, node.ns)."""

    def __init__(self):
        super().__init__([VIP])

    def _changes(self, node):
        return [(t, held) for t, master, _, held in self.since(0.0, VIP) if master == node]

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

    def __init__(self, ns):
        self.events = []  # (t, level)
        self.follow = Follow(["ip", "netns", "exec", ns, sys.executable, str(HERE / "apiserver_probe.py"), str(PORT)],
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


class ClientLoop:
    """kubectl through the VIP from the client namespace, over and over:
    [(start, end, ok, error)], to measure how long it did not answer. It
    asks for /version, as any client request: /readyz is red on purpose
    while a stopping apiserver still serves (its shutdown delay)."""

    def __init__(self, cluster):
        self.cluster, self.results, self.stopping = cluster, [], False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _loop(self):
        while not self.stopping:
            t0 = time.monotonic()
            out = self.cluster.kubectl("get", "--raw", "/version", "--request-timeout=1s", timeout=10)
            error = None if out.returncode == 0 else (out.stderr.strip().splitlines() or ["exit %d" % out.returncode])[-1]
            self.results.append((t0, time.monotonic(), error is None, error))
            time.sleep(0.05)

    def first_ok_after(self, t):
        for s, e, ok, _ in self.results:
            if s >= t and ok:
                return e
        return None

    def failures(self, since):
        """(start, error) of every request started after since that failed."""
        return [(s, err) for s, e, ok, err in list(self.results) if s >= since and not ok]

    def longest_gap(self, since, until=None):
        """Longest time within [since, until] with no answer: between two
        answered requests, from since to the first answer (a gap that
        starts before the first success counts), and from the last answer
        to until. A window with no answer at all is one gap, its length."""
        until = time.monotonic() if until is None else until
        answered = [e for s, e, ok, _ in list(self.results) if ok and since <= e <= until]
        marks = [since] + answered + [until]
        return max(b - a for a, b in zip(marks, marks[1:]))

    def stop(self):
        self.stopping = True
        self.thread.join(15)
