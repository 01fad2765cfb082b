"""Plain data shared by every layer. No I/O here."""

from __future__ import annotations

import dataclasses
import datetime as dt

NODE_TYPES = ("member", "remote", "guest", "ping", "unknown")
NODE_STATES = ("unclean", "pending", "offline", "maintenance", "standby", "online")
FENCE_STATUSES = ("success", "failed", "pending")


@dataclasses.dataclass(frozen=True, slots=True)
class NodeState:
    """One node as Pacemaker reports it."""

    name: str
    id: str | None
    type: str = "member"
    online: bool = False
    standby: bool = False
    maintenance: bool = False
    pending: bool = False
    unclean: bool = False
    shutdown: bool = False
    expected_up: bool = False
    is_dc: bool = False
    # For a guest node: the id of the resource that runs it (its container/VM).
    container: str | None = None
    # Remote and guest nodes: whether the controller holding the connection has it up
    # (node_state in_ccm in the CIB; None when unknown, e.g. read from crm_mon). Pacemaker
    # reports a fenced remote node online while a reconnect attempt is pending
    # (reconnect_interval): the connection alone says whether the host really is back.
    connected: bool | None = None

    @property
    def state(self) -> str:
        # Precedence is a contract (docs/design.md): the most alarming condition wins.
        if self.unclean:
            return "unclean"
        if self.pending:
            return "pending"
        if not self.online:
            return "offline"
        if self.maintenance:
            return "maintenance"
        if self.standby:
            return "standby"
        return "online"


@dataclasses.dataclass(frozen=True, slots=True)
class FenceEvent:
    """One entry of the fencer's history."""

    target: str
    action: str
    status: str
    completed: dt.datetime | None = None
    delegate: str | None = None
    origin: str | None = None
    client: str | None = None
    exit_reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    """What one look at the cluster showed."""

    quorate: bool | None
    dc: str | None
    nodes: tuple[NodeState, ...] = ()
    fence_events: tuple[FenceEvent, ...] = ()
    # Guest node name -> cluster node its container resource runs on, when known.
    guest_hosts: dict[str, str] = dataclasses.field(default_factory=dict)

    def node(self, name: str) -> NodeState | None:
        for node in self.nodes:
            if node.name == name:
                return node
        return None


# The CIB node attribute holding a host's current incident (JSON: id, state, lost_at…).
INCIDENT_ATTRIBUTE = "hakari-incident"
# Written by fence_hakari when it fences a node, cleared when it unfences it.
FENCED_ATTRIBUTE = "hakari-fenced"
# An operator's "hands off this host" (hakari hold / unhold): JSON by, why, at.
HOLD_ATTRIBUTE = "hakari-hold"
# A host's failover segment as the Masakari-compatible API keeps it (JSON: segment, name,
# method, enabled, reserved): what drives the recovery of the host (hakari.segments).
SEGMENT_ATTRIBUTE = "hakari-segment"
# Masakari's recovery methods; hakari's [recovery] target takes the same.
RECOVERY_METHODS = ("auto", "reserved_host", "auto_priority", "rh_priority")
# The statuses a lost host's instances had before the first evacuation of its incident
# (JSON: incident, statuses, omitted); what a successor engine verifies arrivals against.
ORIGINALS_ATTRIBUTE = "hakari-originals"


@dataclasses.dataclass(frozen=True, slots=True)
class Incident:
    """One loss of one host, from detection to the host being enabled again. Its
    states and transitions: hakari.lifecycle."""

    id: str
    node: str
    lost_at: dt.datetime
    state: str = "DETECTED"
    updated_at: dt.datetime | None = None
    reason: str = ""
    # Set when an operator released it from the brake (hakari release / retry): who.
    # Kept in the CIB record, so the brake leaves it alone on every controller.
    released_by: str = ""
    # When an operator last ran `hakari retry`: attempts before it no longer count
    # against [recovery] max_attempts.
    retried_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SegmentMembership:
    """A host's failover segment, as the API last wrote it in the CIB."""

    segment: str            # the segment's uuid
    name: str
    method: str             # one of RECOVERY_METHODS
    enabled: bool = True
    reserved: bool = False  # one of the segment's reserved hosts
