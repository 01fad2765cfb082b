"""The host-incident state machine: one loss of one compute host, from detection to the
host enabled again. Pure; no I/O.

Every state, every group of states the rest of hakari reasons with, and every allowed
transition (with what triggers it and who may make it) is declared here and nowhere
else. The stores (hakari.records.store) refuse any change this table does not allow,
before writing anything. docs/incidents.md is generated from this module
(``python -m hakari.lifecycle``); a test fails when it is stale.
"""

from __future__ import annotations

import dataclasses
import sys

from hakari.errors import HakariError

DETECTED = "DETECTED"
FENCE_FAILED = "FENCE_FAILED"
FENCE_CONFIRMED = "FENCE_CONFIRMED"
FORCED_DOWN = "FORCED_DOWN"
EVACUATING = "EVACUATING"
EVACUATED = "EVACUATED"
HOST_RETURNED = "HOST_RETURNED"
ENABLED = "ENABLED"
BLOCKED = "BLOCKED"
RELEASED = "RELEASED"
FAILED = "FAILED"

# Who makes a transition. The engine acts on what it sees; an operator on a decision.
ENGINE = "engine"
OPERATOR = "operator"
BOTH = frozenset({ENGINE, OPERATOR})


@dataclasses.dataclass(frozen=True)
class State:
    name: str
    meaning: str


STATES: tuple[State, ...] = (
    State(DETECTED, "the host is lost; waiting for Pacemaker to fence it"),
    State(FENCE_FAILED, "fencing failed or is overdue; nothing is evacuated, the engine "
          "keeps waiting for a successful fencing"),
    State(FENCE_CONFIRMED, "a fencing completed after the loss proves the host is off"),
    State(FORCED_DOWN, "nova-compute forced down, then disabled"),
    State(EVACUATING, "instances are being evacuated"),
    State(EVACUATED, "every instance evacuated, skipped by policy or gone; the host may "
          "come back"),
    State(HOST_RETURNED, "the host is back; waiting for its nova-compute to be up"),
    State(ENABLED, "the host is back and enabled: the incident is over"),
    State(BLOCKED, "the mass-failure brake stopped recovery; stays until an operator "
          "runs `hakari release` (or `hakari evacuate`)"),
    State(RELEASED, "an operator released it: recovered if still lost, closed if back; "
          "the brake no longer applies to it"),
    State(FAILED, "recovery could not finish; stays until an operator runs `hakari "
          "retry` (or `hakari evacuate`)"),
)
NAMES: tuple[str, ...] = tuple(s.name for s in STATES)

# The incident is over.
TERMINAL = frozenset({ENABLED})
# The host came back during this incident: a new loss of it is a new incident, dated
# anew, so this incident's fencing can never prove it.
HOST_BACK = frozenset({HOST_RETURNED, ENABLED})
# Waiting for an operator: whatever the engine sees, it does not touch these.
PARKED = frozenset({BLOCKED, FAILED})
# Lost, fencing not yet proven for this incident.
AWAITING_FENCE = frozenset({DETECTED, FENCE_FAILED, RELEASED})
# Recovery started: it runs to its end, even if the host comes back (safety rule 5).
RECOVERING = frozenset({FENCE_CONFIRMED, FORCED_DOWN, EVACUATING})
# Evacuations may be in flight or about to be decided: a returning host's nova-compute
# must stay off (compute-guard) and fence_hakari's `on` waits.
NOVA_COMPUTE_HELD = frozenset({DETECTED, RELEASED}) | RECOVERING
# Every instance of the host has been dealt with: it may be re-enabled.
EVACUATION_FINISHED = frozenset({EVACUATED, HOST_RETURNED, ENABLED})
# No instance was evacuated by this incident's recovery, or it was stopped by the brake:
# Nova's own clean-up on the host's restart handles any that were.
RECOVERY_NOT_STARTED = frozenset({BLOCKED, FENCE_FAILED})
# What the brake may stop: recovery not proven finished, not released by an operator.
BRAKEABLE = frozenset({DETECTED, FENCE_FAILED}) | RECOVERING


@dataclasses.dataclass(frozen=True)
class Transition:
    source: str
    target: str
    trigger: str
    by: frozenset[str] = frozenset({ENGINE})


def _t(sources, target, trigger, by=frozenset({ENGINE})) -> list[Transition]:
    return [Transition(s, target, trigger, by) for s in sources]


TRANSITIONS: tuple[Transition, ...] = tuple(
    _t([DETECTED, FENCE_FAILED, RELEASED], FENCE_CONFIRMED,
       "a successful off/reboot of the host completed after it was lost (safety rule 1), "
       "or the operator vouched for it (`hakari evacuate --assume-fenced`)", BOTH)
    + _t([DETECTED], FENCE_FAILED,
         "the host's latest fencing failed, or none succeeded within [fencing] "
         "confirm_timeout")
    + _t([FENCE_CONFIRMED], FORCED_DOWN,
         "nova-compute forced down, then disabled (safety rule 3)", BOTH)
    + _t([FORCED_DOWN], EVACUATING, "the host's instances planned; evacuations start",
         BOTH)
    + _t([EVACUATED], EVACUATING,
         "an operator runs `hakari evacuate` again: what is left on the host is "
         "recovered; nothing evacuated is evacuated twice", frozenset({OPERATOR}))
    + _t([EVACUATING], EVACUATED,
         "every instance evacuated and verified, skipped by policy, or already gone",
         BOTH)
    + _t([FENCE_CONFIRMED, FORCED_DOWN, EVACUATING], FAILED,
         "an instance could not be evacuated, or Nova refused a step", BOTH)
    + _t(sorted(BRAKEABLE), BLOCKED,
         "the mass-failure brake: too many computes lost within [recovery] "
         "mass_failure_window (safety rule 4)", BOTH)
    + _t([BLOCKED], RELEASED, "an operator: `hakari release`", frozenset({OPERATOR}))
    + _t([BLOCKED, FAILED], FENCE_CONFIRMED,
         "an operator recovers it by hand: `hakari evacuate` (fencing proven or "
         "vouched for again)", frozenset({OPERATOR}))
    + _t([FAILED], RELEASED, "an operator: `hakari retry`", frozenset({OPERATOR}))
    + _t([EVACUATED], HOST_RETURNED,
         "the host is online again, or `hakari evacuate` found Nova no longer forcing "
         "it down", BOTH)
    + _t([FORCED_DOWN, EVACUATING, FAILED], HOST_RETURNED,
         "`hakari evacuate` found Nova no longer forcing the host down: someone declared "
         "it back, and a new loss is a new incident", frozenset({OPERATOR}))
    + _t([HOST_RETURNED], ENABLED,
         "its nova-compute is up again and re-enabled if hakari disabled it "
         "(safety rule 5)")
    + _t([DETECTED, FENCE_FAILED, RELEASED], HOST_RETURNED,
         "the host is online again before any (more) of its instances were evacuated: "
         "nothing more to recover; its nova-compute may start")
)

_ALLOWED = {(t.source, t.target): t for t in TRANSITIONS}


class IllegalTransition(HakariError):
    """A change the state machine does not allow; nothing was written."""


def check(source: str, target: str, by: str) -> Transition | None:
    """The transition from ``source`` to ``target`` made by ``by`` (ENGINE or OPERATOR);
    None for staying in the same state (a new reason only). Raises IllegalTransition."""
    if target not in NAMES:
        raise IllegalTransition(f"unknown incident state {target!r}")
    if source == target:
        return None
    t = _ALLOWED.get((source, target))
    if t is None:
        raise IllegalTransition(f"an incident cannot go from {source} to {target}")
    if by not in t.by:
        raise IllegalTransition(f"only {' or '.join(sorted(t.by))} may take an incident "
                                f"from {source} to {target}, not {by}")
    return t


def markdown() -> str:
    """docs/incidents.md: the states and the transition table, from the declaration."""
    lines = ["# Host incidents: the state machine", "",
             "Generated by `python -m hakari.lifecycle` from `hakari/lifecycle.py`, the one",
             "declaration the engine, `hakari evacuate`, `hakari release`/`retry`, and the",
             "agents go through; the stores refuse any other transition. Do not edit.", "",
             "## States", "", "| state | meaning | |", "|---|---|---|"]
    for s in STATES:
        tags = [tag for tag, group in (("terminal", TERMINAL), ("waits for an operator",
                                                                 PARKED))
                if s.name in group]
        lines.append(f"| `{s.name}` | {s.meaning} | {', '.join(tags)} |")
    lines += ["", "## Transitions", "", "| from | to | by | when |", "|---|---|---|---|"]
    for t in TRANSITIONS:
        lines.append(f"| `{t.source}` | `{t.target}` | {' or '.join(sorted(t.by))} | "
                     f"{t.trigger} |")
    lines += ["", "## Diagram", "", "```mermaid", "stateDiagram-v2"]
    seen = set()
    for t in TRANSITIONS:
        if (t.source, t.target) not in seen:
            seen.add((t.source, t.target))
            lines.append(f"    {t.source} --> {t.target}")
    lines += ["```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown())
