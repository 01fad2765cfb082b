"""Read a file an operator names on the command line (or ``-``, standard input), bounded.

A path can name anything: /dev/zero would be read until memory runs out, a FIFO without
a writer would block forever. Files are opened without blocking and without becoming
the controlling terminal, and anything that is not a regular file is refused before a
byte is read. Standard input is what the operator piped in, so it may be a pipe; the
size limit applies to it as to a file.
"""

from __future__ import annotations

import os
import stat
import sys

from hakari.errors import HakariError

STDIN = "-"
_CHUNK = 1 << 20


class InputError(HakariError):
    """The input cannot be used; ``reason`` is the message without the file's name."""

    def __init__(self, label: str, reason: str):
        self.label = label
        self.reason = reason
        super().__init__(f"{label}: {reason}")


def label(path: str) -> str:
    return "standard input" if path == STDIN else path


def read_bounded(path: str, limit: int) -> bytes:
    """The whole content of ``path`` (``-``: standard input), at most ``limit`` bytes."""
    if path == STDIN:
        if sys.stdin is None:
            raise InputError(label(path), "cannot read: standard input is closed")
        return _read(sys.stdin.buffer.read, label(path), limit)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        raise InputError(path, f"cannot read: {err.strerror or err}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(path, "not a regular file")
        return _read(lambda size: os.read(fd, size), path, limit)
    finally:
        os.close(fd)


def _read(read, name: str, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            chunk = read(min(_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        raise InputError(name, f"cannot read: {err.strerror or err}") from None
    if size > limit:
        raise InputError(name, f"larger than {limit} bytes")
    return b"".join(chunks)
