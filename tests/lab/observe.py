"""What the lab watches: who holds each VIP (`Holders`) and what a client
on VIP:6443 sees (`Probe`). Both stamp events with CLOCK_MONOTONIC, the
same clock in every process of the machine, so they can be put side by
side."""
import re
import subprocess
import sys
import threading
import time

from machine import HERE, stop
from names import VIP4


class Follow:
    """A command whose every output line goes to `handle`, read by a thread
    that closes the pipe at its end."""

    def __init__(self, argv, handle):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.thread = threading.Thread(target=self._read, args=(handle,), daemon=True)
        self.thread.start()

    def _read(self, handle):
        with self.proc.stdout:
            for line in self.proc.stdout:
                handle(line)

    def stop(self):
        stop(self.proc)
        self.thread.join(5)


class Holders:
    """Who holds each VIP, from one `ip monitor address` per master: an
    event log of (time, master, vip, held) with CLOCK_MONOTONIC times."""

    def __init__(self, vips):
        self.vips = vips
        self.lock = threading.Lock()
        self.held = {}  # (master, vip) -> bool
        self.events = []  # (t, master, vip, held)
        self.monitors = []

    def watch(self, master, namespace):
        monitor = Follow(["ip", "-n", namespace, "monitor", "address"], lambda line: self._read(master, line))
        self.monitors.append(monitor)

    def _read(self, master, line):
        for vip in self.vips:
            if re.search(rf"\s{re.escape(vip)}/", line):
                self._record(master, vip, not line.startswith("Deleted"))

    def _record(self, master, vip, held):
        with self.lock:
            if self.held.get((master, vip), False) != held:
                self.held[(master, vip)] = held
                self.events.append((time.monotonic(), master, vip, held))

    def now(self, vip=VIP4):
        with self.lock:
            return sorted(m for (m, v), h in self.held.items() if h and v == vip)

    def since(self, t0, vip=VIP4):
        with self.lock:
            return [e for e in self.events if e[0] >= t0 and e[2] == vip]

    def spans(self, when, vip=VIP4, t0=0.0, exclude=()):
        """Durations during which `when(number of masters holding vip)` was
        true, for spans starting at or after t0 and outside `exclude`
        windows; one still open counts as infinite."""
        def keep(t):
            return t >= t0 and not any(a <= t <= b for a, b in exclude)
        return [d for start, d in self.timed_spans(when, vip) if keep(start)]

    def timed_spans(self, when, vip=VIP4):
        """(start, duration) of every span during which `when(number of
        masters holding vip)` was true; one still open lasts forever."""
        with self.lock:
            events = [e for e in self.events if e[2] == vip]
        held, start, out = set(), None, []
        for t, master, _, h in events:
            (held.add if h else held.discard)(master)
            if when(len(held)) and start is None:
                start = t
            elif not when(len(held)) and start is not None:
                out.append((start, t - start))
                start = None
        if start is not None:
            out.append((start, float("inf")))
        return out

    def stop(self):
        for monitor in self.monitors:
            monitor.stop()


class ClientLog:
    """What the client saw: its successes and gaps, from probe.py's lines
    (`feed`), and its neighbour entry for the address (`neighbour`)."""

    def __init__(self, address):
        self.address = address
        self.lock = threading.Lock()
        self.ups, self.gaps = [], []  # gaps: (last success, next success)
        self.changes = []  # (t, "up" or how a connection failed), each change
        self.neighbours = []  # (t, `ip monitor neigh` line for the address)
        self._down = None  # last success before the gap still open

    def feed(self, line):
        """One line of probe.py: "up T", "down T F WHY" or "fail F WHY"."""
        word, t, *rest = line.split()
        with self.lock:
            if word == "down":
                self._down = float(t)
                self.changes.append((float(rest[0]), rest[1]))
            elif word == "fail":
                self.changes.append((float(t), rest[0]))
            else:
                if self._down is not None:
                    self.gaps.append((self._down, float(t)))
                    self._down = None
                    self.changes.append((float(t), "up"))
                self.ups.append(float(t))

    def neighbour(self, t, line):
        """One line of `ip monitor neigh`, kept when it is about the address."""
        if self.address in line.split()[:2]:  # "ADDR dev ...", "delete ADDR dev ..."
            with self.lock:
                self.neighbours.append((t, line.strip()))

    def up(self):
        with self.lock:
            return bool(self.ups) and self._down is None

    def gaps_since(self, t0):
        return [b - a for a, b in self.gap_spans_since(t0)]

    def gap_spans_since(self, t0):
        """(last success, next success) of every gap that ended after t0,
        and (last success, inf) of one still open: a client that never
        recovers has an infinite gap, not none."""
        with self.lock:
            spans = [(a, b) for a, b in self.gaps if b >= t0]
            if self._down is not None:
                spans.append((self._down, float("inf")))
            return spans

    def log_since(self, t0):
        """(t, what) of the client's failures and recoveries from t0 on, and
        of its neighbour changes from the last one before t0 (the entry it
        had)."""
        with self.lock:
            before = [e for e in self.neighbours if e[0] < t0][-1:]
            return sorted(before + [e for e in self.changes + self.neighbours if e[0] >= t0])


class Probe(ClientLog):
    """The client, in its own namespace, connecting to address:6443 in a
    loop (probe.py); it also logs its neighbour entry for the address
    (`ip monitor neigh`), so a gap can be put against the MAC the client
    was sending to."""

    def __init__(self, namespace, address):
        super().__init__(address)
        client = ["ip", "netns", "exec", namespace, sys.executable, "-u", str(HERE / "probe.py"), address]
        neighbours = ["ip", "-n", namespace, "monitor", "neigh"]
        self.follows = [Follow(client, self.feed),
                        Follow(neighbours, lambda line: self.neighbour(time.monotonic(), line))]

    def stop(self):
        for follow in self.follows:
            follow.stop()
