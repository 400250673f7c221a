"""What the lab's tests share: the loud skip (`require`), the `new_lab`
fixture, and the two-holder check with its tie-break allowance.

Two holders at once: when the holder vanishes, the remaining backups have
equal priority and time out together, so VRRP briefly has two masters until
the higher address wins (RFC 5798 6.4.3). The tests allow that tie-break
window (TIE_BREAK) and fail on anything longer.
"""
import contextlib
import os

import pytest

from lab import Lab
from machine import missing_prerequisites
from names import VIP4

TIE_BREAK = 0.1  # s: longest acceptable overlap of two holders after a failover


def require(pod_mode=False):
    """Skip loudly when this machine cannot run the lab; under CI=true that
    skip is a failure."""
    missing = missing_prerequisites(pod_mode)
    if missing:
        msg = f"lab needs {', '.join(missing)} (run `sudo scripts/setup`, then as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"SKIP is a failure under CI=true: {msg}")
        pytest.skip(msg)


@pytest.fixture
def new_lab():
    """new_lab(masters=3, mode="host", **options): a built Lab, after
    `require` for its mode; everything it made is removed after the test,
    also when it fails."""
    with contextlib.ExitStack() as labs:
        def make(masters=3, mode="host", **options):
            require(pod_mode=mode == "pod")
            return labs.enter_context(Lab(masters, mode, **options))
        yield make


def overlaps(holders, vip=VIP4, t0=0.0, exclude=()):
    """Durations during which two or more masters held the VIP."""
    return holders.spans(lambda held: held >= 2, vip, t0, exclude)


def assert_single_holder(L, vip=VIP4, exclude=()):
    long = [d for d in overlaps(L.holders, vip, exclude=exclude) if d > TIE_BREAK]
    assert not long, f"two masters held {vip} for {long} s (events: {L.holders.events})"
