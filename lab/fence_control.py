"""Tell the lab fence agent to fail or to dawdle for chosen targets, and read its log.

The control file lives in the lab's state directory so changes take effect at the next
fencing attempt without touching the CIB. Stdlib only (read by the agent).
"""

from __future__ import annotations

import json
import os

from lab import config, state


def read(lab_dir: str) -> dict[str, dict]:
    return (state.read_json(config.fence_control_file(lab_dir)) or {}).get("targets") or {}


def behaviour(lab_dir: str, target: str) -> dict:
    """{"fail": bool, "delay": seconds} for target ("*" applies to every target), and
    "dead": true if the machine does not power on again (`on` fails)."""
    targets = read(lab_dir)
    merged = {"fail": False, "delay": 0.0}
    for key in ("*", target):
        merged.update(targets.get(key) or {})
    return merged


def set_behaviour(lab_dir: str, target: str, *, fail: bool = False,
                  delay: float = 0.0, dead: bool = False) -> None:
    targets = read(lab_dir)
    if not fail and not delay and not dead:
        targets.pop(target, None)
    else:
        targets[target] = {"fail": bool(fail), "delay": float(delay)}
        if dead:
            targets[target]["dead"] = True
    state.write_json(config.fence_control_file(lab_dir), {"targets": targets})


def clear(lab_dir: str) -> None:
    state.write_json(config.fence_control_file(lab_dir), {"targets": {}})


def read_log(lab_dir: str) -> list[dict]:
    """Every call the agent logged, oldest first (one JSON object per line)."""
    entries = []
    try:
        with open(config.fence_log_file(lab_dir)) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        entries.append(json.loads(line))
                    except ValueError:
                        continue
    except FileNotFoundError:
        pass
    return entries


def append_log(lab_dir: str, entry: dict) -> None:
    line = (json.dumps(entry, sort_keys=True) + "\n").encode()
    # One write() on an O_APPEND descriptor: lines from agents on several nodes at once
    # never interleave.
    fd = os.open(config.fence_log_file(lab_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
