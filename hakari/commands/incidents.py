"""`hakari incidents`: what hakari did, from the local journal and the CIB."""

from __future__ import annotations

import json
import os

from hakari.commands import load_config
from hakari.display import escape_text, escaped_copy
from hakari.errors import HakariError
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
    from hakari.records.history import render_text, summarize
    from hakari.records.store import read_records_of

    conf = load_config(args)
    journal = Journal(os.path.join(conf.state_dir, JOURNAL_NAME))
    events = list(journal.read())
    nodes = {e.detail.get("node") for e in events if e.event == "state"} - {None}
    cib, cluster = read_records_of(nodes, conf.cluster.tool_timeout)
    summaries = summarize(events, cib)
    if args.host:
        summaries = [s for s in summaries if args.host in (s.host, s.incident.node)]
    if args.incident:
        summaries = [s for s in summaries if s.incident.id == args.incident]
    held = {}
    if cluster is not False:
        try:
            held = holds.of_cluster(conf)
        except HakariError:
            # The configured holds, at least, are known without the CIB.
            held = holds.current({}, conf.recovery.excluded_hosts,
                                 HostNameMap.from_config(conf))
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

