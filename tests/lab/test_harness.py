"""The lab's own code, checked where it once hid a failure: the client's
log, and the Lab's handling of keepalived's files. The first tests need
nothing; the others run the lab (root, real keepalived)."""
import math

from names import VIP4
from observe import ClientLog


def client_log(*lines):
    log = ClientLog(VIP4)
    for line in lines:
        log.feed(line)
    return log


def test_a_client_that_never_recovers_has_an_infinite_gap():
    """A gap used to count only once the client answered again, so a client
    black-holed for good passed every limit."""
    log = client_log("up 1.0000", "down 2.0000 2.0100 timeout", "up 2.5000", "down 3.0000 3.0100 EHOSTUNREACH")
    assert not log.up()
    assert log.gap_spans_since(0.0) == [(2.0, 2.5), (3.0, math.inf)]
    assert log.gap_spans_since(2.6) == [(3.0, math.inf)]
    assert max(log.gaps_since(0.0)) == math.inf


def test_a_closed_gap_counts_once_with_its_length():
    log = client_log("up 1.0000", "down 2.0000 2.0100 timeout", "fail 2.2000 ECONNREFUSED", "up 2.5000")
    assert log.up()
    assert log.gaps_since(0.0) == [0.5]
    assert log.changes == [(2.01, "timeout"), (2.2, "ECONNREFUSED"), (2.5, "up")]
