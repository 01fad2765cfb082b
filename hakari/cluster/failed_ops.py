"""nova-compute's failures as the CIB records them: what every controller sees alike.

Pacemaker runs a resource alert only on the node that executed the operation (for a
remote node, the controller holding its connection), and each node spools its own
alerts, so no single spool sees every failure. The CIB does, for every node: its
operation history (``lrm_rsc_op``; ``<rsc>_last_failure_0`` keeps the latest failure
until a clean-up) and its fail counts (transient attributes
``fail-count-<rsc>#<task>_<interval>`` and ``last-failure-…``, which the DC writes a
moment after the failure is recorded, stamped by its own clock).

Read from the tree hakari.cluster.cib_status.parse_cib_tree returns: its pruning keeps
every failed operation (each is one of its suspects, _SUSPECT) and every transient
attribute. Values are read with cib_status's own readers, so both agree on what a
Pacemaker attribute or result means.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable

from lxml import etree

from hakari.cluster.cib_status import (_attribute_sets, _clone_base, _int, _score,
                                       _target_rc, failure_timeouts)

# Executor statuses that are no result yet (pending) or no result at all (cancelled).
_NO_RESULT = frozenset({-1, 1})
# A degraded monitor is a success (OCF_DEGRADED).
_DEGRADED, _OK = 190, 0
_FAIL_COUNT, _LAST_FAILURE = "fail-count-", "last-failure-"
# Fail counts, found by XPath: reading every node's attributes costs more.
_FAIL_COUNTS = etree.XPath("node_state/transient_attributes/instance_attributes/"
                           f"nvpair[starts-with(@name, '{_FAIL_COUNT}')]")


@dataclasses.dataclass(frozen=True, slots=True)
class ProcessFailure:
    """The latest failure of one operation of a process resource on one node."""

    node: str                   # Pacemaker node name
    rsc: str                    # the configured resource id (a clone's ":N" dropped)
    task: str                   # start | monitor
    interval: int               # milliseconds; 0 for a start
    rc: int | None              # OCF exit code; None when only the fail count shows it
    status: int | None          # executor status (op-status); None likewise
    last_rc_change: int | None  # epoch seconds, from the operation history
    last_failure: int | None    # epoch seconds, the DC's last-failure attribute
    fail_count: int             # 0 until the DC has counted it

    @property
    def op(self) -> str:
        return f"{self.task}_{self.interval}"

    @property
    def at(self) -> int:
        """When it failed: the executing node's record, else the DC's."""
        if self.last_rc_change is not None:
            return self.last_rc_change
        return self.last_failure or 0

    @property
    def key(self) -> str:
        """This occurrence, named alike by every controller's look (and every engine's)."""
        return f"{self.node}/{self.rsc}/{self.op}@{self.at}"


def process_failures(root: etree._Element, resources: Iterable[str], *,
                     now: float | None = None) -> tuple[ProcessFailure, ...]:
    """Unexpired failures of a start or recurring monitor of ``resources`` on any node
    of the CIB ``root``, oldest first: one per node, resource and operation."""
    wanted = frozenset(resources)
    status = root.find("status")
    if not wanted or status is None:
        return ()
    ops: dict[tuple[str, str, str, int], etree._Element] = {}
    for state in status.iterchildren("node_state"):
        node = state.get("uname")
        for entry in state.iterfind("lrm/lrm_resources/lrm_resource") if node else ():
            rid = entry.get("id") or ""
            # Most ids are no clone instance's: skip the suffix check for them.
            rsc = _clone_base(rid) if ":" in rid else rid
            if rsc in wanted:
                _latest_failures(ops, node, rsc, entry)
    counted = {}                # node -> its node_state, for the nodes with a fail count
    for nv in _FAIL_COUNTS(status):
        state = nv.getparent().getparent().getparent()
        counted.setdefault(state.get("uname"), state)
    counts = {}
    for node, state in counted.items():
        if node:
            counts.update(_fail_counts(state, node, wanted))
    if not ops and not counts:
        return ()
    found = [_failure(key, ops.get(key), *counts.get(key, (0, None)))
             for key in ops.keys() | counts.keys()]
    return tuple(sorted(_unexpired(root, found, time.time() if now is None else now),
                        key=lambda f: (f.at, f.node, f.rsc, f.op)))


def _latest_failures(ops: dict, node: str, rsc: str, entry) -> None:
    for op in entry.iterchildren("lrm_rsc_op"):
        key = (node, rsc, op.get("operation"), _int(op.get("interval"), 0))
        if not _counts(*key[2:]) or not _failed(op):
            continue
        # The same failure is often recorded twice (the recurring entry and
        # _last_failure_0); the latest call wins.
        if key not in ops or _call(op) > _call(ops[key]):
            ops[key] = op


def _failure(key, op, count: int, last: int | None) -> ProcessFailure:
    if op is None:
        return ProcessFailure(*key, None, None, None, last, count)
    return ProcessFailure(*key, _int(op.get("rc-code"), None),
                          _int(op.get("op-status"), None),
                          _int(op.get("last-rc-change"), None), last, count)


def _unexpired(root, found: list[ProcessFailure], now: float) -> list[ProcessFailure]:
    """Pacemaker expires a resource's failures on a node together: once its newest
    last-failure, and each history entry's own time, is older than its failure-timeout."""
    timeouts = failure_timeouts(root, {f.rsc for f in found})
    newest: dict[tuple[str, str], int] = {}
    for f in found:
        if f.fail_count and f.last_failure is not None:
            key = (f.node, f.rsc)
            newest[key] = max(newest.get(key, 0), f.last_failure)
    kept = []
    for f in found:
        timeout = timeouts.get(f.rsc, 0)
        counted = newest.get((f.node, f.rsc))
        if timeout > 0 and now >= f.at + timeout and (
                counted is None or now >= counted + timeout):
            continue
        kept.append(f)
    return kept


def _counts(task: str | None, interval: int) -> bool:
    """Only starts and recurring monitors count: a failed stop gets its node fenced (host
    recovery's business), and a failed probe found the process where it should not be,
    it did not fail."""
    return task == "start" or (task == "monitor" and interval > 0)


def _failed(op) -> bool:
    """Whether an operation's result is a failure, as the scheduler judges it: any
    finished execution status but success, or a result other than the expected one."""
    status, rc = _int(op.get("op-status"), None), _int(op.get("rc-code"), None)
    if status is None or rc is None or status in _NO_RESULT:
        return False
    if status != 0:
        return True
    if rc == _DEGRADED and op.get("operation") == "monitor":
        rc = _OK
    return rc != _target_rc(op.get("transition-key"))


def _call(op) -> int:
    return _int(op.get("call-id"), 0)


def _fail_counts(state, node: str, wanted: frozenset
                 ) -> dict[tuple[str, str, str, int], tuple[int, int | None]]:
    """(node, resource, task, interval) -> (fail count, last-failure) from the node's
    transient attributes, for the starts and recurring monitors of ``wanted``."""
    transient = state.find("transient_attributes")
    if transient is None:
        return {}
    attrs = _attribute_sets(transient, {})
    out = {}
    for name, value in attrs.items():
        if not name.startswith(_FAIL_COUNT):
            continue
        rsc, _, op = name[len(_FAIL_COUNT):].rpartition("#")
        task, _, interval = op.rpartition("_")
        rsc, interval = _clone_base(rsc), _int(interval, None)
        count = _score(value)
        if rsc not in wanted or interval is None or not _counts(task, interval) \
                or count <= 0:
            continue
        last = _int(attrs.get(f"{_LAST_FAILURE}{name[len(_FAIL_COUNT):]}"), None)
        out[(node, rsc, task, interval)] = (count, last)
    return out
