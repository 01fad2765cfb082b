"""Writing one spool file, durably and at most once; waking the engine; keeping the spool
small on every node. Standard library.

A spool file appears complete or not at all: the alert writes a temporary file in the
spool directory, fsyncs it, then hard-links it to its final name. link() fails if the
name exists, so of two copies of one event (several recipients, or the same event
spooled again later) the first wins and is never rewritten under the engine's feet;
the directory is fsynced so the entry survives a power cut once the alert returned 0.
Temporary names start with "." and the engine never reads them.

Each node spools the alerts it runs, and only the node running the engine reads its
spool, so the alert itself prunes (``prune_if_due``): at most every PRUNE_EVERY seconds
per node, it removes events older than PENDING_MAX_AGE and temporary files of killed
alerts. That never races the engine: it treats a file gone between listing and reading
or acknowledging as already handled.
"""

from __future__ import annotations

import os
import socket
import stat

from hakari import paths

FILE_MODE = 0o640
TMP_PREFIX = ".tmp-"
# A temporary file this old belongs to an alert that was killed mid-write.
TMP_MAX_AGE = 600.0
# An alert is a wake-up, and the cluster's state the truth: an event still spooled after
# an hour was never read by an engine here, or no longer dates anything it would decide.
PENDING_MAX_AGE = 3600.0
PRUNE_EVERY = 600.0
# Its modification time is when this node's spool was last pruned.
PRUNE_MARK = ".pruned"


class SpoolError(Exception):
    """The event could not be spooled: one line for the log."""


def check_spool_dir(path: str) -> None:
    """Refuse a spool directory others could have planted files in."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise SpoolError(f"spool directory {path} does not exist (run `hakari install`)") from None
    except OSError as err:
        raise SpoolError(f"spool directory {path}: {err.strerror or err}") from None
    problem = paths.dir_mode_problem(st)
    if problem:
        raise SpoolError(f"spool directory {path}: {problem}; refusing it "
                         "(run `hakari install` to fix it)")


def write_once(spool: str, name: str, data: bytes, done: str) -> bool:
    """Place data at spool/name unless that event is already spooled, or consumed (in
    the directory ``done``, where the engine moves what it handled).

    True if this call wrote it; False for a duplicate. Raises SpoolError.
    """
    final = f"{spool}/{name}"
    if _exists(final) or _exists(f"{done}/{name}"):
        return False
    tmp = f"{spool}/{TMP_PREFIX}{name}.{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | os.O_CLOEXEC, FILE_MODE)
    except OSError as err:
        raise SpoolError(f"cannot create a file in {spool}: {err.strerror or err}") from None
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, final)
            written = True
        except FileExistsError:
            written = False
    except OSError as err:
        raise SpoolError(f"cannot write {final}: {err.strerror or err}") from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    if written:
        _fsync_dir(spool)
    return written


def _exists(path: str) -> bool:
    try:
        os.lstat(path)
        return True
    except OSError:
        # Missing, or a done/ directory we may not look into: spool it (again); the
        # engine takes a duplicate in its stride.
        return False


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as err:
        raise SpoolError(f"cannot sync {path}: {err.strerror or err}") from None
    finally:
        os.close(fd)


def wake(socket_path: str, message: bytes = b"") -> bool:
    """Nudge the engine (one datagram, never blocking). False if nobody listens.

    Not being heard is fine: the engine also scans the spool at every reconcile.
    """
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK
                             | socket.SOCK_CLOEXEC)
    except OSError:
        return False
    try:
        sock.sendto(message[:256], socket_path)
        return True
    except OSError:
        return False
    finally:
        sock.close()


def prune_if_due(spool: str, now: float) -> int:
    """Prune ``spool`` unless it was pruned less than PRUNE_EVERY seconds ago; the
    number of files removed. One lstat when not due: it runs on every alert. Alerts
    running at once may both prune; removing a file twice is harmless."""
    mark = f"{spool}/{PRUNE_MARK}"
    try:
        if 0 <= now - os.lstat(mark).st_mtime < PRUNE_EVERY:
            return 0
    except FileNotFoundError:
        pass
    # Claimed first, so that the alerts that follow see it done.
    fd = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
                 | os.O_CLOEXEC, FILE_MODE)
    try:
        os.utime(fd, (now, now))
    finally:
        os.close(fd)
    return sweep(spool, "", PENDING_MAX_AGE, now) + sweep(spool, TMP_PREFIX, TMP_MAX_AGE, now)


def sweep(directory: str, prefix: str, max_age: float, now: float) -> int:
    """Remove the regular files of ``directory`` older than ``max_age`` whose names start
    with ``prefix`` (with "": every name not starting with "."). The number removed."""
    removed = 0
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        for entry in list(os.scandir(fd)):
            if not entry.name.startswith(prefix) or (
                    not prefix and entry.name.startswith(".")):
                continue
            try:
                st = os.stat(entry.name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISREG(st.st_mode) and now - st.st_mtime > max_age:
                    # unlink removes the name only: nothing is followed.
                    os.unlink(entry.name, dir_fd=fd)
                    removed += 1
            except OSError:
                continue
    except OSError:
        pass
    finally:
        os.close(fd)
    return removed
