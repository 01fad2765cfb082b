"""Process and instance failure incidents: one record per failing host (process) or
instance, in the CIB when there is a cluster, in the journal otherwise.

``ClusterFailureBook``: one option per target in hakari's own crm_config set
``hakari-failures`` (``process-<host>``, ``instance-<server id>``), one line of JSON
each. So whether an incident is open, the failure signals of a host (and which alerts
were already counted) and the attempts made on an instance hold on every controller and
across an engine failover. Who disabled a compute service is not kept here: Nova's
disabled reason says that.
``FailureBook``: the journal alone, for a machine without a cluster.

Both append each incident's timeline to the local journal: state changes
(``failure-state`` events, never mistaken for host incidents' ``state``), signals, and
Nova requests with their request ids.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Iterable

from hakari.cluster import attributes as cluster_attributes
from hakari.cluster.runner import DEFAULT_TIMEOUT
from hakari.errors import ClusterNotConnected, ToolNotFound
from hakari.records.journal import Event, Journal, utcnow

LOG = logging.getLogger("hakari.failures")

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
# hakari's cluster_property_set in crm_config (Pacemaker ignores options it does not know).
FAILURES_SET = "hakari-failures"
# The newest failure signals a process incident keeps: far more than any useful
# failure_threshold. An alert delivered again after this many newer ones counts again.
MAX_SIGNALS = 50
# A closed incident's record stays in the CIB this long, for `hakari incidents` on every
# controller; the next incident to open removes older ones (the journal keeps them).
CLOSED_RETENTION = dt.timedelta(days=7)
MAX_REASON = 500


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
    # Instance: recovery attempts made in this incident (the retry limit counts them).
    attempts: int = 0
    # Process: (when, key) of each failure signal, oldest first; key "" when it has none.
    signals: tuple[tuple[dt.datetime, str], ...] = ()

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES[self.kind]

    def counted(self, key: str) -> bool:
        """Whether a signal with this key (the same alert, again) is already counted."""
        return any(k == key for _, k in self.signals)

    def with_signal(self, when: dt.datetime, key: str | None) -> "Failure":
        signals = (*self.signals, (when, key or ""))[-MAX_SIGNALS:]
        return dataclasses.replace(self, signals=signals)

    def signal_times(self) -> list[dt.datetime]:
        return [when for when, _ in self.signals]


def failure_id(kind: str, target: str, opened_at: dt.datetime) -> str:
    return f"{kind}-{target}-{opened_at.astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}"


def new_failure(kind: str, target: str, host: str, reason: str,
                now: dt.datetime | None = None) -> Failure:
    now = now or utcnow()
    return Failure(failure_id(kind, target, now), kind, target, host, now, "DETECTED",
                   reason)


def option_name(kind: str, target: str) -> str:
    return f"{kind}-{target}"


def to_value(f: Failure) -> dict:
    return {"id": f.id, "kind": f.kind, "target": f.target, "host": f.host,
            "state": f.state, "opened_at": f.opened_at.isoformat(),
            "updated_at": f.updated_at.isoformat() if f.updated_at else None,
            "reason": " ".join(f.reason.split())[:MAX_REASON], "attempts": f.attempts,
            "signals": [[when.isoformat(), key] for when, key in f.signals]}


def from_value(d) -> Failure | None:
    """The failure in a to_value document, or None when it is not one."""
    try:
        kind, state = d.get("kind"), d.get("state")
        if kind not in KINDS or state not in STATES[kind]:
            return None
        attempts = d.get("attempts") or 0
        if type(attempts) is not int:
            return None
        return Failure(str(d["id"]), kind, str(d.get("target") or ""),
                       str(d.get("host") or ""), _time(d["opened_at"]), state,
                       str(d.get("reason") or ""),
                       _time(d["updated_at"]) if d.get("updated_at") else None, attempts,
                       tuple((_time(when), str(key or ""))
                             for when, key in d.get("signals") or ()))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _time(raw) -> dt.datetime:
    value = dt.datetime.fromisoformat(raw)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def state_event(f: Failure) -> Event:
    return Event(f.updated_at or utcnow(), f.id, f.host, STATE_EVENT,
                 instance=f.target if f.kind == INSTANCE else None, detail=to_value(f))


def failures_from_events(events: Iterable[Event]) -> dict[str, Failure]:
    """Latest state of every process/instance incident in the journal, by id."""
    found: dict[str, Failure] = {}
    for e in events:
        if e.event != STATE_EVENT:
            continue
        f = from_value({**e.detail, "id": e.incident, "host": e.host,
                        "updated_at": e.ts.isoformat()})
        if f is not None:
            found[e.incident] = f
    return found


def open_failure(failures: Iterable[Failure], kind: str, target: str) -> Failure | None:
    """The newest incident of ``kind`` for ``target`` if it is still open."""
    latest = None
    for f in failures:
        if f.kind == kind and f.target == target and (
                latest is None or f.opened_at >= latest.opened_at):
            latest = f
    return latest if latest is not None and latest.open else None


class FailureBook:
    """Failure incidents in the journal alone (no cluster)."""

    cluster = False

    def __init__(self, journal: Journal):
        self.journal = journal

    def all(self) -> dict[str, Failure]:
        """Every incident this book holds, by id."""
        return failures_from_events(self.journal.read())

    def current(self, kind: str, target: str) -> Failure | None:
        return open_failure(self.all().values(), kind, target)

    def all_open(self, kind: str) -> list[Failure]:
        return [f for f in self.all().values() if f.kind == kind and f.open]

    def save(self, failure: Failure) -> Failure:
        failure = dataclasses.replace(failure, updated_at=utcnow())
        self.journal.append(state_event(failure))
        return failure

    def transition(self, failure: Failure, state: str, reason: str = "",
                   **changes) -> Failure:
        """``state`` with ``reason``, and ``changes`` to other fields (attempts)."""
        if state not in STATES[failure.kind]:
            raise ValueError(f"unknown {failure.kind} failure state {state}")
        new = dataclasses.replace(failure, state=state, reason=reason, **changes)
        return failure if new == failure else self.save(new)

    def record(self, failure: Failure, event: str, *, request_id: str | None = None,
               ts: dt.datetime | None = None, **detail) -> Event:
        return self.journal.record(failure.id, failure.host, event,
                                   instance=failure.target if failure.kind == INSTANCE
                                   else None, request_id=request_id, ts=ts, **detail)


class ClusterFailureBook(FailureBook):
    """The CIB's record is the truth; the journal keeps the timeline."""

    cluster = True

    def __init__(self, journal: Journal, timeout: float = DEFAULT_TIMEOUT,
                 attributes=cluster_attributes):
        super().__init__(journal)
        self._attributes = attributes
        self._timeout = timeout

    def all(self) -> dict[str, Failure]:
        return failures_from_options(
            self._attributes.read_options(FAILURES_SET, timeout=self._timeout))

    def current(self, kind: str, target: str) -> Failure | None:
        name = option_name(kind, target)
        raw = self._attributes.query_option(FAILURES_SET, name, timeout=self._timeout)
        f = from_option(name, raw) if raw else None
        return f if f is not None and f.open else None

    def save(self, failure: Failure) -> Failure:
        if failure.updated_at is None:
            self._prune(utcnow())
        failure = dataclasses.replace(failure, updated_at=utcnow())
        # The CIB first: what any controller decides from next.
        self._attributes.update_option(
            FAILURES_SET, option_name(failure.kind, failure.target),
            json.dumps(to_value(failure), separators=(",", ":")), timeout=self._timeout)
        self.journal.append(state_event(failure))
        return failure

    def _prune(self, now: dt.datetime) -> None:
        """A new incident opens: forget the closed ones past their retention."""
        for f in self.all().values():
            if not f.open and f.updated_at is not None and \
                    now - f.updated_at > CLOSED_RETENTION:
                self._attributes.delete_option(FAILURES_SET, option_name(f.kind, f.target),
                                               timeout=self._timeout)



def from_option(name: str, raw: str) -> Failure | None:
    """The failure in option ``name`` of the CIB's set; None (logged) when unreadable."""
    try:
        f = from_value(json.loads(raw))
    except ValueError:
        f = None
    if f is None:
        # Replaced by the next incident of that target; until then, none is open.
        LOG.warning("unreadable failure record %s in the CIB; ignoring it", name)
    return f


def failures_from_options(options: dict[str, str]) -> dict[str, Failure]:
    """Every readable failure in the options of the CIB's set, by id."""
    found = (from_option(name, raw) for name, raw in options.items())
    return {f.id: f for f in found if f is not None}


def failure_book(journal: Journal, timeout: float = DEFAULT_TIMEOUT,
                 attributes=cluster_attributes) -> FailureBook:
    """The CIB's book when this machine reaches a cluster, else the journal's alone."""
    try:
        attributes.read_options(FAILURES_SET, timeout=timeout)
    except (ToolNotFound, ClusterNotConnected):
        return FailureBook(journal)
    return ClusterFailureBook(journal, timeout, attributes)
