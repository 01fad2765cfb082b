"""The engine's instance watch against real Nova (the Nova lab): a guest that stops behind
Nova's back, which nova-compute's power-state sync then stops itself, is started again by
the engine with no notification from anyone; a user's own `server stop`, an instance that
is not HA and a crash on a held host are left alone.

The engine runs as `hakari engine` runs it (its loop and its watch thread), with the
cluster's look scripted (every node online, quorate) and hakari's records in an offline
CIB the real Pacemaker tools write.
"""

from __future__ import annotations

import dataclasses
import threading

import pytest

from hakari import config
from hakari.cluster import attributes
from hakari.cluster.live import Look
from hakari.engine import wiring
from hakari.engine.loop import Engine
from hakari.model import ClusterSnapshot, NodeState
from hakari.records.failures import INSTANCE
from tests.fixtures_nova import nova_connection, wait_for

pytestmark = pytest.mark.timeout(120)

COMPUTES = ("node1", "node2", "node3")
HA = {"evacuable": "true"}


def snapshot() -> ClusterSnapshot:
    nodes = [NodeState("ctl1", "ctl1", "member", online=True, expected_up=True, is_dc=True)]
    nodes += [NodeState(n, n, "remote", online=True, expected_up=True) for n in COMPUTES]
    return ClusterSnapshot(True, "ctl1", tuple(nodes), ())


@pytest.fixture
def engine(nova, offline_cib, tmp_path):
    """A running engine on the Nova lab: HA instances are those tagged evacuable; node3
    is held ([recovery] excluded_hosts). Stopped afterwards."""
    offline_cib('<node id="ctl1" uname="ctl1"/>',
                *[f'<node id="{n}" uname="{n}" type="remote"/>' for n in COMPUTES])
    path = tmp_path / "hakari.conf"
    path.write_text(
        f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n"
        f"[cluster]\nreconcile_interval = 1\n"
        f"[openstack]\ncloud = {nova.cloud_name()}\nclouds_file = {nova.clouds_yaml}\n"
        "[recovery]\ninstance_selection = tagged\nexcluded_hosts = node3\n"
        "[instance_failure]\nwatch_interval = 1\npoll_interval = 0.2\n"
        "verify_timeout = 60\n")
    conf = config.load([str(path)])
    eng = Engine(conf, dataclasses.replace(
        wiring.parts(conf), look=lambda conf: Look(snapshot(), attributes.read_all())))
    runner = threading.Thread(target=eng.run, name="test-engine", daemon=True)
    runner.start()
    try:
        yield eng
    finally:
        eng.stop.set()
        runner.join(30)
        assert eng.instances.wait_idle(60)


def status(conn, sid) -> str:
    s = conn.compute.get_server(sid)
    return s.status if not s.task_state else f"{s.status}/{s.task_state}"


def test_a_crash_is_recovered_with_no_notification_and_a_users_stop_is_left(
        nova, nova_admin, engine):
    [crashed] = nova.control.boot_servers("node1", metadata=HA, name="crashed")
    [stopped] = nova.control.boot_servers("node2", metadata=HA, name="stopped")
    [plain] = nova.control.boot_servers("node2", name="plain")
    [held] = nova.control.boot_servers("node3", metadata=HA, name="held")
    nova_connection(nova, "demo").compute.stop_server(stopped["id"])
    for server in (crashed, plain, held):
        nova.control.crash_server(server["id"])

    # Nova stops the crashed guests itself; the engine starts the HA one on its own.
    wait_for(lambda: status(nova_admin, crashed["id"]) == "ACTIVE", timeout=45,
             what="the crashed HA instance ACTIVE again")
    assert engine.instances.wait_idle(30)     # its recovery verified and recorded it
    book = engine.store.failures()
    [incident] = [f for f in book.all().values() if f.kind == INSTANCE]
    assert incident.target == crashed["id"] and incident.state == "RECOVERED"
    assert incident.attempts == 1
    [reported] = [e for e in book.journal.read() if e.event == "reported"]
    assert reported.detail["source"] == "engine instance watch"
    assert "stop by Nova itself (req-" in reported.detail["cause"]
    # What Nova recorded: its own stop (no user), then one start, hakari's.
    actions = [(a.action, a.user_id is None)
               for a in nova_admin.compute.server_actions(crashed["id"])]
    assert actions[:2] == [("start", False), ("stop", True)]

    # Two more watches: everything else is where it was left.
    seen = engine.instances.watch.since
    wait_for(lambda: engine.instances.watch.since > seen, timeout=10, what="a later watch")
    assert engine.instances.wait_idle(30)
    for server in (stopped, plain, held):
        assert status(nova_admin, server["id"]) == "SHUTOFF", server["name"]
    # The held host's crash waits for the host to be back in service; nothing else does.
    assert engine.instances.watch.pending == {held["id"]}
    assert [f.target for f in book.all().values()] == [crashed["id"]]
