"""What a notification means to hakari (hakari/api/decide.py): a COMPUTE_HOST one never
evacuates, it only follows the incident Pacemaker's view gives the host."""

from __future__ import annotations

import datetime as dt

import pytest

from hakari import lifecycle as lc
from hakari.api import decide, statuses
from hakari.cluster.live import Look
from hakari.model import INCIDENT_ATTRIBUTE, ClusterSnapshot, Incident, NodeState
from hakari.records.store import to_record
from hakari.recovery.process import decision as pd

LOST = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def look(compute1: NodeState, incident: str | None = None, quorate=True) -> Look:
    nodes = (NodeState("ctl1", "1", online=True), compute1)
    attrs = {}
    if incident is not None:
        attrs["compute1"] = {INCIDENT_ATTRIBUTE: to_record(
            Incident(f"compute1-{incident}", "compute1", LOST, incident, reason="why"))}
    return Look(ClusterSnapshot(quorate, "ctl1", nodes), attrs)


ONLINE = NodeState("compute1", "compute1", type="remote", online=True, connected=True)
UNCLEAN = NodeState("compute1", "compute1", type="remote", unclean=True)


def test_plans():
    assert decide.plan("PROCESS", {"event": "STOPPED"}).action == decide.PROCESS_FAILURE
    assert decide.plan("PROCESS", {"event": "STARTED"}).action == decide.PROCESS_HEALTHY
    assert decide.plan("VM", {"event": "LIFECYCLE", "vir_domain_event": "STOPPED_FAILED"}
                       ).action == decide.INSTANCE
    assert decide.plan("VM", {"event": "IO_ERROR", "vir_domain_event": "IO_ERROR_REPORT"}
                       ).action == decide.INSTANCE
    shutdown = decide.plan("VM", {"event": "LIFECYCLE",
                                  "vir_domain_event": "STOPPED_SHUTDOWN"})
    assert shutdown.action == decide.IGNORE and "STOPPED_SHUTDOWN" in shutdown.reason
    assert decide.plan("COMPUTE_HOST", {"event": "STOPPED"}).action == decide.HOST
    assert decide.plan("COMPUTE_HOST", {"event": "STARTED"}).action == decide.IGNORE


def test_alive_unmanaged_and_quorumless_hosts():
    alive = decide.host_outcome(look(ONLINE), "compute1", ())
    assert alive.status == statuses.IGNORED and "alive (online)" in alive.message
    # Members are no computes unless configured; a node the cluster lacks is none.
    member = decide.host_outcome(look(ONLINE), "ctl1", ())
    assert member.status == statuses.IGNORED and "does not manage" in member.message
    assert decide.host_outcome(look(ONLINE), "ctl1", ("ctl1",)).status == statuses.IGNORED
    assert "alive" in decide.host_outcome(look(ONLINE), "ctl1", ("ctl1",)).message
    assert decide.host_outcome(look(ONLINE), "ghost", ()).status == statuses.IGNORED
    # A fenced remote node whose connection is only retried is not back (rule 5).
    retrying = NodeState("compute1", "compute1", type="remote", online=True,
                         connected=False)
    assert decide.host_outcome(look(retrying), "compute1", ()).status is None
    # Without quorum this partition cannot tell: wait.
    waiting = decide.host_outcome(look(UNCLEAN, lc.EVACUATED, quorate=None), "compute1", ())
    assert waiting.status is None and "quorum" in waiting.message


@pytest.mark.parametrize("state,status", [
    (None, None), (lc.ENABLED, None), (lc.HOST_RETURNED, None),
    (lc.DETECTED, None), (lc.FENCE_FAILED, None), (lc.BLOCKED, None), (lc.EVACUATING, None),
    (lc.EVACUATED, statuses.FINISHED), (lc.FAILED, statuses.FAILED)])
def test_a_lost_host_ends_as_its_incident(state, status):
    outcome = decide.host_outcome(look(UNCLEAN, state), "compute1", ())
    assert outcome.status == status
    if state is None or state in lc.HOST_BACK:
        # An earlier loss's incident, over: this loss has none yet.
        assert outcome.incident is None and "waiting for the engine" in outcome.message
    else:
        assert outcome.incident == f"compute1-{state}" and state in outcome.message


def test_recovery_outcomes():
    assert decide.process_outcome(pd.DISABLE, "x", "disabled", "up").status == \
        statuses.FINISHED
    assert decide.process_outcome(pd.IGNORE, "forced down", "disabled", "down").status == \
        statuses.IGNORED
    assert decide.instance_outcome("recovered", "ACTIVE", "ACTIVE", 1).status == \
        statuses.FINISHED
    assert decide.instance_outcome("healthy", "ACTIVE", "ACTIVE", 0).status == \
        statuses.FINISHED
    assert decide.instance_outcome("skipped", "not HA", "SHUTOFF", 0).status == \
        statuses.IGNORED
    failed = decide.instance_outcome("failed", "limit", "ERROR", 3)
    assert failed.status == statuses.FAILED and "3 attempt(s)" in failed.message
