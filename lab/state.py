"""The lab's files on disk: JSON documents replaced atomically, and a per-lab lock.

state.json (written by the controller) says what the lab is made of, so that any process
(another test run, the CLI, a fence agent inside a node) can find and tear it down.
power.json (one per node, written only by that node's holder) says which daemons run.
The lab's agents are installed as small launchers into the lab's code (install_launcher).
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


def install_launcher(path: str, module: str, what: str) -> None:
    """Install at path an executable that runs module's main() from this repository with
    the system Python (agents run as root by the cluster, outside any virtualenv).
    Idempotent, and atomic so a running cluster never sees half a file."""
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    text = ("#!/usr/bin/python3\n"
            f"# {what}: installed by hakari's lab; the code is {module.replace('.', '/')}.py\n"
            "# in the repository below. Only for the local lab.\n"
            "import sys\n"
            f"sys.path.insert(0, {repo_root!r})\n"
            f"from {module} import main\n"
            "sys.exit(main())\n")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
