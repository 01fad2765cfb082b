"""Waiting for a benchmark's condition, shared by the benchmarks that drive a live engine."""

from __future__ import annotations

import time


def until(predicate, timeout: float, what: str, interval: float = 0.2):
    """``predicate()``'s first truthy value; TimeoutError naming ``what`` after ``timeout``.

    A short ``interval`` is for conditions that are themselves being timed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
