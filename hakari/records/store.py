"""Where host-level incident state is kept.

``ClusterStore``: the CIB node attribute ``hakari-incident`` (replicated by Pacemaker,
read by fence_hakari before it re-enables a returning host) plus the journal.
``LocalStore``: the journal only, for a machine without a cluster (`hakari evacuate
--assume-fenced` on a bare controller).

The attribute holds one line of JSON: ``{"id","state","lost_at","updated_at","reason"}``.
Only the engine or an operator's `hakari evacuate` writes it (one writer at a time per
host, see ``HostLock``). Beside it, ``hakari-originals`` keeps what the incident's
instances were before its first evacuation, for whichever controller finishes it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import json
import logging
import os
from collections.abc import Iterable, Mapping

from hakari import lifecycle
from hakari.cluster import attributes as cluster_attributes
from hakari.errors import HakariError
from hakari.model import FENCED_ATTRIBUTE, INCIDENT_ATTRIBUTE, ORIGINALS_ATTRIBUTE, Incident
from hakari.records.failures import ClusterFailureBook, FailureBook
from hakari.records.journal import Event, Journal, utcnow


LOG = logging.getLogger("hakari.store")


class StoreError(HakariError):
    pass


def incident_id(node: str, lost_at: dt.datetime) -> str:
    """Deterministic, so that the engine and an operator name the same loss alike."""
    return f"{node}-{lost_at.astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}"


def to_record(incident: Incident) -> str:
    return json.dumps({
        "id": incident.id, "state": incident.state,
        "lost_at": incident.lost_at.isoformat(),
        "updated_at": incident.updated_at.isoformat() if incident.updated_at else None,
        "reason": " ".join(incident.reason.split())[:500],
        **({"released_by": incident.released_by[:100]} if incident.released_by else {}),
        **({"retried_at": incident.retried_at.isoformat()} if incident.retried_at else {})},
        separators=(",", ":"))


def from_record(node: str, raw: str | None) -> Incident | None:
    """The incident in an attribute value, or None when absent or unreadable."""
    if not raw:
        return None
    try:
        d = json.loads(raw)
        lost_at = _aware(dt.datetime.fromisoformat(d["lost_at"]))
        updated = d.get("updated_at")
        state = d.get("state") or lifecycle.DETECTED
        if state not in lifecycle.NAMES:
            return None
        return Incident(id=str(d["id"]), node=node, lost_at=lost_at, state=state,
                        updated_at=_aware(dt.datetime.fromisoformat(updated))
                        if updated else None, reason=str(d.get("reason") or ""),
                        released_by=str(d.get("released_by") or ""),
                        retried_at=_time(d.get("retried_at")))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


# At most this many instances' original statuses are kept per incident (about 40 kB).
# One left out is unknown: untouched since the loss, its status in Nova is still its
# own; with an attempt behind it, it counts as arrived ACTIVE or SHUTOFF alike
# (policy.expected_statuses), as when no record is left at all.
ORIGINALS_LIMIT = 1000
ORIGINALS_EVENT = "originals"


def originals_value(statuses: Mapping[str, str], limit: int = ORIGINALS_LIMIT) -> dict:
    """``statuses`` (instance id -> status) grouped by status, at most ``limit`` ids.
    SHUTOFF ones are kept first: that status changes what hakari asks of Nova (stop at
    the destination) and what counts as arrived; ACTIVE and ERROR both arrive ACTIVE."""
    ids = sorted(statuses, key=lambda i: (statuses[i] != "SHUTOFF", i))
    groups: dict[str, list[str]] = {}
    for i in ids[:limit]:
        groups.setdefault(statuses[i], []).append(i)
    return {"statuses": groups, "omitted": max(0, len(ids) - limit)}


def statuses_of(value) -> dict[str, str] | None:
    """The statuses in an originals_value, or None when it is not one."""
    groups = value.get("statuses") if isinstance(value, dict) else None
    if not isinstance(groups, dict):
        return None
    found = {}
    for status, ids in groups.items():
        if not isinstance(ids, list):
            return None
        found.update((str(i), str(status)) for i in ids)
    return found


def read_record(node: str, timeout: float, attributes=cluster_attributes) -> Incident | None:
    """The node's incident as the CIB holds it now, or None when it has none. Raises
    StoreError when the record is unreadable: acting as if there were none could let a
    host rejoin while its instances are being rebuilt elsewhere."""
    raw = attributes.query(node, INCIDENT_ATTRIBUTE, timeout=timeout)
    incident = from_record(node, raw)
    if incident is None and raw:
        raise StoreError(f"{node}: unreadable {INCIDENT_ATTRIBUTE} attribute in the CIB")
    return incident


@dataclasses.dataclass
class Records:
    incidents: dict[str, Incident]
    fenced: dict[str, dt.datetime]
    raw: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)


def parse_records(raw: dict[str, dict[str, str]]) -> Records:
    """hakari's CIB attributes per node (attributes.read_all); unreadable incident
    records are logged and skipped."""
    incidents: dict[str, Incident] = {}
    fenced: dict[str, dt.datetime] = {}
    for node, attrs in raw.items():
        if INCIDENT_ATTRIBUTE in attrs:
            incident = from_record(node, attrs[INCIDENT_ATTRIBUTE])
            if incident is None:
                LOG.error("%s: unreadable %s attribute in the CIB; ignoring it", node,
                          INCIDENT_ATTRIBUTE)
            else:
                incidents[node] = incident
        if FENCED_ATTRIBUTE in attrs:
            try:
                when = dt.datetime.fromisoformat(attrs[FENCED_ATTRIBUTE])
            except ValueError:
                continue
            if when.tzinfo is not None:
                fenced[node] = when
    return Records(incidents, fenced, raw)


def _time(raw) -> dt.datetime | None:
    return _aware(dt.datetime.fromisoformat(raw)) if raw else None


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def state_event(incident: Incident, host: str) -> Event:
    return Event(incident.updated_at or utcnow(), incident.id, host, "state",
                 detail={"node": incident.node, "state": incident.state,
                         "lost_at": incident.lost_at.isoformat(), "reason": incident.reason,
                         "released_by": incident.released_by,
                         "retried_at": incident.retried_at.isoformat()
                         if incident.retried_at else None})


def incidents_from_events(events: Iterable[Event]) -> dict[str, tuple[Incident, str]]:
    """Latest state of every incident in the journal: id -> (incident, nova host)."""
    found: dict[str, tuple[Incident, str]] = {}
    for e in events:
        if e.event != "state":
            continue
        d = e.detail
        try:
            lost_at = _aware(dt.datetime.fromisoformat(d["lost_at"]))
        except (KeyError, TypeError, ValueError):
            continue
        state = d.get("state")
        if state not in lifecycle.NAMES:
            continue
        found[e.incident] = (Incident(id=e.incident, node=str(d.get("node") or e.host),
                                      lost_at=lost_at, state=state, updated_at=e.ts,
                                      reason=str(d.get("reason") or ""),
                                      released_by=str(d.get("released_by") or ""),
                                      retried_at=_time(d.get("retried_at"))), e.host)
    return found


class LocalStore:
    """Incident state in the journal only."""

    cluster = False

    def __init__(self, journal: Journal):
        self.journal = journal

    def current(self, node: str) -> Incident | None:
        """The newest incident of ``node`` a loss now would belong to (None once the
        host came back)."""
        latest = None
        for incident, _ in incidents_from_events(self.journal.read()).values():
            if incident.node != node:
                continue
            if latest is None or incident.lost_at >= latest.lost_at:
                latest = incident
        if latest is None or latest.state in lifecycle.HOST_BACK:
            return None
        return latest

    def save(self, incident: Incident, host: str) -> Incident:
        incident = dataclasses.replace(incident, updated_at=utcnow())
        self.journal.append(state_event(incident, host))
        return incident

    def originals(self, incident: Incident) -> dict[str, str] | None:
        """Instance id -> status before the incident's first evacuation, as kept by
        keep_originals; None when nothing was kept for this incident."""
        found = None
        for e in self.journal.read(incident.id):
            if e.event == ORIGINALS_EVENT:
                found = statuses_of(e.detail)
        return found

    def keep_originals(self, incident: Incident, host: str,
                       statuses: Mapping[str, str]) -> None:
        """Record ``statuses`` once per incident, before its first evacuate request."""
        self.journal.record(incident.id, host, ORIGINALS_EVENT, **originals_value(statuses))

    def forget_originals(self, incident: Incident) -> None:
        """The incident is over (the journal keeps them as history)."""

    def failures(self) -> FailureBook:
        """The process and instance failure incidents kept where this store keeps its
        incidents."""
        return FailureBook(self.journal)

    def transition(self, incident: Incident, host: str, state: str, reason: str = "", *,
                   by: str = lifecycle.ENGINE, **decided) -> Incident:
        """Move the incident to ``state`` if hakari.lifecycle allows ``by`` to; raises
        IllegalTransition, writing nothing, otherwise. ``decided``: an operator's marks
        to set with it (released_by, retried_at); None leaves one as it is."""
        try:
            lifecycle.check(incident.state, state, by)
        except lifecycle.IllegalTransition as err:
            raise lifecycle.IllegalTransition(f"incident {incident.id}: {err}") from None
        marks = {k: v for k, v in decided.items() if v is not None}
        if set(marks) - {"released_by", "retried_at"}:
            raise TypeError(f"unknown incident marks: {sorted(marks)}")
        new = dataclasses.replace(incident, state=state, reason=reason, **marks)
        if new == incident:
            return incident
        return self.save(new, host)


class ClusterStore(LocalStore):
    """The CIB attribute is the replicated truth; the journal keeps the history."""

    cluster = True

    def __init__(self, journal: Journal, timeout: float = 30.0,
                 attributes=cluster_attributes):
        super().__init__(journal)
        self._attributes = attributes
        self._timeout = timeout

    def current(self, node: str) -> Incident | None:
        incident = read_record(node, self._timeout, self._attributes)
        if incident is None or incident.state in lifecycle.HOST_BACK:
            return None
        return incident

    def save(self, incident: Incident, host: str) -> Incident:
        incident = dataclasses.replace(incident, updated_at=utcnow())
        # CIB first: it is what fence_hakari and a restarted engine act on.
        self._attributes.update(incident.node, INCIDENT_ATTRIBUTE, to_record(incident),
                                timeout=self._timeout)
        self.journal.append(state_event(incident, host))
        return incident

    def originals(self, incident: Incident) -> dict[str, str] | None:
        raw = self._attributes.query(incident.node, ORIGINALS_ATTRIBUTE,
                                     timeout=self._timeout)
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            value = None
        # Another incident's record (an earlier loss of the host) is none of this one's.
        if not isinstance(value, dict) or value.get("incident") != incident.id:
            return None
        return statuses_of(value)

    def keep_originals(self, incident: Incident, host: str,
                       statuses: Mapping[str, str]) -> None:
        # In the CIB, on the lost node: whichever controller finishes the recovery reads
        # it there; the journal only keeps the history.
        value = {"incident": incident.id, **originals_value(statuses)}
        self._attributes.update(incident.node, ORIGINALS_ATTRIBUTE,
                                json.dumps(value, separators=(",", ":")),
                                timeout=self._timeout)
        super().keep_originals(incident, host, statuses)

    def forget_originals(self, incident: Incident) -> None:
        self._attributes.delete(incident.node, ORIGINALS_ATTRIBUTE, timeout=self._timeout)

    def failures(self) -> FailureBook:
        return ClusterFailureBook(self.journal, self._timeout, self._attributes)


class HostLock:
    """One recovery of a host at a time on this machine (engine and CLI alike)."""

    def __init__(self, state_dir: str, host: str):
        safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in host)[:200]
        self.path = os.path.join(state_dir, f"lock-{safe}")
        self._fd: int | None = None

    def __enter__(self) -> "HostLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(f"{self.path}: another hakari process is recovering this "
                             "host right now") from None
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
