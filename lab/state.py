"""The lab's files on disk: JSON documents replaced atomically, and a per-lab lock.

state.json (written by the controller) says what the lab is made of, so that any process
(another test run, the CLI, a fence agent inside a node) can find and tear it down.
power.json (one per node, written only by that node's holder) says which daemons run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time


def write_json(path: str, data: dict) -> None:
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except ValueError:
        # A torn or hand-edited file must not stop a teardown.
        return None


@contextlib.contextmanager
def locked(root: str, name: str, timeout: float = 120.0):
    """Serialise up/down of one lab between processes (a test and a person, say)."""
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, f".{name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"lab {name}: another process holds {path}") from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)


def forget_lock(root: str, name: str) -> None:
    """Remove the lock file (and the root if now empty) once a lab is gone."""
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(root, f".{name}.lock"))
    with contextlib.suppress(OSError):
        os.rmdir(root)
