"""Segments, hosts and notifications in the API's database (hakari.api.db).

Each method is one transaction. What Masakari refuses, this refuses the same way before
anything is written: ApiError 404 for an unknown segment, host or notification, 409 for
a duplicate name, for a segment or host whose notifications are still being handled,
for a notification from a host on maintenance or a duplicate notification, 400 for a
notification from a host no segment has.

A change to segments or hosts hands its (before, after) hosts to ``then`` inside the
transaction, after its statements and before the commit: the API writes them to the
CIB there (hakari.api.membership), and when that fails nothing is stored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import uuid as uuidlib
from collections.abc import Callable, Iterable, Mapping, Sequence

from sqlalchemy import and_, delete, false, insert, literal, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from hakari.api import db, statuses
from hakari.api.faults import ApiError
from hakari.records.journal import utcnow

# Sortable columns of each list (Masakari sorts on any column of its model).
SEGMENT_KEYS = ("id", "uuid", "name", "service_type", "enabled", "description",
                "recovery_method", "created_at", "updated_at")
HOST_KEYS = ("id", "uuid", "name", "type", "control_attributes", "reserved",
             "on_maintenance", "created_at", "updated_at")
NOTIFICATION_KEYS = ("id", "notification_uuid", "type", "generated_time",
                     "source_host_uuid", "failover_segment_uuid", "status", "created_at",
                     "updated_at")


@dataclasses.dataclass(frozen=True, slots=True)
class Segment:
    id: int
    uuid: str
    name: str
    service_type: str
    enabled: bool
    description: str | None
    recovery_method: str
    created_at: dt.datetime
    updated_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class Host:
    id: int
    uuid: str
    name: str
    segment: Segment
    type: str | None
    control_attributes: str | None
    reserved: bool
    on_maintenance: bool
    created_at: dt.datetime
    updated_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class Notification:
    id: int
    notification_uuid: str
    type: str
    hostname: str
    generated_time: dt.datetime
    source_host_uuid: str
    failover_segment_uuid: str
    payload: dict
    status: str
    message: str | None
    request_id: str | None
    incident: str | None
    worker: str | None
    created_at: dt.datetime
    updated_at: dt.datetime | None


# (before, after) of each host a request changes; None: not there before, or gone after.
Changes = Sequence[tuple["Host | None", "Host | None"]]
Then = Callable[[Changes], None]


def _nothing(changes: Changes) -> None:
    pass


def _segment(row) -> Segment:
    m = row._mapping
    return Segment(m["id"], m["uuid"], m["name"], m["service_type"], bool(m["enabled"]),
                   m["description"], m["recovery_method"], db.from_db(m["created_at"]),
                   db.from_db(m["updated_at"]))


def _notification(row) -> Notification:
    m = row._mapping
    return Notification(
        m["id"], m["notification_uuid"], m["type"], m["hostname"],
        db.from_db(m["generated_time"]), m["source_host_uuid"],
        m["failover_segment_uuid"], json.loads(m["payload"]), m["status"], m["message"],
        m["request_id"], m["incident"], m["worker"], db.from_db(m["created_at"]),
        db.from_db(m["updated_at"]))


def _segment_missing(segment_uuid: str) -> ApiError:
    return ApiError(404, f"Failover segment {segment_uuid} could not be found.")


def _host_missing(host_uuid: str) -> ApiError:
    return ApiError(404, f"Host {host_uuid} could not be found.")


def _after(table, order: list[tuple[str, str]], marker) -> object:
    """Rows after ``marker`` in ``order`` ((column, asc|desc)…, ending with the unique
    id). NULL sorts as the smallest value, as SQLite and MySQL sort it."""
    clauses = []
    for i, (key, direction) in enumerate(order):
        col, raw = table.c[key], marker._mapping[key]
        # A literal of the column's type: SQLAlchemy compares booleans no other way.
        value = None if raw is None else literal(raw, col.type)
        same = [table.c[k].is_(None) if marker._mapping[k] is None
                else table.c[k] == literal(marker._mapping[k], table.c[k].type)
                for k, _ in order[:i]]
        if direction == "asc":
            beyond = col.is_not(None) if value is None else col > value
        else:
            beyond = false() if value is None else or_(col < value, col.is_(None))
        clauses.append(and_(*same, beyond))
    return or_(*clauses)


class Records:
    def __init__(self, engine: Engine):
        self.engine = engine
        # The duplicate check and the insert of a notification are one step within this
        # process (Masakari serializes them the same way, per API process).
        self._intake = threading.Lock()

    @classmethod
    def open(cls, url: str, state_dir: str) -> "Records":
        return cls(db.connect(url, state_dir))

    # -- lists ----------------------------------------------------------------------------

    def _page(self, conn, table, query, order, limit: int, marker: int | None):
        if limit == 0:
            return []
        if marker is not None:
            row = conn.execute(select(table).where(table.c.id == marker)).first()
            if row is None:
                raise ApiError(400, f"Marker {marker} could not be found.")
            query = query.where(_after(table, order, row))
        columns = [table.c[k].asc() if d == "asc" else table.c[k].desc() for k, d in order]
        return conn.execute(query.order_by(*columns).limit(limit)).all()

    # -- segments -------------------------------------------------------------------------

    def segments(self, filters: Mapping, order, limit: int, marker: int | None
                 ) -> list[Segment]:
        t = db.segments
        query = select(t).where(*[t.c[k] == v for k, v in filters.items()])
        with self.engine.connect() as conn:
            return [_segment(r) for r in self._page(conn, t, query, order, limit, marker)]

    def segment(self, segment_uuid: str, conn=None) -> Segment:
        if conn is None:
            with self.engine.connect() as conn:
                return self.segment(segment_uuid, conn)
        row = conn.execute(select(db.segments).where(
            db.segments.c.uuid == segment_uuid)).first()
        if row is None:
            raise _segment_missing(segment_uuid)
        return _segment(row)

    def create_segment(self, values: Mapping) -> Segment:
        row = {**values, "uuid": str(uuidlib.uuid4()), "created_at": db.to_db(utcnow()),
               "updated_at": None}
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(db.segments).values(**row))
                return self.segment(row["uuid"], conn)
        except IntegrityError:
            raise ApiError(409, f"Failover segment with name {values['name']} already "
                                "exists.") from None

    def update_segment(self, segment_uuid: str, values: Mapping, then: Then = _nothing
                       ) -> Segment:
        try:
            with self.engine.begin() as conn:
                self.segment(segment_uuid, conn)
                self._refuse_in_use(conn, segment_uuid,
                                    f"Failover segment {segment_uuid} can't be updated")
                members = db.hosts.c.segment_uuid == segment_uuid
                before = self._hosts(conn, members)
                conn.execute(update(db.segments).where(db.segments.c.uuid == segment_uuid)
                             .values(**values, updated_at=db.to_db(utcnow())))
                after = {h.uuid: h for h in self._hosts(conn, members)}
                then([(h, after[h.uuid]) for h in before])
                return self.segment(segment_uuid, conn)
        except IntegrityError:
            raise ApiError(409, f"Failover segment with name {values.get('name')} already "
                                "exists.") from None

    def delete_segment(self, segment_uuid: str, then: Then = _nothing) -> None:
        with self.engine.begin() as conn:
            self.segment(segment_uuid, conn)
            self._refuse_in_use(conn, segment_uuid,
                                f"Failover segment {segment_uuid} can't be deleted")
            before = self._hosts(conn, db.hosts.c.segment_uuid == segment_uuid)
            # Its hosts go with it, as in Masakari.
            conn.execute(delete(db.hosts).where(db.hosts.c.segment_uuid == segment_uuid))
            conn.execute(delete(db.segments).where(db.segments.c.uuid == segment_uuid))
            then([(h, None) for h in before])

    def _refuse_in_use(self, conn, segment_uuid: str, what: str) -> None:
        members = select(db.hosts.c.uuid).where(db.hosts.c.segment_uuid == segment_uuid)
        n = db.notifications.c
        busy = conn.execute(select(n.id).where(
            n.source_host_uuid.in_(members), n.status.in_(statuses.OPEN)).limit(1)).first()
        if busy is not None:
            raise ApiError(409, f"{what} as it is in use to process notifications.")

    # -- hosts ----------------------------------------------------------------------------

    def _hosts(self, conn, *where) -> list[Host]:
        h, s = db.hosts, db.segments
        rows = conn.execute(select(h, s).join(s, s.c.uuid == h.c.segment_uuid)
                            .where(*where)).all()
        return [self._host(r) for r in rows]

    @staticmethod
    def _host(row) -> Host:
        m = row._mapping
        h, s = db.hosts.c, db.segments.c
        segment = Segment(m[s.id], m[s.uuid], m[s.name], m[s.service_type],
                          bool(m[s.enabled]), m[s.description], m[s.recovery_method],
                          db.from_db(m[s.created_at]), db.from_db(m[s.updated_at]))
        return Host(m[h.id], m[h.uuid], m[h.name], segment, m[h.type],
                    m[h.control_attributes], bool(m[h.reserved]), bool(m[h.on_maintenance]),
                    db.from_db(m[h.created_at]), db.from_db(m[h.updated_at]))

    def hosts(self, segment_uuid: str, filters: Mapping, order, limit: int,
              marker: int | None) -> list[Host]:
        h = db.hosts
        with self.engine.connect() as conn:
            segment = self.segment(segment_uuid, conn)
            query = select(h).where(h.c.segment_uuid == segment_uuid,
                                    *[h.c[k] == v for k, v in filters.items()])
            rows = self._page(conn, h, query, order, limit, marker)
        return [self._with_segment(r, segment) for r in rows]

    @staticmethod
    def _with_segment(row, segment: Segment) -> Host:
        m = row._mapping
        return Host(m["id"], m["uuid"], m["name"], segment, m["type"],
                    m["control_attributes"], bool(m["reserved"]), bool(m["on_maintenance"]),
                    db.from_db(m["created_at"]), db.from_db(m["updated_at"]))

    def host(self, segment_uuid: str, host_uuid: str, conn=None) -> Host:
        if conn is None:
            with self.engine.connect() as conn:
                return self.host(segment_uuid, host_uuid, conn)
        self.segment(segment_uuid, conn)
        found = self._hosts(conn, db.hosts.c.uuid == host_uuid,
                            db.hosts.c.segment_uuid == segment_uuid)
        if not found:
            raise _host_missing(host_uuid)
        return found[0]

    def host_by_uuid(self, host_uuid: str) -> Host | None:
        with self.engine.connect() as conn:
            found = self._hosts(conn, db.hosts.c.uuid == host_uuid)
        return found[0] if found else None

    def create_host(self, segment_uuid: str, values: Mapping, then: Then = _nothing
                    ) -> Host:
        row = {**values, "uuid": str(uuidlib.uuid4()), "segment_uuid": segment_uuid,
               "created_at": db.to_db(utcnow()), "updated_at": None}
        try:
            with self.engine.begin() as conn:
                self.segment(segment_uuid, conn)
                conn.execute(insert(db.hosts).values(**row))
                host = self.host(segment_uuid, row["uuid"], conn)
                then([(None, host)])
                return host
        except IntegrityError:
            raise ApiError(409, f"Host with name {values['name']} already exists.") from None

    def update_host(self, segment_uuid: str, host_uuid: str, values: Mapping,
                    then: Then = _nothing) -> Host:
        try:
            with self.engine.begin() as conn:
                before = self.host(segment_uuid, host_uuid, conn)
                self._refuse_in_use(conn, segment_uuid, f"Host {host_uuid} can't be updated")
                conn.execute(update(db.hosts).where(db.hosts.c.uuid == host_uuid)
                             .values(**values, updated_at=db.to_db(utcnow())))
                host = self.host(segment_uuid, host_uuid, conn)
                then([(before, host)])
                return host
        except IntegrityError:
            raise ApiError(409, f"Host with name {values.get('name')} already "
                                "exists.") from None

    def delete_host(self, segment_uuid: str, host_uuid: str, then: Then = _nothing
                    ) -> None:
        with self.engine.begin() as conn:
            before = self.host(segment_uuid, host_uuid, conn)
            self._refuse_in_use(conn, segment_uuid, f"Host {host_uuid} can't be deleted")
            conn.execute(delete(db.hosts).where(db.hosts.c.uuid == host_uuid))
            then([(before, None)])

    def host_names(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(db.hosts.c.name)).scalars())

    def refresh_flags(self, flags: Mapping[str, tuple[bool, bool]]) -> None:
        """Copy ``flags`` (host name -> (reserved, on_maintenance), from the CIB where
        they live) into the rows that differ: what lists filter and sort on."""
        c = db.hosts.c
        with self.engine.begin() as conn:
            stored = {r.name: (bool(r.reserved), bool(r.on_maintenance)) for r in
                      conn.execute(select(c.name, c.reserved, c.on_maintenance))}
            for name, (reserved, maintenance) in flags.items():
                if stored.get(name, (reserved, maintenance)) != (reserved, maintenance):
                    conn.execute(update(db.hosts).where(c.name == name).values(
                        reserved=reserved, on_maintenance=maintenance))

    # -- notifications --------------------------------------------------------------------

    def create_notification(self, values: Mapping, *, duplicate_interval: float,
                            request_id: str) -> Notification:
        """Store a notification as new, unless Masakari would refuse it."""
        n = db.notifications
        with self._intake, self.engine.begin() as conn:
            found = self._hosts(conn, db.hosts.c.name == values["hostname"])
            if not found:
                raise ApiError(400, f"Host with name {values['hostname']} could not be "
                                    "found.")
            host = found[0]
            if host.on_maintenance:
                raise ApiError(409, f"Notification received from host {host.name} of type "
                                    f"'{values['type']}' is ignored as the host is already "
                                    "under maintenance.")
            since = values["generated_time"] - dt.timedelta(seconds=duplicate_interval)
            earlier = conn.execute(select(n.c.payload).where(
                n.c.type == values["type"], n.c.source_host_uuid == host.uuid,
                n.c.generated_time >= db.to_db(since))).scalars()
            if any(json.loads(p) == values["payload"] for p in earlier):
                raise ApiError(409, f"Notification received from host {host.name} of type "
                                    f"{values['type']} is duplicate.")
            row = {"notification_uuid": str(uuidlib.uuid4()), "type": values["type"],
                   "hostname": host.name,
                   "generated_time": db.to_db(values["generated_time"]),
                   "source_host_uuid": host.uuid,
                   "failover_segment_uuid": host.segment.uuid,
                   "payload": json.dumps(values["payload"], sort_keys=True),
                   "status": statuses.NEW, "message": None, "request_id": request_id,
                   "incident": None, "worker": None, "created_at": db.to_db(utcnow()),
                   "updated_at": None}
            conn.execute(insert(n).values(**row))
            return self.notification(row["notification_uuid"], conn)

    def notifications(self, filters: Mapping, order, limit: int, marker: int | None,
                      generated_since: dt.datetime | None = None) -> list[Notification]:
        n = db.notifications
        where = [n.c[k] == v for k, v in filters.items()]
        if generated_since is not None:
            where.append(n.c.generated_time >= db.to_db(generated_since))
        with self.engine.connect() as conn:
            rows = self._page(conn, n, select(n).where(*where), order, limit, marker)
        return [_notification(r) for r in rows]

    def notification(self, notification_uuid: str, conn=None) -> Notification:
        if conn is None:
            with self.engine.connect() as conn:
                return self.notification(notification_uuid, conn)
        row = conn.execute(select(db.notifications).where(
            db.notifications.c.notification_uuid == notification_uuid)).first()
        if row is None:
            raise ApiError(404, f"No notification with id {notification_uuid}.")
        return _notification(row)

    def incidents_of(self, hostname: str, kind: str) -> list[str]:
        """The incidents the notifications of type ``kind`` from ``hostname`` are
        attached to."""
        n = db.notifications.c
        with self.engine.connect() as conn:
            return list(conn.execute(select(n.incident).distinct().where(
                n.hostname == hostname, n.type == kind, n.incident.is_not(None))).scalars())

    def claim(self, notification_uuid: str, worker: str, *,
              stale_before: dt.datetime | None = None) -> bool:
        """Take a new notification to run (running, by ``worker``): true for exactly one
        claimant however many processes try. With ``stale_before``: a running one whose
        worker has not been heard of since then (it died) is taken over instead."""
        n = db.notifications.c
        if stale_before is None:
            cond = n.status == statuses.NEW
        else:
            cond = and_(n.status == statuses.RUNNING,
                        or_(n.updated_at.is_(None), n.updated_at < db.to_db(stale_before)))
        with self.engine.begin() as conn:
            done = conn.execute(update(db.notifications).where(
                n.notification_uuid == notification_uuid, cond).values(
                status=statuses.RUNNING, worker=worker, updated_at=db.to_db(utcnow())))
            return done.rowcount == 1

    def progress(self, notification_uuid: str, worker: str, *, message: str | None = None,
                 incident: str | None = None) -> None:
        """What a running notification is doing now; also its worker's heartbeat."""
        values = {"updated_at": db.to_db(utcnow())}
        if message is not None:
            values["message"] = message
        if incident is not None:
            values["incident"] = incident
        n = db.notifications.c
        with self.engine.begin() as conn:
            conn.execute(update(db.notifications).where(
                n.notification_uuid == notification_uuid, n.worker == worker,
                n.status == statuses.RUNNING).values(**values))

    def finish(self, notification_uuid: str, worker: str, status: str, message: str,
               incident: str | None = None) -> bool:
        """Record the outcome of a running notification this worker holds."""
        statuses.check(statuses.RUNNING, status)
        n = db.notifications.c
        values = {"status": status, "message": message, "updated_at": db.to_db(utcnow())}
        if incident is not None:
            values["incident"] = incident
        with self.engine.begin() as conn:
            done = conn.execute(update(db.notifications).where(
                n.notification_uuid == notification_uuid, n.worker == worker,
                n.status == statuses.RUNNING).values(**values))
            return done.rowcount == 1

    def touch(self, notification_uuids: Iterable[str], worker: str) -> None:
        uuids = list(notification_uuids)
        if not uuids:
            return
        n = db.notifications.c
        with self.engine.begin() as conn:
            conn.execute(update(db.notifications).where(
                n.notification_uuid.in_(uuids), n.worker == worker,
                n.status == statuses.RUNNING).values(updated_at=db.to_db(utcnow())))

    def unclaimed(self, created_before: dt.datetime, stale_before: dt.datetime,
                  limit: int = 100) -> list[tuple[str, bool]]:
        """(uuid, stale) of notifications nobody runs: new ones older than
        ``created_before`` (their process died before taking them) and running ones
        whose worker's heartbeat stopped before ``stale_before``."""
        n = db.notifications.c
        with self.engine.connect() as conn:
            fresh = conn.execute(select(n.notification_uuid).where(
                n.status == statuses.NEW, n.created_at < db.to_db(created_before))
                .order_by(n.id).limit(limit)).scalars().all()
            stale = conn.execute(select(n.notification_uuid).where(
                n.status == statuses.RUNNING,
                or_(n.updated_at.is_(None), n.updated_at < db.to_db(stale_before)))
                .order_by(n.id).limit(limit)).scalars().all()
        return [(u, False) for u in fresh] + [(u, True) for u in stale]
