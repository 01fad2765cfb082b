"""The one way hakari runs Pacemaker and Corosync tools.

argv lists only (never a shell), a timeout on every call, stderr captured, and each way of
failing turned into its own exception with a one-line message.
"""

from __future__ import annotations

import dataclasses
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable

from hakari.errors import ClusterNotConnected, ToolFailed, ToolNotFound, ToolTimeout

DEFAULT_TIMEOUT = 30.0
# Bytes read at a time from a tool whose output is fed as it comes (Started.result).
_CHUNK = 1 << 16

# Pacemaker's CRM_EX_DISCONNECT: the tool could not reach the cluster stack.
PCMK_EXIT_NOT_CONNECTED = 102


@dataclasses.dataclass(frozen=True, slots=True)
class ToolResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: str


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def communicate(argv: list[str], *, timeout: float, env: dict[str, str] | None = None,
                stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    """Run ``argv`` and wait for it: (exit status, stdout, stderr). OSError when it cannot
    start; subprocess.TimeoutExpired once it overran ``timeout`` and was killed.

    The child gets its own session so that, on timeout, the whole process group is
    killed: a hung tool that forked helpers must not keep our pipes open.
    """
    return _wait(_popen(argv, env, stdin is not None), stdin, timeout)


def _popen(argv: list[str], env: dict[str, str] | None, stdin: bool) -> subprocess.Popen:
    full_env = None if env is None else {**os.environ, **env}
    return subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        start_new_session=True,
    )


def _wait(proc: subprocess.Popen, stdin: bytes | None,
          timeout: float) -> tuple[int, bytes, bytes]:
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise
    return proc.returncode, out, err


def _wait_feeding(proc: subprocess.Popen, timeout: float,
                  feed: Callable[[bytes], None]) -> tuple[int, bytes, bytes]:
    """_wait, handing stdout to ``feed`` as it arrives instead of keeping it."""
    deadline = time.monotonic() + timeout
    err = []
    try:
        with selectors.DefaultSelector() as selector:
            for pipe in (proc.stdout, proc.stderr):
                selector.register(pipe, selectors.EVENT_READ)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired(proc.args, timeout)
                for key, _ in selector.select(left):
                    data = os.read(key.fd, _CHUNK)
                    if not data:
                        selector.unregister(key.fileobj)
                        key.fileobj.close()
                    elif key.fileobj is proc.stdout:
                        feed(data)
                    else:
                        err.append(data)
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise
    return proc.returncode, b"", b"".join(err)


def run(
    argv: list[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    ok_codes: tuple[int, ...] = (0,),
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
) -> ToolResult:
    """Run ``argv`` (see communicate) and return its result, or raise a ToolError
    subclass."""
    return start(argv, env=env, stdin=stdin).result(timeout=timeout, ok_codes=ok_codes)


def start(argv: list[str], *, env: dict[str, str] | None = None,
          stdin: bytes | None = None) -> "Started":
    """Start ``argv`` now and return at once, so that the tool runs while the caller
    does its own work (or runs other tools); ``result()`` waits for it as run() does.
    A tool that cannot start is reported by ``result()`` too."""
    return Started(argv, env, stdin)


class Started:
    """A tool started by start(). Used as a context manager, one whose result was not
    collected (the caller failed meanwhile) is killed on leaving."""

    def __init__(self, argv: list[str], env: dict[str, str] | None,
                 stdin: bytes | None):
        self.argv = list(argv)
        self._stdin = stdin
        self._proc: subprocess.Popen | None = None
        self._error: OSError | None = None
        try:
            self._proc = _popen(self.argv, env, stdin is not None)
        except OSError as err:
            self._error = err

    def result(self, *, timeout: float = DEFAULT_TIMEOUT, ok_codes: tuple[int, ...] = (0,),
               feed: Callable[[bytes], None] | None = None) -> ToolResult:
        """Wait up to ``timeout`` seconds from now; the tool's result, or a ToolError
        subclass. ``feed``: called with the tool's output as it comes (its result's
        stdout is then empty), so that reading it overlaps the tool's writing; it must
        not raise. Not with stdin."""
        argv, name = self.argv, self.argv[0]
        if isinstance(self._error, FileNotFoundError):
            raise ToolNotFound(f"{name}: command not found (is it installed and on PATH?)",
                               argv)
        if isinstance(self._error, PermissionError):
            raise ToolNotFound(f"{name}: permission denied", argv)
        if self._error is not None:
            raise self._error
        try:
            if feed is None:
                rc, out, err = _wait(self._proc, self._stdin, timeout)
            else:
                if self._stdin is not None:
                    raise ValueError("a tool given stdin cannot feed its output")
                rc, out, err = _wait_feeding(self._proc, timeout, feed)
        except subprocess.TimeoutExpired:
            raise ToolTimeout(f"{name}: no answer within {timeout:g}s, killed",
                              argv) from None
        stderr = err.decode("utf-8", "replace")
        if rc in ok_codes:
            return ToolResult(tuple(argv), rc, out, stderr)
        detail = _first_line(stderr) or _first_line(out.decode("utf-8", "replace"))
        if rc == PCMK_EXIT_NOT_CONNECTED:
            raise ClusterNotConnected(
                f"{name}: not connected to the cluster (is Pacemaker running on this node?)"
                + (f": {detail}" if detail else ""), argv, rc, stderr)
        if rc < 0:
            what = f"killed by signal {-rc}"
        else:
            what = f"exit status {rc}"
        raise ToolFailed(f"{name}: {what}" + (f": {detail}" if detail else ""), argv, rc,
                         stderr)

    def close(self) -> None:
        """Kill the tool if it is still running: its result is no longer wanted."""
        if self._proc is not None and self._proc.returncode is None:
            _kill_group(self._proc)

    def __enter__(self) -> "Started":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        # Bounded: the group is dead, but a grandchild that escaped the group (setsid)
        # could still hold a pipe open.
        proc.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=2)
