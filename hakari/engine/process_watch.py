"""Which nova-compute failures in the CIB are new: each occurrence signalled once.

The CIB keeps a failure (the operation's last failed result, its fail count) until a
clean-up or its failure-timeout, so every look shows it again. An occurrence is told
apart by its time, each source compared with itself: a later failure of the same
operation has a later last-rc-change (the executing node's clock) and a later
last-failure (the DC's). Only when a history entry was seen and the fail count alone is
left (a later failure of another operation overwrote the entry) are the two clocks
compared, with a slack. Pure: the engine gives it each look and the clock.

Alerts of this engine's node are hints: a failure an alert reported that the CIB does not
show yet (the controller writes the result just before it runs the alert) is looked for
again for a short while, instead of waiting a whole reconcile interval.
"""

from __future__ import annotations

from collections.abc import Iterable

from hakari.cluster.failed_ops import ProcessFailure

# Seconds between a failure's last-rc-change (the executing node's clock) and the DC's
# last-failure for it, or an alert's timestamp (the controller's). Two failures of one
# operation are further apart: nova-compute is restarted between them.
SAME_FAILURE_SLACK = 5
# Seconds an alert's failure is looked for in the CIB before the periodic look takes over.
HINT_TTL = 2.0


class ProcessWatch:
    def __init__(self):
        # (node, resource, operation) -> the newest (last-rc-change, last-failure) seen.
        self._seen: dict[tuple[str, str, str], tuple[int | None, int | None]] = {}
        # (node, resource) -> (the alert's epoch, monotonic deadline).
        self._hints: dict[tuple[str, str], tuple[int, float]] = {}

    def hint(self, node: str, rsc: str, epoch: int, now: float) -> None:
        """An alert says ``rsc`` failed on ``node`` at ``epoch``; ``now`` is monotonic."""
        key = (node, rsc.split(":", 1)[0])
        self._hints[key] = (max(epoch, self._hints.get(key, (epoch, 0.0))[0]),
                            now + HINT_TTL)

    def new(self, failures: Iterable[ProcessFailure], now: float,
            history: float) -> list[ProcessFailure]:
        """The occurrences among a look's ``failures`` not seen before. One this watch
        never saw (a fresh engine's first look) is new only when younger than
        ``history`` seconds (``now``: epoch): an older one cannot count towards the
        threshold any more, and was most likely handled by the engine before."""
        fresh, seen = [], {}
        for f in failures:
            key = (f.node, f.rsc, f.op)
            before = self._seen.get(key)
            if before is None:
                is_new = now - f.at <= history
            else:
                is_new = _later(f, *before)
            if is_new:
                fresh.append(f)
            op_seen, count_seen = before or (None, None)
            seen[key] = (_newest(op_seen, f.last_rc_change),
                         _newest(count_seen, f.last_failure))
            hinted = self._hints.get((f.node, f.rsc))
            if hinted is not None and max(
                    f.at, f.last_failure or 0) >= hinted[0] - SAME_FAILURE_SLACK:
                del self._hints[(f.node, f.rsc)]
        # What the CIB no longer shows (cleaned up, expired) is forgotten.
        self._seen = seen
        return fresh

    def awaited(self, now: float) -> bool:
        """Whether an alert's failure is still missing from the CIB (``now``: monotonic)."""
        self._hints = {k: v for k, v in self._hints.items() if v[1] > now}
        return bool(self._hints)


def _later(f: ProcessFailure, op_seen: int | None, count_seen: int | None) -> bool:
    """Whether ``f`` is a later occurrence than the newest one seen of its operation."""
    if f.last_rc_change is not None:
        # A history entry never comes back once overwritten: one where none was seen
        # is a new failure.
        return op_seen is None or f.last_rc_change > op_seen
    if count_seen is not None:
        return (f.last_failure or 0) > count_seen
    return (f.last_failure or 0) > (op_seen or 0) + SAME_FAILURE_SLACK


def _newest(seen: int | None, now: int | None) -> int | None:
    return seen if now is None else now if seen is None else max(seen, now)
