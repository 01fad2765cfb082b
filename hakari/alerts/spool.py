"""The engine's side of the alert spool.

    spool = Spool(conf.state_dir)
    with WakeSocket(conf.state_dir) as wake:       # bound before the first scan
        while running:
            for item in spool.pending():            # oldest first; bad files quarantined
                handle(item.event)                  # an events.AlertEvent
                spool.ack(item.name)                # moved to spool/done/ (dedupe memory)
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

import dataclasses
import json
import os
import re
import select
import socket
import stat
import time

from hakari import paths
from hakari.alerts.events import AlertEvent, BadRecord
from hakari.alerts.spoolio import TMP_PREFIX

MAX_FILE_BYTES = 64 * 1024
DONE_MAX_AGE = 24 * 3600.0
TMP_MAX_AGE = 600.0
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
    def __init__(self, state_dir: str):
        self.dir = paths.spool_dir(state_dir)
        self.done_dir = os.path.join(self.dir, paths.SPOOL_DONE_DIR)
        self.quarantine_dir = os.path.join(self.dir, paths.SPOOL_QUARANTINE_DIR)
        # What the last pending() moved aside, for the engine to report.
        self.quarantined: list[Quarantined] = []

    def pending(self) -> list[SpooledEvent]:
        """Every spooled, unacknowledged event, oldest first."""
        self.quarantined = []
        items = []
        try:
            entries = list(os.scandir(self.dir))
        except FileNotFoundError:
            return []
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                continue
            try:
                items.append(SpooledEvent(entry.name, self.read(entry.name)))
            except FileNotFoundError:
                continue  # acknowledged meanwhile
            except (BadRecord, OSError) as err:
                self.quarantine(entry.name, str(err))
        items.sort(key=lambda item: item.event.order)
        return items

    def read(self, name: str) -> AlertEvent:
        """The event in spool file ``name``; BadRecord if it is damaged."""
        if not _NAME.fullmatch(name):
            raise BadRecord("not a spool file name")
        fd = os.open(os.path.join(self.dir, name), os.O_RDONLY | os.O_NOFOLLOW
                     | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
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
        """Done with this event. Idempotent."""
        self._move(name, self.done_dir)

    def quarantine(self, name: str, reason: str) -> None:
        """Move a file the engine cannot use out of the way, with a note saying why."""
        if self._move(name, self.quarantine_dir):
            self.quarantined.append(Quarantined(name, reason))
            note = os.path.join(self.quarantine_dir, name + ".why")
            try:
                with open(note, "w", encoding="utf-8") as f:
                    f.write(reason + "\n")
            except OSError:
                pass

    def prune(self, now: float | None = None, done_max_age: float = DONE_MAX_AGE,
              tmp_max_age: float = TMP_MAX_AGE,
              pending_max_age: float | None = None) -> int:
        """Forget acknowledged events older than done_max_age, and temporary files of
        alerts killed mid-write. Pending events only with pending_max_age (by default
        never: an engine that was down still gets them). Returns the count."""
        now = time.time() if now is None else now
        removed = 0
        sweeps = [(self.done_dir, "", done_max_age), (self.dir, TMP_PREFIX, tmp_max_age)]
        if pending_max_age is not None:
            sweeps.append((self.dir, "", pending_max_age))
        for directory, prefix, max_age in sweeps:
            try:
                entries = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            for entry in entries:
                if not entry.name.startswith(prefix) or (
                        not prefix and entry.name.startswith(".")):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode) and now - st.st_mtime > max_age:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed

    def _move(self, name: str, directory: str) -> bool:
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"bad spool file name {name!r}")
        os.makedirs(directory, mode=0o750, exist_ok=True)
        try:
            os.replace(os.path.join(self.dir, name), os.path.join(directory, name))
            return True
        except FileNotFoundError:
            return False


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

    def drain(self) -> list[str]:
        names = []
        while True:
            try:
                data = self.sock.recv(512)
            except (BlockingIOError, InterruptedError):
                return names
            name = data.decode("ascii", "replace")
            if _NAME.fullmatch(name):
                names.append(name)

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
    import grp

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None
