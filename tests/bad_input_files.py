"""Paths a command must refuse to read: nothing ends, nothing blocks, nothing is huge."""

from __future__ import annotations

import os
import pathlib

KINDS = ("fifo", "dev-zero", "directory", "too-big")


def make(tmp_path: pathlib.Path, kind: str, limit: int) -> pathlib.Path:
    """A path of ``kind`` for a command that reads at most ``limit`` bytes."""
    path = tmp_path / f"input-{kind}"
    if kind == "fifo":
        os.mkfifo(path)  # nobody writes: reading it would wait for ever
    elif kind == "dev-zero":
        path = pathlib.Path("/dev/zero")  # endless: reading it would exhaust memory
    elif kind == "directory":
        path.mkdir()
    else:
        with open(path, "wb") as f:
            f.truncate(limit + 1)  # sparse: costs no disk
    return path


def error_line(path: pathlib.Path, kind: str, limit: int) -> str:
    """The one line of standard error the command must print."""
    why = f"larger than {limit} bytes" if kind == "too-big" else "not a regular file"
    return f"hakari: error: {path}: {why}\n"
