"""Just enough of crm_mon's XML for the lab to wait on cluster states.

The lab deliberately does not use hakari's parser: the lab is what tests that parser.
"""

from __future__ import annotations

import dataclasses

from lxml import etree

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                          load_dtd=False)


def _bool(value: str | None) -> bool:
    return value == "true"


@dataclasses.dataclass(frozen=True)
class View:
    """One crm_mon answer, from one node's point of view."""

    quorate: bool | None
    dc: str | None
    nodes: dict[str, dict[str, str]]
    fence_events: list[dict[str, str]]
    raw: bytes = b""
    # Pacemaker Remote node -> the controller its connection runs on, while it runs.
    connections: dict[str, str] = dataclasses.field(default_factory=dict)

    def node(self, name: str) -> dict[str, str]:
        return self.nodes.get(name, {})

    def online(self, name: str) -> bool:
        return _bool(self.node(name).get("online"))

    def joined(self, name: str) -> bool:
        """Online and done joining: a full member the DC can schedule on. A remote node
        also needs its connection up: while only its reconnection is pending, Pacemaker
        2.1 shows a fenced remote node online."""
        n = self.node(name)
        return _bool(n.get("online")) and not _bool(n.get("pending")) \
            and not _bool(n.get("unclean")) \
            and (n.get("type") != "remote" or name in self.connections)

    def unclean(self, name: str) -> bool:
        return _bool(self.node(name).get("unclean"))

    def offline_clean(self, name: str) -> bool:
        n = self.node(name)
        return bool(n) and not _bool(n.get("online")) and not _bool(n.get("unclean"))

    def all_online(self, names) -> bool:
        return all(self.online(n) for n in names)

    def all_joined(self, names) -> bool:
        return all(self.joined(n) for n in names)

    def fenced(self, target: str, status: str = "success") -> list[dict[str, str]]:
        return [e for e in self.fence_events
                if e.get("target") == target and e.get("status") == status]

    def summary(self) -> str:
        parts = [f"dc={self.dc} quorate={self.quorate}"]
        for name, n in sorted(self.nodes.items()):
            flags = [k for k in ("online", "unclean", "pending", "standby", "maintenance")
                     if _bool(n.get(k))]
            parts.append(f"{name}[{','.join(flags) or 'offline'}]")
        parts.append(f"fence_events={len(self.fence_events)}")
        return " ".join(parts)


def parse(data: bytes) -> View:
    root = etree.fromstring(data, _PARSER)
    dc_elem = root.find("summary/current_dc")
    quorate = dc = None
    if dc_elem is not None and _bool(dc_elem.get("present")):
        dc = dc_elem.get("name")
        quorate = _bool(dc_elem.get("with_quorum"))
    nodes = {n.get("name"): dict(n.attrib) for n in root.iterfind("nodes/node")}
    events = [dict(e.attrib) for e in root.iterfind("fence_history/fence_event")]
    connections = {}
    for rsc in root.iterfind("resources/resource"):
        where = rsc.find("node")
        if (rsc.get("resource_agent") == "ocf:pacemaker:remote" and rsc.get("role") ==
                "Started" and not _bool(rsc.get("failed")) and where is not None):
            connections[rsc.get("id")] = where.get("name")
    return View(quorate, dc, nodes, events, data, connections)
