"""Failover segments in the CIB: what drives the recovery of each host.

The Masakari-compatible API keeps segments and hosts in SQL, but neither the engine nor
fence_hakari may depend on SQL, and controllers share nothing but the CIB and the
cloud's database. So the API writes each of its hosts' memberships on the host's
Pacemaker node, as the node attribute ``hakari-segment``: the segment (id and name), its
recovery method, whether it is enabled, and whether the host is one of its reserved
hosts. A node without it is in the default segment: the configuration.

An unreadable record counts as none, so the configuration applies: a damaged record
must not stop a recovery (a damaged hold does, since a hold asks hakari to stay away). A
disabled segment holds its hosts (hakari.holds); a reserved host taken into use is
marked no longer reserved (``mark_taken``), as Masakari marks it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from hakari.cluster import attributes
from hakari.hostnames import HostNameMap
from hakari.model import RECOVERY_METHODS, SEGMENT_ATTRIBUTE, SegmentMembership


def to_value(m: SegmentMembership) -> str:
    return json.dumps({"segment": m.segment, "name": m.name, "method": m.method,
                       "enabled": m.enabled, "reserved": m.reserved},
                      separators=(",", ":"))


def from_value(raw: str) -> SegmentMembership | None:
    """The membership, or None when ``raw`` is not one this module wrote."""
    try:
        d = json.loads(raw)
        m = SegmentMembership(d["segment"], d["name"], d["method"], d["enabled"],
                              d["reserved"])
    except (ValueError, TypeError, KeyError):
        return None
    if not (isinstance(m.segment, str) and isinstance(m.name, str) and m.segment
            and m.method in RECOVERY_METHODS and isinstance(m.enabled, bool)
            and isinstance(m.reserved, bool)):
        return None
    return m


def current(raw: Mapping[str, Mapping[str, str]]) -> dict[str, SegmentMembership]:
    """Every readable membership by node name, from ``raw`` (node -> hakari attributes,
    as attributes.read_all returns them)."""
    found = {}
    for node, attrs in raw.items():
        m = from_value(attrs[SEGMENT_ATTRIBUTE]) if attrs.get(SEGMENT_ATTRIBUTE) else None
        if m is not None:
            found[node] = m
    return found


def of_node(node: str, *, timeout: float) -> SegmentMembership | None:
    """One node's membership (one crm_attribute call)."""
    raw = attributes.query(node, SEGMENT_ATTRIBUTE, timeout=timeout)
    return from_value(raw) if raw else None


def place(node: str, m: SegmentMembership, *, timeout: float) -> None:
    attributes.update(node, SEGMENT_ATTRIBUTE, to_value(m), timeout=timeout)


def clear(node: str, *, timeout: float) -> None:
    attributes.delete(node, SEGMENT_ATTRIBUTE, timeout=timeout)


def mark_taken(host: str, names: HostNameMap, *, timeout: float) -> str:
    """Nova host ``host``, a reserved host, was just enabled to take evacuated
    instances: it is no longer reserved, as Masakari marks it, so no later recovery
    counts on its room. What was marked ("" when it was not a segment's reserved host:
    configured reserved hosts stay reserved)."""
    node = names.to_node(host)
    m = of_node(node, timeout=timeout)
    if m is None or not m.reserved:
        return ""
    place(node, dataclasses.replace(m, reserved=False), timeout=timeout)
    return f"no longer a reserved host of segment {m.name}"
