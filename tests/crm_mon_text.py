"""Read crm_mon's human text (Pacemaker 2.1.x) just enough to cross-check the XML parser.

Test-only: production code never parses this text. What it reads:
- "Current DC: NAME (version …) - partition with quorum|WITHOUT quorum" or "NONE";
- the Node List: grouped lines ("* Online: [ a b ]", "* RemoteOFFLINE: [ c ]", …) and
  one-node lines ("* Node a: UNCLEAN (offline)", "* RemoteNode c: standby", …).
Offline guest nodes are not printed at all by crm_mon; callers must allow for that.
"""

from __future__ import annotations

import dataclasses
import re

from hakari.model import ClusterSnapshot

_GROUP = re.compile(
    r"^\s*\* (Online|OFFLINE|RemoteOnline|RemoteOFFLINE|GuestOnline|GuestOFFLINE): "
    r"\[ (.*) \]$")
_SINGLE = re.compile(r"^\s*\* (Node|RemoteNode|GuestNode) (\S+): (.+)$")
_DC = re.compile(r"Current DC: (\S+)")
_TYPES = {"Node": "member", "RemoteNode": "remote", "GuestNode": "guest"}


@dataclasses.dataclass(frozen=True)
class TextNode:
    type: str
    state: str
    raw: str


@dataclasses.dataclass(frozen=True)
class TextView:
    dc: str | None
    quorate: bool | None
    nodes: dict[str, TextNode]


def _state(status: str) -> str:
    # "UNCLEAN (offline)", "OFFLINE (standby)", "standby (with active resources)", …
    word = status.split()[0]
    if word == "UNCLEAN":
        return "unclean"
    if word == "OFFLINE":
        return "offline"
    if word in ("online", "pending", "maintenance", "standby"):
        return word
    raise ValueError(f"unknown node status in crm_mon text: {status!r}")


def parse_text(text: str) -> TextView:
    dc = quorate = None
    m = _DC.search(text)
    if m and m.group(1) != "NONE":
        dc = m.group(1)
        line = text[m.start():].splitlines()[0]
        if "partition with quorum" in line:
            quorate = True
        elif "partition WITHOUT quorum" in line:
            quorate = False
    nodes: dict[str, TextNode] = {}
    in_list = False
    for line in text.splitlines():
        if line.startswith("Node List:"):
            in_list = True
            continue
        if not in_list:
            continue
        if not line.strip() or not line.startswith(" "):
            break
        m = _GROUP.match(line)
        if m:
            kind, names = m.groups()
            kind_type = ("guest" if kind.startswith("Guest")
                         else "remote" if kind.startswith("Remote") else "member")
            state = "online" if kind.endswith("Online") else "offline"
            for name in names.split():
                nodes[name] = TextNode(kind_type, state, kind)
            continue
        m = _SINGLE.match(line)
        if m:
            kind, name, status = m.groups()
            nodes[name] = TextNode(_TYPES[kind], _state(status), status)
            continue
        raise ValueError(f"unexpected Node List line: {line!r}")
    return TextView(dc, quorate, nodes)


def mismatches(snap: ClusterSnapshot, view: TextView) -> list[str]:
    """Every way the parsed XML disagrees with crm_mon's own text; empty when they agree."""
    problems = []
    if snap.dc != view.dc:
        problems.append(f"DC: xml {snap.dc!r}, text {view.dc!r}")
    if snap.quorate is not view.quorate:
        problems.append(f"quorum: xml {snap.quorate!r}, text {view.quorate!r}")
    for node in snap.nodes:
        shown = view.nodes.get(node.name)
        if shown is None:
            if not (node.type == "guest" and node.state == "offline"):
                problems.append(f"{node.name}: in XML ({node.type}, {node.state}), "
                                "not in text")
            continue
        if (shown.type, shown.state) != (node.type, node.state):
            problems.append(f"{node.name}: xml ({node.type}, {node.state}), "
                            f"text ({shown.type}, {shown.state}: {shown.raw!r})")
    extra = set(view.nodes) - {n.name for n in snap.nodes}
    if extra:
        problems.append(f"only in text: {sorted(extra)}")
    return problems
