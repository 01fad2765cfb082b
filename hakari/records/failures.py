"""Process and instance failure incidents, kept in the journal like host incidents.

Their state lives in ``failure-state`` events (not ``state``), so the host incident
store never mistakes a process failure of host H for a loss of H. Each incident has a
deterministic id, a timeline (every event under that id) and per-step request ids.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

from hakari.records.journal import Event, Journal, utcnow

STATE_EVENT = "failure-state"
PROCESS, INSTANCE = "process", "instance"
KINDS = (PROCESS, INSTANCE)
# Open incidents: a new failure signal joins them instead of starting a new one. A FAILED
# instance incident stays open so its retry limit holds across runs, until the instance
# is seen ACTIVE again.
OPEN_STATES = {PROCESS: frozenset({"DETECTED", "DISABLED"}),
               INSTANCE: frozenset({"DETECTED", "RECOVERING", "FAILED"})}
STATES = {PROCESS: ("DETECTED", "DISABLED", "ENABLED", "CLEARED", "IGNORED"),
          INSTANCE: ("DETECTED", "RECOVERING", "RECOVERED", "FAILED", "SKIPPED")}


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    id: str
    kind: str
    target: str          # the Nova host (process) or the server UUID (instance)
    host: str            # the Nova host concerned (an instance's host when known)
    opened_at: dt.datetime
    state: str = "DETECTED"
    reason: str = ""
    updated_at: dt.datetime | None = None

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES[self.kind]


def failure_id(kind: str, target: str, opened_at: dt.datetime) -> str:
    return f"{kind}-{target}-{opened_at.astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}"


def new_failure(kind: str, target: str, host: str, reason: str,
                now: dt.datetime | None = None) -> Failure:
    now = now or utcnow()
    return Failure(failure_id(kind, target, now), kind, target, host, now, "DETECTED",
                   reason)


def state_event(f: Failure) -> Event:
    return Event(f.updated_at or utcnow(), f.id, f.host, STATE_EVENT,
                 instance=f.target if f.kind == INSTANCE else None,
                 detail={"kind": f.kind, "target": f.target, "state": f.state,
                         "opened_at": f.opened_at.isoformat(), "reason": f.reason})


def failures_from_events(events: Iterable[Event]) -> dict[str, Failure]:
    """Latest state of every process/instance incident in the journal, by id."""
    found: dict[str, Failure] = {}
    for e in events:
        if e.event != STATE_EVENT:
            continue
        d = e.detail
        kind, state = d.get("kind"), d.get("state")
        if kind not in KINDS or state not in STATES[kind]:
            continue
        try:
            opened = dt.datetime.fromisoformat(d["opened_at"])
        except (KeyError, TypeError, ValueError):
            continue
        if opened.tzinfo is None:
            opened = opened.replace(tzinfo=dt.timezone.utc)
        found[e.incident] = Failure(e.incident, kind, str(d.get("target") or ""), e.host,
                                    opened, state, str(d.get("reason") or ""), e.ts)
    return found


def open_failure(events: Iterable[Event], kind: str, target: str) -> Failure | None:
    """The newest incident of ``kind`` for ``target`` if it is still open."""
    latest = None
    for f in failures_from_events(events).values():
        if f.kind == kind and f.target == target and (
                latest is None or f.opened_at >= latest.opened_at):
            latest = f
    return latest if latest is not None and latest.open else None


class FailureBook:
    """Reads and writes failure incidents in one journal."""

    def __init__(self, journal: Journal):
        self.journal = journal

    def current(self, kind: str, target: str) -> Failure | None:
        return open_failure(self.journal.read(), kind, target)

    def all_open(self, kind: str) -> list[Failure]:
        return [f for f in failures_from_events(self.journal.read()).values()
                if f.kind == kind and f.open]

    def events(self, failure: Failure) -> list[Event]:
        return list(self.journal.read(failure.id))

    def save(self, failure: Failure) -> Failure:
        failure = dataclasses.replace(failure, updated_at=utcnow())
        self.journal.append(state_event(failure))
        return failure

    def transition(self, failure: Failure, state: str, reason: str = "") -> Failure:
        if state not in STATES[failure.kind]:
            raise ValueError(f"unknown {failure.kind} failure state {state}")
        if failure.state == state and failure.reason == reason:
            return failure
        return self.save(dataclasses.replace(failure, state=state, reason=reason))

    def record(self, failure: Failure, event: str, *, request_id: str | None = None,
               ts: dt.datetime | None = None, **detail) -> Event:
        return self.journal.record(failure.id, failure.host, event,
                                   instance=failure.target if failure.kind == INSTANCE
                                   else None, request_id=request_id, ts=ts, **detail)
