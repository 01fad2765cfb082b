"""crm_mon XML -> ClusterSnapshot.

Reads Pacemaker 2.x ``crm_mon --output-as=xml`` (``<pacemaker-result>``) and the legacy
``crm_mon -X/--as-xml`` (``<crm_mon version>``), which carry the same children.

Large clusters print megabytes (resources, per-node operation history), and the engine
reads this on every reconcile. So only the few sections we use are visited: the root's
children, ``summary/current_dc``, the ``<node>`` children of ``<nodes>``,
``<fence_history>``, and ``<resources>`` only when there are guest nodes to place.
"""

from __future__ import annotations

from lxml import etree

from hakari.cluster.fence_history import parse_fence_events
from hakari.cluster.result import check_status, first_error
from hakari.cluster.xml import parse_xml
from hakari.errors import ParseError
from hakari.model import ClusterSnapshot, NodeState

WHAT = "crm_mon XML"
ROOTS = ("pacemaker-result", "crm_mon")

# crm_is_true() spellings; crm_mon prints "true"/"false" but hand-made files vary.
_TRUE = frozenset(("true", "yes", "on", "y", "1"))
_PLAIN_TYPES = frozenset(("member", "remote", "ping", "unknown"))


def parse_crm_mon(data: bytes) -> ClusterSnapshot:
    """Parse crm_mon XML; raise ParseError, or the tool's error if it reported one."""
    root = parse_xml(data, WHAT, ROOTS)
    return snapshot_from_root(root)


def snapshot_from_root(root: etree._Element, argv=None) -> ClusterSnapshot:
    """The snapshot in a crm_mon document already parsed by ``parse_xml``.

    ``argv`` is the command that printed it, carried into any error raised.
    """
    sections: dict[str, etree._Element] = {}
    for child in root.iterchildren(tag=etree.Element):
        sections.setdefault(child.tag, child)
    if root.tag == "pacemaker-result":
        check_status(root, WHAT, argv)
        if "summary" not in sections and "nodes" not in sections:
            # crm_mon 2.1.5 exits 0 with status "OK" when it could not read the CIB
            # (e.g. a CIB_file failing schema validation); only <errors> tells why.
            reason = first_error(root) or (f"not crm_mon output? "
                                           f"request={_request(root)!r}")
            raise ParseError(f"{WHAT}: no cluster status in the document: {reason}")

    nodes, flagged_dc = _parse_nodes(sections.get("nodes"))

    quorate = None
    dc = flagged_dc
    summary = sections.get("summary")
    current = summary.find("current_dc") if summary is not None else None
    if current is not None:
        if current.get("present") in _TRUE:
            quorum = current.get("with_quorum")
            quorate = None if quorum is None else quorum in _TRUE
            # Normalized (upstream test) and synthetic files omit the name; the node
            # flagged is_dc is then the only witness. A DC whose name is unknown still
            # exists, so its quorum answer stands.
            dc = current.get("name") or flagged_dc
        else:
            # No DC means no one to ask about quorum: unknown, not "false".
            dc = None

    guests = {n.name: n.container for n in nodes if n.container}
    guest_hosts = _place_guests(sections.get("resources"), guests) if guests else {}

    return ClusterSnapshot(
        quorate=quorate,
        dc=dc,
        nodes=nodes,
        fence_events=parse_fence_events(sections.get("fence_history")),
        guest_hosts=guest_hosts,
    )


def _parse_nodes(nodes_el) -> tuple[tuple[NodeState, ...], str | None]:
    if nodes_el is None:
        return (), None
    true = _TRUE
    plain = _PLAIN_TYPES
    out = []
    dc = None
    # This loop is the parser's hot path on big clusters: element.get() per attribute
    # measured cheaper than copying all attributes into a dict first.
    for el in nodes_el.iterchildren("node"):
        get = el.get
        name = get("name") or get("id")
        if not name:
            raise ParseError(f"{WHAT}: a <node> has neither name nor id")
        kind = get("type")
        container = None
        if kind == "remote":
            container = get("id_as_resource") or get("container_id")
            if container:
                kind = "guest"
        elif kind not in plain:
            kind = "unknown"
        is_dc = get("is_dc") in true
        if is_dc and dc is None:
            dc = name
        out.append(NodeState(
            name,
            get("id"),
            kind,
            get("online") in true,
            get("standby") in true,
            get("maintenance") in true,
            get("pending") in true,
            get("unclean") in true,
            get("shutdown") in true,
            get("expected_up") in true,
            is_dc,
            container,
        ))
    return tuple(out), dc


def _place_guests(resources_el, guests: dict[str, str]) -> dict[str, str]:
    """Guest node -> the node its container resource is active on, when unambiguous."""
    if resources_el is None:
        return {}
    wanted = {container: guest for guest, container in guests.items()}
    where: dict[str, set[str]] = {}
    for rsc in resources_el.iter("resource"):
        rid = rsc.get("id")
        if rid not in wanted:
            continue
        hosts = where.setdefault(rid, set())
        for node in rsc.iterchildren("node"):
            host = node.get("name")
            if host:
                hosts.add(host)
    # A container reported active on several nodes cannot say where its guest
    # lives, so it gets no entry rather than a guessed one.
    return {wanted[rid]: hosts.pop() for rid, hosts in where.items() if len(hosts) == 1}


def _request(root: etree._Element) -> str:
    return (root.get("request") or "")[:60]
