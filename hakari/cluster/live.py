"""Read the running cluster: one crm_mon look, fence history included.

Every call goes through the runner with ``[cluster] tool_timeout``. Pacemaker tools in
XML mode report their own failures inside the XML with a non-zero exit status, so those
are accepted here and judged from the document, which carries the better message.
"""

from __future__ import annotations

from hakari.cluster import runner
from hakari.cluster.crm_mon import ROOTS as CRM_MON_ROOTS
from hakari.cluster.crm_mon import WHAT as CRM_MON_WHAT
from hakari.cluster.crm_mon import snapshot_from_root
from hakari.cluster.result import check_status
from hakari.cluster.xml import parse_xml
from hakari.errors import ClusterNotConnected, ParseError, ToolFailed
from hakari.model import ClusterSnapshot

# Any exit status is judged after parsing; only death by a signal is left to the runner.
_ANY_EXIT = tuple(range(256))


def crm_mon_argv(fence_history_level: int) -> list[str]:
    return ["crm_mon", "-1", "--output-as=xml", f"--fence-history={fence_history_level}"]


def read_cluster(conf) -> ClusterSnapshot:
    """One crm_mon look at the cluster, fence history included."""
    argv = crm_mon_argv(conf.cluster.fence_history_level)
    res = runner.run(argv, timeout=conf.cluster.tool_timeout, ok_codes=_ANY_EXIT)
    root = _parse_or_fail(res, CRM_MON_WHAT, CRM_MON_ROOTS)
    return snapshot_from_root(root, argv)


def _parse_or_fail(res: runner.ToolResult, what: str, roots: tuple[str, ...]):
    """Parse a tool's XML; when it failed and left no usable XML, report the failure."""
    try:
        root = parse_xml(res.stdout, what, roots)
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
