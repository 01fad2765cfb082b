"""hakari incidents: summaries from journal events and CIB records."""

from __future__ import annotations

import datetime as dt

from hakari import lifecycle
from hakari.model import Incident
from hakari.records.failures import PROCESS, Failure
from hakari.records.history import ELSEWHERE, render_text, summarize
from hakari.records.journal import Event

T0 = dt.datetime(2026, 1, 1, 7, 0, tzinfo=dt.timezone.utc)


def state(inc, st, node="node2", reason=""):
    return Event(T0, inc, node, "state", detail={"node": node, "state": st,
                                                  "lost_at": T0.isoformat(), "reason": reason})


def test_summary_state_timeline_and_results():
    events = [state("i1", lifecycle.DETECTED), Event(T0, "i1", "node2", "fencing-assumed"),
              Event(T0, "i1", "node2", "evacuate-requested", "a", None, {"name": "web"}),
              Event(T0, "i1", "node2", "result", "a", None,
                    {"result": "evacuated", "dest_host": "node3", "name": "web"}),
              Event(T0, "i1", "node2", "result", "b", None,
                    {"result": "failed", "reason": "No valid host", "name": "db"}),
              state("i1", lifecycle.FAILED, reason="1 failed")]
    [s] = summarize(events)
    assert s.incident.state == lifecycle.FAILED and s.source == "journal"
    assert s.counts() == {"evacuated": 1, "skipped": 0, "failed": 1}
    doc = s.document()
    assert [e["event"] for e in doc["timeline"]] == ["state", "fencing-assumed", "state"]
    assert len(s.document(verbose=True)["timeline"]) == 6
    assert {i["id"]: i["result"] for i in doc["instances"]} == {"a": "evacuated",
                                                                 "b": "failed"}
    text = render_text([s], timeline=True)
    assert "FAILED b db: No valid host" in text and "fencing-assumed" in text


def test_cib_state_wins_and_cib_only_incidents_show():
    events = [state("i1", lifecycle.EVACUATING)]
    cib = {"node2": Incident("i1", "node2", T0, lifecycle.EVACUATED),
           "node3": Incident("i9", "node3", T0, lifecycle.BLOCKED, reason="mass failure")}
    got = {s.incident.id: s for s in summarize(events, cib)}
    assert got["i1"].incident.state == lifecycle.EVACUATED and got["i1"].source == "cib"
    assert got["i9"].incident.state == lifecycle.BLOCKED
    assert render_text([]) == "No incidents recorded.\n"


def test_rerun_skip_does_not_mask_the_real_outcome():
    events = [state("i1", lifecycle.EVACUATED),
              Event(T0, "i1", "node2", "result", "a", None, {"result": "evacuated"}),
              Event(T0, "i1", "node2", "result", "a", None,
                    {"result": "skipped", "reason": "already evacuated"}),
              Event(T0, "i1", "node2", "result", "b", None, {"result": "failed"}),
              Event(T0, "i1", "node2", "result", "b", None, {"result": "evacuated"})]
    [s] = summarize(events)
    assert {i["id"]: i["result"] for i in s.instances.values()} == {"a": "evacuated",
                                                                    "b": "evacuated"}


def test_evacuated_by_a_run_that_died_counts_as_evacuated():
    events = [state("i1", lifecycle.EVACUATED),
              Event(T0, "i1", "node2", "result", "a", None,
                    {"result": "skipped", "reason": "already evacuated",
                     "evacuated_before": True, "dest_host": "node3"})]
    [s] = summarize(events)
    assert s.counts()["evacuated"] == 1


def test_the_cibs_incidents_show_with_or_without_this_machines_timeline():
    process = Failure("process-node3-x", PROCESS, "node3", "node3", T0, "DISABLED", "failing")
    cib = {"node2": Incident("i9", "node2", T0, lifecycle.EVACUATED),
           "node4": Incident("i1", "node4", T0, lifecycle.EVACUATING)}
    events = [state("i1", lifecycle.EVACUATING, node="node4"),
              Event(T0, "i1", "node4", "result", "a", None, {"result": "evacuated"})]
    got = {s.incident.id: s for s in summarize(events, cib, {process.id: process})}
    assert got[process.id].kind == PROCESS and got[process.id].source == "cib"
    assert got[process.id].incident.state == "DISABLED"
    elsewhere, here = got["i9"].document(), got["i1"].document()
    assert elsewhere["timeline_here"] is False and elsewhere["counts"] is None
    assert here["timeline_here"] is True and here["counts"]["evacuated"] == 1
    text = render_text(list(got.values()), timeline=True)
    table = text.split("\n\n")[0].splitlines()
    [row] = [line for line in table if line.startswith("i9 ")]
    assert row.split()[6:9] == ["-", "-", "-"]
    assert text.count(ELSEWHERE) == 2        # i9 and the process incident
