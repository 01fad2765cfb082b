"""CIB XML -> ClusterSnapshot, deriving node states the way Pacemaker 2.1.5 does.

``crm_mon`` unpacks the whole status section (every resource on every node) before it
prints a node; at a thousand nodes that costs seconds and a gigabyte. The node states
depend on much less: each node's ``node_state`` attributes, its permanent and transient
node attributes, the history of the resources that make remote and guest nodes (their
connection, a guest's container), and failures anywhere (a failed stop fences its node).
This module reads only those, following the order and rules of the scheduler's unpacking
(lib/pengine/unpack.c: nodes, then ``node_state`` entries, then resource histories in
passes, remote nodes once their connection is known to be up).

Covered, and proved against crm_mon by tests/integration/test_cib_status_agrees.py:
members, ping nodes, remote nodes (connection started, stopped, failed, unmanaged,
target-role, reconnect_interval), guest nodes (container failed or stopped, host
unclean), startup fencing, ``stonith-enabled=false``, no-quorum-policy=suicide,
failure-timeout expiry, on-fail of the failed operations, standby/maintenance/shutdown
from permanent and transient attributes in every ``crm_is_true`` spelling.

Not covered, by choice, because each needs the scheduler itself:
- attribute sets guarded by rules (a ``<rule>`` in a node's attribute set): such a set
  is not applied;
- partially migrated resources (``migrate_to`` without its ``migrate_from``): the
  history is read as a plain start on the target, so a migrating connection counts as
  started where it last started;
- bundle replicas' guest nodes are derived for docker/podman/rkt bundles with a child
  resource only;
- a resource active on more nodes than it may be (multiple-active handling).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
import time
from collections.abc import Iterable

from lxml import etree

from hakari.cluster.xml import FeedParser, parse_xml, parse_xml_pruned, xpath_literal
from hakari.display import one_line
from hakari.errors import ParseError
from hakari.model import ClusterSnapshot, NodeState

WHAT = "CIB XML"
ROOTS = ("cib",)

# crm_is_true(): these spellings, compared case-insensitively.
_TRUE = frozenset(("true", "on", "yes", "y", "1"))

# Resource roles, ordered as Pacemaker orders them (a greater role wins when a
# resource's histories on several nodes are combined).
UNKNOWN, STOPPED, STARTED, UNPROMOTED, PROMOTED = range(5)

# Executor statuses (op-status) and OCF exit codes (rc-code) the unpacking tests.
_PENDING, _DONE, _CANCELLED = -1, 0, 1
_ERROR, _ERROR_HARD, _ERROR_FATAL, _NOT_INSTALLED, _NOT_CONNECTED = 4, 5, 6, 7, 8
_STATUS_MAX = 11
_OK, _INVALID_PARAM, _UNIMPLEMENTED, _INSUFFICIENT_PRIV = 0, 2, 3, 4
_OCF_NOT_INSTALLED, _NOT_CONFIGURED, _NOT_RUNNING = 5, 6, 7
_RUNNING_PROMOTED, _FAILED_PROMOTED, _DEGRADED, _DEGRADED_PROMOTED = 8, 9, 190, 191

# on-fail responses. The numbers are Pacemaker's, which its severity comparison
# (_cmp_on_fail) falls back on.
(IGNORE, DEMOTE, RECOVER, MIGRATE, BLOCK, STOP, STANDBY, FENCE, RESTART_CONTAINER,
 RESET_REMOTE) = (0, 10, 2, 3, 4, 5, 6, 7, 8, 9)
_ON_FAIL_WORDS = {"block": BLOCK, "fence": FENCE, "standby": STANDBY, "ignore": IGNORE,
                  "nothing": IGNORE, "migrate": MIGRATE, "stop": STOP, "restart": RECOVER,
                  "demote": DEMOTE}
_VALID_STOP_ON_FAIL = frozenset(("block", "fence", "stop", "ignore", "nothing"))

# Candidate failures: anything but a completed operation returning 0, a probe
# returning 7, or a stop returning 7. Only these (and the histories of remote
# connections, guest containers and of nodes that are down) can change a node's
# state, so only their resources' histories are read.
# CIBs larger than this are pruned while parsed: bench/cibgen.py's 1,024-node cloud is
# 11.5 MB (190 MB parsed whole), its 4,096-node one 46 MB.
PRUNE_ABOVE = 16 << 20

_SUSPECT = ("[(@op-status and @op-status!='0') or (@rc-code!='0' and @rc-code!='7')"
            " or (@rc-code='7' and not(@operation='monitor' and (@interval='0' or "
            "not(@interval))) and @operation!='stop')]")

_INTERVAL = re.compile(r"\s*(\d+)\s*(ms|msec|us|usec|s|sec|m|min|h|hr)?\s*$", re.I)
_ISO_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$", re.I)
_UNIT_MS = {None: 1000, "ms": 1, "msec": 1, "us": 0.001, "usec": 0.001, "s": 1000,
            "sec": 1000, "m": 60000, "min": 60000, "h": 3600000, "hr": 3600000}
_NAME_PARTS = re.compile(r"[0-9]+|[^0-9]")


def parse_cib(data: bytes, *, now: float | None = None) -> ClusterSnapshot:
    """Parse a CIB (``cibadmin --query``); raise ParseError on anything else."""
    return snapshot_from_cib(parse_cib_tree(data), now=now)


def parse_cib_tree(data: bytes) -> etree._Element:
    """The CIB as a tree holding what snapshot_from_cib reads. A large one (the
    operation history is most of it: at 4,096 nodes 500 MB parsed whole) loses most of
    its history while it is parsed (_Pruner); pruning costs time (a third more at
    1,024 nodes) and below PRUNE_ABOVE the memory it saves does not matter."""
    if len(data) <= PRUNE_ABOVE:
        return parse_xml(data, WHAT, ROOTS)
    try:
        return parse_xml_pruned(data, WHAT, ROOTS, _Pruner.TAGS, _Pruner())
    except _SHAPE_ERRORS as err:
        raise _shape_error(err) from None


class CibFeed:
    """A CIB parsed as it arrives, a tool's output while the tool writes it (``feed``,
    then ``close`` for the tree parse_cib_tree would give). Pruned whatever its size:
    the pruning's cost hides in the tool's writing, and the document never sits in
    memory whole, neither as text nor as a tree."""

    def __init__(self):
        self._pruner = _Pruner()
        self._parser = FeedParser(WHAT, ROOTS, _Pruner.TAGS, self._pruner)
        self.feed = self._parser.feed

    def close(self) -> etree._Element:
        try:
            return self._parser.close()
        except _SHAPE_ERRORS as err:
            raise _shape_error(err) from None

    def snapshot(self, root: etree._Element, *, now: float | None = None
                 ) -> ClusterSnapshot:
        """snapshot_from_cib of the tree close() gave, taking over the configuration
        the pruning unpacked while the status was still arriving instead of unpacking
        it again once it has all come."""
        # Taken once: the unpacking goes on in it.
        unpack, self._pruner.config = self._pruner.config, None
        if unpack is None or unpack.root is not root:
            return snapshot_from_cib(root, now=now)
        unpack.now = time.time() if now is None else now
        try:
            return unpack.run(configured=True)
        except _SHAPE_ERRORS as err:
            raise _shape_error(err) from None


def snapshot_from_cib(root: etree._Element, *, now: float | None = None) -> ClusterSnapshot:
    """The node states crm_mon would print for the CIB ``root`` (a ``<cib>`` element).

    ``now`` (epoch seconds) decides which failures a failure-timeout has expired, as
    the current time does for crm_mon; it defaults to the clock.
    """
    if root.tag != "cib":
        raise ParseError(f"{WHAT}: expected a <cib> element")
    unpack = _Unpack(root, time.time() if now is None else now)
    try:
        return unpack.run()
    except _SHAPE_ERRORS as err:
        raise _shape_error(err) from None


def failure_timeouts(root: etree._Element, ids: Iterable[str]) -> dict[str, int]:
    """Primitive id -> its failure-timeout in seconds (0: none), for each of ``ids`` the
    configuration holds, read as the unpacking reads it (the primitive, its group, clone
    or bundle, rsc_defaults). Only those primitives are read: a look pays for it."""
    wanted = frozenset(ids)
    try:
        unpack = _Unpack(root, 0)
        resources = unpack.config.find("resources")
        out = {}
        for el in resources.iter("primitive") if resources is not None else ():
            if el.get("id") in wanted:
                parents = tuple(itertools.takewhile(lambda p: p is not resources,
                                                    el.iterancestors()))
                out[el.get("id")] = unpack._primitive(el, parents).failure_timeout
        return out
    except _SHAPE_ERRORS as err:
        raise _shape_error(err) from None


# The derivation (and the pruning, which reads the configuration the same way) trusts
# the document's shape only as far as Pacemaker's schema promises it; whatever else a
# damaged file holds is refused as bad input.
_SHAPE_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError)


def _shape_error(err: Exception) -> ParseError:
    return ParseError(f"{WHAT}: cannot derive node states: "
                      f"{type(err).__name__}: {one_line(str(err))[:200]}")


class _Pruner:
    """Called as each resource history is parsed; keeps what _Unpack reads.

    Of a resource history on a cluster node that is up (in_ccm, crmd and join say so:
    _Unpack then reads only the histories below), nothing unless it belongs to a remote
    connection or guest container (exact id, or a bundle's) or holds a suspect operation
    (_suspect). Histories on remote nodes, whose state is not known yet, are all kept,
    without the operations' attributes _Unpack does not read. The configuration comes
    before the status in a CIB; should it not have been seen, no history is dropped."""

    TAGS = ("lrm_resource",)
    # What Pacemaker records of an operation and nothing here reads (a C call strips
    # them from a whole history at once; anything else is simply kept).
    OP_UNREAD = ("crm-debug-origin", "crm_feature_set", "transition-magic", "exit-reason",
                 "on_node", "last-run", "exec-time", "queue-time", "op-digest",
                 "op-force-restart", "op-restart-digest", "op-secure-params",
                 "op-secure-digest")

    def __init__(self):
        self.special: tuple[frozenset, tuple[str, ...]] | None = None
        # The configuration as _Unpack read it for the special ids (CibFeed.snapshot).
        self.config: _Unpack | None = None
        # The histories' container being parsed, and what of it may go (_droppable).
        self._entries = self._dropping = None

    def __call__(self, el: etree._Element) -> None:
        entries = el.getparent()
        if entries is not self._entries:
            self._entries, self._dropping = entries, self._droppable(entries)
        if self._dropping is not None:
            ids, bundles = self._dropping
            rid = el.get("id") or ""
            if not (rid in ids or rid.startswith(bundles) or _suspect(el)):
                entries.remove(el)
                return
        etree.strip_attributes(el, *self.OP_UNREAD)

    def _droppable(self, entries):
        """For the histories of a cluster node that is up, the special ids; else None."""
        state = entries
        for _ in range(2):          # lrm, node_state
            state = state.getparent() if state is not None else None
        if state is None or state.tag != "node_state" or state.get("remote_node") \
                or state.get("in_ccm") != "true" or state.get("crmd") != "online" \
                or state.get("join") != "member":
            return None
        return self._special(state.getroottree().getroot())

    def _special(self, root):
        if self.special is None:
            if root.find("configuration/resources") is None:
                return None
            # _Unpack's own reading of the configuration: the same resources it will
            # treat as connections and containers (guests' implicit connections too).
            config = self.config = _Unpack(root, 0)
            config._unpack_nodes()
            config._unpack_resources()
            ids = {rid for rid, rsc in config.resources.items()
                   if rsc.is_remote_node or rsc.is_container}
            bundles = tuple(f"{b.get('id')}-" for b in root.iterfind(
                "configuration/resources/bundle") if b.get("id"))
            self.special = (frozenset(ids), bundles)
        return self.special


# --- narrow reads ----------------------------------------------------------------------
#
# Some nodes' states without reading the whole CIB: what an alert about them needs. Each
# of those nodes' own node_state is read whole; of every other cluster node (member or
# ping node) its node_state attributes, transient attributes and the history entries
# that can change a state here: the connections of the nodes asked about (a remote
# node's state is its connection's, whose history is on cluster nodes) and the suspect
# entries (_SUSPECT). That is all the unpacking reads of a cluster node that is online;
# remote and guest nodes not asked about are left out (nothing of theirs changes a
# cluster node or a remote node's connection). What the narrow read cannot decide the
# same way is refused (Unsure): a guest node (its container's host decides), another
# cluster node that is not online (all its history counts then) or never seen.


class Unsure(Exception):
    """A narrow read cannot tell what the whole CIB would tell: read all of it. str()
    says why."""


_PARTS = ("transient_attributes", "lrm_resource")


def narrow_queries(nodes: Iterable[str],
                   cluster: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """The two XPath queries (``cibadmin --query --xpath``) of a narrow read about
    ``nodes``: the outline, asked with ``--no-children``, and the content. ``cluster``:
    the (id, name) of each cluster node, as a recent full read showed them (one added
    since is found missing by narrow_snapshot; the CIB's own list, compared inside the
    query, costs the CIB manager a pass over the configuration per node_state).

    The content: the configuration, the whole node_state of each of ``nodes`` and the
    parts of the other cluster nodes' node_state described above. The outline: the
    ``cib`` element (quorum, DC) and the same elements without their children, in
    document order, each part behind its node_state: which node each part of the
    content belongs to (a part names neither)."""
    wanted = sorted(set(nodes))
    if not wanted:
        raise Unsure("no node to read")
    names = [xpath_literal(n) for n in wanted]
    named = " or ".join(f"@uname={n}" for n in names)
    own = f"/cib/status/node_state[{named}]"
    members = " or ".join(f"@id={xpath_literal(i)} or @uname={xpath_literal(n)}"
                          for i, n in sorted(set(cluster)) if n not in wanted)
    others = f"/cib/status/node_state[({members or 'false()'}) and not({named})]"
    transient = f"{others}/transient_attributes"
    entries = (f"{others}/lrm/lrm_resources/lrm_resource["
               + " or ".join(f"@id={n}" for n in names) + f" or lrm_rsc_op{_SUSPECT}]")
    return (" | ".join(("/cib", others, own, transient, entries)),
            " | ".join(("/cib/configuration", own, transient, entries)))


def narrow_tree(outline: etree._Element, content: etree._Element,
                nodes: Iterable[str]) -> etree._Element:
    """The answers to narrow_queries (parsed) put together as the CIB the unpacking
    needs for ``nodes``. Unsure when they do not fit together (the CIB changed between
    the two reads)."""
    changed = Unsure("the two reads do not fit together")
    head, *marks = _answer(outline)
    items = _answer(content)
    config = [el for el in items if el.tag == "configuration"]
    whole = {el.get("uname"): el for el in items if el.tag == "node_state"}
    parts = [el for el in items if el.tag in _PARTS]
    if head.tag != "cib" or len(config) != 1 or \
            len(whole) + len(config) + len(parts) != len(items) or \
            [(el.tag, el.get("id")) for el in parts] != [
                (el.tag, el.get("id")) for el in marks if el.tag in _PARTS]:
        raise changed
    root = etree.Element("cib", dict(head.attrib))
    root.append(config[0])
    status = etree.SubElement(root, "status")
    wanted = set(nodes)
    state = entries = None
    taken = iter(parts)
    for mark in marks:
        if mark.tag == "node_state":
            entries = None
            state = whole.pop(mark.get("uname"), None) if mark.get("uname") in wanted \
                else etree.Element("node_state", dict(mark.attrib))
            if state is None:
                raise changed
            status.append(state)
        elif mark.tag in _PARTS and state is not None and state.get("uname") not in wanted:
            part = next(taken)
            if part.tag == "lrm_resource":
                if entries is None:
                    lrm = etree.SubElement(state, "lrm", id=state.get("id") or "")
                    entries = etree.SubElement(lrm, "lrm_resources")
                entries.append(part)
            else:
                state.append(part)
        else:
            raise changed
    if whole:
        raise changed
    return root


def narrow_snapshot(root: etree._Element, nodes: Iterable[str], *,
                    now: float | None = None) -> ClusterSnapshot:
    """Quorum, the DC and the states of ``nodes`` (no other node) from narrow_tree's
    CIB, as the whole CIB gives them; Unsure when they could differ."""
    wanted = set(nodes)
    snapshot = snapshot_from_cib(root, now=now)
    states = root.iterfind("status/node_state")
    seen = {(s.get(k) or "").lower() for s in states for k in ("id", "uname")}
    for node in snapshot.nodes:
        if node.name in wanted:
            if node.type == "guest":
                raise Unsure(f"{node.name} is a guest node: its container's host decides")
        elif node.type not in ("remote", "guest"):
            if node.id.lower() not in seen and node.name.lower() not in seen:
                raise Unsure(f"cluster node {node.name} was never seen")
            if not node.online:
                raise Unsure(f"cluster node {node.name} is not online: all its history "
                             "counts")
    found = tuple(n for n in snapshot.nodes if n.name in wanted)
    if len(found) != len(wanted):
        missing = ", ".join(sorted(wanted - {n.name for n in found}))
        raise Unsure(f"no node named {missing}")
    return dataclasses.replace(snapshot, nodes=found, guest_hosts={})


def _answer(root: etree._Element) -> list[etree._Element]:
    """cibadmin --xpath prints one match as it is, several inside <xpath-query>."""
    if root.tag == "xpath-query":
        return list(root.iterchildren(tag=etree.Element))
    return [root]


def crm_is_true(value: str | None) -> bool:
    return value is not None and value.lower() in _TRUE


class _Node:
    __slots__ = ("id", "uname", "type", "online", "standby", "maintenance", "pending",
                 "unclean", "unseen", "shutdown", "expected_up", "is_dc", "remote_rsc",
                 "remote_requires_reset", "remote_was_fenced", "unpacked", "attrs",
                 "state", "fail_counts")

    def __init__(self, node_id, uname, kind):
        self.id = node_id
        self.uname = uname
        self.type = kind
        self.online = self.standby = self.maintenance = self.pending = False
        self.unclean = self.unseen = self.shutdown = self.expected_up = False
        self.is_dc = self.remote_requires_reset = self.unpacked = False
        self.remote_was_fenced = 0
        self.remote_rsc = None
        self.attrs = {}
        self.state = None
        self.fail_counts = {}

    @property
    def guest(self) -> bool:
        return self.type == "remote" and self.remote_rsc is not None \
            and self.remote_rsc.container is not None

    @property
    def remote(self) -> bool:
        return self.type == "remote" and not self.guest


class _Rsc:
    __slots__ = ("id", "xml", "parents", "role", "next_role", "failed", "managed",
                 "running_on", "container", "is_remote_node", "reconnect_ms",
                 "failure_timeout", "promotable", "is_container", "target_role")

    def __init__(self, rid, xml, parents):
        self.id = rid
        self.xml = xml
        self.parents = parents
        self.role = UNKNOWN
        self.next_role = UNKNOWN
        self.failed = False
        self.managed = True
        self.running_on = []
        self.container = None
        self.is_remote_node = False
        self.reconnect_ms = 0
        self.failure_timeout = 0
        self.promotable = False
        self.is_container = False
        self.target_role = None

    def fresh(self) -> "_Rsc":
        """The same resource with no history read yet: its configuration kept."""
        rsc = copy.copy(self)
        rsc.role = rsc.next_role = UNKNOWN
        rsc.failed = False
        rsc.running_on = []
        return rsc


class _Unpack:
    def __init__(self, root, now):
        self.root = root
        self.now = now
        config = root.find("configuration")
        self.config = config if config is not None else etree.Element("configuration")
        self.status = root.find("status")
        props = self._properties()
        self.stonith = crm_is_true(props.get("stonith-enabled", "true"))
        self.startup_fencing = self.stonith and crm_is_true(
            props.get("startup-fencing", "true"))
        self.maintenance_mode = crm_is_true(props.get("maintenance-mode", "false"))
        self.stop_orphans = crm_is_true(props.get("stop-orphan-resources", "true"))
        self.quorum = crm_is_true(root.get("have-quorum"))
        policy = (props.get("no-quorum-policy") or "stop").lower()
        self.no_quorum_ignore = policy == "ignore"
        self.suicide = (policy == "suicide" and self.stonith
                        and (self.quorum or _int(root.get("no-quorum-panic"), 0) != 0))
        self.dc_uuid = root.get("dc-uuid")
        self.rsc_defaults = _meta(self.config.find("rsc_defaults"))
        self.op_defaults = _meta(self.config.find("op_defaults"))
        self.nodes: list[_Node] = []
        self.by_uname: dict[str, _Node] = {}
        self.by_id: dict[str, _Node] = {}
        self.resources: dict[str, _Rsc] = {}
        self.dc_node = None

    # --- configuration ------------------------------------------------------------

    def _properties(self) -> dict[str, str]:
        crm_config = self.config.find("crm_config")
        if crm_config is None:
            return {}
        sets = list(crm_config.iterchildren("cluster_property_set"))
        # The scheduler reads cib-bootstrap-options first, and the first value of a
        # name wins.
        sets.sort(key=lambda s: s.get("id") != "cib-bootstrap-options")
        return _first_values(sets)

    def _add_node(self, node_id, uname, kind) -> _Node:
        node = _Node(node_id, uname, kind)
        self.nodes.append(node)
        if uname is not None:
            self.by_uname.setdefault(uname.lower(), node)
        self.by_id.setdefault(node_id.lower(), node)
        return node

    def _find(self, uname) -> _Node | None:
        return None if uname is None else self.by_uname.get(uname.lower())

    def _find_any(self, node_id, uname) -> _Node | None:
        node = self.by_id.get(node_id.lower()) if node_id is not None else None
        return node or self._find(uname)

    def _unpack_nodes(self):
        nodes_el = self.config.find("nodes")
        if nodes_el is None:
            return
        for el in nodes_el.iterchildren("node"):
            node_id = el.get("id")
            if node_id is None:
                continue
            kind = (el.get("type") or "member").lower()
            if kind not in ("member", "remote"):
                kind = "ping"
            node = self._add_node(node_id, el.get("uname"), kind)
            # Remote nodes without a connection resource are exempt; that is known
            # only once resources are read (_link_remote re-applies it).
            if kind != "remote":
                self._startup_fencing(node)
            node.attrs = _attribute_sets(el, {})
            self._mark_dc(node)

    def _startup_fencing(self, node):
        node.unclean = self.startup_fencing
        node.unseen = True

    def _mark_dc(self, node):
        if self.dc_uuid is not None and node.id.lower() == self.dc_uuid.lower():
            node.is_dc = True
            self.dc_node = node

    def _unpack_resources(self):
        resources = self.config.find("resources")
        if resources is None:
            return
        guests = []
        for el in resources.iterchildren(tag=etree.Element):
            tag = el.tag
            if tag == "primitive":
                rsc = self._primitive(el, ())
                if _is_remote_primitive(el):
                    rsc.is_remote_node = True
                    if self._find(rsc.id) is None:
                        self._add_node(rsc.id, rsc.id, "remote")
                else:
                    guests.append(rsc)
            elif tag == "group":
                for child in el.iterchildren("primitive"):
                    guests.append(self._primitive(child, (el,)))
            elif tag in ("clone", "master"):
                promotable = tag == "master" or crm_is_true(_meta(el).get("promotable"))
                for child in el.iterchildren("primitive", "group"):
                    kids = [child] if child.tag == "primitive" else \
                        list(child.iterchildren("primitive"))
                    for kid in kids:
                        parents = (el,) if kid is child else (child, el)
                        self._primitive(kid, parents).promotable = promotable
            elif tag == "bundle":
                self._bundle(el)
        for rsc in guests:
            name = _meta(rsc.xml).get("remote-node")
            if name is None or name in self.resources:
                continue
            conn = _Rsc(name, None, ())
            conn.is_remote_node = True
            conn.container = rsc
            rsc.is_container = True
            # The implicit connection shares its container's is-managed.
            managed = _meta(rsc.xml).get("is-managed")
            conn.managed = self._managed_from(managed, None)
            conn.failure_timeout = self._failure_timeout({}, ())
            self.resources[name] = conn
            if self._find(name) is None:
                self._add_node(name, name, "remote")
        for rsc in self.resources.values():
            if rsc.is_remote_node:
                self._link_remote(rsc)

    def _bundle(self, el):
        runtime = next((c for c in el.iterchildren("docker", "podman", "rkt")), None)
        child = el.find("primitive")
        if runtime is None or child is None:
            return
        replicas = _int(runtime.get("replicas"), None)
        if replicas is None:
            replicas = _int(runtime.get("promoted-max") or runtime.get("masters"), 0) or 1
        meta = _meta(el)
        managed = self._managed_from(meta.get("is-managed"), meta.get("maintenance"))
        for i in range(replicas):
            bid = el.get("id")
            container = _Rsc(f"{bid}-{runtime.tag}-{i}", None, (el,))
            container.managed = managed
            container.is_container = True
            container.failure_timeout = self._failure_timeout({}, (el,))
            self.resources[container.id] = container
            conn = _Rsc(f"{bid}-{i}", None, (el,))
            conn.is_remote_node = True
            conn.container = container
            conn.managed = managed
            self.resources[conn.id] = conn
            if self._find(conn.id) is None:
                self._add_node(conn.id, conn.id, "remote")

    def _primitive(self, el, parents) -> _Rsc:
        rid = el.get("id") or ""
        rsc = _Rsc(rid, el, parents)
        meta = _meta(el)
        managed, maint = meta.get("is-managed"), meta.get("maintenance")
        for parent in parents:
            pmeta = _meta(parent)
            managed = managed if managed is not None else pmeta.get("is-managed")
            maint = maint if maint is not None else pmeta.get("maintenance")
        rsc.managed = self._managed_from(managed, maint)
        rsc.failure_timeout = self._failure_timeout(meta, parents)
        rsc.target_role = meta.get("target-role")
        params = _nvpairs(el, "instance_attributes")
        rsc.reconnect_ms = _interval_ms(params.get("reconnect_interval")) or 0
        if rsc.reconnect_ms and (el.get("class"), el.get("provider"), el.get("type")) == (
                "ocf", "pacemaker", "remote"):
            # Pacemaker retries a lost connection by making its failures, and so any
            # history entry of it, including a pending start, expire after
            # reconnect_interval: it overrides failure-timeout.
            rsc.failure_timeout = rsc.reconnect_ms // 1000
        self.resources.setdefault(rid, rsc)
        return rsc

    def _managed_from(self, managed, maint) -> bool:
        if managed is None:
            managed = self.rsc_defaults.get("is-managed")
        if maint is None:
            maint = self.rsc_defaults.get("maintenance")
        if managed is not None and not crm_is_true(managed):
            return False
        return not (crm_is_true(maint) or self.maintenance_mode)

    def _failure_timeout(self, meta, parents) -> int:
        value = meta.get("failure-timeout")
        for parent in parents:
            if value is None:
                value = _meta(parent).get("failure-timeout")
        if value is None:
            value = self.rsc_defaults.get("failure-timeout")
        return (_interval_ms(value) or 0) // 1000

    def _link_remote(self, rsc):
        node = self._find(rsc.id)
        if node is None:
            return
        node.remote_rsc = rsc
        if rsc.container is None:
            self._startup_fencing(node)

    # --- status -------------------------------------------------------------------

    def run(self, *, configured: bool = False) -> ClusterSnapshot:
        """``configured``: the configuration is unpacked already (CibFeed.snapshot)."""
        if not configured:
            self._unpack_nodes()
            self._unpack_resources()
        states = []
        if self.status is not None:
            for state in self.status.iterchildren("node_state"):
                node = self._node_state(state)
                if node is not None:
                    states.append((state, node))
            self.special = {rid for rid, rsc in self.resources.items()
                            if rsc.is_remote_node or rsc.is_container}
            while self._histories(states, fence=False):
                pass
            self._histories(states, fence=self.stonith)
        for node in self.nodes:
            if node.type != "remote":
                continue
            if node.shutdown and node.remote_rsc is not None:
                node.remote_rsc.next_role = STOPPED
            if not node.unpacked:
                self._remote_online(node)
        return self._snapshot()

    def _node_state(self, state):
        node_id, uname = state.get("id"), state.get("uname")
        if node_id is None or uname is None:
            return None
        node = self._find_any(node_id, uname)
        if node is None or node.state is not None:
            return node if node is not None and node.state is state else None
        node.state = state
        if node.type == "remote":
            node.remote_was_fenced = _int(state.get("node_fenced"), 0)
            return node
        self._transient_attrs(node, state)
        node.standby = crm_is_true(node.attrs.get("standby"))
        node.maintenance = crm_is_true(node.attrs.get("maintenance"))
        node.unclean = node.unseen = False
        self._member_online(node, state)
        if not self.quorum and node.online and self.suicide:
            self._fence(node)
        return node

    def _transient_attrs(self, node, state):
        self._mark_dc(node)
        transient = state.find("transient_attributes")
        if transient is not None:
            node.attrs = _attribute_sets(transient, dict(node.attrs), overwrite=True)

    def _member_online(self, node, state):
        expected = state.get("expected")
        node.shutdown = _shutdown_requested(node)
        node.expected_up = not node.shutdown and (expected or "").lower() == "member"
        if node.type == "ping":
            node.unclean = False
            online = False
        elif not self.stonith:
            online = self._online_no_fencing(node, state)
        else:
            online = self._online_fencing(node, state, expected)
        node.online = online

    def _online_no_fencing(self, node, state) -> bool:
        if not crm_is_true(state.get("in_ccm")):
            return False
        if (state.get("crmd") or "").lower() == "online":
            return (state.get("join") or "").lower() == "member"
        if node.expected_up:
            self._fence(node)
        return False

    def _online_fencing(self, node, state, expected) -> bool:
        join = (state.get("join") or "").lower()
        in_ccm = state.get("in_ccm")
        crmd_online = (state.get("crmd") or "").lower() == "online"
        expected = (expected or "down").lower()
        terminate = node.attrs.get("terminate")
        do_terminate = crm_is_true(terminate) or bool(
            terminate and terminate[0] != "0" and terminate[0].isdigit())
        online = crm_is_true(in_ccm)
        if node.shutdown:
            online = crmd_online
        elif in_ccm is None:
            self._fence(node)
        elif join == "banned":
            self._fence(node)
        elif not do_terminate and expected == "down":
            if online or crmd_online:
                node.standby = node.pending = True
        elif do_terminate and join == "down" and not online and not crmd_online:
            online = False
        elif not online:
            self._fence(node)
        elif not crmd_online:
            self._fence(node)
        elif do_terminate:
            self._fence(node)
        elif join == "member":
            pass
        elif join in ("pending", "down"):
            node.standby = node.pending = True
        else:
            self._fence(node)
        return online

    def _histories(self, states, fence) -> bool:
        progress = False
        for state, node in states:
            if node.unpacked:
                continue
            if not fence:
                rsc = node.remote_rsc
                if node.guest:
                    if rsc.role != STARTED or rsc.container.role != STARTED:
                        continue
                elif node.type == "remote":
                    if rsc is None or rsc.role != STARTED:
                        continue
                elif not self.stonith and not node.online:
                    continue
            if node.type == "remote":
                self._remote_online(node)
                self._remote_attrs(node, state)
            node.unpacked = True
            self._node_lrm(node, state)
            progress = True
        return progress

    def _remote_attrs(self, node, state):
        rsc = node.remote_rsc
        if not node.remote_requires_reset:
            node.unclean = node.unseen = False
        self._transient_attrs(node, state)
        if _shutdown_requested(node):
            node.shutdown = True
        if crm_is_true(node.attrs.get("standby")):
            node.standby = True
        if crm_is_true(node.attrs.get("maintenance")) or (
                rsc is not None and not rsc.managed):
            node.maintenance = True

    def _remote_online(self, node):
        rsc = node.remote_rsc
        if rsc is None:
            node.online = False
            return
        container = rsc.container
        host = rsc.running_on[0] if container is not None and len(rsc.running_on) == 1 \
            else None
        if rsc.role == STARTED:
            node.online = True
            if rsc.next_role == STOPPED:
                node.shutdown = True
        if container is not None and container.failed:
            node.online = False
            node.remote_requires_reset = True
        elif rsc.failed:
            node.online = False
        elif rsc.role == STOPPED or (container is not None and container.role == STOPPED):
            node.online = False
            node.remote_requires_reset = False
        elif host is not None and not host.online and host.unclean:
            node.online = False
            node.remote_requires_reset = True

    def _fence(self, node):
        if node.guest:
            container = node.remote_rsc.container
            if not container.failed and container.managed:
                node.remote_requires_reset = True
                container.failed = True
        elif node.type == "remote":
            rsc = node.remote_rsc
            if rsc is None or rsc.managed:
                node.remote_requires_reset = True
            node.unclean = True
        else:
            node.unclean = True

    # --- resource history ---------------------------------------------------------

    def _node_lrm(self, node, state):
        lrm = state.find("lrm")
        entries = lrm.find("lrm_resources") if lrm is not None else None
        if entries is None:
            return
        # While a node is down, anything its history shows active matters (it gets
        # the node fenced); while it is up, only failures and the resources that
        # make other nodes do.
        everything = not node.online
        resources = self.resources
        special = self.special
        for entry in entries.iterchildren("lrm_resource"):
            rid = entry.get("id")
            if rid is None or not (everything or rid in special or _suspect(entry)):
                continue
            rsc = resources.get(rid)
            if rsc is None:
                rsc = resources.get(_clone_base(rid))
                if rsc is not None and (rsc.is_remote_node or rsc.is_container):
                    rsc = None
            if rsc is None:
                rsc = _Rsc(rid, None, ())
                rsc.managed = self.stop_orphans and not self.maintenance_mode
            elif not (rsc.is_remote_node or rsc.is_container):
                # Clone instances and ordinary resources: only this node's verdict
                # matters here, so each history starts from a fresh state.
                rsc = rsc.fresh()
            self._lrm_resource(node, rsc, entry)

    def _lrm_resource(self, node, rsc, entry):
        ops = list(entry.iterchildren("lrm_rsc_op"))
        if not ops:
            return
        ops.sort(key=_call_order)
        saved = rsc.role
        rsc.role = UNKNOWN
        ctx = _OpContext()
        for op in ops:
            self._rsc_op(rsc, node, op, ctx)
        self._rsc_state(rsc, node, ctx.on_fail)
        wanted = _role(rsc.target_role)
        if wanted != UNKNOWN and (rsc.next_role == UNKNOWN or wanted < rsc.next_role):
            rsc.next_role = wanted
        if saved > rsc.role:
            rsc.role = saved

    def _rsc_op(self, rsc, node, op, ctx):
        task = op.get("operation")
        if task is None or task in ("notify", "meta-data"):
            return
        rc = _int(op.get("rc-code"), 0)
        status = _int(op.get("op-status"), -2)
        if not _PENDING <= status <= _STATUS_MAX:
            return
        interval = _int(op.get("interval"), 0)
        target = _target_rc(op.get("transition-key"))
        probe = task == "monitor" and interval == 0
        expired = status != _NOT_INSTALLED and self._expired(rsc, node, op, rc, task,
                                                               interval, probe)
        old_rc, old_target = rc, target
        masked = probe and (rc in (_OCF_NOT_INSTALLED, _INVALID_PARAM)
                            or status == _NOT_INSTALLED)
        rc, status = self._remap(rsc, node, op, ctx, task, probe, masked, target, rc,
                                 status, interval)
        if expired and masked and old_rc != old_target:
            if rsc.role <= STOPPED:
                rsc.role = UNKNOWN
            return
        if expired and rc != target:
            if interval == 0 or (node.online and not node.unclean):
                return
        if masked:
            self._update_state(rsc, op, task, target, ctx, masked)
            return
        if status == _CANCELLED:
            return
        if status == _PENDING:
            if task == "start":
                _set_active(rsc)
            elif task == "promote":
                rsc.role = PROMOTED
            return
        if status == _DONE:
            self._update_state(rsc, op, task, rc, ctx, masked)
            return
        if status == _NOT_INSTALLED:
            strategy, fail_role = self._on_fail(rsc, task, interval)
            if strategy == IGNORE:
                ctx.on_fail = MIGRATE
            self._op_failure(rsc, node, op, task, probe, rc, ctx, strategy, fail_role)
            return
        if status == _NOT_CONNECTED and node.type == "remote" \
                and node.remote_rsc is not None and node.remote_rsc.managed:
            node.remote_rsc.failed = True
        strategy, fail_role = self._on_fail(rsc, task, interval)
        if strategy == IGNORE or (strategy == RESTART_CONTAINER and task == "stop"):
            self._update_state(rsc, op, task, target, ctx, masked)
            if strategy == RESTART_CONTAINER and _cmp_on_fail(ctx.on_fail, RECOVER) <= 0:
                ctx.on_fail = strategy
        else:
            self._op_failure(rsc, node, op, task, probe, rc, ctx, strategy, fail_role)

    def _remap(self, rsc, node, op, ctx, task, probe, masked, target, rc, status,
               interval):
        if task == "monitor":
            if rc == _DEGRADED:
                rc = _OK
            elif rc == _DEGRADED_PROMOTED:
                rc = _RUNNING_PROMOTED
        if masked:
            status, rc = _DONE, _NOT_RUNNING
        if status not in (_DONE, _ERROR):
            return rc, status
        status = _DONE
        if target < 0 or target != rc:
            status = _ERROR
        if rc == _OK:
            if probe and target == _NOT_RUNNING:
                status = _DONE
        elif rc == _NOT_RUNNING:
            if probe or target == rc or not rsc.managed:
                status = _DONE
                rsc.role = STOPPED
                ctx.on_fail = IGNORE
                rsc.next_role = UNKNOWN
        elif rc == _RUNNING_PROMOTED:
            if probe and rc != target:
                status = _DONE
            rsc.role = PROMOTED
        elif rc in (_FAILED_PROMOTED, _DEGRADED_PROMOTED):
            rsc.role = PROMOTED
            status = _ERROR
        elif rc == _NOT_CONFIGURED:
            status = _ERROR_FATAL
        elif rc == _UNIMPLEMENTED:
            if interval == 0:
                self._recoverable(rsc, node, task)
                status = _ERROR_HARD
            else:
                status = 3
        elif rc in (_OCF_NOT_INSTALLED, _INVALID_PARAM, _INSUFFICIENT_PRIV):
            self._recoverable(rsc, node, task)
            status = _ERROR_HARD
        elif status == _DONE:
            status = _ERROR
        return rc, status

    def _recoverable(self, rsc, node, task):
        # A failed stop can be recovered only by fencing its node.
        if task == "stop" and not self._can_fence(node):
            rsc.managed = False

    def _can_fence(self, node) -> bool:
        if node.guest:
            return True
        return self.stonith and (self.quorum or self.no_quorum_ignore)

    def _update_state(self, rsc, op, task, rc, ctx, masked):
        clear = False
        if rc == _OCF_NOT_INSTALLED or masked:
            rsc.role = STOPPED
        elif rc == _NOT_RUNNING:
            clear = True
        elif task == "monitor":
            last = ctx.last_failure
            if last is not None and _op_key(op).lower() == _op_key(last).lower():
                clear = True
            if rsc.role < STARTED:
                _set_active(rsc)
        elif task == "start":
            rsc.role = STARTED
            clear = True
        elif task == "stop":
            rsc.role = STOPPED
            clear = True
        elif task == "promote":
            rsc.role = PROMOTED
            clear = True
        elif task == "demote":
            if ctx.on_fail == DEMOTE:
                clear = True
            rsc.role = UNPROMOTED
        elif task == "migrate_from":
            rsc.role = STARTED
            clear = True
        elif task == "migrate_to":
            pass
        elif rsc.role < STARTED:
            _set_active(rsc)
        if clear:
            if ctx.on_fail in (BLOCK, IGNORE, DEMOTE, RECOVER, RESTART_CONTAINER) or (
                    ctx.on_fail == RESET_REMOTE and rsc.reconnect_ms == 0):
                ctx.on_fail = IGNORE
                rsc.next_role = UNKNOWN

    def _op_failure(self, rsc, node, op, task, probe, rc, ctx, strategy, fail_role):
        ctx.last_failure = op
        if _cmp_on_fail(ctx.on_fail, strategy) < 0:
            ctx.on_fail = strategy
        if task == "promote":
            rsc.role = PROMOTED
        elif task == "demote":
            if strategy == BLOCK:
                rsc.role = PROMOTED
                rsc.next_role = STOPPED
            elif rc == _NOT_RUNNING:
                rsc.role = STOPPED
            else:
                rsc.role = UNPROMOTED
        if probe and rc == _OCF_NOT_INSTALLED:
            rsc.role = STOPPED
        elif rsc.role < STARTED:
            _set_active(rsc)
        if fail_role != STARTED and rsc.next_role < fail_role:
            rsc.next_role = fail_role

    def _on_fail(self, rsc, task, interval) -> tuple[int, int]:
        """on-fail and the role after failure of one operation, as configured."""
        value = self._op_setting(rsc, task, interval, "on-fail")
        if value is not None:
            value = value.lower()
            if task == "stop" and value not in _VALID_STOP_ON_FAIL:
                value = None
        elif task == "demote":
            value = self._op_setting(rsc, "monitor", None, "on-fail", role="Promoted")
            value = value.lower() if value is not None else None
        strategy, fail_role = None, UNKNOWN
        if value is not None:
            strategy = _ON_FAIL_WORDS.get(value)
            if value == "restart-container" and rsc.container is not None \
                    and not rsc.is_remote_node:
                strategy = RESTART_CONTAINER
            if strategy == FENCE and not self.stonith:
                strategy = STOP
            if strategy == STOP:
                fail_role = STOPPED
        remote_conn = rsc.is_remote_node and rsc.container is None \
            and (node := self._find(rsc.id)) is not None and node.remote
        if strategy is None and rsc.container is not None and not rsc.is_remote_node:
            strategy = RESTART_CONTAINER
        elif (strategy is None or not rsc.managed) and remote_conn \
                and not (task == "monitor" and interval == 0) and task != "start":
            if not rsc.managed:
                strategy, fail_role = STOP, STOPPED
            else:
                if rsc.reconnect_ms:
                    fail_role = STOPPED
                strategy = RESET_REMOTE
        elif strategy is None and task == "stop":
            strategy = FENCE if self.stonith else BLOCK
        elif strategy is None:
            strategy = RECOVER
        if fail_role == UNKNOWN:
            fail_role = UNPROMOTED if task == "promote" else STARTED
        return strategy, fail_role

    def _op_setting(self, rsc, task, interval, name, role=None):
        # An implicit guest connection (no xml) has no operations of its own.
        xml = rsc.xml
        ops = xml.find("operations") if xml is not None else None
        if ops is not None:
            for op in ops.iterchildren("op"):
                if op.get("name") != task:
                    continue
                if interval is not None and \
                        (_interval_ms(op.get("interval")) or 0) != interval:
                    continue
                if role is not None and (op.get("role") or "") not in (role, "Master"):
                    continue
                value = op.get(name)
                if value is None:
                    value = _meta(op).get(name)
                if value is not None:
                    return value
        return None if role is not None else self.op_defaults.get(name)

    def _expired(self, rsc, node, op, rc, task, interval, probe) -> bool:
        timeout = rsc.failure_timeout
        last_run = _int(op.get("last-rc-change"), None)
        if timeout <= 0 or last_run is None:
            return False
        expired = self.now >= last_run + timeout
        if expired and rsc.reconnect_ms and self.stonith and interval and \
                task == "monitor":
            remote = self._find(rsc.id)
            if remote is not None and not remote.remote_was_fenced:
                expired = False
        count, last_failure = _fail_count(node, rsc.id)
        unexpired = count if self.now < last_failure + timeout else 0
        if expired and count and unexpired:
            expired = False
        if expired and probe and rc in (_OK, _NOT_RUNNING, _RUNNING_PROMOTED,
                                        _DEGRADED, _DEGRADED_PROMOTED):
            expired = False
        return expired

    def _rsc_state(self, rsc, node, on_fail):
        if rsc.role > STOPPED and not node.online and not node.maintenance \
                and rsc.managed:
            if node.guest:
                rsc.failed = True
                self._fence(node)
            elif self.stonith:
                if node.remote and node.remote_rsc is not None \
                        and not node.remote_rsc.failed:
                    node.unseen = True
                self._fence(node)
        if node.unclean:
            on_fail = IGNORE
        if on_fail == DEMOTE:
            rsc.failed = True
        elif on_fail == FENCE:
            self._fence(node)
        elif on_fail == STANDBY:
            node.standby = True
        elif on_fail == BLOCK:
            rsc.managed = False
        elif on_fail == STOP:
            rsc.next_role = STOPPED
        elif on_fail == RECOVER:
            if rsc.role not in (STOPPED, UNKNOWN):
                rsc.failed = True
        elif on_fail == RESTART_CONTAINER:
            rsc.failed = True
        elif on_fail == RESET_REMOTE:
            rsc.failed = True
            if self.stonith and rsc.is_remote_node:
                remote = self._find(rsc.id)
                if remote is not None and remote.remote and not remote.remote_was_fenced:
                    self._fence(remote)
            if rsc.reconnect_ms:
                rsc.next_role = STOPPED
        if rsc.role not in (STOPPED, UNKNOWN):
            if node not in rsc.running_on:
                rsc.running_on.append(node)
            if on_fail != IGNORE:
                rsc.failed = True

    # --- result -------------------------------------------------------------------

    def _snapshot(self) -> ClusterSnapshot:
        nodes = sorted(self.nodes, key=lambda n: _name_key(n.uname or ""))
        out = []
        guest_hosts = {}
        for node in nodes:
            name = node.uname or node.id
            container = None
            kind = node.type
            if node.guest:
                kind = "guest"
                container = node.remote_rsc.container.id
                hosts = {h.uname or h.id for h in node.remote_rsc.container.running_on}
                if len(hosts) == 1:
                    guest_hosts[name] = hosts.pop()
            out.append(NodeState(name, node.id, kind, node.online, node.standby,
                                 node.maintenance, node.pending, node.unclean,
                                 node.shutdown, node.expected_up, node.is_dc, container,
                                 _connected(node)))
        dc = self.dc_node
        return ClusterSnapshot(
            quorate=self.quorum if dc is not None else None,
            dc=(dc.uname or dc.id) if dc is not None else None,
            nodes=tuple(out),
            fence_events=(),
            guest_hosts=guest_hosts,
        )


def _connected(node: _Node) -> bool | None:
    """A remote or guest node's connection as the controller last recorded it: in_ccm
    is "true"/"false" in Pacemaker 2.1.5 and a join time (seconds) in later releases."""
    if node.type != "remote" or node.state is None:
        return None
    value = node.state.get("in_ccm")
    if value is None:
        return None
    return value.strip().lower() not in ("false", "no", "off", "0", "")


class _OpContext:
    __slots__ = ("on_fail", "last_failure")

    def __init__(self):
        self.on_fail = IGNORE
        self.last_failure = None


def _set_active(rsc):
    rsc.role = UNPROMOTED if rsc.promotable else STARTED


def _suspect(entry) -> bool:
    """Whether a history entry holds a suspect operation: _SUSPECT (the XPath the CIB
    manager evaluates for a narrow read), evaluated here, where a Python test of a few
    attributes is cheaper than an XPath call per entry."""
    for op in entry.iterchildren("lrm_rsc_op"):
        get = op.get
        status = get("op-status")
        if status is not None and status != "0":
            return True
        rc = get("rc-code")
        if rc is None or rc == "0":
            continue
        if rc != "7":
            return True
        task = get("operation")
        if task is not None and task != "stop" and not (
                task == "monitor" and get("interval") in ("0", None)):
            return True
    return False


def _shutdown_requested(node) -> bool:
    value = node.attrs.get("shutdown")
    return value is not None and value != "0"


def _fail_count(node, rid) -> tuple[int, int]:
    """The fail count and last failure of ``rid`` on ``node``, from its attributes
    (final by the time its history is read: counted once per resource)."""
    known = node.fail_counts.get(rid)
    if known is not None:
        return known
    count = last = 0
    prefixes = (f"fail-count-{rid}#", f"last-failure-{rid}#")
    for name, value in node.attrs.items():
        if name == f"fail-count-{rid}" or name.startswith(prefixes[0]):
            count += _score(value)
        elif name == f"last-failure-{rid}" or name.startswith(prefixes[1]):
            last = max(last, _int(value, 0))
    node.fail_counts[rid] = count, last
    return count, last


def _score(value) -> int:
    if value is None:
        return 0
    text = value.strip().lower()
    if text in ("infinity", "+infinity"):
        return 1000000
    return _int(text, 0)


def _cmp_on_fail(first, second) -> int:
    """Positive when ``first`` is the more severe response."""
    order = {IGNORE: 0, DEMOTE: 1, RECOVER: 2, RESET_REMOTE: 3, RESTART_CONTAINER: 4}
    special = (DEMOTE, RESET_REMOTE, RESTART_CONTAINER)
    if first in special or second in special:
        rank_first = order.get(first, 5 + first)
        rank_second = order.get(second, 5 + second)
        return (rank_first > rank_second) - (rank_first < rank_second)
    return first - second


def _call_order(op):
    # Pending operations (call-id -1) are the newest.
    call = _int(op.get("call-id"), 0)
    return (1, 0) if call == -1 else (0, call)


def _target_rc(key) -> int:
    if not key:
        return -1
    parts = key.split(":", 3)
    if len(parts) < 4:
        return -1
    return _int(parts[2], -1)


def _op_key(op) -> str:
    return op.get("operation_key") or op.get("id") or ""


def _role(text) -> int:
    if not text:
        return UNKNOWN
    return {"stopped": STOPPED, "started": STARTED, "unpromoted": UNPROMOTED,
            "slave": UNPROMOTED, "promoted": PROMOTED, "master": PROMOTED}.get(
        text.lower(), UNKNOWN)


def _clone_base(rid: str) -> str:
    head, sep, tail = rid.rpartition(":")
    return head if sep and tail.isdigit() else rid


def _is_remote_primitive(el) -> bool:
    return ((el.get("type") or "").lower() == "remote"
            and (el.get("class") or "").lower() == "ocf"
            and (el.get("provider") or "").lower() == "pacemaker")


def _meta(el) -> dict[str, str]:
    return _nvpairs(el, "meta_attributes") if el is not None else {}


def _nvpairs(el, tag) -> dict[str, str]:
    return _first_values(list(el.iterchildren(tag)))


def _first_values(sets: list) -> dict[str, str]:
    """Name -> value over attribute sets, highest score first; the first value of a name
    wins, and sets guarded by a rule are skipped (see the module's limits)."""
    out: dict[str, str] = {}
    for attr_set in _by_score(sets):
        if attr_set.find("rule") is not None:
            continue
        for nvpair in attr_set.iterchildren("nvpair"):
            name = nvpair.get("name")
            if name is not None:
                out.setdefault(name, nvpair.get("value"))
    return out


def _attribute_sets(el, attrs: dict, overwrite: bool = False) -> dict:
    """Node attributes of ``el``'s instance_attributes sets merged into ``attrs``."""
    for attr_set in _by_score(list(el.iterchildren("instance_attributes"))):
        if attr_set.find("rule") is not None:
            continue
        for nvpair in attr_set.iterchildren("nvpair"):
            name = nvpair.get("name")
            if name is None:
                continue
            if overwrite or name not in attrs:
                attrs[name] = nvpair.get("value")
    return attrs


def _by_score(sets: list) -> list:
    if len(sets) < 2:
        return sets
    return sorted(sets, key=lambda s: -_score(s.get("score")))


def _int(text, default):
    if text is None:
        return default
    try:
        return int(text.strip())
    except ValueError:
        return default


def _interval_ms(text) -> int | None:
    if text is None:
        return None
    match = _INTERVAL.match(text)
    if match:
        return int(int(match.group(1)) * _UNIT_MS[(match.group(2) or "").lower() or None])
    match = _ISO_DURATION.match(text.strip())
    if match and any(match.groups()):
        d, h, m, s = (int(g or 0) for g in match.groups())
        return ((d * 24 + h) * 60 + m) * 60000 + s * 1000
    return None


def _name_key(name: str):
    # crm_mon lists nodes sorted as pcmk__numeric_strcasecmp orders names: runs of
    # digits by value (then by length), other characters case-insensitively. A digit
    # run is keyed under "0" so that against a letter it sorts like any digit would.
    key = []
    for part in _NAME_PARTS.findall(name):
        if part[0] in "0123456789":
            key.append(("0", int(part), len(part)))
        else:
            key.append((part.lower() if part.isascii() else part,))
    return key


