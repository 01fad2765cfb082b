"""Processes: run tools with a timeout, identify, find and kill processes by PID.

Stdlib and hakari's own stdlib-only modules (the fence agent imports this with the system
Python, the repository on its path).

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

from hakari.cluster.runner import communicate
from hakari.resource_agents.daemon import start_ticks

DEFAULT_TIMEOUT = 30.0


class CommandError(RuntimeError):
    """A command failed or timed out; the message says which and why in one line."""


def run(argv: list[str], *, timeout: float = DEFAULT_TIMEOUT, check: bool = True,
        input: bytes | None = None, env: dict[str, str] | None = None,
        ok_codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    """Run argv (never a shell, its own process group, killed whole on timeout: hakari's
    runner.communicate) and capture its output as bytes."""
    try:
        rc, out, err = communicate(argv, timeout=timeout, env=env, stdin=input)
    except OSError as exc:
        raise CommandError(f"{argv[0]}: cannot run: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise CommandError(f"{' '.join(argv[:6])}: no answer within {timeout:g}s, "
                           "killed") from None
    if check and rc not in ok_codes:
        detail = (err or out).decode("utf-8", "replace").strip().splitlines()
        raise CommandError(f"{' '.join(argv[:6])}: exit status {rc}"
                           + (f": {detail[-1][:300]}" if detail else ""))
    return subprocess.CompletedProcess(argv, rc, out, err)


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


def ref_of(pid: int) -> ProcRef | None:
    start = start_ticks(pid)
    return None if start is None else ProcRef(pid, start)


def alive(ref: ProcRef | None) -> bool:
    """True if the recorded process still runs (a zombie does not: it only awaits
    reaping)."""
    return ref is not None and start_ticks(ref.pid) == ref.start


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
