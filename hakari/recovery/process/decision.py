"""What to do about nova-compute failing on a live host: pure decisions.

Masakari-style process failure: when nova-compute keeps failing, disable its compute
service so the scheduler places nothing new there; when it is healthy again (Nova says
up, and no failure for a while), re-enable it, but only if hakari disabled it: a host an
operator disabled stays disabled.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from hakari.nova import fencing as nova_fencing
from hakari.nova.resources import ComputeService

# The disabled reason hakari writes; re-enabling requires it, so no other disable is
# ever undone. It also starts with hakari.nova.fencing.REASON_PREFIX, like every
# reason hakari writes.
REASON_PREFIX = f"{nova_fencing.REASON_PREFIX} process failure"

# Seconds between two engine looks at open process incidents (each reads the CIB).
CHECK_INTERVAL = 30.0

# Triggers.
FAILURE = "failure"      # a failed nova-compute operation (alert) or a monitor's report
HEALTHY = "healthy"      # a monitor says it is healthy again (`notify process --healthy`)
CHECK = "check"          # the engine's periodic look at open process incidents
# Actions.
DISABLE = "disable"
ENABLE = "enable"
WAIT = "wait"            # keep the incident open, change nothing now
CLOSE = "close"          # close the incident, change nothing in Nova (state in the step)
NOTHING = "nothing"      # no incident and none needed
IGNORE = "ignore"        # another recovery owns the host (forced down: host incident)


@dataclasses.dataclass(frozen=True, slots=True)
class ProcessStep:
    action: str
    reason: str
    state: str = ""      # the incident's state after the step, when it changes


@dataclasses.dataclass(frozen=True, slots=True)
class Thresholds:
    failure_threshold: int = 3
    failure_window: float = 600.0
    enable_after: float = 300.0

    @classmethod
    def from_config(cls, conf) -> "Thresholds":
        p = conf.process_failure
        return cls(p.failure_threshold, p.failure_window, p.enable_after)


def disabled_for_process_failure(service: ComputeService) -> bool:
    return (service.disabled_reason or "").startswith(REASON_PREFIX)


def decide(trigger: str, service: ComputeService, incident_state: str | None,
           failures: Sequence[dt.datetime], now: dt.datetime, limits: Thresholds, *,
           immediate: bool = False) -> ProcessStep:
    """The step for a process incident in ``incident_state`` (None: none open).

    ``failures``: when the incident's failure signals arrived (this one included).
    ``immediate``: the signal comes from a monitor that has already concluded the
    process is failing (`hakari notify process`), so the threshold does not apply.
    """
    if service.forced_down:
        return ProcessStep(IGNORE, "nova-compute is forced down: the host is lost and "
                           "host recovery handles it", "IGNORED")
    window = dt.timedelta(seconds=limits.failure_window)
    recent = [t for t in failures if now - t <= window]
    last = max(failures) if failures else None
    if trigger == FAILURE:
        if not service.enabled:
            if disabled_for_process_failure(service):
                return ProcessStep(WAIT, "already disabled by hakari", "DISABLED")
            return ProcessStep(CLOSE, "already disabled by someone else "
                               f"({service.disabled_reason or 'no reason given'}); left "
                               "as it is", "IGNORED")
        if immediate or len(recent) >= limits.failure_threshold:
            return ProcessStep(DISABLE, f"{len(recent)} failure(s) in "
                               f"{limits.failure_window:g}s" if not immediate else
                               "reported failing by a monitor", "DISABLED")
        return ProcessStep(WAIT, f"{len(recent)} of {limits.failure_threshold} failures "
                           f"in {limits.failure_window:g}s", "DETECTED")
    if incident_state is None:
        return ProcessStep(NOTHING, "no process failure open")
    if incident_state == "DETECTED" and not service.enabled and \
            disabled_for_process_failure(service):
        # Nova's reason says hakari disabled it: the record missed it (a run that died
        # between the two, or a concurrent writer). Nova is the truth about who did.
        incident_state = "DISABLED"
    if incident_state == "DETECTED":
        if service.enabled and (trigger == HEALTHY or last is None or now - last > window):
            return ProcessStep(CLOSE, "healthy again; nothing was disabled", "CLEARED")
        if not service.enabled and not disabled_for_process_failure(service):
            return ProcessStep(CLOSE, "disabled by someone else; left as it is", "IGNORED")
        return ProcessStep(WAIT, "below the failure threshold")
    # DISABLED (by hakari in this incident).
    if service.enabled:
        return ProcessStep(CLOSE, "enabled again by someone else", "ENABLED")
    if not disabled_for_process_failure(service):
        return ProcessStep(CLOSE, "disabled reason changed by someone else "
                           f"({service.disabled_reason or 'none'}); left disabled",
                           "IGNORED")
    if not service.up:
        return ProcessStep(WAIT, "nova-compute is not up in Nova yet")
    quiet = dt.timedelta(seconds=limits.enable_after)
    if trigger == CHECK and last is not None and now - last < quiet:
        return ProcessStep(WAIT, f"up, but failed {int((now - last).total_seconds())}s "
                           f"ago (enable_after = {limits.enable_after:g}s)")
    return ProcessStep(ENABLE, "nova-compute is up in Nova again"
                       + (" (reported healthy by a monitor)" if trigger == HEALTHY else
                          f" and quiet for {limits.enable_after:g}s"), "ENABLED")


# Pacemaker execution statuses that are not a failure of the process: done with the
# expected rc (checked separately), cancelled (1), or pending (-1).
_NOT_FAILURES = frozenset({-1, 1})


def is_process_failure(kind: str, rsc: str | None, status: int | None, rc: int | None,
                       target_rc: int | None, resources: Sequence[str]) -> bool:
    """Whether a resource alert reports a failed operation of nova-compute.

    A clone instance is named ``id:N``; the suffix is not part of the configured id.
    """
    if kind != "resource" or not rsc or status is None:
        return False
    if rsc.split(":", 1)[0] not in set(resources):
        return False
    if status in _NOT_FAILURES:
        return False
    return not (status == 0 and rc == target_rc)
