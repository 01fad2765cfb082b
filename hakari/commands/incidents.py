"""`hakari incidents`: what hakari did, from the local journal and the CIB."""

from __future__ import annotations

import json
import os

from hakari.cli import load_config
from hakari.display import escape_text, escaped_copy
from hakari.errors import HakariError


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
    conf = load_config(args)
    from hakari.records.history import render_text, summarize
    from hakari.records.journal import JOURNAL_NAME, Journal

    journal = Journal(os.path.join(conf.state_dir, JOURNAL_NAME))
    events = list(journal.read())
    nodes = {e.detail.get("node") for e in events if e.event == "state"} - {None}
    cib, cluster = _cib_incidents(conf, nodes)
    summaries = summarize(events, cib)
    if args.host:
        summaries = [s for s in summaries if args.host in (s.host, s.incident.node)]
    if args.incident:
        summaries = [s for s in summaries if s.incident.id == args.incident]
    held = _holds(conf) if cluster is not False else {}
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


def _holds(conf) -> dict:
    """node -> holds.Hold; the configured ones only when the CIB cannot be read."""
    from hakari import holds
    from hakari.hostnames import HostNameMap

    try:
        return holds.of_cluster(conf)
    except HakariError:
        return holds.current({}, conf.recovery.excluded_hosts, HostNameMap.from_config(conf))


def _cib_incidents(conf, nodes) -> tuple[dict, bool | None]:
    """node -> incident from the CIB; (.., False) when no cluster is reachable here,
    (.., None) when there was nothing to ask."""
    from hakari.cluster import attributes
    from hakari.errors import ClusterNotConnected, ToolFailed, ToolNotFound
    from hakari.records.store import INCIDENT_ATTRIBUTE, from_record

    found: dict = {}
    if not nodes:
        return found, None
    for node in sorted(nodes):
        try:
            raw = attributes.query(node, INCIDENT_ATTRIBUTE, timeout=conf.cluster.tool_timeout)
        except (ToolNotFound, ClusterNotConnected):
            return {}, False
        except ToolFailed:
            continue
        incident = from_record(node, raw)
        if incident is not None:
            found[node] = incident
    return found, True
