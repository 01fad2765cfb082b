"""What the engine should do next, from one look at the cluster. Pure.

The loss time (``lost_at``) of an incident is what keeps an old fencing from proving a new
loss, so it is chosen as a moment the node is known to have been alive or, failing that,
a moment it is known to have been down ever since:

- the node was seen online by this engine: the last time it was (any fencing after that
  happened after it was last alive);
- a node-lost alert arrived after that: the alert's time;
- neither (the engine just started) and the node is unclean: now (Pacemaker has not
  fenced it yet; the proof will come from the fencing still to happen);
- neither, the node is cleanly offline and carries fence_hakari's ``hakari-fenced``
  record: that record's time (fence_hakari clears it when the node comes back, so the
  node has been down since);
- otherwise the loss cannot be dated and the engine does not act on its own: it says so,
  and an operator can run `hakari evacuate`.

A node that is offline but not unclean, with no fencing since it was last seen alive, left
the cluster cleanly: Pacemaker only fences nodes it lost uncleanly. That is a planned stop:
no incident (safety rule 6).

Operators' decisions stick: an incident an operator must decide on (BLOCKED, FAILED:
hakari.lifecycle.PARKED) gets no step whatever the cluster shows, and a held host gets
none either (only a HELD report while it is lost).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping

from hakari import lifecycle
from hakari.fencing.verdict import CONFIRMED, FAILED, fence_verdict
from hakari.model import ClusterSnapshot, Incident, NodeState

OPEN = "open"                  # new incident, state DETECTED
CONFIRM = "confirm"            # fencing proven: FENCE_CONFIRMED, then recover
RECOVER = "recover"            # resume a recovery that was under way
FENCE_FAILED = "fence-failed"  # fencing failed (or took too long): keep waiting, loudly
RETURNED = "returned"          # the node is back: re-enable once evacuations are done
UNDATED = "undated"            # lost, but when cannot be told: report, do nothing
HELD = "held"                  # lost, but an operator holds it: report, do nothing


@dataclasses.dataclass
class Memory:
    """What the engine saw in earlier looks; lost on restart, by design rebuilt from the
    CIB and the alert spool."""

    last_online: dict[str, dt.datetime] = dataclasses.field(default_factory=dict)
    lost_alert: dict[str, dt.datetime] = dataclasses.field(default_factory=dict)

    def observe(self, snapshot: ClusterSnapshot, now: dt.datetime,
                fresh: frozenset[str] | None = None) -> None:
        """``fresh``: after a narrow look, the only nodes it read (the others' states
        are as old as the last full look: seeing them alive "now" would date a later
        loss too late, and refuse the fencing that proves it)."""
        for node in snapshot.nodes:
            if fresh is not None and node.name not in fresh:
                continue
            if not is_lost(node):
                self.last_online[node.name] = now
                self.lost_alert.pop(node.name, None)

    def node_alert(self, node: str, member: bool, when: dt.datetime) -> None:
        if member:
            # Not proof of life: Pacemaker 2.1.5 was seen sending "member" for a node
            # it had just fenced and that stayed powered off. Only crm_mon showing the
            # node online counts (observe); a member alert only voids an earlier "lost"
            # date, so the loss is then dated by stronger evidence (fence_hakari's
            # record) or not at all.
            self.lost_alert.pop(node, None)
        elif when >= self.last_online.get(node, when):
            self.lost_alert.setdefault(node, when)


# Alerts about one node whose facts a narrow look reads whole: its membership, its
# fencing, its node attributes. A resource alert can be about another node than the one
# it names (a remote node's connection runs on a cluster node, a guest on its host): a
# full look.
NARROW_KINDS = frozenset({"node", "fencing", "attribute"})
# At most this many nodes in one narrow look. More at once is many nodes changing
# together: a full look, which also gives the mass-failure brake (rule 4) every node's
# state from one moment.
NARROW_MAX = 4


def narrow_scope(alerts: Iterable[tuple[str, str]], view: ClusterSnapshot | None,
                 lost_alerts: Iterable[str], age: float, max_age: float
                 ) -> frozenset[str] | None:
    """The nodes a narrow look must read after ``alerts`` ((kind, node) of each alert
    drained), or None when only a full look will do: no full look yet (``view``) or the
    last one ``max_age`` seconds old or more (``age``: the interval's full look is due),
    no alert or one of another kind, too many nodes, a node the view does not know or a
    guest node (its container's host decides its state). Nodes alerted lost and not
    seen alive since (``lost_alerts``) are read again as well: the brake counts them."""
    if view is None or age >= max_age:
        return None
    alerts = list(alerts)
    if not alerts or any(kind not in NARROW_KINDS for kind, _ in alerts):
        return None
    nodes = {node for _, node in alerts} | set(lost_alerts)
    known = {n.name: n for n in view.nodes}
    if len(nodes) > NARROW_MAX or any(
            n not in known or known[n].type == "guest" for n in nodes):
        return None
    return frozenset(nodes)


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    node: str
    action: str
    lost_at: dt.datetime | None = None
    reason: str = ""
    # OPEN only: the same look already proves the fencing (rule 1), and why; recovery
    # then starts in this look instead of the next one.
    fenced: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    steps: tuple[Step, ...]
    # Set when the engine must not act at all (no quorum): why.
    blocked: str | None = None


def acted_on(decision: Decision, fresh: frozenset[str] | None
             ) -> tuple[tuple[Step, ...], tuple[Step, ...]]:
    """(the steps to take, the steps the brake counts) of a decision made after a look
    that read only ``fresh`` (None: every node). Only the nodes read are acted on:
    another node's state and fence history are as old as the last full look, too old to
    confirm, fail or close its incident on. The brake still counts over the cluster
    (rule 4): when a recovery would start, every other node the decision would open an
    incident for counts as lost too."""
    if fresh is None:
        return decision.steps, decision.steps
    acted = tuple(s for s in decision.steps if s.node in fresh)
    if not any(s.action in (OPEN, CONFIRM, RECOVER) for s in acted):
        return acted, acted
    return acted, acted + tuple(s for s in decision.steps
                                if s.node not in fresh and s.action == OPEN)


def compute_nodes(snapshot: ClusterSnapshot, configured: Iterable[str]) -> list[NodeState]:
    """The nodes that are Nova compute hosts: the configured ones, or else every
    pacemaker_remote node (guests and members are not computes by default)."""
    names = set(configured)
    if names:
        return [n for n in snapshot.nodes if n.name in names]
    return [n for n in snapshot.nodes if n.type == "remote"]


def is_lost(node: NodeState) -> bool:
    """Lost unless online, clean and, for a remote node, connected: Pacemaker shows a
    fenced remote node online while its connection is only retrying, and a host taken
    for back would be re-enabled in Nova while it is still dark."""
    return node.unclean or not node.online or node.connected is False


def decide(snapshot: ClusterSnapshot, incidents: Mapping[str, Incident], memory: Memory,
           fenced_records: Mapping[str, dt.datetime], computes: Iterable[NodeState],
           now: dt.datetime, *, clock_skew: float, confirm_timeout: float,
           held: Mapping[str, str] | None = None) -> Decision:
    """``held``: node -> why, for hosts hakari must not act on."""
    if snapshot.quorate is not True:
        why = "no quorum" if snapshot.quorate is False else "no DC, quorum unknown"
        return Decision((), f"this partition has {why}: hakari does not act")
    held = held or {}
    steps: list[Step] = []
    for node in computes:
        incident = incidents.get(node.name)
        if node.name in held:
            if is_lost(node):
                steps.append(Step(node.name, HELD, None, f"{node.name} is lost but held "
                                  f"({held[node.name]}): hakari does not act"))
            continue
        if incident is not None and incident.state in lifecycle.PARKED:
            continue  # an operator decides: hakari release, retry or evacuate
        if incident is not None and incident.state in lifecycle.RECOVERING:
            # A host that is back (a reboot fencing power-cycles it) does not cancel its
            # evacuations: they run to the end before it may be re-enabled (rule 5).
            steps.append(Step(node.name, RECOVER, incident.lost_at, "recovery under way"))
            continue
        if incident is not None and incident.state in lifecycle.TERMINAL:
            incident = None
        if not is_lost(node):
            if incident is not None:
                steps.append(Step(node.name, RETURNED, incident.lost_at,
                                  f"{node.name} is back online"))
            continue
        if incident is not None and incident.state in lifecycle.HOST_BACK:
            incident = None  # back, then lost again: a new loss, dated anew
        if incident is None:
            step = _open(snapshot, node, memory, fenced_records, now, clock_skew)
            if step is not None and step.action == OPEN:
                verdict = _verdict(snapshot, node.name, step.lost_at, clock_skew)
                if verdict.kind == CONFIRMED:
                    step = dataclasses.replace(step, fenced=verdict.reason)
            if step is not None:
                steps.append(step)
            continue
        if incident.state in lifecycle.AWAITING_FENCE:
            steps.extend(_fencing(snapshot, node, incident, now, clock_skew,
                                  confirm_timeout))
    return Decision(tuple(steps))


def _open(snapshot, node, memory, fenced_records, now, clock_skew) -> Step | None:
    seen = memory.last_online.get(node.name)
    alert = memory.lost_alert.get(node.name)
    if seen is not None or alert is not None:
        lost_at = max(t for t in (seen, alert) if t is not None)
        if not node.unclean and not _fenced_since(snapshot, node.name, lost_at, clock_skew):
            return None  # left cleanly: a planned stop
        return Step(node.name, OPEN, lost_at, "lost" + (" (alert)" if alert else ""))
    if node.unclean:
        return Step(node.name, OPEN, now, "found unclean")
    record = fenced_records.get(node.name)
    if record is not None:
        return Step(node.name, OPEN, record, "down since fence_hakari fenced it")
    if _fenced_since(snapshot, node.name, dt.datetime(1970, 1, 2, tzinfo=dt.timezone.utc),
                     clock_skew):
        return Step(node.name, UNDATED, None,
                    f"{node.name} is offline and was fenced, but hakari cannot tell when "
                    "it was lost; if it needs recovery run `hakari evacuate "
                    f"{node.name}`")
    return None  # offline with no fencing on record: not a failure hakari can see


def _fencing(snapshot, node, incident, now, clock_skew, confirm_timeout) -> list[Step]:
    verdict = _verdict(snapshot, node.name, incident.lost_at, clock_skew)
    if verdict.kind == CONFIRMED:
        return [Step(node.name, CONFIRM, incident.lost_at, verdict.reason)]
    overdue = (now - incident.lost_at).total_seconds() > confirm_timeout
    if verdict.kind == FAILED or overdue:
        if incident.state != lifecycle.DETECTED:
            return []  # already reported, or released by an operator: keep waiting
        reason = verdict.reason if verdict.kind == FAILED else \
            f"no successful fencing of {node.name} within {confirm_timeout:g}s"
        return [Step(node.name, FENCE_FAILED, incident.lost_at, reason)]
    return []


def _verdict(snapshot, node: str, since: dt.datetime, clock_skew: float):
    """Whether the node's fencing since ``since`` is proven (rule 1): the one question
    an incident's confirmation asks, in the look that opens it or a later one."""
    return fence_verdict(snapshot.fence_events, node, since, clock_skew=clock_skew,
                         guest_hosts=snapshot.guest_hosts)


def _fenced_since(snapshot, node: str, since: dt.datetime, clock_skew: float) -> bool:
    return fence_verdict(snapshot.fence_events, node, since,
                         clock_skew=clock_skew).kind == CONFIRMED
