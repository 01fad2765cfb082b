"""What to do with each instance of a failed host, from what Nova shows now. Pure.

The never-twice rule (safety rule 7) lives here: an instance with an evacuation
migration away from the host created since the incident began is in flight (wait for
it) or done (report it); failed or errored migrations count as attempts. Only Nova's
migrations decide that, never hakari's memory, so a restarted engine or a second
`hakari evacuate` sees the same answer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from hakari.nova.resources import Aggregate, Migration, Server
from hakari.recovery.policy import (EVACUABLE_VM_STATES, Policy, ordered, priority,
                                    skip_reason)

EVACUATE = "evacuate"   # send an evacuation
WAIT = "wait"           # one is in flight: verify it
CHECK = "check"         # gone from the host after a failed attempt: look where it is
SKIP = "skip"           # final: not evacuated, by policy or because it already was
FAIL = "fail"           # final: needs an operator
ACTIONS = (EVACUATE, WAIT, CHECK, SKIP, FAIL)

# Tasks during which a second rebuild request would race the first one.
REBUILD_TASKS = frozenset({"rebuilding", "rebuild_block_device_mapping", "rebuild_spawning"})


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    id: str
    name: str
    action: str
    reason: str = ""
    attempts: int = 0
    migration: Migration | None = None
    original_status: str | None = None
    priority: int = 0
    dest_host: str | None = None
    # SKIP because an earlier run of this incident evacuated it (Nova says so).
    evacuated_before: bool = False
    # The server as listed on the host (None for instances that already left it).
    server: Server | None = None
    # Every evacuation of it from the host that Nova listed, whatever its age: none of
    # them can be the migration of a request sent after planning (evacuator).
    listed: tuple[Migration, ...] = ()


def by_server(migrations: Iterable[Migration]) -> dict[str, list[Migration]]:
    """Migrations grouped per instance, newest first within each."""
    grouped: dict[str, list[Migration]] = {}
    for m in migrations:
        grouped.setdefault(m.server_id, []).append(m)
    floor = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    for ms in grouped.values():
        ms.sort(key=lambda m: m.created_at or floor, reverse=True)
    return grouped


def failure_reason(migration: Migration | None, server: Server | None) -> str:
    parts = []
    if migration is not None:
        parts.append(f"evacuation {migration.status}")
        if migration.dest_compute:
            parts[-1] += f" on {migration.dest_compute}"
    if server is not None and server.fault:
        parts.append(server.fault)
    return ": ".join(parts) or "evacuation failed"


def relevant(migrations: Iterable[Migration], since: dt.datetime | None) -> list[Migration]:
    """The migrations that belong to an incident that began at ``since``: every one still
    in flight, whatever its age (someone is rebuilding that instance right now), and the
    finished ones created since then (attempts of this incident)."""
    return [m for m in migrations if since is None or m.in_flight
            or m.created_at is None or m.created_at >= since]


def plan_host(host: str, servers: Sequence[Server], migrations: Iterable[Migration],
              policy: Policy, *, since: dt.datetime | None = None,
              aggregates_of_host: Sequence[Aggregate] = (),
              original_status: Mapping[str, str] | None = None,
              attempts_since: dt.datetime | None = None) -> list[Decision]:
    """One decision per instance on ``host`` now, plus one per instance evacuated from
    it since the incident began (see ``relevant``; ``migrations`` may hold all of the
    host's evacuation migrations).

    ``original_status``: the statuses the incident's instances had before its first
    evacuation, as kept in the CIB (records.store keep_originals); an instance missing
    from it is taken as Nova shows it when nothing has touched it since the incident
    began, and as unknown otherwise. ``attempts_since``: an operator's retry; failed
    attempts before it no longer count against max_attempts (every migration still
    decides the rest).
    """
    original_status = original_status or {}
    migrations = list(migrations)
    listed = by_server(migrations)
    grouped = by_server(relevant(migrations, since))
    decisions: list[Decision] = []
    on_host = set()
    for server in ordered(servers, policy.priority_key):
        on_host.add(server.id)
        ms = grouped.get(server.id, [])
        decisions.append(_decide_on_host(server, ms, policy, aggregates_of_host,
                                         original_status.get(server.id), attempts_since))
    for server_id, ms in grouped.items():
        if server_id in on_host:
            continue
        # No name in a migration: recovery.gather asks Nova for it.
        decisions.append(_decide_departed(server_id, ms, original_status.get(server_id)))
    return [dataclasses.replace(d, listed=tuple(listed.get(d.id, ()))) for d in decisions]


def _decide_on_host(server: Server, ms: list[Migration], policy: Policy,
                    aggregates_of_host: Sequence[Aggregate], remembered_status: str | None,
                    attempts_since: dt.datetime | None = None) -> Decision:
    attempts = len([m for m in ms if attempts_since is None or m.created_at is None
                    or m.created_at >= attempts_since])
    # The status before the incident's first attempt: after a failed one the server may
    # show ERROR, which is not what it should arrive as. Unknown (None) when it was not
    # kept and an attempt may have changed it.
    original = remembered_status or (None if ms else server.status)
    base = dict(id=server.id, name=server.name, attempts=attempts, original_status=original,
                priority=priority(server, policy.priority_key), server=server)
    flying = [m for m in ms if m.in_flight]
    if flying:
        return Decision(action=WAIT, migration=flying[0],
                        reason=f"evacuation {flying[0].status} since "
                               f"{_when(flying[0].created_at)}", **base)
    skip = skip_reason(server, policy, prior_attempts=len(ms),
                       aggregates_of_host=aggregates_of_host)
    if skip:
        return Decision(action=SKIP, reason=skip, **base)
    last = ms[0] if ms else None
    if attempts >= policy.max_attempts:
        return Decision(action=FAIL, migration=last,
                        reason=f"{attempts} attempts, last: {failure_reason(last, server)}",
                        **base)
    if server.task_state in REBUILD_TASKS:
        return Decision(action=FAIL, reason=f"Nova shows task {server.task_state} with no "
                        "evacuation from this host in flight; not racing it", **base)
    if server.vm_state and server.vm_state not in EVACUABLE_VM_STATES:
        return Decision(action=FAIL, reason=f"Nova cannot evacuate an instance in vm_state "
                        f"{server.vm_state}", **base)
    return Decision(action=EVACUATE, migration=last,
                    reason=f"retry after {failure_reason(last, server)}" if last else "",
                    **base)


def _decide_departed(server_id: str, ms: list[Migration], original: str | None) -> Decision:
    newest = ms[0]
    base = dict(id=server_id, name="", attempts=len(ms), original_status=original,
                migration=newest, dest_host=newest.dest_compute)
    if newest.in_flight:
        return Decision(action=WAIT, reason=f"evacuation {newest.status}", **base)
    if newest.succeeded:
        return Decision(action=SKIP, reason=f"already evacuated (migration {newest.id} "
                        f"{newest.status})", evacuated_before=True, **base)
    return Decision(action=CHECK, reason=f"evacuation {newest.status}", **base)


def _when(value: dt.datetime | None) -> str:
    return value.isoformat() if value else "an unknown time"
