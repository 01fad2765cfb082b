"""The engine's process-failure hook against the fake Nova, reading real CIBs.

nova-compute failures come from the CIB (tests/process_cibs.py: crm_simulate records
them in a remote-compute cloud), as on a real cluster, where the alert runs on the
controller holding the compute's connection, not necessarily the engine's: nothing is in
this engine's spool. Each occurrence is signalled once however many looks show it, by
this engine or its successor; the host is disabled at the threshold and re-enabled by a
later look once healthy. Alerts only hint that a failure is on its way to the CIB.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from hakari import config
from hakari.alerts import agent
from hakari.cluster.cib_status import parse_cib_tree
from hakari.cluster.live import look_in
from hakari.engine import wiring
from hakari.engine.loop import Engine
from hakari.records.failures import PROCESS
from hakari.recovery.process.recovery import SIGNAL_EVENT
from tests.process_cibs import RSC, age, cloud, edit, fail
from tests.recovery_helpers import conf_for_fake

pytestmark = pytest.mark.timeout(120)

MONITOR = f"{RSC}_monitor_10000@compute1=7"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return cloud(tmp_path_factory.mktemp("cloud") / "cloud.xml")


@pytest.fixture
def cib(base, tmp_path, monkeypatch):
    """A healthy cloud's CIB, which the engine's looks read and where hakari's records
    go (every Pacemaker tool of the test uses it: CIB_file)."""
    path = tmp_path / "cib.xml"
    path.write_bytes(base.read_bytes())
    monkeypatch.setenv("CIB_file", str(path))
    return path


def load(fake_nova, tmp_path, **process):
    """The fake Nova's node2 and node3 are the cloud's compute1 and compute2."""
    conf_for_fake(fake_nova, tmp_path)
    with open(tmp_path / "hakari.conf", "a") as f:
        f.write("[cluster]\nnode_map = compute1:node2,compute2:node3\n[process_failure]\n"
                + "".join(f"{k} = {v}\n" for k, v in process.items()))
    return config.load([str(tmp_path / "hakari.conf")])


def engine_on(conf, cib):
    """An engine whose every look reads the file ``cib`` as `cibadmin --query` output."""
    return Engine(conf, dataclasses.replace(wiring.parts(conf), look=lambda conf: look_in(
        parse_cib_tree(cib.read_bytes()), process_resources=conf.process_failure.resources)))


def signals(engine) -> list:
    return [e for e in engine.journal.read() if e.event == SIGNAL_EVENT]


def status(fake, host):
    return fake.host(host)["status"]


def spool_alert(conf_path, node, rsc=RSC, seq=1, rc=7):
    env = {"CRM_alert_kind": "resource", "CRM_alert_node": node, "CRM_alert_rsc": rsc,
           "CRM_alert_task": "monitor", "CRM_alert_interval": "10000",
           "CRM_alert_status": "0", "CRM_alert_rc": str(rc), "CRM_alert_target_rc": "0",
           "CRM_alert_desc": "not running", "CRM_alert_exec_time": "5",
           "CRM_alert_node_sequence": str(seq),
           "CRM_alert_timestamp_epoch": str(int(time.time())),
           "CRM_alert_timestamp_usec": "0", "CRM_alert_version": "2.1.5",
           "CRM_alert_recipient": conf_path}
    assert agent.main(env) == 0


def test_failures_only_the_cib_shows_are_signalled_once_each(fake_nova, cib, tmp_path):
    conf = load(fake_nova, tmp_path, failure_threshold=2, enable_after=3600)
    # A minute ago; another resource failing on the other compute counts for nothing.
    age(fail(cib, cib, MONITOR, "libvirtd_monitor_10000@compute2=7"), "compute1", 60)
    engine = engine_on(conf, cib)
    for _ in range(3):
        engine.reconcile()
    assert engine.spool.pending() == []
    [incident] = engine.store.failures().all_open(PROCESS)
    assert (incident.target, incident.state) == ("node2", "DETECTED")
    [signal] = signals(engine)
    assert signal.detail["resource"] == RSC and signal.detail["task"] == "monitor"
    assert status(fake_nova, "node2") == "enabled"

    # Pacemaker restarted it; now it fails again: a second occurrence.
    fail(cib, cib, MONITOR)
    for _ in range(2):
        engine.reconcile()
    assert len(signals(engine)) == 2
    host = fake_nova.host("node2")
    assert host["status"] == "disabled"
    assert host["disabled_reason"].startswith("hakari: process failure")

    # The engine moves to another controller, with its own state directory: it sees the
    # same CIB, failures and incident alike, and counts nothing twice.
    (tmp_path / "ctl2").mkdir()
    successor = engine_on(load(fake_nova, tmp_path / "ctl2", failure_threshold=2,
                               enable_after=3600), cib)
    successor.reconcile()
    assert signals(successor) == []
    [incident] = successor.store.failures().all_open(PROCESS)
    assert (incident.target, incident.state) == ("node2", "DISABLED")

    # Quiet long enough (here: no wait at all) and Nova says up: its next check
    # re-enables; the failure still in the CIB opens nothing again.
    successor.conf.set_override("enable_after", 0, group="process_failure")
    successor._process_checked = 0.0
    successor.reconcile()
    assert status(fake_nova, "node2") == "enabled"
    assert successor.store.failures().all_open(PROCESS) == []
    successor.reconcile()
    assert signals(successor) == [] and successor.store.failures().all_open(PROCESS) == []
    assert status(fake_nova, "node1") == status(fake_nova, "node3") == "enabled"


def test_a_starting_engine_leaves_failures_older_than_the_window(fake_nova, cib, tmp_path):
    conf = load(fake_nova, tmp_path, failure_window=600)
    age(fail(cib, cib, MONITOR), "compute1", 3600)
    engine = engine_on(conf, cib)
    engine.reconcile()
    assert signals(engine) == [] and engine.store.failures().all_open(PROCESS) == []


def test_an_alert_makes_the_engine_look_again_until_the_cib_shows_it(fake_nova, cib,
                                                                      tmp_path):
    conf = load(fake_nova, tmp_path)
    engine = engine_on(conf, cib)
    conf_path = str(tmp_path / "hakari.conf")
    spool_alert(conf_path, "compute1", rsc="something-else", seq=1)
    spool_alert(conf_path, "compute1", rc=0, seq=2)         # a success: no failure
    engine.reconcile()
    assert not engine.wake.is_set()

    spool_alert(conf_path, "compute1", seq=3)
    engine.reconcile()
    assert engine.wake.is_set() and signals(engine) == []  # not in the CIB yet
    engine.wake.clear()
    fail(cib, cib, MONITOR)
    engine.reconcile()
    assert not engine.wake.is_set()
    assert len(signals(engine)) == 1 and engine.spool.pending() == []


def test_a_failure_on_a_lost_node_is_the_host_failure_not_a_process_failure(
        fake_nova, cib, tmp_path):
    """Seen on the remote-compute lab: a compute loses power, its nova-compute monitor is
    recorded failed before the host incident opens. It must not count: disabling a dead
    compute that is not forced down makes Nova wait on it, and the loss with it."""
    conf = load(fake_nova, tmp_path, failure_threshold=1)
    fail(cib, cib, MONITOR)

    def connection_lost(root):
        root.find("status/node_state[@uname='compute1']").set("in_ccm", "false")
    engine = engine_on(conf, cib)
    engine.reconcile()                      # sees compute1 online once: its loss is dated
    assert len(signals(engine)) == 1        # the control: an online node's failure counts
    edit(fail(cib, cib, MONITOR), connection_lost)
    engine.reconcile()
    assert len(signals(engine)) == 1
