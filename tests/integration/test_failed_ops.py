"""failed_ops.process_failures on CIBs the real Pacemaker 2.1.5 tools put in each state.

crm_simulate records nova-compute failures in bench/cibgen.py's remote-compute cloud,
crm_attribute and cibadmin clean them up (tests/process_cibs.py); what hakari reads must
agree with crm_mon's own list of failed actions and with crm_failcount. Every test runs
on the CIB parsed whole and pruned while parsed (as large CIBs are). No daemons.
"""

from __future__ import annotations

import time

import pytest
from lxml import etree

from hakari.cluster import cib_status
from hakari.cluster.cib_status import parse_cib_tree
from hakari.cluster.failed_ops import process_failures
from tests.integration.test_crm_mon_offline import simulate, tool
from tests.process_cibs import RSC, age, clean_up, cloud, edit, fail


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return cloud(tmp_path_factory.mktemp("cloud") / "cloud.xml")


@pytest.fixture(params=["whole", "pruned"])
def read(request, monkeypatch):
    if request.param == "pruned":
        monkeypatch.setattr(cib_status, "PRUNE_ABOVE", 0)

    def read(cib, resources=(RSC,), now=None):
        return process_failures(parse_cib_tree(cib.read_bytes()), resources, now=now)
    return read


def crm_mon_failed(cib, resources=(RSC,)) -> set[tuple]:
    """crm_mon's failed actions of ``resources`` that are starts or recurring monitors:
    (node, resource, task, interval, rc)."""
    root = etree.fromstring(tool(["crm_mon", "-1", "--output-as=xml"], cib).stdout)
    out = set()
    for f in root.iterfind("failures/failure"):
        rsc, task, interval = f.get("op_key").rsplit("_", 2)
        if rsc in resources and (task == "start" or (task == "monitor" and int(interval))):
            out.add((f.get("node"), rsc, task, int(interval), int(f.get("exitcode"))))
    return out


def ours(failures) -> set[tuple]:
    return {(f.node, f.rsc, f.task, f.interval, f.rc) for f in failures if f.rc is not None}


def fail_count(cib, node) -> int:
    out = tool(["crm_failcount", "--query", "-r", RSC, "-N", node], cib).stdout.decode()
    return int(out.rsplit("value=", 1)[1])


def test_a_healthy_cloud_has_no_failure(base, read):
    assert read(base) == () and crm_mon_failed(base) == set()


def test_failed_monitor_on_a_remote_compute(base, read, tmp_path):
    before = int(time.time())
    cib = fail(base, tmp_path / "f.xml", f"{RSC}_monitor_10000@compute1=7")
    [f] = read(cib)
    assert (f.node, f.rsc, f.task, f.interval, f.rc, f.status, f.fail_count) == (
        "compute1", RSC, "monitor", 10000, 7, 0, 1)
    assert before <= f.last_rc_change == f.at <= time.time()
    assert f.last_failure is not None and f.key == f"compute1/{RSC}/monitor_10000@{f.at}"
    assert ours([f]) == crm_mon_failed(cib)
    assert fail_count(cib, "compute1") == f.fail_count


def test_failed_start(base, read, tmp_path):
    cib = fail(base, tmp_path / "f.xml", f"{RSC}_start_0@compute2=1")
    [f] = read(cib)
    assert (f.node, f.task, f.interval, f.rc, f.fail_count) == ("compute2", "start", 0, 1, 1)
    assert ours([f]) == crm_mon_failed(cib)


def test_failures_on_two_computes_and_two_operations(base, read, tmp_path):
    cib = fail(base, tmp_path / "f.xml", f"{RSC}_monitor_10000@compute1=7",
               f"{RSC}_start_0@compute2=1")
    assert {(f.node, f.op) for f in read(cib)} == {("compute1", "monitor_10000"),
                                                   ("compute2", "start_0")}
    assert ours(read(cib)) == crm_mon_failed(cib)


def test_a_failure_recovered_by_the_cluster_is_the_same_occurrence(base, read, tmp_path):
    cib = fail(base, tmp_path / "f.xml", f"{RSC}_monitor_10000@compute1=7")
    [failed] = read(cib)
    # crm_simulate runs the transition: nova-compute restarted, the monitor succeeds
    # again; the failure stays in the CIB until cleaned up, and is still the one.
    recovered = simulate(cib, tmp_path / "r.xml", "-S")
    assert read(recovered) == (failed,)
    assert ours(read(recovered)) == crm_mon_failed(recovered)


def test_a_cleaned_up_failure_is_gone(base, read, tmp_path):
    cib = clean_up(fail(base, tmp_path / "f.xml", f"{RSC}_monitor_10000@compute1=7"),
                   "compute1", "monitor_10000")
    assert read(cib) == () and crm_mon_failed(cib) == set()
    assert fail_count(cib, "compute1") == 0


def test_a_fail_count_without_its_history_entry_is_a_failure(base, read, tmp_path):
    cib = fail(base, tmp_path / "f.xml", f"{RSC}_monitor_10000@compute1=7")
    [with_entry] = read(cib)
    clean_up(cib, "compute1", "monitor_10000", counts=False)
    [f] = read(cib)
    assert (f.node, f.op, f.rc, f.status, f.last_rc_change) == (
        "compute1", "monitor_10000", None, None, None)
    assert f.fail_count == fail_count(cib, "compute1") == 1
    assert f.at == f.last_failure == with_entry.last_failure
    assert crm_mon_failed(cib) == set()       # crm_mon lists history entries only


@pytest.mark.parametrize("status", [-1, 1], ids=["pending", "cancelled"])
def test_pending_or_cancelled_results_are_no_failure(base, read, tmp_path, status):
    cib = clean_up(fail(base, tmp_path / "f.xml", f"{RSC}_monitor_10000@compute1=7"),
                   "compute1", "monitor_10000", history=False)

    def set_status(root):
        [op] = root.iterfind(f"status//lrm_rsc_op[@id='{RSC}_last_failure_0']")
        op.set("op-status", str(status))
    edit(cib, set_status)
    assert read(cib) == () and crm_mon_failed(cib) == set()


def test_failure_timeout_expires_failures(base, read, tmp_path):
    cib = tmp_path / "f.xml"
    cib.write_bytes(base.read_bytes())
    # On the clone, as pcs and crm_resource put it: the primitive inherits it.
    tool(["crm_resource", "-r", RSC, "--meta", "-p", "failure-timeout", "-v", "60s"], cib)
    fail(cib, cib, f"{RSC}_monitor_10000@compute1=7")
    [f] = read(cib)
    assert read(cib, now=f.at + 59) == (f,)
    assert read(cib, now=f.at + 60) == ()
    # An hour ago, by the clock crm_mon uses too: expired for both.
    age(cib, "compute1", 3600)
    assert read(cib) == () and crm_mon_failed(cib) == set()


def test_without_failure_timeout_an_old_failure_stays(base, read, tmp_path):
    cib = age(fail(base, tmp_path / "f.xml", f"{RSC}_monitor_10000@compute1=7"),
              "compute1", 86400)
    [f] = read(cib)
    assert time.time() - f.at >= 86400 and ours([f]) == crm_mon_failed(cib)


def test_other_resources_and_probes_are_not_process_failures(base, read, tmp_path):
    cib = fail(base, tmp_path / "f.xml", "libvirtd_monitor_10000@compute1=7",
               f"{RSC}_monitor_0@controller2=1")
    assert read(cib) == ()
    mon = etree.fromstring(tool(["crm_mon", "-1", "--output-as=xml"], cib).stdout)
    assert len(mon.findall("failures/failure")) == 2      # crm_mon lists both


def test_a_failure_on_a_cluster_member_survives_pruning(base, read, tmp_path):
    # Members' histories are what pruning drops (remote nodes' are kept whole): a
    # members-only cloud's nova-compute failures must stay, like this one.
    cib = fail(base, tmp_path / "f.xml", "hakari-engine_monitor_10000@controller1=7")
    [f] = read(cib, resources=("hakari-engine",))
    assert (f.node, f.rsc, f.op, f.rc) == ("controller1", "hakari-engine", "monitor_10000", 7)
    assert ours([f]) == crm_mon_failed(cib, ("hakari-engine",))


def test_no_resources_configured_reads_nothing(base, read, tmp_path):
    cib = fail(base, tmp_path / "f.xml", f"{RSC}_monitor_10000@compute1=7")
    assert read(cib, resources=()) == ()
