"""Processes: run tools with a timeout, identify, find and kill processes by PID.

Stdlib only (the fence agent imports this with the system Python).

A PID alone is not an identity: after a crash the number may belong to something else.
Processes are recorded as (pid, start time in clock ticks since boot) and only signalled
when both still match.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time

DEFAULT_TIMEOUT = 30.0


class CommandError(RuntimeError):
    """A command failed or timed out; the message says which and why in one line."""

    def __init__(self, message: str, result: subprocess.CompletedProcess | None = None):
        super().__init__(message)
        self.result = result


def run(argv: list[str], *, timeout: float = DEFAULT_TIMEOUT, check: bool = True,
        input: bytes | None = None, env: dict[str, str] | None = None,
        ok_codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    """Run argv (never a shell) and capture its output as bytes.

    The child gets its own session so that on timeout its whole group dies with it.
    """
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env,
            start_new_session=True)
    except OSError as err:
        raise CommandError(f"{argv[0]}: cannot run: {err.strerror}") from None
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate(timeout=5)
        result = subprocess.CompletedProcess(argv, proc.returncode, out, err)
        raise CommandError(f"{' '.join(argv[:6])}: no answer within {timeout:g}s, killed",
                           result) from None
    result = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    if check and proc.returncode not in ok_codes:
        detail = (err or out).decode("utf-8", "replace").strip().splitlines()
        raise CommandError(f"{' '.join(argv[:6])}: exit status {proc.returncode}"
                           + (f": {detail[-1][:300]}" if detail else ""), result)
    return result


@dataclasses.dataclass(frozen=True)
class ProcRef:
    """A process as recorded: its PID and when it started (guards against PID reuse)."""

    pid: int
    start: int

    def to_json(self) -> dict:
        return {"pid": self.pid, "start": self.start}

    @classmethod
    def from_json(cls, data: dict | None) -> "ProcRef | None":
        if not data:
            return None
        return cls(int(data["pid"]), int(data["start"]))


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    head, _, rest = raw.rpartition(")")
    return [head] + rest.split()


def stat_of(pid: int) -> tuple[str, int, int] | None:
    """(state letter, parent pid, start time) of pid, or None when it does not exist."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # rest: [0]=state [1]=ppid ... [19]=starttime (field 22 of proc(5))
    return fields[1], int(fields[2]), int(fields[20])


def ref_of(pid: int) -> ProcRef | None:
    st = stat_of(pid)
    return None if st is None else ProcRef(pid, st[2])


def alive(ref: ProcRef | None) -> bool:
    """True if the recorded process still runs. A zombie is dead: it only awaits reaping
    (the same answer `ps -o stat=` would give with a Z)."""
    if ref is None:
        return False
    st = stat_of(ref.pid)
    return st is not None and st[2] == ref.start and st[0] not in ("Z", "X")


def signal_ref(ref: ProcRef | None, sig: int) -> bool:
    """Send sig only if ref is still the same live process; True if sent."""
    if not alive(ref):
        return False
    try:
        os.kill(ref.pid, sig)
    except ProcessLookupError:
        return False
    return True


def wait_dead(refs, timeout: float, interval: float = 0.02) -> list[ProcRef]:
    """Wait until none of refs is alive; return those still alive at the deadline."""
    refs = [r for r in refs if r is not None]
    deadline = time.monotonic() + timeout
    while True:
        left = [r for r in refs if alive(r)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(interval)


def netns_inode(pid: int) -> int | None:
    try:
        link = os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None
    # "net:[4026532246]"
    return int(link[link.index("[") + 1:-1])


def processes_in_netns(inodes: set[int], exclude: set[int] = frozenset()) -> list[ProcRef]:
    """Every live process whose network namespace is one of inodes: all that runs 'on'
    a lab node, whoever started it (daemons, agents, tools entered with nsenter)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid in exclude or pid == os.getpid():
            continue
        if netns_inode(pid) in inodes:
            ref = ref_of(pid)
            if ref is not None and alive(ref):
                found.append(ref)
    return found


def kill_all(refs, timeout: float = 5.0) -> list[ProcRef]:
    """SIGKILL refs and wait for them; return those that survived (should be none)."""
    refs = [r for r in refs if r is not None]
    for ref in refs:
        signal_ref(ref, signal.SIGKILL)
    return wait_dead(refs, timeout)


def reap_child(pid: int) -> None:
    """Collect pid's exit status if it is our child, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
