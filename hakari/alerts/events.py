"""The typed view of a spool record (``record.FORMAT``), for the engine.

The alert writes plain dicts (dataclasses cost the alert a third of its time budget);
``AlertEvent.from_record`` checks a record read back from disk again (types, ranges,
printable text, a key that matches the content), so a damaged or planted file is
refused, not half-trusted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from hakari.alerts.record import (
    FORMAT, KINDS, MAX_NAME, MAX_VALUE, dedupe_key, spool_name)


class BadRecord(ValueError):
    """A spool record of the wrong shape."""


@dataclasses.dataclass(frozen=True, slots=True)
class FencingResult:
    """A fencing operation's outcome, parsed from CRM_alert_desc."""

    action: str          # reboot | off | on
    target: str
    executioner: str     # node that ran it, or "the cluster"
    client: str          # e.g. pacemaker-controld.1234, stonith_admin.99
    origin: str          # node that asked for it
    result: str          # "OK", "Error", or an execution status text
    reason: str | None
    ref: str             # the fencer's operation id: same on every node
    ok: bool             # result OK and rc 0


@dataclasses.dataclass(frozen=True, slots=True)
class ResourceResult:
    rsc: str
    task: str
    interval_ms: int
    status: int          # PCMK_EXEC_*: 0 done, 1 cancelled, 2 timeout, …
    rc: int
    target_rc: int
    exec_time_ms: int | None

    @property
    def succeeded(self) -> bool:
        return self.status == 0 and self.rc == self.target_rc


@dataclasses.dataclass(frozen=True, slots=True)
class AttributeChange:
    name: str
    value: str | None    # None: the attribute was removed


@dataclasses.dataclass(frozen=True, slots=True)
class AlertEvent:
    """One cluster event as a Pacemaker alert reported it."""

    key: str             # dedupe key (record.dedupe_key)
    kind: str            # node | fencing | resource | attribute
    node: str            # the node concerned (fencing: the target)
    epoch: int           # CRM_alert_timestamp_epoch
    usec: int            # CRM_alert_timestamp_usec
    sequence: int        # CRM_alert_node_sequence of the reporting node
    nodeid: str | None = None
    desc: str | None = None   # node: member | lost; fencing/resource: result text
    rc: int | None = None
    task: str | None = None
    pacemaker_version: str | None = None
    seen_on: str | None = None      # hostname of the node whose alert spooled it
    spooled_at: float | None = None
    fencing: FencingResult | None = None
    resource: ResourceResult | None = None
    attribute: AttributeChange | None = None

    @property
    def timestamp(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.epoch, dt.timezone.utc).replace(
            microsecond=self.usec)

    @property
    def order(self) -> tuple:
        """Sort key: event time, then the reporting node's sequence."""
        return (self.epoch, self.usec, self.sequence, self.key)

    @property
    def spool_name(self) -> str:
        return spool_name(self.key, self.kind)

    @classmethod
    def from_record(cls, rec) -> "AlertEvent":
        if not isinstance(rec, dict) or rec.get("format") != FORMAT:
            raise BadRecord(f"not a {FORMAT} record")
        kind = _field(rec, "kind", str)
        if kind not in KINDS:
            raise BadRecord(f"unknown kind {kind!r}")
        sub = {"fencing": (FencingResult, "fencing"), "resource": (ResourceResult,
               "resource"), "attribute": (AttributeChange, "attribute")}
        parts = {}
        for name, (klass, owner) in sub.items():
            value = rec.get(name)
            if kind == owner:
                parts[name] = _nested(klass, value, name)
            elif value is not None:
                raise BadRecord(f"{name}: set on a {kind} event")
        event = cls(
            key=_field(rec, "key", str), kind=kind, node=_field(rec, "node", str),
            epoch=_field(rec, "epoch", int), usec=_field(rec, "usec", int),
            sequence=_field(rec, "sequence", int),
            nodeid=_field(rec, "nodeid", str, True), desc=_field(rec, "desc", str, True),
            rc=_field(rec, "rc", int, True), task=_field(rec, "task", str, True),
            pacemaker_version=_field(rec, "pacemaker_version", str, True),
            seen_on=_field(rec, "seen_on", str, True),
            spooled_at=_field(rec, "spooled_at", (int, float), True), **parts)
        _consistent(event)
        return event

    def to_record(self) -> dict:
        rec = {"format": FORMAT}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            rec[f.name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) \
                else value
        return rec


def _consistent(event: AlertEvent) -> None:
    if not event.node or len(event.node) > MAX_NAME or " " in event.node:
        raise BadRecord("node: invalid")
    if not 0 <= event.usec <= 999_999 or event.epoch < 0 or event.sequence < 0:
        raise BadRecord("epoch, usec or sequence out of range")
    # The key is checked by recomputing it (and may be longer than any one field).
    record = event.to_record()
    record.pop("key")
    for value in _strings(record):
        if len(value) > MAX_VALUE or not value.isprintable():
            raise BadRecord("text too long or not printable")
    if event.kind == "fencing" and (event.fencing.target != event.node
                                    or event.rc is None or not event.desc):
        raise BadRecord("fencing: inconsistent with the event")
    if dedupe_key(event.to_record()) != event.key:
        raise BadRecord("key does not match the event")


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def _field(rec: dict, name: str, kind, optional: bool = False):
    value = rec.get(name)
    if value is None and optional:
        return None
    # bool is an int subclass; a true/false where a number belongs is damage.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRecord(f"{name}: expected {getattr(kind, '__name__', 'number')}")
    return value


_TYPES = {"str": str, "int": int, "bool": bool}


def _nested(klass, value, name: str):
    if not isinstance(value, dict):
        raise BadRecord(f"{name}: missing")
    names = {f.name for f in dataclasses.fields(klass)}
    if set(value) != names:
        raise BadRecord(f"{name}: fields {sorted(set(value) ^ names)} wrong")
    for f in dataclasses.fields(klass):
        # Annotations are strings here (postponed evaluation): "int", "str | None"…
        base, _, rest = f.type.partition(" | ")
        v = value[f.name]
        if v is None and rest == "None":
            continue
        want = _TYPES[base]
        if not isinstance(v, want) or (want is not bool and isinstance(v, bool)):
            raise BadRecord(f"{name}.{f.name}: expected {base}")
    return klass(**value)
