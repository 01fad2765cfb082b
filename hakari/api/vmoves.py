"""The vm moves of a COMPUTE_HOST notification (Masakari's microversion 1.3): one per
evacuation Nova made away from the host since the loss of the incident the notification
follows.

They are read from Nova on each request, not stored. hakari's recovery runs in the
engine, on whichever controller owns the host, and keeps its requests in that
controller's journal; Nova's migrations are the one record every controller sees, also
after a crash or a takeover. Kept in the API's database, they would need a writer
following every incident and would lag behind it. A host's evacuations are at most a
few hundred, so Masakari's filters, sort, limit and marker are applied to the whole list
in memory (``select``), with the same results as SQL.

Each move's uuid is derived from the notification and the migration's (Nova 2.59+), so
every controller names it alike across restarts, and its integer id (the marker, as in
Masakari) from that uuid. Pure, except ``read``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid as uuidlib
from collections.abc import Iterable, Mapping, Sequence

from hakari.api.faults import ApiError
from hakari.nova.client import Nova
from hakari.nova.resources import MIGRATION_FAILURE, MIGRATION_SUCCESS, Migration
from hakari.recovery.host.recovery import SINCE_MARGIN

EVACUATION = "evacuation"
PENDING, ONGOING, SUCCEEDED, FAILED, IGNORED = \
    "pending", "ongoing", "succeeded", "failed", "ignored"
FINAL = frozenset({SUCCEEDED, FAILED, IGNORED})
# Accepted by Nova's API, not yet taken up by a conductor: nothing has moved yet.
_WAITING = frozenset({"accepted", "queued"})
# Called off before it ended: neither done nor failed.
_CALLED_OFF = frozenset({"cancelled"})
# Masakari sorts on any column of its table.
KEYS = ("id", "uuid", "notification_uuid", "instance_uuid", "instance_name",
        "source_host", "dest_host", "start_time", "end_time", "type", "status",
        "message", "created_at", "updated_at")
FILTERS = ("status", "type")
# Fixed forever: every controller must derive the same uuids.
_NAMESPACE = uuidlib.UUID("6c1b0f4e-58a4-4d8e-9a63-2f0d3c1e7a55")
_STAMP = "%Y%m%dT%H%M%SZ"


@dataclasses.dataclass(frozen=True, slots=True)
class VMove:
    id: int
    uuid: str
    notification_uuid: str
    instance_uuid: str
    instance_name: str | None       # None: the server is gone from Nova
    source_host: str | None
    dest_host: str | None
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    type: str
    status: str
    message: str
    created_at: dt.datetime | None
    updated_at: dt.datetime | None


def status(nova_status: str) -> str:
    """A Nova migration status as a vm move status."""
    if nova_status in MIGRATION_SUCCESS:
        return SUCCEEDED
    if nova_status in MIGRATION_FAILURE:
        return FAILED
    if nova_status in _CALLED_OFF:
        return IGNORED
    if nova_status in _WAITING:
        return PENDING
    return ONGOING


def vmove_uuid(notification_uuid: str, migration_id: str) -> str:
    # With the notification: two notifications of one incident show distinct moves.
    return str(uuidlib.uuid5(_NAMESPACE, f"{notification_uuid}/{migration_id}"))


def number(move_uuid: str) -> int:
    """The integer id of a move: 52 bits of its uuid, exact in any JSON client."""
    return int(uuidlib.UUID(move_uuid).hex[:13], 16)


def from_migration(notification_uuid: str, m: Migration, name: str | None) -> VMove:
    moved = status(m.status)
    ident = vmove_uuid(notification_uuid, m.id)
    return VMove(number(ident), ident, notification_uuid, m.server_id, name,
                 m.source_compute, m.dest_compute, m.created_at,
                 m.updated_at if moved in FINAL else None, EVACUATION, moved,
                 f"Nova migration {m.id}: {m.status}", m.created_at, m.updated_at)


def lost_at(incident_id: str) -> dt.datetime | None:
    """When the host of a host incident was lost, to the second, from its id
    (hakari.records.store.incident_id); None for another kind of id."""
    try:
        return dt.datetime.strptime(incident_id.rpartition("-")[2], _STAMP).replace(
            tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def window(incident: str, others: Iterable[str]
           ) -> tuple[dt.datetime, dt.datetime | None] | None:
    """(since, until) of the evacuations that belong to ``incident``: from its loss
    (less the margin the recovery itself allows) to the loss of the next incident of
    the same host among ``others``, if any; None when the id gives no loss time."""
    began = lost_at(incident)
    if began is None:
        return None
    later = [t for t in map(lost_at, others) if t is not None and t > began]
    return began - SINCE_MARGIN, (min(later) - SINCE_MARGIN if later else None)


def before(migrations: Iterable[Migration], until: dt.datetime | None) -> list[Migration]:
    """The migrations created before ``until`` (None: all; an undated one is kept, as
    Nova.evacuations keeps it)."""
    return [m for m in migrations
            if until is None or m.created_at is None or m.created_at < until]


def moves(notification_uuid: str, migrations: Iterable[Migration],
          names: Mapping[str, str]) -> list[VMove]:
    return [from_migration(notification_uuid, m, names.get(m.server_id))
            for m in migrations]


def read(nova: Nova, notification_uuid: str, host: str, since: dt.datetime,
         until: dt.datetime | None) -> list[VMove]:
    """The moves from Nova compute ``host`` in [since, until). Names from one listing
    of the servers changed since (one request per page of them): an evacuated server
    changed then; a deleted one keeps no name. NovaError goes to the caller."""
    migrations = before(nova.evacuations(host, since=since), until)
    if not migrations:
        return []
    names = {s.id: s.name for s in nova.servers_changed_since(since)}
    return moves(notification_uuid, migrations, names)


def _sortable(value) -> tuple:
    # NULL sorts as the smallest value, as SQLite and MySQL (Masakari's list) sort it.
    return (value is not None, value if value is not None else 0)


def _after(v: VMove, marker: VMove, order: Sequence[tuple[str, str]]) -> bool:
    for key, direction in order:
        a, b = _sortable(getattr(v, key)), _sortable(getattr(marker, key))
        if a != b:
            return a > b if direction == "asc" else a < b
    return False


def select(found: Sequence[VMove], filters: Mapping[str, str],
           order: Sequence[tuple[str, str]], limit: int, marker: int | None
           ) -> list[VMove]:
    """One page of ``found`` as Masakari's list gives it: filtered (``FILTERS``),
    sorted by ``order`` (validation.sorting: it ends with the unique id), after the
    move whose id is ``marker`` (400 when there is none), at most ``limit``."""
    chosen = [v for v in found if all(getattr(v, k) == want for k, want in filters.items())]
    for key, direction in reversed(order):
        chosen.sort(key=lambda v: _sortable(getattr(v, key)), reverse=direction == "desc")
    if marker is not None:
        last = next((v for v in found if v.id == marker), None)
        if last is None:
            raise ApiError(400, f"Marker {marker} could not be found.")
        chosen = [v for v in chosen if _after(v, last, order)]
    return chosen[:limit]


def find(found: Iterable[VMove], notification_uuid: str, ident: str) -> VMove:
    """The move by its uuid (as Masakari finds it) or its integer id (what
    openstacksdk's VMove passes back); 404 otherwise."""
    for v in found:
        if ident in (v.uuid, str(v.id)):
            return v
    raise ApiError(404, f"VM move {ident} of notification {notification_uuid} could not "
                        "be found.")
