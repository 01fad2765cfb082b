"""The local, append-only incident journal: one JSON object per line.

The audit trail of every recovery this machine ran (who decided what, when, with which
Nova request id), and the only incident state on a machine without a cluster. Within a
cluster nothing is decided from it: each controller has its own, and the engine moves
between them; the CIB and Nova hold what decisions need.

Each append is one ``write`` on an O_APPEND descriptor followed by fsync, so records
from concurrent writers (the engine and an operator's CLI) never interleave, and a
record written is a record kept. A line torn by a crash is skipped when reading.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import stat
import threading
from collections.abc import Iterable, Iterator

from hakari import paths
from hakari.errors import HakariError

JOURNAL_NAME = "journal.jsonl"
DIR_MODE = 0o700
FILE_MODE = 0o600


class JournalError(HakariError):
    """The journal (or its directory) cannot be used safely."""


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    ts: dt.datetime
    incident: str
    host: str
    event: str
    instance: str | None = None
    request_id: str | None = None
    detail: dict = dataclasses.field(default_factory=dict)

    def to_json(self) -> str:
        record = {"ts": self.ts.isoformat(), "incident": self.incident, "host": self.host,
                  "event": self.event}
        if self.instance is not None:
            record["instance"] = self.instance
        if self.request_id is not None:
            record["request_id"] = self.request_id
        record["detail"] = self.detail
        return json.dumps(record, separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, line: str) -> "Event | None":
        try:
            d = json.loads(line)
            ts = dt.datetime.fromisoformat(d["ts"])
            if ts.tzinfo is None:
                ts = ts.replace(tzinfo=dt.timezone.utc)
            detail = d.get("detail")
            return cls(ts=ts, incident=str(d["incident"]), host=str(d["host"]),
                       event=str(d["event"]), instance=d.get("instance"),
                       request_id=d.get("request_id"),
                       detail=detail if isinstance(detail, dict) else {})
        except (ValueError, KeyError, TypeError):
            return None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Journal:
    """Append and read ``<state_dir>/journal.jsonl``."""

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None

    @classmethod
    def open(cls, state_dir: str) -> "Journal":
        ensure_state_dir(state_dir)
        return cls(os.path.join(state_dir, JOURNAL_NAME))

    def _descriptor(self) -> int:
        if self._fd is None:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
                             | os.O_NOFOLLOW, FILE_MODE)
            except OSError as err:
                raise JournalError(f"journal {self.path}: cannot open: "
                                   f"{err.strerror or err}") from None
            st = os.fstat(fd)
            if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                os.close(fd)
                raise JournalError(f"journal {self.path}: writable by others "
                                   f"(mode {stat.S_IMODE(st.st_mode):04o}); refusing to use it")
            if st.st_size and not _ends_with_newline(self.path):
                # A crash tore the last record: start ours on a line of its own.
                os.write(fd, b"\n")
            self._fd = fd
        return self._fd

    def append(self, *events: Event) -> None:
        if not events:
            return
        data = "".join(e.to_json() + "\n" for e in events).encode()
        with self._lock:
            fd = self._descriptor()
            try:
                written = os.write(fd, data)
                while written < len(data):
                    written += os.write(fd, data[written:])
                os.fsync(fd)
            except OSError as err:
                raise JournalError(f"journal {self.path}: cannot write: "
                                   f"{err.strerror or err}") from None

    def record(self, incident: str, host: str, event: str, *, instance: str | None = None,
               request_id: str | None = None, ts: dt.datetime | None = None,
               **detail) -> Event:
        entry = Event(ts or utcnow(), incident, host, event, instance, request_id, detail)
        self.append(entry)
        return entry

    def read(self, incident: str | None = None) -> Iterator[Event]:
        """Every readable record, oldest first (optionally of one incident)."""
        try:
            f = open(self.path, encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        except OSError as err:
            raise JournalError(f"journal {self.path}: cannot read: "
                               f"{err.strerror or err}") from None
        with f:
            for line in f:
                if incident is not None and incident not in line:
                    continue
                event = Event.from_json(line)
                if event is not None and (incident is None or event.incident == incident):
                    yield event

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def ensure_state_dir(path: str) -> None:
    """Create ``path`` (0700) or check an existing one is not writable by others."""
    try:
        try:
            os.makedirs(path, mode=DIR_MODE, exist_ok=True)
        except FileExistsError:
            pass  # something that is no directory: refused below
        st = os.stat(path)
    except OSError as err:
        raise JournalError(f"state_dir {path}: {err.strerror or err}") from None
    problem = paths.dir_mode_problem(st)
    if problem:
        raise JournalError(f"state_dir {path}: {problem}; refusing to keep state there")
    if not os.access(path, os.W_OK | os.X_OK):
        raise JournalError(f"state_dir {path}: not writable by this user")


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def events_for(events: Iterable[Event], incident: str) -> list[Event]:
    return [e for e in events if e.incident == incident]
