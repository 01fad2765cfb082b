"""Counters the reliability tests report for `make soak`'s summary table.

A test calls ``record("scenario-kind", scenarios=..., faults=..., recovered=...,
duplicates=..., unsafe=...)`` with what it measured itself; nothing is estimated. When
HAKARI_SOAK_COUNTERS names a file, each call appends one JSON line to it (tests/soak.py
adds them up); otherwise it does nothing, so `make test` is unaffected.
"""

from __future__ import annotations

import json
import os

FIELDS = ("scenarios", "faults", "recovered", "duplicates", "unsafe")


def record(kind: str, **counts: int) -> None:
    path = os.environ.get("HAKARI_SOAK_COUNTERS")
    if not path:
        return
    unknown = set(counts) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown soak counters: {sorted(unknown)}")
    line = json.dumps({"kind": kind, "test": os.environ.get("PYTEST_CURRENT_TEST", "")
                       .split(" ")[0], **{k: int(v) for k, v in counts.items()}})
    # O_APPEND: one write per line, so parallel writers cannot interleave within a line.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)
