"""Incidents as the CIB and the journal tell them. Pure: CIB records and journal events
in, documents out.

The CIB lists the incidents and their states, the same on every controller; this
machine's journal adds the timeline and the per-instance results of those it took part
in (and, without a cluster, is the whole story).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from hakari.model import Incident
from hakari.records.failures import Failure, failures_from_events
from hakari.records.journal import Event
from hakari.records.store import incidents_from_events

# Per-instance events shown in a timeline only on request: there can be thousands.
INSTANCE_EVENTS = frozenset({"evacuate-requested", "evacuate-accepted", "evacuate-rejected",
                             "evacuate-unknown", "migration", "retry", "result"})
# Kinds of incident: a host lost (evacuation), a failing nova-compute on a live host
# (process), an instance found stopped or in ERROR (instance).
HOST = "host"


# Said instead of a timeline this machine's journal does not have.
ELSEWHERE = "timeline: kept on the controller that ran the recovery"


@dataclasses.dataclass
class Summary:
    incident: Incident
    host: str
    source: str                      # "cib" when the CIB holds this incident, else "journal"
    timeline: list[Event]
    instances: dict[str, dict]
    kind: str = HOST

    @property
    def here(self) -> bool:
        """Whether this machine's journal has the incident's timeline and results."""
        return bool(self.timeline)

    def counts(self) -> dict[str, int] | None:
        """Instances per result; None when only another controller's journal knows."""
        if not self.here:
            return None
        counts = {"evacuated": 0, "skipped": 0, "failed": 0}
        for i in self.instances.values():
            counts[i["result"]] = counts.get(i["result"], 0) + 1
        return counts

    def document(self, verbose: bool = False) -> dict:
        inc = self.incident
        return {
            "id": inc.id, "kind": self.kind, "node": inc.node, "host": self.host, "state": inc.state,
            "lost_at": inc.lost_at.isoformat(),
            "updated_at": inc.updated_at.isoformat() if inc.updated_at else None,
            "reason": inc.reason, "source": self.source, "counts": self.counts(),
            "instances": list(self.instances.values()),
            "timeline_here": self.here,
            "timeline": [_event_doc(e) for e in self.timeline
                         if verbose or e.event not in INSTANCE_EVENTS]}


def summarize(events: Iterable[Event], cib: Mapping[str, Incident] | None = None,
              failures: Mapping[str, Failure] | None = None) -> list[Summary]:
    """One summary per incident, oldest loss first. ``cib``: node -> the host incident
    its CIB attribute holds; ``failures``: id -> a failure incident the CIB holds. The
    CIB's state wins over the journal's."""
    events = list(events)
    found = incidents_from_events(events)
    timelines: dict[str, list[Event]] = {}
    results: dict[str, dict[str, dict]] = {}
    for e in events:
        timelines.setdefault(e.incident, []).append(e)
        if e.event == "result" and e.instance:
            per = results.setdefault(e.incident, {})
            earlier = per.get(e.instance)
            result = e.detail.get("result")
            # A rerun reports an instance it already handled as skipped: keep what
            # really happened to it. One evacuated by a run that died before saying so
            # is evacuated too, as Nova's migrations show.
            if result == "skipped" and e.detail.get("evacuated_before"):
                result = "evacuated"
            if earlier and result == "skipped" and \
                    earlier["result"] in ("evacuated", "failed"):
                continue
            per[e.instance] = {
                "id": e.instance, "name": e.detail.get("name") or "",
                "result": result, "dest_host": e.detail.get("dest_host"),
                "reason": e.detail.get("reason") or "", "attempts": e.detail.get("attempts", 0),
                "at": e.ts.isoformat()}
    summaries = {}
    for inc_id, (incident, host) in found.items():
        summaries[inc_id] = Summary(incident, host, "journal", timelines.get(inc_id, []),
                                    results.get(inc_id, {}))
    for source, found in (("journal", failures_from_events(events)),
                          ("cib", failures or {})):
        for inc_id, f in found.items():
            # Process/instance incidents: the node is the target (host or instance id)
            # and "lost_at" the moment the failure was first reported.
            incident = Incident(id=inc_id, node=f.target, lost_at=f.opened_at,
                                state=f.state, updated_at=f.updated_at, reason=f.reason)
            summaries[inc_id] = Summary(incident, f.host, source, timelines.get(inc_id, []),
                                        results.get(inc_id, {}), f.kind)
    for node, incident in (cib or {}).items():
        s = summaries.get(incident.id)
        if s is None:
            summaries[incident.id] = Summary(incident, node, "cib",
                                             timelines.get(incident.id, []), {})
        else:
            s.incident, s.source = incident, "cib"
    return sorted(summaries.values(), key=lambda s: s.incident.lost_at)


def _event_doc(e: Event) -> dict:
    d = {"ts": e.ts.isoformat(), "event": e.event}
    if e.instance:
        d["instance"] = e.instance
    if e.request_id:
        d["request_id"] = e.request_id
    d["detail"] = e.detail
    return d


def render_text(summaries: list[Summary], *, timeline: bool = False) -> str:
    if not summaries:
        return "No incidents recorded.\n"
    rows = [["INCIDENT", "KIND", "HOST", "STATE", "SINCE", "DONE", "SKIP", "FAIL", "REASON"]]
    for s in summaries:
        c = s.counts()
        # DONE: instances evacuated (host) or brought back to ACTIVE (instance).
        numbers = ["-"] * 3 if c is None else \
            [str(c["evacuated"] + c.get("recovered", 0)), str(c["skipped"]), str(c["failed"])]
        rows.append([s.incident.id, s.kind, s.host or "-", s.incident.state,
                     s.incident.lost_at.isoformat(sep=" "), *numbers,
                     s.incident.reason[:60]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    if timeline:
        for s in summaries:
            lines += ["", f"{s.incident.id} ({s.host}, {s.incident.state}):"]
            if not s.here:
                lines.append(f"  {ELSEWHERE}")
            for e in s.timeline:
                if e.event in INSTANCE_EVENTS:
                    continue
                lines.append(f"  {e.ts.isoformat(sep=' ')}  {e.event}  {_brief(e.detail)}"
                             .rstrip())
            failed = [i for i in s.instances.values() if i["result"] == "failed"]
            for i in failed:
                lines.append(f"  FAILED {i['id']} {i['name'] or '-'}: {i['reason']}")
    return "\n".join(lines) + "\n"


def _brief(detail: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in detail.items() if v not in (None, "", {}))[:200]
