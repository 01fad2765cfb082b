import datetime as dt

import pytest

from hakari import lifecycle
from hakari.engine.detect import (CONFIRM, FENCE_FAILED, OPEN, RECOVER, RETURNED, UNDATED,
                                  Memory, compute_nodes, decide)
from hakari.model import ClusterSnapshot, FenceEvent, Incident, NodeState

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)


def at(s):
    return T0 + dt.timedelta(seconds=s)


UP = dict(online=True, expected_up=True)


def snap(*nodes, events=(), quorate=True):
    return ClusterSnapshot(quorate, "ctl" if quorate is not None else None,
                           (NodeState("ctl", "1", "member", is_dc=True, **UP),) + nodes,
                           tuple(events))


def remote(name, **flags):
    return NodeState(name, name, "remote", **flags)


def fence(target, s, status="success", action="reboot"):
    return FenceEvent(target, action, status, None if status == "pending" else at(s),
                      "ctl", "ctl", "pacemaker-controld.1")


def run(snapshot, incidents=None, memory=None, records=None, now=at(60), timeout=300):
    return decide(snapshot, incidents or {}, memory or Memory(), records or {},
                  compute_nodes(snapshot, []), now, clock_skew=2, confirm_timeout=timeout)


def actions(decision):
    return [(s.node, s.action) for s in decision.steps]


def test_no_quorum_blocks_everything():
    d = run(snap(remote("c1", unclean=True), quorate=False))
    assert d.blocked and not d.steps
    assert run(snap(remote("c1", unclean=True), quorate=None)).blocked


def test_members_and_guests_are_not_computes_by_default():
    s = snap(remote("c1", **UP), NodeState("g1", "g1", "guest", unclean=True))
    assert [n.name for n in compute_nodes(s, [])] == ["c1"]
    assert [n.name for n in compute_nodes(s, ["ctl"])] == ["ctl"]


def test_seen_online_then_unclean_opens_at_last_seen():
    mem = Memory()
    mem.observe(snap(remote("c1", **UP)), at(10))
    d = run(snap(remote("c1", unclean=True)), memory=mem)
    assert actions(d) == [("c1", OPEN)] and d.steps[0].lost_at == at(10)


def test_lost_alert_after_last_seen_dates_the_loss():
    mem = Memory()
    mem.observe(snap(remote("c1", **UP)), at(10))
    mem.node_alert("c1", member=False, when=at(12))
    d = run(snap(remote("c1", unclean=True)), memory=mem)
    assert d.steps[0].lost_at == at(12)


def test_clean_leave_without_fencing_is_planned():
    mem = Memory()
    mem.observe(snap(remote("c1", **UP)), at(10))
    assert run(snap(remote("c1")), memory=mem).steps == ()


def test_fenced_within_one_look_still_opens():
    mem = Memory()
    mem.observe(snap(remote("c1", **UP)), at(10))
    d = run(snap(remote("c1"), events=[fence("c1", 15)]), memory=mem)
    assert actions(d) == [("c1", OPEN)] and d.steps[0].lost_at == at(10)
    # ... and that look already proves the fencing: recovery need not wait for another.
    assert "c1" in d.steps[0].fenced


@pytest.mark.parametrize("event,proven", [
    (fence("c1", 15), True),                      # after the loss: proof
    (fence("c1", 5), False),                      # before it: an old fencing
    (fence("c1", 15, status="failed"), False),
    (fence("c1", 15, status="pending"), False),
])
def test_the_look_that_opens_confirms_only_with_a_fencing_after_the_loss(event, proven):
    mem = Memory()
    mem.observe(snap(remote("c1", **UP)), at(10))
    d = run(snap(remote("c1", unclean=True), events=[event]), memory=mem)
    assert actions(d) == [("c1", OPEN)]
    assert bool(d.steps[0].fenced) is proven


def test_fresh_engine_unclean_node_opens_now():
    d = run(snap(remote("c1", unclean=True)))
    assert actions(d) == [("c1", OPEN)] and d.steps[0].lost_at == at(60)


def test_fresh_engine_uses_fence_hakari_record():
    d = run(snap(remote("c1"), events=[fence("c1", 20)]), records={"c1": at(19)})
    assert actions(d) == [("c1", OPEN)] and d.steps[0].lost_at == at(19)


def test_fresh_engine_cannot_date_an_old_fencing():
    d = run(snap(remote("c1"), events=[fence("c1", 20)]))
    assert actions(d) == [("c1", UNDATED)] and "hakari evacuate c1" in d.steps[0].reason


def test_offline_without_any_fencing_is_ignored():
    assert run(snap(remote("c1"))).steps == ()


def incident(state, lost=10):
    return {"c1": Incident("inc", "c1", at(lost), state)}


@pytest.mark.parametrize("events, state, expected", [
    ([fence("c1", 15)], lifecycle.DETECTED, [("c1", CONFIRM)]),
    ([fence("c1", 5)], lifecycle.DETECTED, []),                       # stale: before the loss
    ([fence("c1", 15, "failed")], lifecycle.DETECTED, [("c1", FENCE_FAILED)]),
    ([fence("c1", 15, "failed")], lifecycle.FENCE_FAILED, []),        # said once
    ([fence("c1", 0, "pending")], lifecycle.DETECTED, []),
    ([fence("c1", 30), fence("c1", 15, "failed")], lifecycle.FENCE_FAILED, [("c1", CONFIRM)]),
    ([], lifecycle.EVACUATING, [("c1", RECOVER)]),
    ([], lifecycle.FORCED_DOWN, [("c1", RECOVER)]),
])
def test_open_incident_on_a_lost_node(events, state, expected):
    d = run(snap(remote("c1"), events=events), incidents=incident(state))
    assert actions(d) == expected


def test_fencing_overdue_is_reported():
    d = run(snap(remote("c1", unclean=True)), incidents=incident(lifecycle.DETECTED, lost=0),
            now=at(400), timeout=300)
    assert actions(d) == [("c1", FENCE_FAILED)] and "within 300s" in d.steps[0].reason


@pytest.mark.parametrize("state, expected", [
    (lifecycle.EVACUATED, [("c1", RETURNED)]),
    (lifecycle.HOST_RETURNED, [("c1", RETURNED)]),
    (lifecycle.DETECTED, [("c1", RETURNED)]),
    (lifecycle.EVACUATING, [("c1", RECOVER)]),  # finish first, never re-enable mid-way (rule 5)
    (lifecycle.ENABLED, []),
])
def test_node_back_online(state, expected):
    d = run(snap(remote("c1", **UP)), incidents=incident(state))
    assert actions(d) == expected


def test_closed_incident_does_not_hide_a_new_loss():
    d = run(snap(remote("c1", unclean=True)), incidents=incident(lifecycle.ENABLED))
    assert actions(d) == [("c1", OPEN)]


def test_member_alert_is_not_proof_of_life():
    # Seen on the lab with no engine running: lost, fenced, then a "member" alert for
    # the node that stayed off. The loss must still be dated, from fence_hakari's record.
    mem = Memory()
    mem.node_alert("c1", member=False, when=at(15))
    mem.node_alert("c1", member=True, when=at(18))
    d = run(snap(remote("c1"), events=[fence("c1", 16)]), memory=mem,
            records={"c1": at(15)})
    assert actions(d) == [("c1", OPEN)] and d.steps[0].lost_at == at(15)
    # Without the record, the loss cannot be dated: reported, never guessed.
    d = run(snap(remote("c1"), events=[fence("c1", 16)]), memory=mem)
    assert actions(d) == [("c1", UNDATED)]
