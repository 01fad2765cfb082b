"""The engine's loop keeps going whatever the alert spool holds or the wake socket
receives: bad entries are moved aside, wake-ups are checked and spaced, a failing look
is logged and the next one comes."""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time

import pytest

from hakari import config, paths
from hakari.alerts import agent
from hakari.cluster.live import Look
from hakari.engine import loop, wiring
from hakari.engine.loop import Engine
from hakari.model import ClusterSnapshot, NodeState
from tests.unit.test_alert_record import FENCING

pytestmark = pytest.mark.timeout(120)


class Counting(Engine):
    def __init__(self, *args, fail_with=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.looks = 0
        self.fail_with = fail_with

    def reconcile(self):
        self.looks += 1
        if self.fail_with is not None:
            raise self.fail_with
        return super().reconcile()


def healthy(conf):
    return ClusterSnapshot(quorate=True, dc="node1", nodes=tuple(
        NodeState(n, str(i), online=True, expected_up=True, is_dc=i == 1)
        for i, n in enumerate(("node1", "node2", "node3"), 1)))


@pytest.fixture
def running(tmp_path):
    """Start Engine.run() in a thread; yields (engine, conf path); stops and joins it."""
    conf_path = tmp_path / "hakari.conf"
    conf_path.write_text(f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n"
                         "[cluster]\nreconcile_interval = 60\n")
    started = []

    def start(**kwargs):
        conf = config.load([str(conf_path)])
        engine = Counting(conf, dataclasses.replace(
            wiring.parts(conf), look=lambda conf: Look(healthy(conf), {})),
                          **kwargs)
        thread = threading.Thread(target=engine.run, daemon=True)
        thread.start()
        started.append((engine, thread))
        wait_until(lambda: engine.looks >= 1 and os.path.exists(
            paths.wake_socket(conf.state_dir)))
        return engine, thread

    yield start, str(conf_path)
    for engine, thread in started:
        engine.stop.set()
        engine.wake.set()
        thread.join(10)
        assert not thread.is_alive()


def wait_until(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_bad_spool_entries_never_stop_the_engine(running, rename_fails):
    start, conf_path = running
    engine, thread = start()
    spool = engine.spool.dir
    os.mkfifo(os.path.join(spool, "node-" + "1" * 32 + ".json"))
    os.symlink("/etc/passwd", os.path.join(spool, "node-" + "2" * 32 + ".json"))
    with open(os.path.join(spool, "node-" + "3" * 32 + ".json"), "wb") as f:
        f.write(b"\0" * 100_000)
    # And one entry whose move fails with a disk error, every time.
    with open(os.path.join(spool, "stuck"), "w") as f:
        f.write("x")
    rename_fails("stuck")
    assert agent.main({**FENCING, "CRM_alert_recipient": conf_path}) == 0
    looks = engine.looks
    wait_until(lambda: engine.looks > looks)          # the alert's nudge
    wait_until(lambda: len(os.listdir(engine.spool.quarantine_dir)) >= 6)
    assert thread.is_alive()
    # (Names starting with "." are the spool's own: the agent's prune mark.)
    assert sorted(n for n in os.listdir(spool) if not n.startswith(".")) == ["stuck"]
    assert "Input/output error" in engine.spool.stuck["stuck"]
    # A restart (the resource restarted on this node) comes up and looks again.
    engine.stop.set()
    engine.wake.set()
    thread.join(10)
    again, thread2 = start()
    assert thread2.is_alive() and again.looks >= 1


def test_a_look_that_crashes_is_logged_and_the_loop_goes_on(running, caplog):
    start, _ = running
    engine, thread = start(fail_with=KeyError("surprise"))
    for _ in range(3):
        engine.wake.set()
        time.sleep(loop.MIN_WAKE_GAP + 0.1)
    assert thread.is_alive() and engine.looks >= 3
    crashes = [r for r in caplog.records if "reconcile failed" in r.getMessage()]
    assert len(crashes) == 1  # the same failure is logged once, not at every look


@pytest.mark.slow
def test_a_flood_of_wake_ups_does_not_keep_the_engine_looking(running):
    start, conf_path = running
    engine, thread = start()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    target = paths.wake_socket(engine.conf.state_dir)
    looks = engine.looks
    # Anyone in group haclient can write to the socket, with names that look right.
    deadline = time.monotonic() + 1.5
    sent = 0
    while time.monotonic() < deadline:
        try:
            sock.sendto(f"node-{sent:032x}.json".encode(), target)
            sent += 1
        except BlockingIOError:
            time.sleep(0.001)
    time.sleep(0.3)
    assert sent > 100 and engine.looks - looks <= 1
    # A real alert still wakes it at once.
    looks = engine.looks
    assert agent.main({**FENCING, "CRM_alert_recipient": conf_path}) == 0
    wait_until(lambda: engine.looks > looks, timeout=2.0)
    # Real alerts arriving back to back: looks are spaced by MIN_WAKE_GAP.
    looks, began = engine.looks, time.monotonic()
    for i in range(40):
        env = {**FENCING, "CRM_alert_recipient": conf_path,
               "CRM_alert_desc": FENCING["CRM_alert_desc"].replace("ref=abff", f"ref={i:04x}")}
        assert agent.main(env) == 0
        time.sleep(0.01)
    elapsed = time.monotonic() - began
    assert engine.looks - looks <= elapsed / loop.MIN_WAKE_GAP + 2
    sock.close()
