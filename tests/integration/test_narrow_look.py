"""Narrow looks, read by the real cibadmin from offline CIBs (CIB_file, no daemons).

A narrow look at some nodes (hakari.cluster.live.look_narrow: two XPath queries, then
each node's fence history) must give those nodes exactly the states, and the cluster
exactly the quorum and DC, that the full look gives on the same CIB; where it cannot
(cib_status.Unsure) it says so, and the look falls back to a full one. Laid over the
full look (Look.over), the engine's decision is the full look's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import pathlib
import subprocess

import pytest

from bench import cibgen, fencer
from hakari import config
from hakari.cluster import cib_status, live
from hakari.cluster.fence_history import parse_stonith_history
from hakari.cluster.xml import parse_xml
from hakari.engine import detect
from hakari.records.store import parse_records
from tests.conftest import DATA, require_tools
from tests.integration.test_crm_mon_offline import UNREADABLE_CIB

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = [p for p in sorted((DATA / "cib").glob("*.xml")) if p.name != UNREADABLE_CIB]
# A few of every shape, for the fast set: members only with one lost, remote nodes with
# a failed and a pending connection, guests, a remote node fenced, a generated cloud.
QUICK = ("hand_members-node2-down", "sim_remote-monitor-failed", "sim_member-lost",
         "lab_remote-reconnect-pending", "sched_remote-fence-unclean",
         "sim_standby-transient")
NOW = 1764835300.0
# Why a narrow read may refuse; anything else is a failure.
REFUSALS = ("is a guest node", "is not online", "was never seen")


@pytest.fixture(autouse=True)
def _tools():
    require_tools("cibadmin")


def cib_env(cib: pathlib.Path) -> dict[str, str]:
    return {**os.environ, "CIB_file": str(cib)}


def query(cib: pathlib.Path, xpath: str, *extra: str):
    res = subprocess.run(["cibadmin", "--query", *extra, "--xpath", xpath],
                         capture_output=True, env=cib_env(cib), timeout=60, check=True)
    return parse_xml(res.stdout, "cibadmin answer", ("xpath-query", "cib", "configuration"))


def narrow(cib: pathlib.Path, nodes, full):
    """cib_status's narrow read of ``nodes``, as live.look_narrow makes it."""
    cluster = [(n.id, n.name) for n in full.nodes if n.type not in ("remote", "guest")]
    outline, content = cib_status.narrow_queries(nodes, cluster)
    root = cib_status.narrow_tree(query(cib, outline, "--no-children"),
                                  query(cib, content), nodes)
    return cib_status.narrow_snapshot(root, nodes, now=NOW)


def agrees(cib: pathlib.Path) -> dict[str, str]:
    """Each node read narrowly, alone: node -> "same" or why it was refused."""
    full = cib_status.snapshot_from_cib(cib_status.parse_cib_tree(cib.read_bytes()),
                                        now=NOW)
    out = {}
    for node in full.nodes:
        try:
            snap = narrow(cib, [node.name], full)
        except cib_status.Unsure as why:
            assert any(r in str(why) for r in REFUSALS), why
            out[node.name] = str(why)
            continue
        assert snap.nodes == (node,)
        assert (snap.quorate, snap.dc) == (full.quorate, full.dc)
        out[node.name] = "same"
    # A refusal has its reason: a guest, or another cluster node down or never seen.
    cluster_ok = all(n.online for n in full.nodes if n.type in ("member", "ping"))
    for node in full.nodes:
        if node.type != "guest" and cluster_ok and out[node.name] != "same":
            assert "never seen" in out[node.name], (node.name, out[node.name])
    return out


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> pathlib.Path:
    """bench/cibgen.py's cloud of 16 nodes, 3 computes lost."""
    out = tmp_path_factory.mktemp("cloud") / "cib.xml"
    out.write_bytes(cibgen.to_bytes(cibgen.generate(16, 3)))
    return out


@pytest.mark.parametrize("name", QUICK)
def test_each_node_read_narrowly_is_as_the_full_read(name):
    results = agrees(DATA / "cib" / f"{name}.xml")
    assert "same" in results.values()


@pytest.mark.slow
@pytest.mark.parametrize("cib", CORPUS, ids=[p.stem for p in CORPUS])
def test_whole_corpus_node_by_node(cib):
    agrees(cib)


def test_generated_cloud_every_node_and_several_at_once(cloud):
    results = agrees(cloud)
    assert set(results.values()) == {"same"}
    full = cib_status.snapshot_from_cib(cib_status.parse_cib_tree(cloud.read_bytes()),
                                        now=NOW)
    lost = [n.name for n in full.nodes if detect.is_lost(n)]
    assert len(lost) == 3
    several = {lost[0], lost[-1], "compute1", "controller2"}
    snap = narrow(cloud, several, full)
    assert set(snap.nodes) == {n for n in full.nodes if n.name in several}
    assert (snap.quorate, snap.dc) == (full.quorate, full.dc)


def test_the_cib_changing_between_the_reads_is_noticed(cloud, tmp_path):
    full = cib_status.snapshot_from_cib(cib_status.parse_cib_tree(cloud.read_bytes()),
                                        now=NOW)
    cluster = [(n.id, n.name) for n in full.nodes if n.type == "member"]
    outline, content = cib_status.narrow_queries(["compute13"], cluster)
    before = query(cloud, outline, "--no-children")
    # More connections fail between the two reads: more entries in the second.
    changed = tmp_path / "changed.xml"
    changed.write_bytes(cibgen.to_bytes(cibgen.generate(16, 10)))
    with pytest.raises(cib_status.Unsure, match="do not fit together"):
        cib_status.narrow_tree(before, query(changed, content), ["compute13"])


# --- through hakari.cluster.live, as the engine looks ----------------------------------

@pytest.fixture
def cluster(cloud, tmp_path, monkeypatch):
    """The generated cloud as the live cluster (CIB_file), a fencer that fenced two of
    its lost computes, and a configuration."""
    monkeypatch.setenv("CIB_file", str(cloud))
    fencer.install(tmp_path / "bin", tmp_path / "fencer")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    fenced = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    fencer.write(tmp_path / "fencer", [
        {"action": "reboot", "target": t, "client": "pacemaker-controld.1",
         "origin": "controller1", "status": "success", "delegate": "controller1",
         "completed": fenced} for t in ("compute13", "compute12")])
    return config.load([])


def decide(seen: live.Look, memory: detect.Memory, now: dt.datetime) -> detect.Decision:
    records = parse_records(seen.attributes)
    return detect.decide(seen.snapshot, records.incidents, memory, records.fenced,
                         detect.compute_nodes(seen.snapshot, ()), now, clock_skew=5.0,
                         confirm_timeout=300.0)


def test_a_narrow_look_over_the_full_one_decides_as_the_full_one(cluster):
    full = live.look(cluster)
    memory = detect.Memory()
    earlier = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    memory.last_online.update({n.name: earlier for n in full.snapshot.nodes})
    now = dt.datetime.now(dt.timezone.utc)
    expected = decide(full, memory, now)
    assert {s.node: (s.action, bool(s.fenced)) for s in expected.steps} == {
        "compute13": ("open", True), "compute12": ("open", True),
        "compute11": ("open", False)}
    for node in ("compute13", "compute11", "compute1", "controller1"):
        seen = live.look_narrow(cluster, {node}, full.snapshot)
        assert seen.fresh == {node}
        assert [n.name for n in seen.snapshot.nodes] == [node]
        merged = seen.over(full)
        assert merged.snapshot.nodes == full.snapshot.nodes
        assert sorted(merged.snapshot.fence_events, key=repr) == sorted(
            full.snapshot.fence_events, key=repr)
        assert merged.attributes == full.attributes
        assert decide(merged, memory, now) == expected


def test_a_narrow_look_it_cannot_trust_is_a_full_look(cluster, monkeypatch):
    full = live.look(cluster)
    guest_like = dataclasses.replace(full.snapshot, nodes=tuple(
        dataclasses.replace(n, type="guest") if n.name == "compute1" else n
        for n in full.snapshot.nodes))
    # The CIB says compute1 is a remote node: the narrow read holds, whatever the view.
    assert live.look_narrow(cluster, {"compute1"}, guest_like).fresh == {"compute1"}
    # A member the view did not know (added since) makes the narrow read refuse.
    fewer = dataclasses.replace(full.snapshot, nodes=tuple(
        n for n in full.snapshot.nodes if n.name != "controller3"))
    seen = live.look_narrow(cluster, {"compute1"}, fewer)
    assert seen.fresh is None and len(seen.snapshot.nodes) == 16
    # A node the CIB does not know at all.
    assert live.look_narrow(cluster, {"compute99"}, full.snapshot).fresh is None


def test_cibgen_cloud_is_writable_by_the_tools(cloud, tmp_path):
    """The engine writes its records into the CIB it reads (crm_attribute)."""
    copy = tmp_path / "cib.xml"
    copy.write_bytes(cloud.read_bytes())
    subprocess.run(["crm_attribute", "--type", "nodes", "--node", "compute3", "--name",
                    "hakari-test", "--update", "1"], env=cib_env(copy), check=True,
                   capture_output=True, timeout=60)
    assert b'name="hakari-test"' in copy.read_bytes()


def test_bench_stand_in_answers_per_target(tmp_path):
    fencer.install(tmp_path / "bin", tmp_path / "h")
    fencer.write(tmp_path / "h", [{"action": "off", "target": "a", "status": "failed"},
                                  {"action": "reboot", "target": "b", "status": "success",
                                   "completed": "2026-12-05 01:02:03Z"}])
    def ask(target):
        out = subprocess.run([str(tmp_path / "bin" / "stonith_admin"), "--history", target,
                              "--verbose", "--output-as=xml"], capture_output=True,
                             check=True, timeout=10).stdout
        return [(e.target, e.status) for e in parse_stonith_history(out)]

    assert ask("*") == [("a", "failed"), ("b", "success")]
    assert ask("b") == [("b", "success")]
    assert ask("c") == [] and ask("../h/all") == []
