"""The typed view of a spool record (``record.FORMAT``), for the engine.

The alert writes plain dicts (dataclasses cost the alert a third of its time budget);
``AlertEvent.from_record`` checks a record read back from disk again (types, ranges,
printable text, a key that matches the content), so a damaged or planted file is
refused, not half-trusted, and keeps what the engine reads: the kind, node, time and
order of every event, the description of a node event, a resource event's result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from hakari.alerts.record import (
    FORMAT, KINDS, MAX_NAME, MAX_VALUE, dedupe_key, spool_name)


class BadRecord(ValueError):
    """A spool record of the wrong shape."""


@dataclasses.dataclass(frozen=True, slots=True)
class ResourceResult:
    rsc: str
    task: str
    status: int          # PCMK_EXEC_*: 0 done, 1 cancelled, 2 timeout, …
    rc: int
    target_rc: int


@dataclasses.dataclass(frozen=True, slots=True)
class AlertEvent:
    """One cluster event as a Pacemaker alert reported it: what the engine reads of it."""

    key: str             # dedupe key (record.dedupe_key)
    kind: str            # node | fencing | resource | attribute
    node: str            # the node concerned (fencing: the target)
    epoch: int           # CRM_alert_timestamp_epoch
    usec: int            # CRM_alert_timestamp_usec
    sequence: int        # CRM_alert_node_sequence of the reporting node
    desc: str | None = None   # node: member | lost; fencing/resource: result text
    resource: ResourceResult | None = None

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
        record = _checked(rec)
        r = record["resource"]
        return cls(key=record["key"], kind=record["kind"], node=record["node"],
                   epoch=record["epoch"], usec=record["usec"], sequence=record["sequence"],
                   desc=record["desc"], resource=None if r is None else ResourceResult(
                       r["rsc"], r["task"], r["status"], r["rc"], r["target_rc"]))


_NONE = type(None)
# Every field of a record (record.normalize, plus the agent's seen_on and spooled_at) and
# its types. All are checked, read by the engine or not: the key is recomputed from them,
# and a file that does not fit them is damaged or planted.
_FIELDS = {
    "key": str, "kind": str, "node": str, "epoch": int, "usec": int, "sequence": int,
    "nodeid": (str, _NONE), "desc": (str, _NONE), "rc": (int, _NONE),
    "task": (str, _NONE), "pacemaker_version": (str, _NONE), "seen_on": (str, _NONE),
    "spooled_at": (int, float, _NONE),
}
# The part only one kind carries, and its fields.
_PARTS = {
    "fencing": {"action": str, "target": str, "executioner": str, "client": str,
                "origin": str, "result": str, "reason": (str, _NONE), "ref": str,
                "ok": bool},
    "resource": {"rsc": str, "task": str, "interval_ms": int, "status": int, "rc": int,
                 "target_rc": int, "exec_time_ms": (int, _NONE)},
    "attribute": {"name": str, "value": (str, _NONE)},
}


def _checked(rec) -> dict:
    """The record's known fields, each of its type, consistent with each other and with
    the key; BadRecord otherwise."""
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        raise BadRecord(f"not a {FORMAT} record")
    kind = rec.get("kind")
    if kind not in KINDS:
        raise BadRecord(f"unknown kind {kind!r}")
    record = {name: _typed(rec.get(name), want, name) for name, want in _FIELDS.items()}
    for part, fields in _PARTS.items():
        value = rec.get(part)
        if kind != part:
            if value is not None:
                raise BadRecord(f"{part}: set on a {kind} event")
        elif not isinstance(value, dict):
            raise BadRecord(f"{part}: missing")
        elif set(value) != set(fields):
            raise BadRecord(f"{part}: fields {sorted(set(value) ^ set(fields))} wrong")
        else:
            value = {name: _typed(value[name], want, f"{part}.{name}")
                     for name, want in fields.items()}
        record[part] = value
    node = record["node"]
    if not node or len(node) > MAX_NAME or " " in node:
        raise BadRecord("node: invalid")
    if not 0 <= record["usec"] <= 999_999 or record["epoch"] < 0 or record["sequence"] < 0:
        raise BadRecord("epoch, usec or sequence out of range")
    # The key is checked by recomputing it (and may be longer than any one field).
    for value in _strings({k: v for k, v in record.items() if k != "key"}):
        if len(value) > MAX_VALUE or not value.isprintable():
            raise BadRecord("text too long or not printable")
    if kind == "fencing" and (record["fencing"]["target"] != node
                              or record["rc"] is None or not record["desc"]):
        raise BadRecord("fencing: inconsistent with the event")
    if dedupe_key(record) != record["key"]:
        raise BadRecord("key does not match the event")
    return record


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def _typed(value, want, name: str):
    # bool is an int subclass; a true/false where a number belongs is damage.
    if not isinstance(value, want) or (isinstance(value, bool) and want is not bool):
        names = want.__name__ if isinstance(want, type) else \
            " or ".join(t.__name__ for t in want if t is not _NONE)
        raise BadRecord(f"{name}: expected {names}")
    return value
