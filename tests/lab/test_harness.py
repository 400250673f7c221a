"""The lab's own code, checked where it once hid a failure: the client's
log, and the Lab's handling of keepalived's files. The first tests need
nothing; the others run the lab (root, real keepalived)."""
import gc
import math
import warnings

import pytest

from guide import guide_config
from lab import LabError
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


def test_guide_config_needs_only_the_master_and_the_vip():
    """Its `masters` parameter was never used; it is gone."""
    first, other = guide_config(1, VIP4), guide_config(2, VIP4, interface="ens3")
    assert "state MASTER" in first and "priority 101" in first and "interface eth0" in first
    assert "state BACKUP" in other and "priority 100" in other and "interface ens3" in other
    assert f"virtual_ipaddress {{\n        {VIP4}\n    }}" in first


def test_killing_a_vrrp_process_that_is_not_there_says_why(new_lab):
    """kill_vrrp_child once called os.kill(None, ...) when the pid file was
    missing: a TypeError instead of the reason."""
    L = new_lab(masters=1)
    with pytest.raises(LabError, match="master1 has no VRRP process to kill: .*vrrp.pid is missing"):
        L.kill_vrrp(1)  # keepalived not started: no pid file
    L.start_master(1)
    assert L.wait_holder(10) == 1
    assert L.wait(lambda: L.vrrp_pid(1), 5)
    killed = L.kill_vrrp(1)
    assert L.wait(lambda: L.vrrp_pid(1) not in (None, killed), 10), "keepalived did not respawn its VRRP process"
    L.stop_master(1, graceful=True)
    with pytest.raises(LabError, match="master1 has no VRRP process to kill"):
        L.kill_vrrp(1)  # keepalived stopped


def test_starting_keepalived_leaves_no_file_open(new_lab):
    """start_keepalived opened keepalived's log for its output and never
    closed it (Python warns when such a file is collected)."""
    L = new_lab(masters=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        L.start_master(1)
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert L.wait_holder(10) == 1
