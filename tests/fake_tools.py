"""Fake cluster tools for tests: small executables put first (or alone) on PATH."""

from __future__ import annotations

import os
import pathlib
import sys

# Only these directories besides the fake ones: enough for /bin/sh helpers such as
# sleep, and never /usr/sbin, where the real Pacemaker tools live.
SAFE_PATH = "/usr/bin:/bin"


def fake_tool(bindir: pathlib.Path, name: str, *, stdout: bytes = b"", stderr: str = "",
              rc: int = 0, sleep: float | None = None,
              argv_log: pathlib.Path | None = None) -> pathlib.Path:
    """Write an executable ``bindir/name`` that prints ``stdout``/``stderr`` and exits ``rc``.

    With ``sleep`` it hangs that long first (to test timeouts); with ``argv_log`` it
    records the arguments it was called with, one per line.
    """
    bindir.mkdir(parents=True, exist_ok=True)
    payload = bindir / f".{name}.out"
    payload.write_bytes(stdout)
    lines = [
        f"#!{sys.executable}",
        "import sys, time",
    ]
    if argv_log is not None:
        lines.append(f"open({str(argv_log)!r}, 'w').write('\\n'.join(sys.argv[1:]))")
    if sleep is not None:
        lines.append(f"time.sleep({sleep!r})")
    lines += [
        f"sys.stdout.buffer.write(open({str(payload)!r}, 'rb').read())",
        f"sys.stderr.write({stderr!r})",
        f"sys.exit({rc})",
    ]
    script = bindir / name
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
    return script


def shell_tool(bindir: pathlib.Path, name: str, body: str) -> pathlib.Path:
    """An executable /bin/sh script, for behaviour a Python fake cannot show cheaply."""
    bindir.mkdir(parents=True, exist_ok=True)
    script = bindir / name
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return script


def path_with(bindir: pathlib.Path) -> str:
    return os.pathsep.join([str(bindir), SAFE_PATH])
