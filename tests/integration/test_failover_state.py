"""Nothing the engine decides from lives on one controller's disk: each controller here
has its own state directory, and they share only an offline CIB (CIB_file, written by
the real Pacemaker tools) and the fake Nova.

Engine A dies mid-evacuation, its second evacuate request of a stopped instance (the
first failed, leaving it in ERROR) still on its way to Nova; engine B, its state
directory empty, finishes: one evacuation per instance, each in its power state from
before the loss. `hakari incidents` then shows the same incidents on every controller.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import threading
import time
import uuid

import pytest

from hakari import cli, lifecycle
from hakari.cluster import attributes
from hakari.cluster.live import Look
from hakari.engine import wiring
from hakari.engine.loop import Engine
from hakari.model import ClusterSnapshot, FenceEvent, Incident, NodeState
from hakari.records.failures import PROCESS, new_failure
from hakari.records.journal import Journal
from hakari.records.store import ORIGINALS_LIMIT, ClusterStore, incident_id, parse_records
from hakari.recovery.host.evacuator import Limits
from hakari.recovery.host.recovery import HostRecovery, Job
from hakari.recovery.policy import Policy
from tests.recovery_helpers import conf_for_fake, nova as nova_for

pytestmark = pytest.mark.timeout(120)

MEMBERS = ("ctl1", "ctl2", "ctl3")
COMPUTES = ("node1", "node2", "node3")
# How long an evacuate request takes to reach Nova, and how long hakari waits for one
# whose answer it never saw: the successor must outwait the first with the second.
IN_THE_AIR = 0.3
SETTLE = 0.8


class Dies(BaseException):
    """The process is killed: nothing it does after this reaches Nova or the CIB."""


class DyingJournal(Journal):
    """Engine A's journal. Once ``victim``'s first attempt failed, A sends its retry
    (``on_retry`` makes that one fail too) and dies at its next step, the retry still on
    its way to Nova."""

    def __init__(self, path: str, victim: str, on_retry):
        super().__init__(path)
        self.victim = victim
        self.on_retry = on_retry
        self.failed_once = False
        self.killed = threading.Event()

    def append(self, *events):
        if self.killed.is_set():
            raise Dies()
        super().append(*events)
        if self.failed_once and any(e.event == "evacuate-requested" for e in events):
            self.killed.set()           # sent; A is gone before Nova answers
        elif any(e.event == "retry" and e.instance == self.victim for e in events):
            self.on_retry()
            self.failed_once = True


def controller(fake, tmp_path, name):
    """The configuration of controller ``name``: its own state directory."""
    (tmp_path / name).mkdir()
    return conf_for_fake(fake, tmp_path / name, max_parallel=3, max_parallel_per_host=3,
                         poll_interval=0.05, request_settle_time=SETTLE)


def snapshot(lost_at: dt.datetime, back: bool = False) -> ClusterSnapshot:
    nodes = [NodeState(n, n, "member", online=True, expected_up=True, is_dc=n == "ctl1")
             for n in MEMBERS]
    nodes += [NodeState(n, n, "remote", online=back or n != "node2", expected_up=True)
              for n in COMPUTES]
    fenced = FenceEvent("node2", "off", "success", lost_at + dt.timedelta(seconds=1),
                        "ctl1", "ctl1")
    return ClusterSnapshot(True, "ctl1", tuple(nodes), (fenced,))


def incidents_cli(tmp_path, name, capsys, *args):
    """`hakari incidents` on controller ``name``."""
    conf = str(tmp_path / name / "hakari.conf")
    assert cli.main(["--config-file", conf, "incidents", *args]) == 0
    return capsys.readouterr().out


@pytest.fixture
def cib(offline_cib):
    return offline_cib(*[f'<node id="{n}" uname="{n}" type="remote"/>' for n in COMPUTES],
                       *[f'<node id="{n}" uname="{n}"/>' for n in MEMBERS])


@pytest.mark.slow
def test_engine_failover_mid_evacuation_finishes_once_from_the_cib_and_nova(
        fake_nova, cib, tmp_path, capsys):
    fake = fake_nova
    # The victim goes first (highest priority) and its first two evacuations fail: Nova
    # then shows it ERROR, and only the CIB still says it was SHUTOFF.
    victim = fake.add_server("node2", status="SHUTOFF", metadata={"hakari:priority": "9"})
    stopped = [victim] + fake.add_servers(2, hosts=["node2"], status="SHUTOFF")
    active = fake.add_servers(4, hosts=["node2"])
    fake.set_evacuation_outcome(victim, "error")
    fake.set_latency(IN_THE_AIR, route="servers.action.evacuate")
    # Long enough that a second request for an instance lands while its first rebuilds.
    fake.evacuation.rebuild_time = IN_THE_AIR
    fake.kill_host("node2")

    # Engine A, on ctl1: the recovery worker of an engine that took the incident this far.
    conf_a = controller(fake, tmp_path, "ctl1")
    journal_a = DyingJournal(Journal.open(conf_a.state_dir).path, victim,
                             lambda: fake.set_evacuation_outcome(victim, "error"))
    store_a = ClusterStore(journal_a)
    lost_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    inc = store_a.save(Incident(incident_id("node2", lost_at), "node2", lost_at), "node2")
    inc = store_a.transition(inc, "node2", lifecycle.FENCE_CONFIRMED, "fenced")
    recovery_a = HostRecovery(nova_for(conf_a), store_a, journal_a, Policy.from_config(conf_a),
                              Limits.from_config(conf_a))
    died = []

    def engine_a():
        try:
            recovery_a.run([Job(inc, "node2")])
        except Dies:
            died.append(True)

    thread_a = threading.Thread(target=engine_a, daemon=True)
    thread_a.start()
    assert journal_a.killed.wait(30), "engine A never reached the point it dies at"
    deadline = time.monotonic() + IN_THE_AIR / 2
    while not any(r.status is None for r in fake.requests(route="servers.action.evacuate")):
        assert time.monotonic() < deadline, "no evacuate request on its way when A died"
        time.sleep(0.01)

    # Engine B, on ctl2, at once: its state directory is empty, the CIB is all it has.
    conf_b = controller(fake, tmp_path, "ctl2")
    cluster = {"back": False}
    engine_b = Engine(conf_b, dataclasses.replace(wiring.parts(conf_b), look=lambda conf: Look(
        snapshot(lost_at, cluster["back"]), attributes.read_all())))
    assert list(engine_b.journal.read()) == []
    engine_b.reconcile()
    assert engine_b.wait_idle(60)
    thread_a.join(30)
    assert died == [True] and not thread_a.is_alive()

    record = parse_records(attributes.read_all()).incidents["node2"]
    assert record.id == inc.id and record.state == lifecycle.EVACUATED
    # One successful evacuation per instance, none doubled; each in its power state.
    moves = collections.Counter(m["instance_uuid"] for m in fake.migrations(source="node2")
                                if m["status"] in ("done", "completed"))
    assert moves == {sid: 1 for sid in stopped + active}
    assert fake.stats()["double_evacuations"]["total"] == 0
    for sid in stopped + active:
        s = fake.server(sid)
        assert s["host"] in ("node1", "node3")
        assert s["status"] == ("SHUTOFF" if sid in stopped else "ACTIVE"), (sid, s)
    # B planned only after A's last requests had landed.
    kinds = [e.event for e in engine_b.journal.read(inc.id)]
    assert "resume-wait" in kinds and "originals" not in kinds

    # The same incidents on every controller; the timeline where the journal has it.
    controller(fake, tmp_path, "ctl3")
    docs = {name: json.loads(incidents_cli(tmp_path, name, capsys, "--format", "json"))
            for name in ("ctl2", "ctl3")}
    for doc in docs.values():
        assert doc["cluster"] is True
        assert [(i["id"], i["state"]) for i in doc["incidents"]] == \
            [(inc.id, lifecycle.EVACUATED)]
    assert docs["ctl2"]["incidents"][0]["timeline_here"]
    assert docs["ctl2"]["incidents"][0]["counts"]["evacuated"] == len(stopped + active)
    assert not docs["ctl3"]["incidents"][0]["timeline_here"]
    assert docs["ctl3"]["incidents"][0]["counts"] is None
    text = incidents_cli(tmp_path, "ctl3", capsys, "--timeline")
    assert "timeline: kept on the controller that ran the recovery" in text

    # The host comes back: the incident closes, and its original statuses leave the CIB.
    assert attributes.query("node2", "hakari-originals")
    fake.revive_host("node2")
    cluster["back"] = True
    for _ in range(20):
        engine_b.reconcile()
        if parse_records(attributes.read_all()).incidents["node2"].state == \
                lifecycle.ENABLED:
            break
        time.sleep(0.1)
    assert parse_records(attributes.read_all()).incidents["node2"].state == lifecycle.ENABLED
    assert attributes.query("node2", "hakari-originals") is None

    # A process failure recorded on ctl3 is every controller's too.
    ctl3 = ClusterStore(Journal.open(str(tmp_path / "ctl3" / "state")))
    failure = ctl3.failures().save(new_failure(PROCESS, "node3", "node3", "failing"))
    assert engine_b.store.failures().all_open(PROCESS) == [failure]
    [shown] = [i for i in json.loads(incidents_cli(tmp_path, "ctl2", capsys, "--format",
                                                   "json"))["incidents"]
               if i["kind"] == "process"]
    assert shown["id"] == failure.id and shown["state"] == failure.state
    assert shown["source"] == "cib" and not shown["timeline_here"]


def test_originals_at_their_bound_go_through_crm_attribute(cib, tmp_path):
    store = ClusterStore(Journal.open(str(tmp_path / "state")))
    inc = Incident("node2-1", "node2", dt.datetime.now(dt.timezone.utc),
                   lifecycle.EVACUATING)
    statuses = {str(uuid.UUID(int=i)): "ACTIVE" for i in range(ORIGINALS_LIMIT + 10)}
    statuses[str(uuid.uuid4())] = "SHUTOFF"
    store.keep_originals(inc, "node2", statuses)
    kept = store.originals(inc)
    assert len(kept) == ORIGINALS_LIMIT and "SHUTOFF" in kept.values()
    assert all(statuses[i] == s for i, s in kept.items())
    assert len(attributes.query("node2", "hakari-originals")) < 64 * 1024
    store.forget_originals(inc)
    assert attributes.query("node2", "hakari-originals") is None
