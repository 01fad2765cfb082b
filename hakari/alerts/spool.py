"""The engine's side of the alert spool.

    spool = Spool(conf.state_dir)
    with WakeSocket(conf.state_dir) as wake:       # bound before the first scan
        while running:
            for item in spool.pending():            # oldest first; bad files quarantined
                handle(item.event)                  # an events.AlertEvent
                spool.ack(item.name)                # moved to spool-done/ (dedupe memory)
            spool.prune()                           # done/ and stale temp files
            wake.wait(conf.cluster.reconcile_interval)

Files in the spool are written by the alert agent (spoolio, record). An event stays
pending until acknowledged, so nothing is lost while the engine is down; acknowledged
names stay in done/ for ``done_max_age`` so a late copy of the same event (another
recipient) is not spooled again. Spool files are never trusted: a file that is too big,
not JSON, of the wrong shape, or whose name does not match its content is moved to
quarantine/ with a ``.why`` note, and the scan goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import grp
import json
import os
import re
import select
import socket
import stat
import time

from hakari import paths
from hakari.alerts.events import AlertEvent, BadRecord
from hakari.alerts.spoolio import TMP_MAX_AGE, TMP_PREFIX, sweep

MAX_FILE_BYTES = 64 * 1024
DONE_MAX_AGE = 24 * 3600.0
_NAME = re.compile(r"(node|fencing|resource|attribute)-[0-9a-f]{32}\.json")


@dataclasses.dataclass(frozen=True, slots=True)
class SpooledEvent:
    name: str
    event: AlertEvent


@dataclasses.dataclass(frozen=True, slots=True)
class Quarantined:
    name: str
    reason: str


class Spool:
    """The engine's view of the spool. hacluster owns spool/ and may have put anything
    there (links, FIFOs, directories, files of any size): every file is reached through
    a descriptor of its directory, opened without following links or blocking, and
    taken only if it is a regular file. Root's own directories (done, quarantine) sit
    beside spool/ in the state directory, where hacluster cannot write."""

    def __init__(self, state_dir: str):
        self.dir = paths.spool_dir(state_dir)
        self.done_dir = paths.done_dir(state_dir)
        self.quarantine_dir = paths.quarantine_dir(state_dir)
        # What the last pending() moved aside, for the engine to report.
        self.quarantined: list[Quarantined] = []
        # Entries the last pending() could not even quarantine, and acknowledgements
        # that failed since: retried at every scan, for the engine to report.
        self.stuck: dict[str, str] = {}

    def pending(self) -> list[SpooledEvent]:
        """Every spooled, unacknowledged event, oldest first. Never raises for a bad
        entry: it is quarantined (or, if even that fails, left and named in stuck)."""
        self.quarantined = []
        self.stuck = {}
        items = []
        try:
            with _dir_fd(self.dir) as fd:
                names = [e.name for e in os.scandir(fd) if not e.name.startswith(".")]
                for name in names:
                    try:
                        items.append(SpooledEvent(name, self._read(fd, name)))
                    except FileNotFoundError:
                        continue  # acknowledged meanwhile
                    except (BadRecord, OSError) as err:
                        self.quarantine(name, str(err))
        except FileNotFoundError:
            return []
        items.sort(key=lambda item: item.event.order)
        return items

    def read(self, name: str) -> AlertEvent:
        """The event in spool file ``name``; BadRecord if it is damaged."""
        with _dir_fd(self.dir) as fd:
            return self._read(fd, name)

    def _read(self, dir_fd: int, name: str) -> AlertEvent:
        if not _NAME.fullmatch(name):
            raise BadRecord("not a spool file name")
        if not stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            raise BadRecord("not a regular file")
        # O_NONBLOCK: should the entry be swapped for a FIFO after the check, the open
        # returns at once instead of hanging the engine; fstat then refuses it.
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                     | os.O_CLOEXEC, dir_fd=dir_fd)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise BadRecord("not a regular file")
            data = f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise BadRecord(f"larger than {MAX_FILE_BYTES} bytes")
        try:
            record = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BadRecord("not JSON") from None
        event = AlertEvent.from_record(record)
        if event.spool_name != name:
            raise BadRecord("file name does not match the event")
        return event

    def ack(self, name: str) -> None:
        """Done with this event. Idempotent. One that cannot be moved is named in stuck
        and comes back at the next scan: handling an event twice is harmless."""
        try:
            self._move(name, self.done_dir)
        except OSError as err:
            self.stuck[name] = f"cannot acknowledge: {err.strerror or err}"

    def quarantine(self, name: str, reason: str) -> None:
        """Move a file the engine cannot use out of the way, with a note saying why."""
        try:
            moved = self._move(name, self.quarantine_dir)
        except OSError as err:
            self.stuck[name] = f"{reason}; cannot quarantine: {err.strerror or err}"
            return
        if moved:
            self.quarantined.append(Quarantined(name, reason))
            try:
                with _dir_fd(self.quarantine_dir) as qfd:
                    fd = os.open(name + ".why", os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                                 | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o640,
                                 dir_fd=qfd)
                    with os.fdopen(fd, "w", encoding="utf-8") as f:
                        f.write(reason + "\n")
            except OSError:
                pass  # the note is a courtesy; the move is what protects the engine

    def prune(self, now: float | None = None, done_max_age: float = DONE_MAX_AGE,
              tmp_max_age: float = TMP_MAX_AGE,
              pending_max_age: float | None = None) -> int:
        """Forget acknowledged events older than done_max_age, and temporary files of
        alerts killed mid-write. Pending events only with pending_max_age (by default
        never: an engine that was down still gets them). Returns the count."""
        now = time.time() if now is None else now
        sweeps = [(self.done_dir, "", done_max_age), (self.dir, TMP_PREFIX, tmp_max_age)]
        if pending_max_age is not None:
            sweeps.append((self.dir, "", pending_max_age))
        return sum(sweep(directory, prefix, max_age, now)
                   for directory, prefix, max_age in sweeps)

    def _move(self, name: str, directory: str) -> bool:
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"bad spool file name {name!r}")
        try:
            os.mkdir(directory, 0o750)
        except FileExistsError:
            pass
        with _dir_fd(self.dir) as src, _dir_fd(directory) as dst:
            try:
                # rename moves the entry itself, link or not, never what it points to.
                os.rename(name, name, src_dir_fd=src, dst_dir_fd=dst)
                return True
            except FileNotFoundError:
                return False


@contextlib.contextmanager
def _dir_fd(path: str):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


class WakeSocket:
    """The datagram socket alerts nudge (``<state_dir>/wake.sock``).

    The engine binds it before its first spool scan, so an alert spooled after that scan
    always wakes it. Writable by group haclient (the alert runs as hacluster); the state
    directory keeps everyone else away.
    """

    def __init__(self, state_dir: str, group: str | None = paths.CLUSTER_GROUP):
        self.path = paths.wake_socket(state_dir)
        self.group = group
        self.sock: socket.socket | None = None

    def open(self) -> "WakeSocket":
        try:
            os.unlink(self.path)  # left by an engine that was killed
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                             | socket.SOCK_NONBLOCK)
        try:
            sock.bind(self.path)
            os.chmod(self.path, 0o660)
            gid = _gid(self.group)
            if gid is not None and os.geteuid() == 0:
                os.chown(self.path, -1, gid)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        return self

    def fileno(self) -> int:
        return self.sock.fileno()

    def wait(self, timeout: float) -> list[str]:
        """Block up to timeout seconds for a nudge; the spool names received (possibly
        none: a timeout, or a nudge without a name)."""
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        return self.drain() if ready else []

    def drain(self, limit: int = 512) -> list[str]:
        """The names of the nudges waiting, at most ``limit`` of them: a sender that
        never pauses cannot keep the caller here."""
        names = []
        for _ in range(limit):
            try:
                data = self.sock.recv(512)
            except (BlockingIOError, InterruptedError):
                break
            name = data.decode("ascii", "replace")
            if _NAME.fullmatch(name):
                names.append(name)
        return names

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> "WakeSocket":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


def _gid(group: str | None) -> int | None:
    if not group:
        return None
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None
