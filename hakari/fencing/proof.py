"""Safety rules 1 and 2 for one host, from one look at the cluster. Pure.

"May hakari evacuate node N, lost at T?" needs: a quorate partition (rule 2), N not
online, and a successful off/reboot of N completed at or after T (rule 1, see
``verdict``). The loss time matters as much as the fencing: a fencing that completed
before N was last seen alive says nothing about N now.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from hakari.fencing.verdict import Verdict, fence_verdict
from hakari.model import ClusterSnapshot


@dataclasses.dataclass(frozen=True, slots=True)
class Proof:
    ok: bool
    reason: str
    verdict: Verdict | None = None


def fencing_proof(snapshot: ClusterSnapshot, node: str, lost_at: dt.datetime | None, *,
                  clock_skew: float = 2.0) -> Proof:
    if snapshot.quorate is not True:
        why = "has no quorum" if snapshot.quorate is False else \
            "cannot tell whether it has quorum (no DC)"
        return Proof(False, f"this node's cluster partition {why}; hakari never acts "
                            "from a partition without quorum")
    state = snapshot.node(node)
    if state is None:
        return Proof(False, f"the cluster has no node named {node!r} (check "
                            "[cluster] node_map / node_domain)")
    if state.online:
        return Proof(False, f"node {node} is {state.state} in the cluster, not lost")
    if lost_at is None:
        return Proof(False, f"no loss time known for {node} (no incident recorded and "
                            "Nova reports no last heartbeat), so no fencing can be shown "
                            "to be recent enough")
    verdict = fence_verdict(snapshot.fence_events, node, lost_at, clock_skew=clock_skew,
                            guest_hosts=snapshot.guest_hosts)
    if not verdict.confirmed:
        return Proof(False, f"{node} is not proven fenced since {lost_at.isoformat()}: "
                            f"{verdict.reason}", verdict)
    return Proof(True, verdict.reason, verdict)
