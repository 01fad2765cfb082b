"""A stand-in for ``stonith_admin --history TARGET``: a CIB file has no fencer behind it.

It answers from files the benchmark writes (``write``), one per target and one for
``'*'``, as a shell script: the real tool answers from the fencer's memory, a few kB at
most, in a few milliseconds, and so does this one.
"""

from __future__ import annotations

import pathlib
import shlex
from xml.sax.saxutils import quoteattr

NONE = "none.xml"


def install(bindir: pathlib.Path, histories: pathlib.Path) -> None:
    """``bindir/stonith_admin``, answering from ``histories`` (empty until ``write``)."""
    bindir.mkdir(parents=True, exist_ok=True)
    write(histories, [])
    script = bindir / "stonith_admin"
    # Called as hakari calls it: --history TARGET --verbose --output-as=xml.
    script.write_text(
        "#!/bin/sh\n"
        f"dir={shlex.quote(str(histories))}\n"
        'case "$2" in\n'
        "  '*') file=all.xml ;;\n"
        "  */*|.*|'') file=" + NONE + " ;;\n"
        '  *) file="$2.xml" ;;\n'
        "esac\n"
        '[ -f "$dir/$file" ] || file=' + NONE + "\n"
        'exec cat "$dir/$file"\n')
    script.chmod(0o755)


def write(histories: pathlib.Path, events: list[dict[str, str]]) -> None:
    """Make ``events`` the fencer's history: each a ``fence_event``'s attributes
    (target, action, status, completed, ...), newest first as Pacemaker prints them."""
    histories.mkdir(parents=True, exist_ok=True)
    targets = {e["target"] for e in events}
    files = {NONE: [], "all.xml": events,
             **{f"{t}.xml": [e for e in events if e["target"] == t] for t in targets}}
    for name, chosen in files.items():
        tmp = histories / f".{name}"
        tmp.write_text(_document(chosen))
        tmp.rename(histories / name)
    for stale in histories.glob("*.xml"):
        if stale.name not in files:
            stale.unlink()


def _document(events: list[dict[str, str]]) -> str:
    rows = "".join("<fence_event " + " ".join(f"{k}={quoteattr(v)}" for k, v in e.items())
                   + "/>" for e in events)
    return ('<pacemaker-result api-version="2.25" request="stonith_admin --history">'
            f'<list name="fencing history" count="{len(events)}">{rows}</list>'
            '<status code="0" message="OK"/></pacemaker-result>')
