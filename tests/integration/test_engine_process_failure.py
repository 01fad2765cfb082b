"""The engine's process-failure hook against the fake Nova: failed nova-compute operations
arrive through the alert spool, the host is disabled at the threshold and re-enabled by a
later look once healthy; other resources' failures and duplicates count for nothing."""

from __future__ import annotations

import dataclasses

import pytest

from hakari import config
from hakari.alerts import agent
from hakari.cluster.live import Look
from hakari.engine import wiring
from hakari.engine.loop import Engine
from hakari.model import ClusterSnapshot, NodeState
from hakari.records.failures import PROCESS, FailureBook
from tests.recovery_helpers import conf_for_fake

pytestmark = pytest.mark.timeout(120)

NODES = ("node1", "node2", "node3")


def snapshot(conf):
    return ClusterSnapshot(quorate=True, dc="node1", nodes=tuple(
        NodeState(n, str(i), online=True, expected_up=True, is_dc=n == "node1")
        for i, n in enumerate(NODES, 1)))


def status(fake, host):
    return fake.host(host)["status"]


def spool_failure(conf_path, node, rsc="hakari-nova-compute", seq=1, rc=7):
    env = {"CRM_alert_kind": "resource", "CRM_alert_node": node, "CRM_alert_rsc": rsc,
           "CRM_alert_task": "monitor", "CRM_alert_interval": "10000",
           "CRM_alert_status": "0", "CRM_alert_rc": str(rc), "CRM_alert_target_rc": "0",
           "CRM_alert_desc": "not running", "CRM_alert_exec_time": "5",
           "CRM_alert_node_sequence": str(seq),
           "CRM_alert_timestamp_epoch": str(1795473100 + seq),
           "CRM_alert_timestamp_usec": "0", "CRM_alert_version": "2.1.5",
           "CRM_alert_recipient": conf_path}
    assert agent.main(env) == 0


def test_engine_disables_at_threshold_and_reenables_when_healthy(fake_nova, tmp_path):
    conf_for_fake(fake_nova, tmp_path)
    with open(tmp_path / "hakari.conf", "a") as f:
        f.write("[process_failure]\nfailure_threshold = 2\nenable_after = 3600\n")
    conf = config.load([str(tmp_path / "hakari.conf")])
    engine = Engine(conf, dataclasses.replace(
        wiring.parts(conf), look=lambda conf: Look(snapshot(conf), {})))
    conf_path = str(tmp_path / "hakari.conf")

    spool_failure(conf_path, "node2", seq=1)
    spool_failure(conf_path, "node2", rsc="something-else", seq=2)
    spool_failure(conf_path, "node2", rc=0, seq=3)          # a success: not a failure
    engine.reconcile()
    assert status(fake_nova, "node2") == "enabled"
    [incident] = FailureBook(engine.journal).all_open(PROCESS)
    assert incident.target == "node2" and incident.state == "DETECTED"

    spool_failure(conf_path, "node2", seq=4)
    engine.reconcile()
    host = fake_nova.host("node2")
    assert host["status"] == "disabled"
    assert host["disabled_reason"].startswith("hakari: process failure")
    [incident] = FailureBook(engine.journal).all_open(PROCESS)
    assert incident.state == "DISABLED"

    # Quiet long enough (here: no wait at all) and Nova says up: the next look re-enables.
    conf.set_override("enable_after", 0, group="process_failure")
    engine._process_checked = 0.0
    engine.reconcile()
    assert status(fake_nova, "node2") == "enabled"
    assert FailureBook(engine.journal).all_open(PROCESS) == []
    assert status(fake_nova, "node1") == status(fake_nova, "node3") == "enabled"
