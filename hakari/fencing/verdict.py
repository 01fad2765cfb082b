"""Safety rule 1: is a lost host proven fenced?

Only Pacemaker's own fence history counts. The rules, each covered by a test:

- only ``off`` and ``reboot`` can fence (``on`` is unfencing);
- an event that completed before the loss (minus a small clock-skew allowance) belongs to
  an earlier incident and is ignored, so an old success never proves a new loss;
- among the remaining events the latest wins: pending first, then newest completed, ties
  broken by the order Pacemaker printed them (it sorts newest first to the nanosecond);
- only a latest event with status ``success`` confirms.

A guest node (a VM or container run by a resource) dies with its host: it counts as fenced
when the node running it is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping

from hakari.model import FenceEvent

FENCING_ACTIONS = frozenset({"off", "reboot"})

CONFIRMED = "confirmed"
PENDING = "pending"
FAILED = "failed"
NONE = "none"


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    kind: str
    event: FenceEvent | None = None
    reason: str = ""
    # The node whose fencing the verdict is about: the host itself, or a guest's host.
    fenced_node: str | None = None

    @property
    def confirmed(self) -> bool:
        return self.kind == CONFIRMED


def fence_verdict(
    events: Iterable[FenceEvent],
    node: str,
    lost_at: dt.datetime,
    *,
    clock_skew: float = 2.0,
    guest_hosts: Mapping[str, str] | None = None,
) -> Verdict:
    """Return whether ``node``, seen lost at ``lost_at``, is proven fenced."""
    if lost_at.tzinfo is None:
        raise ValueError("lost_at must be timezone-aware")
    target = node
    if guest_hosts and node in guest_hosts:
        target = guest_hosts[node]
    latest = latest_fencing(events, target, lost_at - dt.timedelta(seconds=clock_skew))
    if latest is None:
        return Verdict(NONE, None, f"no fencing of {target} since it was lost", target)
    if latest.status == "success":
        return Verdict(CONFIRMED, latest, _describe(latest), target)
    if latest.status == "pending":
        return Verdict(PENDING, latest, _describe(latest), target)
    reason = latest.exit_reason or "fence agent reported failure"
    return Verdict(FAILED, latest, f"{_describe(latest)}: {reason}", target)


def latest_fencing(events: Iterable[FenceEvent], target: str,
                   since: dt.datetime) -> FenceEvent | None:
    """The newest off/reboot event for ``target`` that is pending or completed ≥ ``since``."""
    newest: FenceEvent | None = None
    for event in events:
        if event.target != target or event.action not in FENCING_ACTIONS:
            continue
        if event.status == "pending":
            # Pacemaker lists pending operations first; the first one seen is current.
            if newest is None or newest.status != "pending":
                newest = event
            continue
        if event.completed is None or event.completed < since:
            continue
        if newest is None:
            newest = event
        elif newest.status != "pending" and event.completed > newest.completed:
            # Strictly later only: on equal timestamps the earlier-listed event is newer.
            newest = event
    return newest


def _describe(event: FenceEvent) -> str:
    when = event.completed.isoformat() if event.completed else "in progress"
    by = f" by {event.delegate}" if event.delegate else ""
    return f"{event.action} of {event.target}{by}: {event.status} ({when})"
