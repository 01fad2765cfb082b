"""The API's tables in SQL, through SQLAlchemy: segments, hosts, notifications.

Any SQLAlchemy URL works ([api] connection): the cloud's MySQL/Galera so that every
controller serves the same records, or by default an SQLite file in the state
directory. The schema is made by ``create_all`` (which adds only missing tables) and
versioned by the one row of ``hakari_api_schema``: a database written by a newer hakari
is refused rather than misread. There are no migrations yet; the first schema change
will add them here, keyed on that version.

Times are stored as naive UTC (MySQL's DATETIME has no zone, with microseconds) and
handed out aware.
"""

from __future__ import annotations

import datetime as dt
import os

from sqlalchemy import (Boolean, Column, DateTime, Index, Integer, MetaData, String,
                        Table, Text, create_engine, event, insert, select)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from hakari.display import one_line
from hakari.errors import HakariError
from hakari.records.journal import ensure_state_dir

SCHEMA_VERSION = 1
SQLITE_NAME = "api.sqlite"
# Seconds an SQLite writer waits for another (a request, a notification's worker).
SQLITE_BUSY_TIMEOUT = 30

_TIME = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
metadata = MetaData()

segments = Table(
    "segments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("service_type", String(255), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("description", Text),
    Column("recovery_method", String(255), nullable=False),
    Column("created_at", _TIME, nullable=False),
    Column("updated_at", _TIME),
)

hosts = Table(
    "hosts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
    # One host belongs to one segment: names are unique across segments, as in Masakari.
    Column("name", String(255), nullable=False, unique=True),
    Column("segment_uuid", String(36), nullable=False, index=True),
    Column("type", String(255)),
    Column("control_attributes", Text),
    Column("reserved", Boolean, nullable=False),
    Column("on_maintenance", Boolean, nullable=False),
    Column("created_at", _TIME, nullable=False),
    Column("updated_at", _TIME),
)

notifications = Table(
    "notifications", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notification_uuid", String(36), nullable=False, unique=True),
    Column("type", String(32), nullable=False),
    Column("hostname", String(255), nullable=False),
    Column("generated_time", _TIME, nullable=False),
    Column("source_host_uuid", String(36), nullable=False),
    Column("failover_segment_uuid", String(36), nullable=False),
    Column("payload", Text, nullable=False),           # JSON
    Column("status", String(16), nullable=False),
    Column("message", Text),
    # The request that created it (x-openstack-request-id), for the journal.
    Column("request_id", String(64)),
    # The hakari incident (host, process or instance failure) it is attached to.
    Column("incident", String(255)),
    # Which `hakari api` process runs it; its heartbeat is updated_at (records.sweep).
    Column("worker", String(255)),
    Column("created_at", _TIME, nullable=False),
    Column("updated_at", _TIME),
    Index("notifications_duplicates", "source_host_uuid", "type", "generated_time"),
    Index("notifications_status", "status"),
)

schema = Table("hakari_api_schema", metadata,
               Column("version", Integer, nullable=False))


class DatabaseError(HakariError):
    """The API's database cannot be used."""


def default_url(state_dir: str) -> str:
    return f"sqlite:///{os.path.join(state_dir, SQLITE_NAME)}"


def connect(url: str, state_dir: str) -> Engine:
    """An engine on ``url`` (empty: the SQLite file in ``state_dir``) with the schema in
    place; DatabaseError (one line) when it cannot be reached or is of a newer hakari."""
    if not url:
        ensure_state_dir(state_dir)
        url = default_url(state_dir)
        path = os.path.join(state_dir, SQLITE_NAME)
        try:
            # Private like the journal (SQLite gives its -wal and -shm files this mode).
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW,
                             0o600))
        except OSError as err:
            raise DatabaseError(f"API database {path}: {err.strerror or err}") from None
    try:
        engine = _engine(url)
        with engine.begin() as conn:
            metadata.create_all(conn)
            found = conn.execute(select(schema.c.version)).scalars().all()
            if not found:
                conn.execute(insert(schema).values(version=SCHEMA_VERSION))
            elif max(found) > SCHEMA_VERSION:
                raise DatabaseError(
                    f"API database schema version {max(found)} was written by a newer "
                    f"hakari (this one knows {SCHEMA_VERSION}): upgrade hakari")
    except ArgumentError as err:
        raise DatabaseError(f"[api] connection: {one_line(err)}") from None
    except (SQLAlchemyError, ImportError) as err:
        # ImportError: the URL names a database driver that is not installed.
        raise DatabaseError(f"API database: {one_line(err)}") from None
    return engine


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        # pool_pre_ping: a Galera node or proxy that dropped an idle connection costs a
        # reconnect, not a failed request.
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT,
                                              "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, record):
        # WAL: readers (list requests) never wait for the writer (a recovery's update).
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


def to_db(when: dt.datetime | None) -> dt.datetime | None:
    if when is None:
        return None
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None)


def from_db(when: dt.datetime | None) -> dt.datetime | None:
    return None if when is None else when.replace(tzinfo=dt.timezone.utc)
