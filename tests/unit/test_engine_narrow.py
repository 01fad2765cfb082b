"""Narrow looks in the engine: when an alert gets one (detect.narrow_scope), how it is laid
over the last full look (live.Look.over), what the engine acts on after it
(detect.acted_on), what it remembers (detect.Memory.observe), and the safety rules that
must hold with it: the brake counts the cluster, quorum is required, a narrow look that
opened an incident is followed by a full one."""

from __future__ import annotations

import dataclasses
import datetime as dt
import types

import pytest

from hakari import config, lifecycle
from hakari.alerts import agent
from hakari.cluster.live import Look
from hakari.engine import detect, loop, wiring
from hakari.engine.loop import Engine
from hakari.errors import ToolFailed
from hakari.model import ClusterSnapshot, FenceEvent, Incident, NodeState
from hakari.records.store import LocalStore, to_record
from tests.unit.test_alert_record import FENCING, NODE

T0 = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.timezone.utc)
CONTROLLERS = ("ctl1", "ctl2", "ctl3")
COMPUTES = ("c1", "c2", "c3", "c4", "c5")


def node(name, *, lost=False, kind=None):
    kind = kind or ("member" if name in CONTROLLERS else "remote")
    return NodeState(name, name, kind, online=not lost, unclean=lost, expected_up=True,
                     is_dc=name == "ctl1")


def snapshot(lost=(), events=(), quorate=True, guests=()):
    nodes = [node(n) for n in CONTROLLERS] + [node(n, lost=n in lost) for n in COMPUTES]
    nodes += [node(g, kind="guest") for g in guests]
    return ClusterSnapshot(quorate, "ctl1", tuple(nodes), tuple(events))


def fenced(target, when):
    return FenceEvent(target, "reboot", "success", when, "ctl1", "ctl1")


# --- pure parts -------------------------------------------------------------------------

def test_narrow_scope_only_for_alerts_about_a_few_known_nodes():
    view = snapshot(guests=("g1",))
    ok = dict(view=view, lost_alerts=(), age=1.0, max_age=5.0)
    assert detect.narrow_scope([("fencing", "c1"), ("node", "c2")], **ok) == {"c1", "c2"}
    assert detect.narrow_scope([("attribute", "ctl2")], **ok) == {"ctl2"}
    # Nodes alerted lost before and not seen alive since are read again.
    assert detect.narrow_scope([("fencing", "c1")], **{**ok, "lost_alerts": ["c4"]}) == {
        "c1", "c4"}
    for alerts, changes in [
            ([("fencing", "c1")], {"view": None}),              # no full look yet
            ([("fencing", "c1")], {"age": 5.0}),                # the full look is due
            ([], {}),                                           # woken without an alert
            ([("fencing", "c1"), ("resource", "ctl1")], {}),    # not about one node
            ([("fencing", "c9")], {}),                          # unknown
            ([("node", "g1")], {}),                             # a guest
            ([("node", n) for n in COMPUTES], {}),              # too many at once
    ]:
        assert detect.narrow_scope(alerts, **{**ok, **changes}) is None, (alerts, changes)


def test_look_over_the_view_keeps_the_other_nodes_and_their_fencing():
    old = T0 - dt.timedelta(hours=1)
    view = Look(snapshot(events=[fenced("c1", old), fenced("c2", old)]),
                {"c3": {"hakari-hold": "x"}}, ("failure",))
    narrow = Look(dataclasses.replace(
        snapshot(lost=("c1",), events=[fenced("c1", T0)], quorate=False), dc="ctl2",
        nodes=(node("c1", lost=True),)), {"c1": {"hakari-fenced": "y"}}, (),
        frozenset({"c1"}))
    merged = narrow.over(view)
    assert merged.fresh == {"c1"}
    assert [n.name for n in merged.snapshot.nodes] == [n.name for n in view.snapshot.nodes]
    assert {n.name for n in merged.snapshot.nodes if detect.is_lost(n)} == {"c1"}
    assert (merged.snapshot.quorate, merged.snapshot.dc) == (False, "ctl2")
    assert merged.snapshot.fence_events == (fenced("c2", old), fenced("c1", T0))
    # hakari's records are read whole by every look; process failures only by full ones.
    assert merged.attributes == {"c1": {"hakari-fenced": "y"}}
    assert merged.process_failures == ("failure",)


def test_memory_after_a_narrow_look_sees_only_the_nodes_it_read():
    memory = detect.Memory()
    memory.observe(snapshot(), T0)
    later = T0 + dt.timedelta(minutes=1)
    memory.observe(snapshot(), later, frozenset({"c1"}))
    assert memory.last_online["c1"] == later
    assert memory.last_online["c2"] == T0


def test_acted_on_after_a_narrow_look():
    steps = (detect.Step("c1", detect.OPEN, T0, fenced="proof"),
             detect.Step("c4", detect.OPEN, T0), detect.Step("c5", detect.FENCE_FAILED, T0),
             detect.Step("c2", detect.RETURNED, T0))
    decision = detect.Decision(steps)
    assert detect.acted_on(decision, None) == (steps, steps)
    # Only c1 was read: only c1 is acted on; c4, lost in the view without an incident,
    # counts for the brake; c5's failure and c2's return wait for a look that reads them.
    assert detect.acted_on(decision, frozenset({"c1"})) == (steps[:1], steps[:2])
    # Nothing starting: nothing extra to count (the brake is not asked).
    assert detect.acted_on(decision, frozenset({"c2"})) == (steps[3:], steps[3:])


# --- the engine -------------------------------------------------------------------------

class Cluster:
    """What the fake looks show, and what they were asked."""

    def __init__(self):
        self.snap = snapshot()
        self.attributes: dict = {}
        self.calls: list = []

    def full(self, _conf):
        self.calls.append("full")
        return Look(self.snap, self.attributes)

    def narrow(self, _conf, nodes, known):
        self.calls.append(set(nodes))
        assert known.nodes
        snap = dataclasses.replace(self.snap, nodes=tuple(
            n for n in self.snap.nodes if n.name in nodes),
            fence_events=tuple(e for e in self.snap.fence_events if e.target in nodes))
        return Look(snap, self.attributes, (), frozenset(nodes))


@pytest.fixture
def engine(tmp_path, monkeypatch):
    conf_path = tmp_path / "hakari.conf"
    conf_path.write_text(f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n"
                         "[cluster]\nreconcile_interval = 60\n")
    conf = config.load([str(conf_path)])
    cluster = Cluster()
    clock = [T0]
    monkeypatch.setattr(loop, "utcnow", lambda: clock[0])
    parts = wiring.parts(conf)
    nova = types.SimpleNamespace(
        compute_services=lambda: [types.SimpleNamespace(host=h) for h in COMPUTES],
        aggregates=lambda: [])
    eng = Engine(conf, dataclasses.replace(
        parts, look=cluster.full, look_narrow=cluster.narrow,
        store=LocalStore(parts.journal), connect_nova=lambda conf: nova))
    eng.alert = lambda env: agent.main({**env, "CRM_alert_recipient": str(conf_path)})
    eng.cluster, eng.clock = cluster, clock
    # Recoveries are recorded, not run: Nova here is only the brake's list of computes.
    eng.started = []
    eng._recover = lambda jobs, raw, held: eng.started.extend(jobs)
    eng.reconcile()
    assert cluster.calls == ["full"]
    return eng


def fencing_alert(target, sequence):
    return {**FENCING, "CRM_alert_node": target, "CRM_alert_node_sequence": str(sequence),
            "CRM_alert_desc": FENCING["CRM_alert_desc"].replace("node2", target).replace(
                "abff4124", f"ref{sequence}")}


def test_an_alert_gets_a_narrow_look_and_the_interval_a_full_one(engine):
    cluster = engine.cluster
    assert engine.alert(fencing_alert("c2", 1)) == 0
    engine.reconcile()
    assert cluster.calls[-1] == {"c2"}
    engine.reconcile()                      # no alert since: a full look
    assert cluster.calls[-1] == "full"
    assert engine.alert({**NODE, "CRM_alert_node": "c3"}) == 0
    engine._view_at -= 60                   # the last full look is an interval old
    engine.reconcile()
    assert cluster.calls[-1] == "full"
    engine.reload.set()                     # SIGHUP: what is watched may change
    assert engine.alert(fencing_alert("c3", 2)) == 0
    engine.look()
    assert cluster.calls[-1] == "full"


def test_a_narrow_look_that_fails_is_followed_by_a_full_one(engine, caplog):
    def broken(conf, nodes, known):
        raise ToolFailed("cibadmin: exit status 1: no", ["cibadmin"], 1, "no")

    engine._look_narrow = broken
    engine.alert(fencing_alert("c2", 1))
    engine.reconcile()
    assert engine.cluster.calls[-2:] == ["full", "full"]
    assert "narrow look failed" in caplog.text


def test_a_narrow_look_that_falls_back_becomes_the_view(engine):
    cluster = engine.cluster
    cluster.narrow = lambda conf, nodes, known: cluster.full(conf)
    engine._look_narrow = cluster.narrow
    engine.alert(fencing_alert("c2", 1))
    engine.reconcile()
    assert engine._view.fresh is None and cluster.calls[-1] == "full"


def test_a_lost_node_opened_by_a_narrow_look_then_a_full_look(engine):
    cluster, clock = engine.cluster, engine.clock
    clock[0] += dt.timedelta(seconds=10)
    cluster.snap = snapshot(lost=("c1",), events=[fenced("c1", clock[0])])
    engine.alert(fencing_alert("c1", 1))
    engine.look()
    assert cluster.calls[-1] == {"c1"}
    # Opened and confirmed in that look, dated by the last full look that saw it alive,
    # and its recovery started.
    incident = engine.store.current("c1")
    assert (incident.lost_at, incident.state) == (T0, lifecycle.FENCE_CONFIRMED)
    assert [j.incident.node for j in engine.started] == ["c1"]
    # The next look comes at once, and is full.
    assert engine.wake.is_set()
    engine.reconcile()
    assert cluster.calls[-1] == "full"


def test_the_brake_counts_the_cluster_in_a_narrow_look(engine):
    cluster, clock = engine.cluster, engine.clock
    clock[0] += dt.timedelta(seconds=10)
    # c2 and c3 were lost a moment ago: their incidents are in the CIB's records, which
    # every look reads whole. c1's fencing alert brings a narrow look at c1 alone.
    cluster.attributes = {n: {"hakari-incident": to_record(Incident(
        f"{n}-1", n, clock[0], lifecycle.DETECTED))} for n in ("c2", "c3")}
    cluster.snap = snapshot(lost=("c1", "c2", "c3"), events=[fenced("c1", clock[0])])
    engine.alert(fencing_alert("c1", 1))
    decision = engine.reconcile()
    assert cluster.calls[-1] == {"c1"}
    assert [(s.node, s.action) for s in decision.steps] == [("c1", detect.OPEN)]
    # 3 of 5 computes lost: more than half, no recovery.
    assert engine.store.current("c1").state == lifecycle.BLOCKED
    assert not engine.started


def test_no_quorum_in_a_narrow_look_stops_everything(engine):
    cluster, clock = engine.cluster, engine.clock
    clock[0] += dt.timedelta(seconds=10)
    cluster.snap = snapshot(lost=("c1",), events=[fenced("c1", clock[0])], quorate=False)
    engine.alert(fencing_alert("c1", 1))
    decision = engine.reconcile()
    assert cluster.calls[-1] == {"c1"} and decision.blocked
    assert engine.store.current("c1") is None
