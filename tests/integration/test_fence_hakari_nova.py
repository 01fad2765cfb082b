"""fence_hakari against real Nova (the Nova lab), with an offline CIB for its records."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hakari import lifecycle
from hakari.cluster import attributes
from tests.fixtures_nova import wait_for


@pytest.fixture
def cib(offline_cib):
    return offline_cib(*(f'<node id="{i}" uname="node{i}"/>' for i in (1, 2, 3)))


@pytest.fixture
def conf_file(nova, tmp_path):
    f = tmp_path / "hakari.conf"
    f.write_text(f"[openstack]\ncloud = {nova.cloud_name()}\n"
                 f"clouds_file = {nova.clouds_yaml}\n")
    return f


def agent(stdin: str, conf_file) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hakari.resource_agents.fence_hakari"],
        input=stdin + f"config_file={conf_file}\n", capture_output=True, text=True,
        timeout=120)


def compute(conn, host):
    return next(iter(conn.compute.services(binary="nova-compute", host=host)))


def set_incident(node, state):
    attributes.update(node, "hakari-incident",
                      json.dumps({"id": "inc-1", "state": state,
                                  "lost_at": "2026-11-25T07:00:00+00:00"}))


def test_off_forces_down_then_disables_idempotently(nova, nova_admin, cib, conf_file):
    nova.control.stop_compute("node2")
    proc = agent("action=off\nport=node2\nnodename=node2\n", conf_file)
    assert proc.returncode == 0, proc.stderr
    assert "Success" in proc.stdout
    svc = compute(nova_admin, "node2")
    assert svc.is_forced_down and svc.status == "disabled"
    assert svc.disabled_reason.startswith("hakari: fenced at ")
    assert attributes.query("node2", "hakari-fenced")
    # Other computes untouched.
    assert not compute(nova_admin, "node1").is_forced_down
    # A second fencing changes nothing and still succeeds.
    again = agent("action=reboot\nport=node2\n", conf_file)
    assert again.returncode == 0, again.stderr
    assert compute(nova_admin, "node2").disabled_reason == svc.disabled_reason

    status = agent("action=status\nport=node2\n", conf_file)
    assert status.returncode == 2 and "Status: OFF" in status.stdout
    status1 = agent("action=status\nport=node1\n", conf_file)
    assert status1.returncode == 0 and "Status: ON" in status1.stdout


def test_on_waits_for_evacuation_then_enables(nova, nova_admin, cib, conf_file):
    nova.control.stop_compute("node3")
    assert agent("action=off\nport=node3\n", conf_file).returncode == 0
    set_incident("node3", lifecycle.EVACUATING)
    blocked = agent("action=on\nport=node3\nevacuation_wait=1\n", conf_file)
    assert blocked.returncode == 1
    assert "evacuation not finished" in blocked.stderr
    svc = compute(nova_admin, "node3")
    assert svc.is_forced_down and svc.status == "disabled"

    set_incident("node3", lifecycle.EVACUATED)
    nova.control.start_compute("node3")
    done = agent("action=on\nport=node3\nevacuation_wait=1\n", conf_file)
    assert done.returncode == 0, done.stderr
    svc = compute(nova_admin, "node3")
    assert not svc.is_forced_down and svc.status == "enabled"
    assert attributes.query("node3", "hakari-fenced") is None
    wait_for(lambda: compute(nova_admin, "node3").state == "up", 60, what="node3 up")


def test_on_keeps_a_host_disabled_by_someone_else(nova, nova_admin, cib, conf_file):
    svc = compute(nova_admin, "node1")
    nova_admin.compute.disable_service(svc, disabled_reason="maintenance window")
    done = agent("action=on\nport=node1\n", conf_file)
    assert done.returncode == 0, done.stderr
    svc = compute(nova_admin, "node1")
    assert svc.status == "disabled" and svc.disabled_reason == "maintenance window"


def test_failed_incident_blocks_unfencing(nova, nova_admin, cib, conf_file):
    set_incident("node2", lifecycle.FAILED)
    proc = agent("action=on\nport=node2\n", conf_file)
    assert proc.returncode == 1 and "needs an operator" in proc.stderr


def test_list_and_monitor(nova, cib, conf_file):
    listed = agent("action=list\n", conf_file)
    assert listed.returncode == 0
    assert {line.split(",")[0] for line in listed.stdout.split()} == {"node1", "node2", "node3"}
    assert agent("action=monitor\n", conf_file).returncode == 0


def test_garbage_changes_nothing_in_nova(nova, nova_admin, cib, conf_file):
    before = [(s.host, s.status, s.is_forced_down)
              for s in nova_admin.compute.services(binary="nova-compute")]
    proc = agent("action=off\nport=node2\n\x00\x01garbage\n", conf_file)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    after = [(s.host, s.status, s.is_forced_down)
             for s in nova_admin.compute.services(binary="nova-compute")]
    assert before == after


def test_unreachable_nova_fails_cleanly(cib, tmp_path):
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  dead:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n"
                      "      username: a\n      password: secret-word\n"
                      "      project_name: a\n      user_domain_name: Default\n"
                      "      project_domain_name: Default\n")
    conf = tmp_path / "h.conf"
    conf.write_text(f"[openstack]\ncloud = dead\nclouds_file = {clouds}\napi_timeout = 3\n")
    proc = agent("action=off\nport=node2\n", conf)
    assert proc.returncode == 1
    assert "fence_hakari: error:" in proc.stderr and "Traceback" not in proc.stderr
    assert "secret-word" not in proc.stderr + proc.stdout
