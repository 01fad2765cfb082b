"""A daemon an OCF agent starts, watches and stops across separate agent invocations.

Each action is a new process, so what start learned lives in a pid record (JSON, written
atomically): the pid, the kernel's start time of that pid (so a recycled pid is never
mistaken for ours), the command, and agent-specific fields. A process counts as gone
when /proc has no such pid, the start time differs, or it is a zombie (dead, waiting
to be reaped by whoever inherited it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time

POLL = 0.1


class PidRecordError(Exception):
    """The pid record exists but cannot be read: whether the daemon runs is unknown."""


@dataclasses.dataclass(frozen=True)
class PidRecord:
    pid: int
    start_ticks: int
    argv: tuple[str, ...]
    started_at: float
    extra: dict = dataclasses.field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "start_ticks": self.start_ticks,
                           "argv": list(self.argv), "started_at": self.started_at,
                           "extra": self.extra}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "PidRecord":
        try:
            data = json.loads(text)
            record = cls(int(data["pid"]), int(data["start_ticks"]),
                         tuple(str(a) for a in data["argv"]), float(data["started_at"]),
                         dict(data.get("extra") or {}))
        except (ValueError, KeyError, TypeError) as err:
            raise PidRecordError(f"unreadable pid record: {err}") from None
        if record.pid <= 1:
            raise PidRecordError(f"pid record names pid {record.pid}")
        return record


def read_record(path: str) -> PidRecord | None:
    """The record at path; None when there is none."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(65536)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise PidRecordError(f"{path}: {err.strerror or err}") from None
    return PidRecord.from_json(text)


def write_record(path: str, record: PidRecord) -> None:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(record.to_json() + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def remove_record(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or
    None if there is no such process or it is a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may contain spaces or ')'.
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def alive(record: PidRecord) -> bool:
    return start_ticks(record.pid) == record.start_ticks


def spawn(argv: list[str], log_path: str, env: dict[str, str] | None = None) -> PidRecord:
    """Start argv detached: own session (so stop can signal its whole process group),
    stdin from /dev/null, stdout and stderr appended to log_path. The agent's own pipes
    to Pacemaker must not leak into it, or the start action would never end."""
    os.makedirs(os.path.dirname(log_path), mode=0o750, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
                                cwd="/", env=env, start_new_session=True, close_fds=True)
    finally:
        os.close(fd)
    ticks = start_ticks(proc.pid)
    # Popen keeps the child object for reaping; the caller polls it while it waits.
    record = PidRecord(proc.pid, ticks if ticks is not None else -1, tuple(argv),
                       time.time())
    _CHILDREN[proc.pid] = proc
    return record


_CHILDREN: dict[int, subprocess.Popen] = {}


def exit_status(record: PidRecord) -> int | None:
    """For a daemon this process spawned: its exit status once it ended, else None."""
    proc = _CHILDREN.get(record.pid)
    return None if proc is None else proc.poll()


def signal_group(record: PidRecord, sig: int) -> None:
    """Send sig to the daemon's process group (it leads its own session), or to the
    daemon alone if it left that group."""
    if not alive(record):
        return
    try:
        if os.getpgid(record.pid) == record.pid:
            os.killpg(record.pid, sig)
        else:
            os.kill(record.pid, sig)
    except ProcessLookupError:
        pass


def wait_gone(record: PidRecord, deadline: float) -> bool:
    """Poll until the daemon is gone or the monotonic deadline passes."""
    while True:
        proc = _CHILDREN.get(record.pid)
        if proc is not None:
            proc.poll()
        if not alive(record):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)


def stop(record: PidRecord, grace: float, kill_wait: float = 5.0) -> bool:
    """SIGTERM, up to grace seconds, then SIGKILL. True once the daemon is gone."""
    signal_group(record, signal.SIGTERM)
    if wait_gone(record, time.monotonic() + grace):
        return True
    signal_group(record, signal.SIGKILL)
    return wait_gone(record, time.monotonic() + kill_wait)


def log_tail(path: str, limit: int = 300) -> str:
    """The last non-empty line of a log, for an exit reason."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.strip():
            return line.strip()[:limit]
    return ""
