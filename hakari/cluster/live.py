"""Read the running cluster: one look is the CIB and the fencer's history.

A look is one ``cibadmin --query`` (node states, quorum and DC, derived as Pacemaker
does by hakari.cluster.cib_status, and hakari's own node attributes: incidents, fencing
records, holds) and one ``stonith_admin --history``. crm_mon would unpack the whole
cluster status for the same answer: seconds and a gigabyte at a thousand nodes, against
well under a second for the CIB (bench/scale.py).

Every call goes through the runner with ``[cluster] tool_timeout``. Pacemaker tools in
XML mode report their own failures inside the XML with a non-zero exit status, so those
are accepted here and judged from the document, which carries the better message.
"""

from __future__ import annotations

import dataclasses

from hakari.cluster import runner
from hakari.cluster.attributes import HAKARI_PREFIX, parse_node_attributes
from hakari.cluster.cib_status import ROOTS as CIB_ROOTS
from hakari.cluster.cib_status import WHAT as CIB_WHAT
from hakari.cluster.cib_status import parse_cib_tree, snapshot_from_cib
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


def look(conf) -> Look:
    """The CIB first, then the fence history: a fencing that completes in between can
    only add proof about a loss the CIB already showed, never hide one."""
    root = read_cib(conf)
    return look_in(root, read_fence_history(conf))


def look_in(root, fence_events: tuple[FenceEvent, ...] = ()) -> Look:
    """What a CIB (parsed by cib_status.parse_cib_tree) shows, with the fence history
    read beside it (a CIB holds none)."""
    snapshot = dataclasses.replace(snapshot_from_cib(root), fence_events=fence_events)
    nodes = root.find("configuration/nodes")
    return Look(snapshot, parse_node_attributes(nodes, HAKARI_PREFIX)
                if nodes is not None else {})


def read_cluster(conf) -> ClusterSnapshot:
    """The cluster as one look sees it."""
    return look(conf).snapshot


def read_cib(conf):
    """The CIB, parsed as cib_status needs it (most operation history dropped)."""
    res = runner.run(list(CIB_ARGV), timeout=conf.cluster.tool_timeout, ok_codes=_ANY_EXIT)
    return _parse_or_fail(res, CIB_WHAT, CIB_ROOTS, parse_cib_tree)


def read_fence_history(conf, target: str = "*") -> tuple[FenceEvent, ...]:
    """Every fence event the fencer remembers for ``target`` (all nodes by default)."""
    argv = ["stonith_admin", "--history", target, "--verbose", "--output-as=xml"]
    res = runner.run(argv, timeout=conf.cluster.tool_timeout, ok_codes=_ANY_EXIT)
    return stonith_history_from_root(_parse_or_fail(res, STONITH_WHAT, STONITH_ROOTS))


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
