"""The state directory named by a hakari.conf, read without oslo.config.

The alert agent runs on every cluster event; importing oslo.config alone costs several
times its whole budget. The alert's recipient is the hakari.conf path (templates), so
this reads the one option the alert needs, ``[DEFAULT] state_dir``, with the line syntax
of oslo.config's parser (tests check both agree), and refuses what it would not read the
same way (``$`` interpolation, continuation lines) instead of guessing.
"""

from __future__ import annotations

import os

from hakari.paths import DEFAULT_CONFIG_FILE, DEFAULT_STATE_DIR, own_dir_problem

MAX_CONFIG_BYTES = 1 << 20
MAX_PATH = 4096


class StateDirError(Exception):
    """The state directory cannot be determined: one line for the log."""


def state_dir_from_text(text: str) -> str | None:
    """``[DEFAULT] state_dir`` as oslo.config would read it, or None when unset."""
    section = None
    value = None
    in_state_dir = False
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip()
        if not line:
            in_state_dir = False
            continue
        if line[0] in " \t":
            if in_state_dir:
                raise StateDirError(f"line {number}: state_dir continues on the next "
                                    "line; write it on one line")
            continue
        in_state_dir = False
        if line.startswith("["):
            if not line.endswith("]") or len(line) <= 2:
                raise StateDirError(f"line {number}: invalid section header")
            section = line[1:-1]
        elif line.startswith(("#", ";")):
            continue
        else:
            pair = _split(line)
            if pair is None:
                raise StateDirError(f"line {number}: no '=' or ':' in assignment")
            if section == "DEFAULT" and pair[0] == "state_dir":
                value = pair[1]
                in_state_dir = True
    if value is None:
        return None
    if "$" in value:
        raise StateDirError("state_dir uses $ interpolation; write the path literally")
    return value


def _split(line: str) -> tuple[str, str] | None:
    # oslo.config splits at whichever of ':' and '=' comes first, then strips one pair
    # of matching quotes around the value.
    colon = line.find(":")
    equal = line.find("=")
    if colon < 0 and equal < 0:
        return None
    cut = equal if colon < 0 or (0 <= equal < colon) else colon
    key, value = line[:cut].strip(), line[cut + 1:].strip()
    if value and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return key, value


def read_state_dir(config_path: str) -> str:
    """The state directory configured in config_path (the default when unset)."""
    try:
        with open(config_path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise StateDirError(f"{config_path}: cannot read: {err.strerror or err}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise StateDirError(f"{config_path}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise StateDirError(f"{config_path}: not UTF-8") from None
    # Text-mode reading (what oslo.config does) turns \r\n and \r into \n.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        value = state_dir_from_text(text)
    except StateDirError as err:
        raise StateDirError(f"{config_path}: {err}") from None
    if value is None:
        return DEFAULT_STATE_DIR
    problem = "is too long" if len(value) > MAX_PATH else own_dir_problem(value)
    if problem is not None:
        raise StateDirError(f"{config_path}: state_dir {problem}")
    return value


def resolve(recipient: str | None, exists=None) -> str:
    """State directory for an alert whose recipient is ``recipient``.

    The recipient is the hakari.conf path. Empty (an alert configured without one):
    the default config file if it exists, else the default state directory.
    """
    if not recipient:
        exists = exists or os.path.exists
        if exists(DEFAULT_CONFIG_FILE):
            return read_state_dir(DEFAULT_CONFIG_FILE)
        return DEFAULT_STATE_DIR
    if (not recipient.startswith("/") or len(recipient) > MAX_PATH
            or not recipient.isprintable()):
        raise StateDirError("the alert recipient must be the absolute path of hakari.conf")
    return read_state_dir(recipient)
