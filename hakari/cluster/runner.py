"""The one way hakari runs Pacemaker and Corosync tools.

argv lists only (never a shell), a timeout on every call, stderr captured, and each way of
failing turned into its own exception with a one-line message.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess

from hakari.errors import ClusterNotConnected, ToolFailed, ToolNotFound, ToolTimeout

DEFAULT_TIMEOUT = 30.0

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
    full_env = None if env is None else {**os.environ, **env}
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise
    return proc.returncode, out, err


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
    name = argv[0]
    try:
        rc, out, err = communicate(argv, timeout=timeout, env=env, stdin=stdin)
    except FileNotFoundError:
        raise ToolNotFound(f"{name}: command not found (is it installed and on PATH?)",
                           argv) from None
    except PermissionError:
        raise ToolNotFound(f"{name}: permission denied", argv) from None
    except subprocess.TimeoutExpired:
        raise ToolTimeout(f"{name}: no answer within {timeout:g}s, killed", argv) from None
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
    raise ToolFailed(f"{name}: {what}" + (f": {detail}" if detail else ""), argv, rc, stderr)


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
