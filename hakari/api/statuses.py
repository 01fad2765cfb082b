"""A notification's status, as Masakari's clients read it. Pure.

new (stored, not yet taken) -> running (a `hakari api` process handles it) -> finished
(handled: the recovery ran, or the incident it is attached to is past its evacuations),
failed (the recovery failed, or the incident is FAILED or not over in time), or ignored
(nothing to do, with the reason in ``message``: the host is alive, Pacemaker does not
manage it, the segment is disabled, an event Masakari ignores too…).
"""

from __future__ import annotations

NEW, RUNNING, FINISHED, FAILED, IGNORED = "new", "running", "finished", "failed", "ignored"
# Still being handled: its segment and hosts may not be changed or deleted meanwhile.
OPEN = (NEW, RUNNING)
FINAL = frozenset({FINISHED, FAILED, IGNORED})

TRANSITIONS = {
    NEW: frozenset({RUNNING}),
    RUNNING: frozenset(FINAL),
}


class IllegalStatus(ValueError):
    pass


def check(old: str, new: str) -> None:
    if new not in TRANSITIONS.get(old, ()):
        raise IllegalStatus(f"a notification cannot go from {old} to {new}")
