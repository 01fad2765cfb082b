"""How release, retry, hold and unhold report what they did: one line per host (text)
or a list of {node, done, message, incident, state}; exit 2 when a named host could not
be decided on."""

from __future__ import annotations

import json

from hakari.display import escape_text
from hakari.errors import EXIT_OK, EXIT_USAGE


def report(outcomes, fmt: str, *, nothing: str = "nothing to do",
           refused_is_error: bool = True) -> int:
    if fmt == "json":
        print(json.dumps([{"node": o.node, "done": o.done, "message": o.message,
                           "incident": o.incident.id if o.incident else None,
                           "state": o.incident.state if o.incident else None}
                          for o in outcomes], indent=2))
    else:
        for o in outcomes:
            print(f"hakari: {escape_text(o.message)}")
        if not outcomes:
            print(f"hakari: {nothing}")
    refused = any(not o.done for o in outcomes)
    return EXIT_USAGE if refused and refused_is_error else EXIT_OK
