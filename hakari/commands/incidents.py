"""`hakari incidents`: what hakari did, from the local journal and the CIB."""

from __future__ import annotations

import json
import os

from hakari.commands import load_config
from hakari.display import escape_text, escaped_copy
from hakari.errors import ClusterNotConnected, HakariError, ToolNotFound
from hakari.hostnames import HostNameMap
from hakari.records.journal import JOURNAL_NAME, Journal


def add_parser(sub) -> None:
    p = sub.add_parser(
        "incidents", help="show incidents: state, timeline, per-instance results",
        description="Incidents recorded in this machine's journal ([DEFAULT] state_dir), "
        "with the state the CIB holds for them when a cluster is reachable.")
    p.add_argument("--host", metavar="HOST", help="only incidents of this Nova host or node")
    p.add_argument("--incident", metavar="ID", help="only this incident")
    p.add_argument("--timeline", action="store_true",
                   help="text: print each incident's timeline and failed instances; "
                   "json: include per-instance events in the timeline")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="output format (default: text)")
    p.set_defaults(run=run)


def run(args) -> int:
    # Lazy: every `hakari` invocation imports this module to build its parser; lxml and
    # the cluster tools' modules would add 15 ms to the 60 ms of `hakari --help`.
    from hakari import holds
    from hakari.cluster import attributes
    from hakari.records.history import render_text, summarize
    from hakari.records.store import INCIDENT_ATTRIBUTE, from_record

    conf = load_config(args)
    journal = Journal(os.path.join(conf.state_dir, JOURNAL_NAME))
    events = list(journal.read())
    nodes = {e.detail.get("node") for e in events if e.event == "state"} - {None}
    # One read of hakari's node attributes: the incidents' states and the holds.
    try:
        raw = attributes.read_all(timeout=conf.cluster.tool_timeout)
        cluster = True if nodes else None
    except (ToolNotFound, ClusterNotConnected):
        raw, cluster = {}, False
    except HakariError:
        # The journal's states, and the configured holds, are known without the CIB.
        raw, cluster = {}, True if nodes else None
    cib = {n: i for n in sorted(nodes)
           if (i := from_record(n, raw.get(n, {}).get(INCIDENT_ATTRIBUTE))) is not None}
    summaries = summarize(events, cib)
    if args.host:
        summaries = [s for s in summaries if args.host in (s.host, s.incident.node)]
    if args.incident:
        summaries = [s for s in summaries if s.incident.id == args.incident]
    held = holds.current(raw, conf.recovery.excluded_hosts, HostNameMap.from_config(conf)) \
        if cluster is not False else {}
    if args.format == "json":
        print(json.dumps({"cluster": cluster,
                          "incidents": [s.document(args.timeline) for s in summaries],
                          "holds": [{"node": h.node, "by": h.by, "why": h.why,
                                     "at": h.at.isoformat() if h.at else None,
                                     "configured": h.configured}
                                    for h in held.values()]}, indent=2))
    else:
        # Host, instance and reason texts come from the cluster and from Nova.
        print(render_text(escaped_copy(summaries),
                          timeline=args.timeline or bool(args.incident)), end="")
        for hold in held.values():
            print(escape_text(f"{hold.node}: {hold.describe()}"))
    return 0

