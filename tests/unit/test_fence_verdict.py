import datetime as dt

import pytest

from hakari.fencing.verdict import CONFIRMED, FAILED, NONE, PENDING, fence_verdict
from hakari.hostnames import HostNameMap
from hakari.model import FenceEvent

UTC = dt.timezone.utc
LOST = dt.datetime(2026, 11, 23, 22, 16, 0, tzinfo=UTC)


def ev(status="success", action="off", target="node2", at=5, reason=None):
    completed = None if status == "pending" else LOST + dt.timedelta(seconds=at)
    return FenceEvent(target=target, action=action, status=status, completed=completed,
                      delegate="node1", origin="node1", client="pacemaker-controld.1",
                      exit_reason=reason)


@pytest.mark.parametrize("events, kind", [
    ([], NONE),
    ([ev("success", "off")], CONFIRMED),
    ([ev("success", "reboot")], CONFIRMED),
    ([ev("success", "on")], NONE),                 # unfencing proves nothing
    ([ev("failed", reason="timed out")], FAILED),
    ([ev("pending")], PENDING),
    ([ev(target="node3")], NONE),                  # another host's fencing
    ([ev(at=-60)], NONE),                          # stale: an earlier loss
    ([ev(at=-1)], CONFIRMED),                      # inside the 2 s skew allowance
    ([ev(at=-3)], NONE),                           # just outside it
    ([ev("success", at=9), ev("failed", at=4)], CONFIRMED),   # retry succeeded
    ([ev("failed", at=9), ev("success", at=4)], FAILED),      # latest wins
    ([ev("pending"), ev("success", at=4)], PENDING),          # a newer attempt runs
    ([ev("success", at=5), ev("failed", at=-30)], CONFIRMED),
    ([ev("failed", at=5), ev("success", at=-30)], FAILED),    # old success never counts
])
def test_verdict_table(events, kind):
    assert fence_verdict(events, "node2", LOST).kind == kind


def test_equal_timestamps_follow_pacemaker_order():
    # Pacemaker prints newest first, to the nanosecond, but shows whole seconds.
    success_newer = [ev("success", at=5), ev("failed", at=5)]
    failed_newer = [ev("failed", at=5), ev("success", at=5)]
    assert fence_verdict(success_newer, "node2", LOST).kind == CONFIRMED
    assert fence_verdict(failed_newer, "node2", LOST).kind == FAILED


def test_input_order_need_not_be_sorted():
    events = [ev("failed", at=1), ev("success", at=8), ev("failed", at=3)]
    assert fence_verdict(events, "node2", LOST).kind == CONFIRMED


def test_skew_is_configurable():
    events = [ev(at=-10)]
    assert fence_verdict(events, "node2", LOST, clock_skew=0).kind == NONE
    assert fence_verdict(events, "node2", LOST, clock_skew=15).kind == CONFIRMED


def test_confirmed_verdict_carries_event_and_reason():
    v = fence_verdict([ev()], "node2", LOST)
    assert v.confirmed and v.event.action == "off" and "node2" in v.reason
    failed = fence_verdict([ev("failed", reason="device unreachable")], "node2", LOST)
    assert not failed.confirmed and "device unreachable" in failed.reason


def test_remote_node_is_fenced_by_name():
    events = [ev(target="compute-7")]
    assert fence_verdict(events, "compute-7", LOST).confirmed


def test_guest_counts_as_fenced_when_its_host_is():
    hosts = {"guest1": "node2"}
    v = fence_verdict([ev(target="node2")], "guest1", LOST, guest_hosts=hosts)
    assert v.confirmed and v.fenced_node == "node2"
    assert fence_verdict([ev(target="node3")], "guest1", LOST, guest_hosts=hosts).kind == NONE
    # Without knowing its host a guest is never assumed fenced.
    assert fence_verdict([ev(target="node2")], "guest1", LOST).kind == NONE


def test_naive_lost_at_is_rejected():
    with pytest.raises(ValueError):
        fence_verdict([], "node2", LOST.replace(tzinfo=None))


def test_host_name_map():
    m = HostNameMap({"c1": "compute-one.example.org"}, "example.org")
    assert m.to_nova("c1") == "compute-one.example.org"
    assert m.to_nova("c2") == "c2.example.org"
    assert m.to_node("compute-one.example.org") == "c1"
    assert m.to_node("c2.example.org") == "c2"
    assert m.to_node("elsewhere.net") == "elsewhere.net"
    plain = HostNameMap()
    assert plain.to_nova("node2") == "node2" == plain.to_node("node2")
