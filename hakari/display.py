"""Strings from the cluster, Nova or a journal, made safe to print on a terminal.

Node names, fence event fields, server names and failure reasons come from outside
hakari. Printed raw, a newline in one of them can forge a whole line of output ("Quorum:
yes"), and an escape sequence or a bidirectional override can rewrite what the terminal
shows. Everything Python does not call printable (control characters, U+2028/U+2029
line and paragraph separators, format characters such as U+202E) is shown as its
Python escape, and a backslash as two, so the escaped text reads back unambiguously.
"""

from __future__ import annotations

import dataclasses


def one_line(value) -> str:
    """``value`` as text on one line, runs of white space folded to one space: for
    messages that quote what a tool, a file or a server said."""
    return " ".join(str(value).split())


def escape_text(text: str) -> str:
    """``text`` with every non-printable character written as a repr-style escape."""
    if text.isprintable() and "\\" not in text:
        return text
    # repr of one character: '\n', '\x1b', '\u2028', '\U000e0001', '\\'.
    return "".join(ch if ch.isprintable() and ch != "\\" else repr(ch)[1:-1]
                   for ch in text)


def escaped_copy(value):
    """A copy of ``value`` for display, every string in it escaped.

    Walks dataclasses, dicts, lists and tuples, so a renderer that formats a whole
    record (an incident, an evacuation report) prints nothing raw. Only for printing:
    the copy's strings are no longer the values to act on.
    """
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, dict):
        return {escaped_copy(k): escaped_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [escaped_copy(v) for v in value]
        # A named tuple takes its fields as arguments, the others one iterable.
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: escaped_copy(getattr(value, f.name))
                   for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    return value
