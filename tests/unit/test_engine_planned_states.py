"""Safety rule 6: nodes in a planned state (standby, maintenance, a clean shutdown) are
not lost, so the engine opens no incident for them."""

from __future__ import annotations

import datetime as dt

import pytest

from hakari.engine.detect import Memory, compute_nodes, decide, is_lost
from hakari.model import ClusterSnapshot, NodeState

NOW = dt.datetime(2026, 11, 25, 8, 0, 0, tzinfo=dt.timezone.utc)
CONTROLLER = NodeState("ctl", "1", "member", online=True, expected_up=True, is_dc=True)


@pytest.mark.parametrize("flags", [
    dict(online=True, standby=True),
    dict(online=True, maintenance=True),
    dict(online=True, standby=True, maintenance=True),
    dict(online=True, shutdown=True),          # shutting down, still a member
    dict(online=False, shutdown=True),         # shut down cleanly: offline, not unclean
])
def test_standby_maintenance_and_shutdown_open_nothing(flags):
    node = NodeState("c1", "c1", "remote", **flags)
    snapshot = ClusterSnapshot(True, "ctl", (CONTROLLER, node))
    memory = Memory()
    memory.observe(ClusterSnapshot(True, "ctl", (CONTROLLER, NodeState(
        "c1", "c1", "remote", online=True))), NOW - dt.timedelta(seconds=30))
    decision = decide(snapshot, {}, memory, {}, compute_nodes(snapshot, []), NOW,
                      clock_skew=2, confirm_timeout=300)
    assert decision.steps == () and decision.blocked is None
    assert is_lost(node) is not flags["online"]
