"""Which servers Nova changed are crashed HA instances to recover: pure, from what Nova and
hakari show. The engine's instance watch (recovery.instance.watcher) reads them.

A crash is an HA instance (the evacuation's [recovery] selection) that is SHUTOFF or in
ERROR because of nothing anyone asked for. Nova records every request against a server as
an instance action, with the requesting user; when a guest shuts down behind Nova's back,
nova-compute's power-state sync (its periodic task, or a libvirt lifecycle event) calls
the stop API itself, with an admin context that has no user (nor project). So the newest
action tells a crash (``stop`` with no user) from a user's or an operator's own ``server
stop``, reset-state or failed request (their user), as the real Nova records them in
tests/integration/test_instance_watch_nova.py. A guest shut down from inside is recorded
like a crash: Nova cannot tell them apart, so neither can hakari (safety rule 13).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from hakari.nova.resources import Aggregate, ComputeService, InstanceAction, Server
from hakari.records.failures import Failure
from hakari.recovery.instance.decision import RECOVERABLE, ha_reason
from hakari.recovery.policy import Policy

# Verdicts.
RECOVER = "recover"   # a crash: recover it now (recovery.instance.recovery)
CLOSE = "close"       # ACTIVE again with an open incident: the recovery closes it
WAIT = "wait"         # look again at the next watch, even if Nova shows no change
LEAVE = "leave"       # not a crash, or not hakari's to act on
# An instance incident's state once its retry limit is reached (records.failures).
GAVE_UP = "FAILED"
# How far before its start a new engine looks for crashes: a successor after a failover
# catches what happened while no engine watched. Older ones are left alone: someone may
# have meant them to stay off since.
START_LOOKBACK = dt.timedelta(minutes=10)
# Each watch asks for changes since the previous one began, minus this much: clock skew
# between this controller and Nova's database, and Nova's one-second timestamps.
OVERLAP = dt.timedelta(seconds=60)


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    action: str
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    """What one watch knows besides the server itself."""

    policy: Policy
    now: dt.datetime
    # Crashes whose action began earlier are left alone (START_LOOKBACK).
    not_before: dt.datetime
    # Nova host -> its nova-compute service.
    services: Mapping[str, ComputeService]
    # Nova host -> why hakari keeps out of it: an open host incident, a hold, a lost node
    # (the engine's last look). Host recovery owns those.
    keep_out: Mapping[str, str]
    # Server id -> its open instance failure incident (records.failures).
    incidents: Mapping[str, Failure]
    # Servers this engine is recovering right now.
    running: frozenset[str] = frozenset()
    # An open incident not updated for this long has no live recovery any more (its
    # process died): the watch resumes it, within its retry limit.
    stale_after: dt.timedelta = dt.timedelta(minutes=11)


def precheck(server: Server, ctx: Context,
             aggregates_of_host: Sequence[Aggregate] = ()) -> Verdict | None:
    """The verdict that needs no instance action, or None when the server is a
    recoverable HA instance whose cause (or stale incident) decides."""
    if server.id in ctx.running:
        return Verdict(WAIT, "its recovery is running")
    incident = ctx.incidents.get(server.id)
    if incident is not None:
        age = ctx.now - (incident.updated_at or incident.opened_at)
        if incident.state != GAVE_UP and age < ctx.stale_after:
            # Being recovered by another process (`hakari recover-instance`, the API, a
            # predecessor engine): one recovery of an instance at a time.
            return Verdict(WAIT, f"incident {incident.id} {incident.state}, updated "
                           f"{age.total_seconds():.0f}s ago: its recovery is under way")
        if server.status == "ACTIVE" and not server.task_state:
            # Closed by the recovery, so that a later crash starts a fresh count.
            return Verdict(CLOSE, f"ACTIVE again: closes incident {incident.id}")
        if incident.state == GAVE_UP:
            return Verdict(LEAVE, f"incident {incident.id} FAILED (retry limit reached): "
                           "an operator's")
    if server.status not in RECOVERABLE:
        return Verdict(LEAVE, f"status {server.status}")
    if server.task_state:
        # Someone is acting on it; when the task ends Nova changes the server again.
        return Verdict(LEAVE, f"task {server.task_state} in progress")
    why = ha_reason(server, ctx.policy, aggregates_of_host)
    if why:
        return Verdict(LEAVE, why)
    return None


def needs_action(server: Server, ctx: Context) -> bool:
    """Whether judging a server precheck let through needs its newest instance action:
    not when it resumes an incident whose recovery died."""
    return server.id not in ctx.incidents


def judge(server: Server, action: InstanceAction | None, ctx: Context,
          aggregates_of_host: Sequence[Aggregate] = ()) -> Verdict:
    """What the watch does with a server Nova reports changed; ``action``: its newest
    instance action."""
    early = precheck(server, ctx, aggregates_of_host)
    if early is not None:
        return early
    incident = ctx.incidents.get(server.id)
    if incident is not None:
        cause = f"incident {incident.id} {incident.state} with no live recovery"
    elif action is None:
        return Verdict(LEAVE, f"{server.status} with no instance action to explain it")
    elif action.user_id is not None:
        # A user's or an operator's request (stop, reset-state, a failed resize...) left
        # it there: theirs, never fought. Nova's own requests have no user.
        return Verdict(LEAVE, f"{server.status} after {action.action} requested by user "
                       f"{action.user_id} ({action.request_id})")
    elif action.start_time is not None and action.start_time < ctx.not_before:
        return Verdict(LEAVE, f"{action.action} by Nova itself at "
                       f"{action.start_time.isoformat()}, before this engine watched")
    else:
        cause = f"{action.action} by Nova itself ({action.request_id})"
    host = server.host
    if not host:
        return Verdict(LEAVE, f"crashed ({cause}) but on no host")
    # Never on a host that is not a healthy compute: a dead host's instances are
    # evacuated by host recovery, never started or rebooted where they were. Looked at
    # again at every watch, and recovered once the host is back in service.
    if host in ctx.keep_out:
        return Verdict(WAIT, f"crashed ({cause}); host {host}: {ctx.keep_out[host]}")
    service = ctx.services.get(host)
    if service is None:
        return Verdict(WAIT, f"crashed ({cause}); host {host}: no nova-compute in Nova")
    if not service.up or service.forced_down or not service.enabled:
        state = "forced down" if service.forced_down else \
            service.state if not service.up else f"disabled ({service.disabled_reason})"
        return Verdict(WAIT, f"crashed ({cause}); host {host}'s nova-compute is {state}")
    return Verdict(RECOVER, f"crashed: {server.status} after {cause}")


class Watch:
    """What the watch remembers between two looks at Nova: from when to ask for changes,
    and the servers to look at again even if unchanged (WAIT)."""

    def __init__(self, started: dt.datetime, lookback: dt.timedelta = START_LOOKBACK):
        self.not_before = started - lookback
        self.since = self.not_before
        self.pending: set[str] = set()

    def looked(self, started: dt.datetime, waiting: Iterable[str]) -> None:
        """A watch that began at ``started`` judged every server it was given."""
        self.since = max(self.since, started - OVERLAP)
        self.pending = set(waiting)
