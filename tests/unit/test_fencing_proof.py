"""fencing_proof: rules 1 and 2 for `hakari evacuate`, from one cluster snapshot."""

from __future__ import annotations

import datetime as dt

from hakari.fencing.proof import fencing_proof
from hakari.model import ClusterSnapshot, FenceEvent, NodeState

LOST = dt.datetime(2026, 1, 1, 7, 0, tzinfo=dt.timezone.utc)


def snap(quorate=True, online=False, unclean=False, events=()):
    nodes = (NodeState("node1", "1", online=True, is_dc=True),
             NodeState("node2", "2", online=online, unclean=unclean))
    return ClusterSnapshot(quorate, "node1", nodes, tuple(events))


def fence(status="success", seconds=5, action="reboot"):
    return FenceEvent("node2", action, status, LOST + dt.timedelta(seconds=seconds), "node1")


def test_confirmed():
    p = fencing_proof(snap(events=[fence()]), "node2", LOST)
    assert p.ok and "reboot of node2" in p.reason


def test_no_quorum_or_unknown_quorum_refuses():
    assert "no quorum" in fencing_proof(snap(False, events=[fence()]), "node2", LOST).reason
    p = fencing_proof(snap(None, events=[fence()]), "node2", LOST)
    assert not p.ok and "no DC" in p.reason


def test_online_node_refuses_even_with_fencing():
    p = fencing_proof(snap(online=True, events=[fence()]), "node2", LOST)
    assert not p.ok and "online" in p.reason


def test_unknown_node_and_unknown_loss_time():
    assert "no node named" in fencing_proof(snap(), "node9", LOST).reason
    p = fencing_proof(snap(events=[fence()]), "node2", None)
    assert not p.ok and "no loss time" in p.reason


def test_stale_failed_and_pending_fencing_refuse():
    p = fencing_proof(snap(events=[fence(seconds=-600)]), "node2", LOST)
    assert not p.ok and "not proven fenced" in p.reason
    assert not fencing_proof(snap(events=[fence("failed")]), "node2", LOST).ok
    pending = FenceEvent("node2", "off", "pending", None)
    assert not fencing_proof(snap(unclean=True, events=[pending]), "node2", LOST).ok
    assert not fencing_proof(snap(events=[fence(action="on")]), "node2", LOST).ok
