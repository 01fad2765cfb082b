"""The engine on real parts: a compute node of a real Pacemaker cluster loses power, is
fenced through [power device, fence_hakari], and the engine (running on another node)
evacuates its instances in real Nova; when the node returns it is re-enabled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from hakari import lifecycle
from tests.fixtures_nova import nova_connection, require_nova_venv, wait_for

pytestmark = pytest.mark.nova

COMPUTES = ("node2", "node3")


@pytest.fixture(scope="module")
def stack(pacemaker_lab_factory):
    require_nova_venv()
    from lab.stack import Stack

    pcmk = pacemaker_lab_factory("dr", nodes=3)
    st = Stack.up(pcmk)
    try:
        yield st
    finally:
        st.down()


@pytest.fixture(scope="module")
def admin(stack):
    conn = nova_connection(stack.nova)
    yield conn
    conn.close()


@pytest.fixture
def engine(stack, tmp_path):
    conf = stack.engine_config("engine-drill", {
        "cluster": {"compute_nodes": COMPUTES, "reconcile_interval": 1},
        "recovery": {"poll_interval": 0.3}})
    log = open(tmp_path / "engine.log", "wb")
    proc = stack.pcmk.spawn("node1", [sys.executable, "-m", "hakari", "--config-file",
                                      str(conf), "engine"], stdout=log, stderr=log)
    try:
        yield proc, tmp_path / "engine.log"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


def incident(stack, node):
    raw = stack.crm_attribute(node, "hakari-incident")
    return json.loads(raw) if raw else None


def servers(admin, host):
    return list(admin.compute.servers(all_projects=True, compute_host=host))


def test_power_cut_is_recovered_and_the_host_re_enabled(stack, admin, engine):
    proc, log = engine
    booted = stack.nova.control.boot_servers("node2", project="demo", count=3)
    booted += stack.nova.control.boot_servers("node2", project="alt", count=1, stopped=True)
    elsewhere = stack.nova.control.boot_servers("node3", project="demo", count=1)
    time.sleep(2)  # the engine has seen every node online
    t0 = time.monotonic()
    stack.power_off("node2")

    # The lab's reboot fencing power-cycles node2, so it may be back (HOST_RETURNED)
    # as soon as its evacuations are over; it stays disabled until its compute restarts.
    done = wait_for(lambda: (i := incident(stack, "node2")) and i["state"] in
                    (lifecycle.EVACUATED, lifecycle.HOST_RETURNED, lifecycle.FAILED) and i,
                    timeout=120, what="node2 evacuated")
    elapsed = time.monotonic() - t0
    print(f"power cut -> all instances evacuated: {elapsed:.1f}s")
    assert done["state"] != lifecycle.FAILED, log.read_text()[-3000:]
    assert servers(admin, "node2") == []
    for s in booted:
        server = admin.compute.get_server(s["id"])
        assert server.compute_host in ("node1", "node3")
        assert server.status == ("SHUTOFF" if s["status"] == "SHUTOFF" else "ACTIVE")
    assert admin.compute.get_server(elsewhere[0]["id"]).compute_host == "node3"
    svc = next(iter(admin.compute.services(binary="nova-compute", host="node2")))
    assert svc.is_forced_down and svc.status == "disabled"
    migrations = [m for m in admin.compute.migrations(source_compute="node2",
                                                      migration_type="evacuation")]
    assert len(migrations) == len(booted)  # exactly once

    stack.power_on("node2")
    closed = wait_for(lambda: (i := incident(stack, "node2")) and i["state"] == lifecycle.ENABLED
                      and i, timeout=120, what="node2 re-enabled")
    assert closed["id"] == done["id"]
    svc = next(iter(admin.compute.services(binary="nova-compute", host="node2")))
    assert svc.status == "enabled" and not svc.is_forced_down
    assert proc.poll() is None, "engine died"
