"""`hakari incidents`: what hakari did. The incidents and their states come from the CIB,
the same on every controller; timelines and per-instance results from this machine's
journal, for the incidents it took part in (without a cluster, the journal is all)."""

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
        description="Incidents as the CIB holds them (host losses, nova-compute and "
        "instance failures), the same on every controller, with the timeline and "
        "per-instance results this machine's journal ([DEFAULT] state_dir) has of them. "
        "Without a cluster: the journal's incidents.")
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
    from hakari.records.failures import FAILURES_SET, failures_from_options
    from hakari.records.history import render_text, summarize
    from hakari.records.store import parse_records

    conf = load_config(args)
    journal = Journal(os.path.join(conf.state_dir, JOURNAL_NAME))
    events = list(journal.read())
    # One read of the CIB's configuration: host incidents, holds and failure incidents.
    try:
        raw, options = attributes.read_configuration(FAILURES_SET,
                                                     timeout=conf.cluster.tool_timeout)
        cluster = True
    except (ToolNotFound, ClusterNotConnected):
        raw, options, cluster = {}, {}, False
    except HakariError:
        # The journal's states, and the configured holds, are known without the CIB.
        raw, options, cluster = {}, {}, None
    summaries = summarize(events, parse_records(raw).incidents,
                          failures_from_options(options))
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

