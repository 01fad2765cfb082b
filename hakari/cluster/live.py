"""Read the running cluster: one look is the CIB and the fencer's history.

A full look is one ``cibadmin --query`` (node states, quorum and DC, derived as
Pacemaker does by hakari.cluster.cib_status, and hakari's own node attributes:
incidents, fencing records, holds) and one ``stonith_admin --history``. crm_mon would
unpack the whole cluster status for the same answer: seconds and a gigabyte at a
thousand nodes, against well under a second for the CIB (bench/scale.py).

A narrow look (look_narrow) reads only what some nodes' states depend on, for an alert
about them: two small XPath queries side by side instead of the whole CIB (quorum and
DC and hakari's attributes come with them), then each node's fence history. The nodes'
states are the full look's on the same CIB (tests/integration/test_narrow_look.py);
where the narrow read cannot be sure of that (a guest node, another cluster node not
online or never seen, the CIB changing between the two queries) it is a full look. Its
Look holds those nodes only (``fresh``); the engine lays it over its last full look
(Look.over) and acts on those nodes only (hakari.engine.detect.acted_on).

Every call goes through the runner with ``[cluster] tool_timeout``. Pacemaker tools in
XML mode report their own failures inside the XML with a non-zero exit status, so those
are accepted here and judged from the document, which carries the better message.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Sequence

from hakari.cluster import runner
from hakari.cluster.attributes import HAKARI_PREFIX, parse_node_attributes
from hakari.cluster.cib_status import ROOTS as CIB_ROOTS
from hakari.cluster.cib_status import WHAT as CIB_WHAT
from hakari.cluster.cib_status import (CibFeed, Unsure, narrow_queries, narrow_snapshot,
                                       narrow_tree, snapshot_from_cib)
from hakari.cluster.failed_ops import ProcessFailure, process_failures
from hakari.cluster.fence_history import (STONITH_ROOTS, STONITH_WHAT,
                                          stonith_history_from_root)
from hakari.cluster.result import check_status
from hakari.cluster.xml import parse_xml
from hakari.errors import ClusterNotConnected, ParseError, ToolFailed
from hakari.model import ClusterSnapshot, FenceEvent

# Any exit status is judged after parsing; only death by a signal is left to the runner.
_ANY_EXIT = tuple(range(256))
CIB_ARGV = ("cibadmin", "--query")


@dataclasses.dataclass(frozen=True, slots=True)
class Look:
    """One look at the cluster."""

    snapshot: ClusterSnapshot
    # hakari's node attributes by node name (attributes.parse_node_attributes).
    attributes: dict[str, dict[str, str]]
    # Failures of the [process_failure] resources on every node (failed_ops).
    process_failures: tuple[ProcessFailure, ...] = ()
    # A narrow look (look_narrow): the nodes whose states and fence history it read,
    # the only ones its snapshot holds. None: a full look, every node.
    fresh: frozenset[str] | None = None

    def over(self, view: "Look") -> "Look":
        """This narrow look laid over ``view``, an earlier picture of the whole cluster:
        quorum, the DC, hakari's attributes and the fresh nodes' states and fence events
        are this look's; every other node's state and fence events, the guests' hosts
        and the process failures, the view's."""
        fresh = self.fresh or frozenset()
        mine = {n.name: n for n in self.snapshot.nodes}
        nodes = tuple(mine.pop(n.name, n) for n in view.snapshot.nodes)
        events = tuple(e for e in view.snapshot.fence_events if e.target not in fresh)
        snapshot = dataclasses.replace(
            view.snapshot, quorate=self.snapshot.quorate, dc=self.snapshot.dc,
            nodes=nodes + tuple(mine.values()),
            fence_events=events + self.snapshot.fence_events)
        return Look(snapshot, self.attributes, view.process_failures, self.fresh)


def look(conf, started: runner.Started | None = None, *, process: bool = True) -> Look:
    """The CIB first, then the fence history: a fencing that completes in between can
    only add proof about a loss the CIB already showed, never hide one. ``started``:
    the CIB's query, from start_cib; ``process``: with the failures of the
    [process_failure] resources (the engine acts on them; hakari status shows none)."""
    tree, root = _read_cib(conf, started)
    return _look_at(root, tree.snapshot(root), read_fence_history(conf),
                    conf.process_failure.resources if process else ())


def look_in(root, fence_events: tuple[FenceEvent, ...] = (), *,
            process_resources: Sequence[str] = ()) -> Look:
    """What a CIB (parsed by cib_status.parse_cib_tree) shows, with the fence history
    read beside it (a CIB holds none)."""
    return _look_at(root, snapshot_from_cib(root), fence_events, process_resources)


def _look_at(root, snapshot: ClusterSnapshot, fence_events: tuple[FenceEvent, ...],
             process_resources: Sequence[str]) -> Look:
    nodes = root.find("configuration/nodes")
    return Look(dataclasses.replace(snapshot, fence_events=fence_events),
                parse_node_attributes(nodes, HAKARI_PREFIX) if nodes is not None else {},
                process_failures(root, process_resources))


def look_narrow(conf, nodes: Iterable[str], known: ClusterSnapshot) -> Look:
    """A look at ``nodes`` only, enough to act on an alert about them: two small CIB
    queries run side by side (cib_status.narrow_queries: quorum, the DC, hakari's
    attributes and what decides these nodes' states; ``known``, a recent full look,
    says which nodes are cluster nodes), then each node's fence history. A full look
    instead when the narrow read cannot tell what a full one would (cib_status.Unsure)."""
    nodes = frozenset(nodes)
    timeout = conf.cluster.tool_timeout
    cluster = [(n.id, n.name) for n in known.nodes if n.type not in ("remote", "guest")]
    try:
        outline_query, content_query = narrow_queries(nodes, cluster)
        with runner.start([*CIB_ARGV, "--no-children", "--xpath", outline_query]) as one, \
                runner.start([*CIB_ARGV, "--xpath", content_query]) as other:
            outline = _parse_or_fail(one.result(timeout=timeout, ok_codes=_ANY_EXIT),
                                     CIB_WHAT, ("xpath-query", "cib"))
            content = _parse_or_fail(other.result(timeout=timeout, ok_codes=_ANY_EXIT),
                                     CIB_WHAT, ("xpath-query", "configuration"))
        root = narrow_tree(outline, content, nodes)
        snapshot = narrow_snapshot(root, nodes)
    except Unsure:
        return look(conf)
    # After the CIB, as in look().
    snapshot = dataclasses.replace(snapshot,
                                   fence_events=read_fence_histories(conf, sorted(nodes)))
    return Look(snapshot, parse_node_attributes(root.find("configuration/nodes"),
                                                HAKARI_PREFIX), (), nodes)


def read_cluster(conf) -> ClusterSnapshot:
    """The cluster as one look sees it."""
    return look(conf).snapshot


def start_cib() -> runner.Started:
    """The CIB's query, started now: read_cib waits for it, and the caller's own work
    (reading its configuration, importing) overlaps the tool's."""
    return runner.start(list(CIB_ARGV))


def read_cib(conf, started: runner.Started | None = None):
    """The CIB, parsed as cib_status needs it (most operation history dropped) while
    cibadmin writes it; ``started``: its query, from start_cib."""
    return _read_cib(conf, started)[1]


def _read_cib(conf, started: runner.Started | None) -> tuple[CibFeed, object]:
    tree = CibFeed()
    with started or start_cib() as tool:
        res = tool.result(timeout=conf.cluster.tool_timeout, ok_codes=_ANY_EXIT,
                          feed=tree.feed)
    return tree, _parse_or_fail(res, CIB_WHAT, CIB_ROOTS, lambda _: tree.close())


def read_fence_history(conf, target: str = "*") -> tuple[FenceEvent, ...]:
    """Every fence event the fencer remembers for ``target`` (all nodes by default)."""
    return read_fence_histories(conf, (target,))


def read_fence_histories(conf, targets: Iterable[str]) -> tuple[FenceEvent, ...]:
    """The fence history of each of ``targets``, asked of the fencer all at once."""
    events: list[FenceEvent] = []
    with contextlib.ExitStack() as stack:
        started = [stack.enter_context(runner.start(
            ["stonith_admin", "--history", t, "--verbose", "--output-as=xml"]))
            for t in targets]
        for tool in started:
            res = tool.result(timeout=conf.cluster.tool_timeout, ok_codes=_ANY_EXIT)
            events.extend(stonith_history_from_root(
                _parse_or_fail(res, STONITH_WHAT, STONITH_ROOTS)))
    return tuple(events)


def _parse_or_fail(res: runner.ToolResult, what: str, roots: tuple[str, ...],
                   parse=None):
    """Parse a tool's XML; when it failed and left no usable XML, report the failure.
    ``parse(data)``: how, when not parse_xml's plain way."""
    try:
        root = parse(res.stdout) if parse else parse_xml(res.stdout, what, roots)
    except ParseError:
        if res.returncode == 0:
            raise
        raise _exit_error(res) from None
    if res.returncode != 0:
        if root.tag == "pacemaker-result":
            check_status(root, what, list(res.argv))
        # Failed, yet the document claims success: trust the exit status.
        raise _exit_error(res)
    return root


def _exit_error(res: runner.ToolResult) -> ToolFailed:
    name = res.argv[0]
    detail = next((ln.strip() for ln in res.stderr.splitlines() if ln.strip()), "")
    detail = f": {detail[:300]}" if detail else ""
    if res.returncode == runner.PCMK_EXIT_NOT_CONNECTED:
        return ClusterNotConnected(
            f"{name}: not connected to the cluster (is Pacemaker running on this node?)"
            f"{detail}", list(res.argv), res.returncode, res.stderr)
    return ToolFailed(f"{name}: exit status {res.returncode}{detail}", list(res.argv),
                      res.returncode, res.stderr)
