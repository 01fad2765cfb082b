"""What to do for an instance reported failed: pure, from what Nova shows and the journal.

The caller (an external monitor, through `hakari recover-instance`) asserts the instance
stopped or broke unexpectedly; this decides whether hakari may and should act, and how.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from hakari.nova.resources import Aggregate, Server
from hakari.recovery.policy import Policy, tagged_by

METHODS = ("auto", "stop_start", "hard_reboot")
# Verbs, in the order an attempt issues them.
START, STOP, HARD_REBOOT = "start", "stop", "hard_reboot"
# Actions.
RECOVER = "recover"      # issue ``verbs``, then verify ACTIVE
WAIT = "wait"            # a task is in progress: look again shortly
HEALTHY = "healthy"      # ACTIVE, nothing in progress: nothing to do
SKIP = "skip"            # not hakari's to recover (policy, state, host down)
FAIL = "fail"            # retry limit reached
# Failures hakari recovers; anything else (PAUSED, SHELVED, BUILD, …) was put there on
# purpose or is another tool's business.
RECOVERABLE = frozenset({"SHUTOFF", "ERROR"})


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceStep:
    action: str
    reason: str
    verbs: tuple[str, ...] = ()


def ha_reason(server: Server, policy: Policy,
              aggregates_of_host: Sequence[Aggregate] = ()) -> str | None:
    """Why ``server`` is not an HA instance (the evacuation selection's notion), or
    None when it is."""
    if server.id in policy.excluded_instances:
        return "excluded by [recovery] excluded_instances"
    if policy.selection == "tagged" and tagged_by(server, policy, aggregates_of_host) is None:
        return f"not an HA instance: not tagged {policy.tag} (instance_selection = tagged)"
    return None


def verbs_for(status: str, method: str) -> tuple[str, ...]:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    if method == "hard_reboot":
        return (HARD_REBOOT,)
    if status == "SHUTOFF":
        return (START,)
    # ERROR: Nova refuses os-start outside vm_state stopped, but allows os-stop and a hard
    # reboot from error.
    return (STOP, START) if method == "stop_start" else (HARD_REBOOT,)


def decide(server: Server, policy: Policy, *, attempts: int, max_attempts: int,
           method: str = "auto", host_up: bool | None = None,
           aggregates_of_host: Sequence[Aggregate] = ()) -> InstanceStep:
    """The next step for a failed instance after ``attempts`` attempts in its incident.

    ``host_up``: Nova's view of the instance's compute service (None: unknown). A power
    action on a dead compute is never carried out; host recovery evacuates it instead.
    """
    why = ha_reason(server, policy, aggregates_of_host)
    if why:
        return InstanceStep(SKIP, why)
    if server.task_state:
        return InstanceStep(WAIT, f"task {server.task_state} in progress")
    if server.status == "ACTIVE":
        return InstanceStep(HEALTHY, "ACTIVE")
    if server.status not in RECOVERABLE:
        return InstanceStep(SKIP, f"status {server.status}: not a failure hakari recovers")
    if host_up is False:
        return InstanceStep(SKIP, f"its host {server.host} is down in Nova: host recovery "
                            "(evacuation) handles it, not a restart")
    if attempts >= max_attempts:
        return InstanceStep(FAIL, f"retry limit reached: {attempts} attempt(s) "
                            f"([instance_failure] max_attempts = {max_attempts})"
                            + (f"; Nova: {server.fault}" if server.fault else ""))
    verbs = verbs_for(server.status, method)
    return InstanceStep(RECOVER, f"{server.status} -> {' + '.join(verbs)}", verbs)
