"""What a notification means to hakari, and what its outcome is. Pure.

PROCESS and VM notifications run the recoveries hakari already has (`hakari notify
process`, `hakari recover-instance`): a stopped process is a process failure of the
host's nova-compute, reported by a monitor that has concluded (disable at once); a
started one says it is healthy again. A VM event is recovered when Masakari would
recover it (a crashed guest, an I/O error), else ignored as Masakari ignores it.

A COMPUTE_HOST notification never evacuates anything (safety rule 1: only Pacemaker's
fencing proves a host is off). It is ignored when Pacemaker does not manage the host or
sees it alive; when Pacemaker has lost the host it follows the host's incident, which
the engine opens and recovers, and ends as that incident does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from hakari import lifecycle
from hakari.api import statuses
from hakari.api.validation import COMPUTE_HOST, PROCESS, STOPPED, VM
from hakari.cluster.live import Look
from hakari.engine.detect import compute_nodes, is_lost
from hakari.model import Incident
from hakari.records.store import parse_records
from hakari.recovery.instance.recovery import FAILED, HEALTHY, RECOVERED, SKIPPED
from hakari.recovery.process import decision as pd

PROCESS_FAILURE = "process-failure"
PROCESS_HEALTHY = "process-healthy"
INSTANCE = "instance"
HOST = "host"
IGNORE = "ignore"

# The libvirt events (event -> vir_domain_event) Masakari recovers an instance for.
VM_FAILURES = {
    "LIFECYCLE": frozenset({"STOPPED_FAILED"}),
    "IO_ERROR": frozenset({"IO_ERROR_REPORT"}),
    "QEMU_GUEST_AGENT_ERROR": frozenset({"STOPPED_FAILED"}),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    action: str
    reason: str = ""


def plan(kind: str, payload: dict) -> Plan:
    event = payload.get("event")
    if kind == PROCESS:
        if event == STOPPED:
            return Plan(PROCESS_FAILURE)
        return Plan(PROCESS_HEALTHY)
    if kind == VM:
        domain_event = payload.get("vir_domain_event")
        if domain_event in VM_FAILURES.get(event, ()):
            return Plan(INSTANCE)
        return Plan(IGNORE, f"VM event {event}/{domain_event} is not an instance failure: "
                            "only a crashed guest (LIFECYCLE or QEMU_GUEST_AGENT_ERROR "
                            "STOPPED_FAILED) or an I/O error (IO_ERROR IO_ERROR_REPORT) is "
                            "recovered, as in Masakari")
    if kind == COMPUTE_HOST and event == STOPPED:
        return Plan(HOST)
    return Plan(IGNORE, "the host started: nothing to recover (hakari re-enables a host it "
                        "recovered once Pacemaker shows it back)")


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """``status``: a final status, or None while there is more to wait for."""

    status: str | None
    message: str
    incident: str | None = None


def process_outcome(action: str, reason: str, service_status: str,
                    service_state: str) -> Outcome:
    message = f"{action}: {reason}; nova-compute {service_state}, {service_status}"
    if action == pd.IGNORE:
        return Outcome(statuses.IGNORED, message)
    return Outcome(statuses.FINISHED, message)


def instance_outcome(result: str, reason: str, status: str, attempts: int) -> Outcome:
    message = f"{result}: {reason} (status {status}, {attempts} attempt(s))"
    if result in (RECOVERED, HEALTHY):
        return Outcome(statuses.FINISHED, message)
    if result == SKIPPED:
        return Outcome(statuses.IGNORED, message)
    if result == FAILED:
        return Outcome(statuses.FAILED, message)
    raise ValueError(f"unknown instance recovery result {result!r}")


def host_outcome(look: Look, node: str, configured: Iterable[str]) -> Outcome:
    """What one look at the cluster says of a COMPUTE_HOST STOPPED notification about
    Pacemaker node ``node``."""
    snapshot = look.snapshot
    if snapshot.quorate is not True:
        return Outcome(None, "this partition has no quorum: waiting for one that has")
    state = next((n for n in compute_nodes(snapshot, configured) if n.name == node), None)
    if state is None:
        return Outcome(statuses.IGNORED, f"Pacemaker does not manage {node} as a compute "
                                         "node: hakari recovers only the hosts it manages")
    if not is_lost(state):
        return Outcome(statuses.IGNORED,
                       f"Pacemaker sees {node} alive ({state.state}): hakari recovers a "
                       "host only once Pacemaker has lost it and fenced it")
    incident = parse_records(look.attributes).incidents.get(node)
    if incident is None or incident.state in lifecycle.HOST_BACK:
        return Outcome(None, f"Pacemaker lost {node} ({state.state}); waiting for the "
                             "engine to open its incident")
    return _incident_outcome(incident)


def _incident_outcome(incident: Incident) -> Outcome:
    said = f"incident {incident.id}: {incident.state}" + \
        (f" ({incident.reason})" if incident.reason else "")
    if incident.state in lifecycle.EVACUATION_FINISHED:
        return Outcome(statuses.FINISHED, said, incident.id)
    if incident.state == lifecycle.FAILED:
        return Outcome(statuses.FAILED, said, incident.id)
    return Outcome(None, said, incident.id)
