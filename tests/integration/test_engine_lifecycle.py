"""The engine's incident lifecycle against the fake Nova, with the real Pacemaker tools on
an offline CIB holding hakari's records (incidents, holds, recovery owners): operators'
decisions stick, the brake counts the cluster over a window, hosts recover side by side
within one global limit.

What the cluster shows (nodes up or lost, fencing history) is scripted; the clock the
engine reads is too, so "15 s apart" takes no 15 s.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import time

import pytest

from hakari import config, lifecycle
from hakari.cluster import attributes, ownership
from hakari.cluster.live import Look
from hakari.engine import loop, wiring
from hakari.engine.loop import Engine
from hakari.errors import HakariError
from hakari.model import ClusterSnapshot, FenceEvent, NodeState
from hakari.operator import Decisions
from hakari.recovery.host.manual import ManualEvacuation
from hakari.records.store import parse_records
from lab.fakenova.sdk import write_clouds_yaml
from tests.api_helpers import serve
from tests.soak_counters import record

pytestmark = pytest.mark.timeout(300)

CONTROLLERS = ("ctl1", "ctl2", "ctl3")
T0 = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.timezone.utc)


class Cluster:
    """The cluster as the engine's look reports it, and the engine's clock."""

    def __init__(self, computes):
        self.computes = tuple(computes)
        self.lost: set[str] = set()
        self.events: list[FenceEvent] = []
        self.now = T0

    def tick(self, seconds: float = 1.0) -> None:
        self.now += dt.timedelta(seconds=seconds)

    def lose(self, node: str) -> None:
        self.lost.add(node)

    def fence(self, node: str) -> None:
        self.events.append(FenceEvent(node, "reboot", "success", self.now, "ctl1", "ctl1"))

    def back(self, node: str) -> None:
        self.lost.discard(node)

    def snapshot(self, _conf) -> ClusterSnapshot:
        nodes = [NodeState(n, n, "member", online=True, expected_up=True, is_dc=n == "ctl1")
                 for n in CONTROLLERS]
        nodes += [NodeState(n, n, "remote", online=n not in self.lost,
                            unclean=n in self.lost, expected_up=True)
                  for n in self.computes]
        return ClusterSnapshot(True, "ctl1", tuple(nodes), tuple(self.events))


@pytest.fixture
def world(fake_nova, offline_cib, tmp_path, monkeypatch):
    """make(computes, servers_per_host, **recovery) -> (engine, cluster, fake)."""

    def make(computes=("node1", "node2", "node3"), servers=4, rebuild_time=0.05,
             **recovery):
        extra = [h for h in computes if h not in ("node1", "node2", "node3")]
        if extra:
            fake_nova.add_hosts(extra)
        fake_nova.evacuation.rebuild_time = rebuild_time
        offline_cib(*[f'<node id="{n}" uname="{n}" type="remote"/>' for n in computes],
                    *[f'<node id="{n}" uname="{n}"/>' for n in CONTROLLERS])
        clouds = write_clouds_yaml(tmp_path / "clouds.yaml", fake_nova.info())
        settings = {"max_parallel": 16, "max_parallel_per_host": 8, "poll_interval": 0.05,
                    "request_settle_time": 0.3, **recovery}
        path = tmp_path / "hakari.conf"
        path.write_text(
            f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n"
            f"[openstack]\ncloud = fakenova\nclouds_file = {clouds}\n"
            "[recovery]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        conf = config.load([str(path)])
        cluster = Cluster(computes)
        monkeypatch.setattr(loop, "utcnow", lambda: cluster.now)
        engine = Engine(conf, dataclasses.replace(wiring.parts(conf), look=lambda conf: Look(
            cluster.snapshot(conf), attributes.read_all())),
                        config_files=[str(path)])
        for host in computes:
            fake_nova.add_servers(servers, hosts=[host])
        engine.reconcile()        # everyone seen alive
        return engine, cluster, fake_nova

    return make


def states(engine) -> dict[str, str]:
    return {n: i.state for n, i in parse_records(attributes.read_all()).incidents.items()}


def evacuations(fake) -> collections.Counter:
    return collections.Counter(r.path.split("/")[-2]
                               for r in fake.requests(route="servers.action.evacuate"))


def moves(fake) -> collections.Counter:
    """Evacuations per (instance, host it left): an instance moved onto a host that
    then dies is rightly evacuated again, from there."""
    return collections.Counter((m["instance_uuid"], m["source_compute"])
                               for m in fake.migrations() if m["migration_type"] ==
                               "evacuation")


def look(engine, cluster, times=1, seconds=1.0) -> None:
    for _ in range(times):
        cluster.tick(seconds)
        engine.reconcile()


def settle(engine, timeout=60.0) -> None:
    assert engine.wait_idle(timeout), "recovery still running"


def test_staggered_double_loss_is_blocked_until_released(world):
    """2 of 3 computes lost 15 s apart: a mass failure, even though each look saw one."""
    engine, cluster, fake = world()
    cluster.lose("node1")
    look(engine, cluster)                        # node1 DETECTED
    cluster.tick(15)
    cluster.lose("node2")
    cluster.fence("node1")
    cluster.fence("node2")
    look(engine, cluster, times=2)
    settle(engine)
    assert states(engine) == {"node1": lifecycle.BLOCKED, "node2": lifecycle.BLOCKED}
    for _ in range(20):
        look(engine, cluster)
        settle(engine)
        assert states(engine) == {"node1": lifecycle.BLOCKED, "node2": lifecycle.BLOCKED}
    # An evacuation or a service change while braked would be an unsafe action.
    braked_changes = fake.requests(route="servers.action.evacuate") + \
        fake.requests(route="services.update")
    assert braked_changes == []
    assert evacuations(fake) == {}
    assert fake.host("node3")["status"] == "enabled"

    outcomes = Decisions(engine.conf).release(None, "rack power checked", "alice@ctl1")
    assert [o.node for o in outcomes if o.done] == ["node1", "node2"]
    look(engine, cluster, times=2)
    settle(engine)
    look(engine, cluster)
    settle(engine)
    assert states(engine) == {"node1": lifecycle.EVACUATED, "node2": lifecycle.EVACUATED}
    moved = evacuations(fake)
    record("mass-failure-brake", scenarios=1, unsafe=len(braked_changes), recovered=len(moved),
           duplicates=sum(n - 1 for n in moves(fake).values()))
    assert len(moved) == 8 and set(moved.values()) == {1}
    records = parse_records(attributes.read_all()).incidents
    assert records["node1"].released_by == "alice@ctl1"


def test_two_of_three_lost_at_once_touch_nothing_and_one_of_three_is_recovered(world):
    engine, cluster, fake = world()
    for node in ("node2", "node3"):
        cluster.lose(node)
    look(engine, cluster)
    for node in ("node2", "node3"):
        cluster.fence(node)
    look(engine, cluster, times=3)
    settle(engine)
    # An evacuation or a service change while braked would be an unsafe action.
    changes = fake.requests(route="servers.action.evacuate") + \
        fake.requests(route="services.update")
    record("mass-failure-brake", scenarios=1, unsafe=len(changes))
    assert changes == []
    assert states(engine) == {"node2": lifecycle.BLOCKED, "node3": lifecycle.BLOCKED}
    assert any(e.event == "brake" for e in engine.journal.read())
    # Released while back online (a reboot fencing powered them on): nothing is
    # evacuated, and the incident may not wait in RELEASED for a nova-compute that
    # compute-guard holds back in RELEASED: it goes HOST_RETURNED, then ENABLED once up.
    fake.kill_host("node2")
    Decisions(engine.conf).release(None, "", "frank@ctl1")
    for node in ("node2", "node3"):
        cluster.back(node)
    look(engine, cluster, times=2)
    settle(engine)
    assert states(engine) == {"node2": lifecycle.HOST_RETURNED, "node3": lifecycle.ENABLED}
    fake.revive_host("node2")
    look(engine, cluster)
    assert states(engine) == {"node2": lifecycle.ENABLED, "node3": lifecycle.ENABLED}
    assert evacuations(fake) == {}
    # The default brake still recovers one host of three.
    cluster.tick(300)                             # a later, lone loss
    cluster.lose("node1")
    look(engine, cluster)
    cluster.fence("node1")
    look(engine, cluster)
    settle(engine)
    assert states(engine)["node1"] == lifecycle.EVACUATED


@pytest.mark.slow
def test_the_brake_stops_a_recovery_under_way_and_nothing_is_doubled(world):
    engine, cluster, fake = world(servers=12, rebuild_time=0.6, max_parallel_per_host=2)
    cluster.lose("node1")
    look(engine, cluster)
    cluster.fence("node1")
    look(engine, cluster)                        # node1 recovering, 2 at a time
    deadline = time.monotonic() + 20
    while not evacuations(fake) and time.monotonic() < deadline:
        time.sleep(0.05)
    cluster.tick(20)
    cluster.lose("node2")                        # within the window: a mass failure
    look(engine, cluster)
    settle(engine)
    assert states(engine) == {"node1": lifecycle.BLOCKED, "node2": lifecycle.BLOCKED}
    first = evacuations(fake)
    assert 0 < len(first) < 12                   # stopped part way
    look(engine, cluster, times=5)
    settle(engine)
    assert evacuations(fake) == first
    cluster.fence("node2")
    Decisions(engine.conf).release(["node1", "node2"], "", "bob@ctl2")
    for _ in range(4):
        look(engine, cluster)
        settle(engine)
    assert states(engine) == {"node1": lifecycle.EVACUATED, "node2": lifecycle.EVACUATED}
    record("mass-failure-brake", scenarios=1, recovered=len(moves(fake)),
           duplicates=sum(n - 1 for n in moves(fake).values()))
    assert len(evacuations(fake)) == 24 and set(moves(fake).values()) == {1}


def test_a_failed_recovery_is_left_alone_until_retried(world):
    engine, cluster, fake = world(max_attempts=1)
    [bad] = fake.add_servers(1, hosts=["node1"])
    fake.set_evacuation_outcome(bad, "error")
    cluster.lose("node1")
    look(engine, cluster)
    cluster.fence("node1")
    look(engine, cluster)
    settle(engine)
    assert states(engine) == {"node1": lifecycle.FAILED}
    requests_before = len(fake.requests())
    for _ in range(20):
        look(engine, cluster)
        settle(engine)
    assert states(engine) == {"node1": lifecycle.FAILED}
    assert not [r for r in fake.requests()[requests_before:]
                if r.method != "GET" and r.route != "identity.tokens"]
    assert evacuations(fake)[bad] == 1

    outcomes = Decisions(engine.conf).retry(["node1"], "scheduler fixed", "carol@ctl3")
    assert outcomes[0].done and outcomes[0].incident.state == lifecycle.RELEASED
    look(engine, cluster, times=2)
    settle(engine)
    assert states(engine) == {"node1": lifecycle.EVACUATED}
    assert evacuations(fake)[bad] == 2 and set(evacuations(fake).values()) <= {1, 2}


def test_a_held_host_is_never_touched(world):
    engine, cluster, fake = world()
    Decisions(engine.conf).hold("node2", "firmware upgrade", "dave@ctl1")
    cluster.lose("node2")
    cluster.fence("node2")
    look(engine, cluster, times=10)
    settle(engine)
    assert states(engine) == {}
    assert evacuations(fake) == {}
    assert fake.requests(route="services.update") == []
    assert fake.host("node2")["status"] == "enabled"
    # Unheld: the engine acts on what is true now (lost since it was last seen alive).
    assert Decisions(engine.conf).unhold("node2").done
    look(engine, cluster, times=3)
    settle(engine)
    assert states(engine) == {"node2": lifecycle.EVACUATED}


def test_excluded_hosts_are_holds_and_sighup_rereads_them(world):
    engine, cluster, fake = world(excluded_hosts="node3")
    cluster.lose("node3")
    cluster.fence("node3")
    look(engine, cluster, times=3)
    assert states(engine) == {} and evacuations(fake) == {}
    path = engine.config_files[0]
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("excluded_hosts = node3\n", ""))
    engine.reload.set()
    engine.look()                                 # what the loop does after SIGHUP
    look(engine, cluster, times=2)
    settle(engine)
    assert states(engine) == {"node3": lifecycle.EVACUATED}


@pytest.mark.slow
def test_a_host_lost_during_a_long_recovery_starts_at_once_within_one_limit(world):
    engine, cluster, fake = world(computes=("node1", "node2", "node3", "node4", "node5"),
                                  servers=0, rebuild_time=0.3, max_parallel=6,
                                  max_parallel_per_host=6)
    fake.add_servers(200, hosts=["node1"])
    on_node2 = set(fake.add_servers(20, hosts=["node2"]))
    cluster.lose("node1")
    look(engine, cluster)
    cluster.fence("node1")
    look(engine, cluster)
    deadline = time.monotonic() + 20
    while len(evacuations(fake)) < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    cluster.tick(120)                             # outside the brake's window
    cluster.lose("node2")
    look(engine, cluster)
    cluster.fence("node2")
    look(engine, cluster)                         # confirmed: starts now
    started = time.monotonic()
    while time.monotonic() - started < 5 and not set(evacuations(fake)) & on_node2:
        time.sleep(0.02)
    assert time.monotonic() - started < 5, "node2 waited for node1's recovery"
    assert states(engine)["node1"] == lifecycle.EVACUATING
    settle(engine, timeout=120)
    assert states(engine) == {"node1": lifecycle.EVACUATED, "node2": lifecycle.EVACUATED}
    moved = evacuations(fake)
    assert len(moved) == 220 and set(moved.values()) == {1}
    assert fake.stats()["rebuilds"]["peak"] <= 6
    assert engine._slots.peak <= 6 and engine._slots.used == 0


def test_an_operator_and_the_engine_never_recover_one_host_at_once(world):
    engine, cluster, fake = world()
    operator = ownership.Owner.start("operator", "erin@ctl2")
    with ownership.owning("node1", operator, timeout=30, stale_after=90):
        cluster.lose("node1")
        look(engine, cluster)
        cluster.fence("node1")
        look(engine, cluster)
        settle(engine)
        assert evacuations(fake) == {}
        assert states(engine)["node1"] == lifecycle.FENCE_CONFIRMED
    look(engine, cluster)                         # released: the engine takes it up
    settle(engine)
    assert states(engine) == {"node1": lifecycle.EVACUATED}
    with ownership.owning("node2", ownership.Owner.start("engine", "ctl1"),
                          timeout=30, stale_after=90):
        with pytest.raises(ownership.OwnedElsewhere, match="engine on ctl1") as err:
            ownership.acquire("node2", operator, timeout=30, stale_after=90)
    assert err.value.exit_code == 2


def test_hakari_evacuate_refuses_while_the_engine_recovers_the_host(world):
    engine, cluster, fake = world()
    cluster.lose("node1")
    look(engine, cluster)
    cluster.fence("node1")
    job = ManualEvacuation(engine.conf, "node1", look=lambda conf: Look(
        cluster.snapshot(conf), attributes.read_all()))
    preview = job.prepare()
    with ownership.owning("node1", ownership.Owner.start("engine", "ctl3"),
                          timeout=30, stale_after=90):
        with pytest.raises(ownership.OwnedElsewhere, match="the engine on ctl3") as err:
            job.execute(preview)
    assert err.value.exit_code == 2
    assert evacuations(fake) == {} and fake.requests(route="services.update") == []
    # Free again: the operator's recovery runs, and the engine then leaves it alone.
    report = job.execute(job.prepare())
    assert report.incident.state == lifecycle.EVACUATED
    assert set(moves(fake).values()) == {1}


def test_one_look_that_sees_the_loss_and_its_fencing_starts_recovery(world):
    """Lost and already fenced when the engine looks (an alert can arrive after the
    fencing): that one look opens the incident, confirms it and starts evacuating."""
    engine, cluster, fake = world(computes=("node1", "node2", "node3"), servers=2)
    cluster.lose("node1")
    cluster.tick()
    cluster.fence("node1")
    look(engine, cluster)                         # one look, no second one
    settle(engine)
    assert states(engine) == {"node1": lifecycle.EVACUATED}
    assert moves(fake) and set(moves(fake).values()) == {1}
    assert {src for _, src in moves(fake)} == {"node1"}


@pytest.mark.slow
def test_the_masakari_model_drives_recovery(world, tmp_path):
    """Segments made through the API drive the engine: a segment's lost host goes to the
    segment's reserved host, which the API then shows taken (reserved false); a host in
    no segment follows the configuration; a disabled segment's host is held."""
    engine, cluster, fake = world(computes=("node1", "node2", "node3", "node4", "node5"),
                                  servers=2, target="reserved_host", reserved_hosts="node5")
    for spare in ("node2", "node5"):              # reserved hosts wait disabled, as usual
        fake.set_service(spare, disabled=True, disabled_reason="spare")
    (tmp_path / "api").mkdir()
    api, stop = serve(fake, tmp_path / "api")
    try:
        ha = api.sdk(instance_ha_api_version="1.2").instance_ha
        rack = ha.create_segment(name="rack1", recovery_method="reserved_host",
                                 service_type="COMPUTE")
        made = {name: ha.create_host(rack.uuid, name=name, type="COMPUTE",
                                     control_attributes="SSH", reserved=name == "node2")
                for name in ("node1", "node2", "node3")}

        cluster.lose("node1")
        look(engine, cluster)
        cluster.fence("node1")
        look(engine, cluster)
        settle(engine)
        assert states(engine) == {"node1": lifecycle.EVACUATED}
        moved = fake.migrations(source="node1")
        assert len(moved) == 2 and {m["dest_compute"] for m in moved} == {"node2"}
        assert fake.host("node2")["status"] == "enabled"
        assert ha.get_host(made["node2"].uuid, rack.uuid).reserved is False
        [taken] = [e for e in engine.journal.read() if e.event == "reserved-host"]
        assert (taken.detail["target"], taken.detail["marked"]) == \
            ("node2", "no longer a reserved host of segment rack1")

        cluster.tick(120)                         # a later, lone loss
        cluster.lose("node4")                     # in no segment: the configuration's
        look(engine, cluster)
        cluster.fence("node4")
        look(engine, cluster)
        settle(engine)
        assert states(engine)["node4"] == lifecycle.EVACUATED
        assert {m["dest_compute"] for m in fake.migrations(source="node4")} == {"node5"}
        assert attributes.read_all().get("node5") is None   # configured: stays reserved

        ha.update_segment(rack.uuid, is_enabled=False)
        cluster.tick(120)
        cluster.lose("node3")
        cluster.fence("node3")
        look(engine, cluster, times=5)
        settle(engine)
        assert "node3" not in states(engine)
        assert fake.migrations(source="node3") == []
        assert fake.host("node3")["status"] == "enabled"
        with pytest.raises(HakariError, match="segment rack1 is disabled.*enable segment "
                                              "rack1 through the API"):
            ManualEvacuation(engine.conf, "node3", look=lambda conf: Look(
                cluster.snapshot(conf), attributes.read_all())).prepare()
    finally:
        stop()
