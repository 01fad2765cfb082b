"""Holds: an operator's "hands off this host", cluster-wide (safety rule 9).

A held host is never acted on: the engine reports its loss and does nothing else, its
Nova service is not touched (fence_hakari included), and `hakari evacuate` refuses it.
A hold lives in the CIB as the node attribute ``hakari-hold`` (so every controller and a
failed-over engine see it) until `hakari unhold`; ``[recovery] excluded_hosts`` holds
the hosts it names by default. The Masakari-compatible API's ``on_maintenance`` is that
same attribute, and a disabled segment (hakari.segments) holds its hosts until it is
enabled again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping

from hakari import segments
from hakari.cluster import attributes
from hakari.hostnames import HostNameMap
from hakari.model import HOLD_ATTRIBUTE, SegmentMembership

MAX_WHY = 200
FROM_CONFIG = "[recovery] excluded_hosts"


@dataclasses.dataclass(frozen=True)
class Hold:
    node: str
    by: str
    why: str
    at: dt.datetime | None = None
    # A configured hold cannot be lifted with `hakari unhold`, only in the config.
    configured: bool = False
    # The disabled segment that holds it (by name): lifted by enabling the segment.
    segment: str = ""

    def describe(self) -> str:
        if self.configured:
            return f"held by {FROM_CONFIG}"
        if self.segment:
            return f"held: segment {self.segment} is disabled"
        when = f" since {self.at:%Y-%m-%d %H:%M:%SZ}" if self.at else ""
        return f"held by {self.by}{when}: {self.why}"

    def lifted_by(self) -> str:
        """What lifts it, for an operator."""
        if self.configured:
            return f"remove it from {FROM_CONFIG} and send the engine SIGHUP"
        if self.segment:
            return f"enable segment {self.segment} through the API"
        return f"`hakari unhold {self.node}`"


def of_segment(node: str, m: SegmentMembership) -> Hold | None:
    """The hold a disabled segment puts on its host."""
    if m.enabled:
        return None
    return Hold(node, f"segment {m.name}", f"segment {m.name} is disabled", segment=m.name)


def to_value(by: str, why: str, at: dt.datetime) -> str:
    return json.dumps({"by": " ".join(by.split())[:100], "why": " ".join(why.split())[:MAX_WHY],
                       "at": at.isoformat()}, separators=(",", ":"))


def from_value(node: str, raw: str) -> Hold:
    """Any value is a hold: a damaged record still means someone asked for one."""
    try:
        d = json.loads(raw)
        at = dt.datetime.fromisoformat(d["at"]) if d.get("at") else None
        return Hold(node, str(d.get("by") or "?"), str(d.get("why") or ""), at)
    except (ValueError, TypeError, KeyError, AttributeError):
        return Hold(node, "?", "unreadable hold record in the CIB")


def _configured(excluded: Iterable[str], names: HostNameMap) -> set[str]:
    return {names.to_node(h.strip()) for h in excluded if h.strip()}


def current(raw: Mapping[str, Mapping[str, str]], excluded: Iterable[str],
            names: HostNameMap) -> dict[str, Hold]:
    """Every hold by node name: the configured ones, then the CIB's (``raw``: node ->
    hakari attributes, as attributes.read_all returns them), then the disabled
    segments'. A node held several ways shows the first."""
    held = {node: Hold(node, FROM_CONFIG, "", configured=True)
            for node in _configured(excluded, names)}
    for node, attrs in raw.items():
        if attrs.get(HOLD_ATTRIBUTE):
            held.setdefault(node, from_value(node, attrs[HOLD_ATTRIBUTE]))
    for node, m in segments.current(raw).items():
        hold = of_segment(node, m)
        if hold is not None:
            held.setdefault(node, hold)
    return held


def of_cluster(conf) -> dict[str, Hold]:
    """Every hold, read from the CIB (one cibadmin call) and the configuration."""
    return current(attributes.read_all(timeout=conf.cluster.tool_timeout),
                   conf.recovery.excluded_hosts, HostNameMap.from_config(conf))


def of_node(node: str, excluded: Iterable[str], names: HostNameMap, *,
            timeout: float) -> Hold | None:
    """The hold on one node, if any, in the order of ``current`` (one or two
    crm_attribute calls)."""
    if node in _configured(excluded, names):
        return Hold(node, FROM_CONFIG, "", configured=True)
    raw = attributes.query(node, HOLD_ATTRIBUTE, timeout=timeout)
    if raw:
        return from_value(node, raw)
    m = segments.of_node(node, timeout=timeout)
    return of_segment(node, m) if m is not None else None


def place(node: str, by: str, why: str, *, timeout: float,
          now: dt.datetime | None = None) -> None:
    now = now or dt.datetime.now(dt.timezone.utc)
    attributes.update(node, HOLD_ATTRIBUTE, to_value(by, why, now), timeout=timeout)


def lift(node: str, *, timeout: float) -> None:
    attributes.delete(node, HOLD_ATTRIBUTE, timeout=timeout)
