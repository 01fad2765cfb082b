"""Node states derived from the CIB itself agree with the real crm_mon (Pacemaker 2.1.5).

Every CIB of the corpus (tests/data/cib: scheduler regression inputs, upstream files, and
the sim_* states made with crm_simulate and crm_attribute, see tests/data/README.md) and
generated remote-compute clouds (bench/cibgen.py) are rendered by ``crm_mon -1
--output-as=xml`` with CIB_file; ``cib_status.snapshot_from_cib`` must give every node the
same NodeState, and the same quorum, DC and guest placement. No daemons are started.
"""

from __future__ import annotations

import dataclasses

import functools
import pathlib
import subprocess
import sys

import pytest

from hakari.cluster import cib_status
from hakari.cluster.cib_status import parse_cib
from hakari.cluster.crm_mon import parse_crm_mon
from tests.conftest import DATA, require_tools
from tests.integration.test_crm_mon_offline import UNREADABLE_CIB, tool

ROOT = pathlib.Path(__file__).resolve().parents[2]
# crm_mon cannot read UNREADABLE_CIB (it fails schema validation): nothing to agree with.
CORPUS_CIBS = [p for p in sorted((DATA / "cib").glob("*.xml")) if p.name != UNREADABLE_CIB]


@pytest.fixture(scope="module", autouse=True)
def _tools():
    require_tools("crm_mon")


@functools.lru_cache(maxsize=None)
def crm_mon(cib: pathlib.Path):
    """crm_mon's view, once per file: both ways of parsing compare with it."""
    return parse_crm_mon(tool(["crm_mon", "-1", "--output-as=xml"], cib).stdout)


@pytest.fixture(params=["whole", "pruned", "streamed"])
def parsing(request, monkeypatch):
    """Every way a CIB is parsed: whole (small saved ones), pruned while parsing (large
    saved ones), and as cibadmin writes it (a look: pruned, in pieces, its configuration
    unpacked once while the rest arrives): every agreement test runs through each."""
    if request.param == "pruned":
        monkeypatch.setattr(cib_status, "PRUNE_ABOVE", 0)
    elif request.param == "streamed":
        monkeypatch.setattr(sys.modules[__name__], "parse_cib", streamed)
    return request.param


def streamed(data: bytes):
    tree = cib_status.CibFeed()
    for start in range(0, len(data), 4096):
        tree.feed(data[start:start + 4096])
    return tree.snapshot(tree.close())


def assert_agrees(cib: pathlib.Path) -> None:
    expected = crm_mon(cib)
    derived = parse_cib(cib.read_bytes())
    # crm_mon does not show whether a remote node's connection is up: compare the rest.
    assert {n.name: dataclasses.replace(n, connected=None) for n in derived.nodes} == \
        {n.name: n for n in expected.nodes}
    assert [n.name for n in derived.nodes] == [n.name for n in expected.nodes]
    assert (derived.quorate, derived.dc) == (expected.quorate, expected.dc)
    assert derived.guest_hosts == expected.guest_hosts
    assert derived.fence_events == ()


@pytest.mark.parametrize("cib", CORPUS_CIBS, ids=[p.stem for p in CORPUS_CIBS])
def test_corpus_cib(cib, parsing):
    assert_agrees(cib)


@pytest.fixture(scope="module", params=[("16",), ("16", "--lost", "2"),
                                        ("40", "--lost", "5")],
                ids=["16-healthy", "16-lost-2", "40-lost-5"])
def cloud(request, tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("cloud") / "cib.xml"
    subprocess.run([sys.executable, str(ROOT / "bench" / "cibgen.py"), *request.param,
                    "--out", str(out)], check=True, timeout=60, cwd=ROOT)
    return out


def test_generated_cloud(cloud, parsing):
    assert_agrees(cloud)


def test_the_corpus_covers_the_states_that_matter():
    """The sim_* files exist to reach these states; a regenerated file must still."""
    seen = set()
    for cib in CORPUS_CIBS:
        for node in parse_cib(cib.read_bytes()).nodes:
            seen.add((node.type, node.state))
            seen.update((node.type, flag) for flag in ("shutdown", "maintenance", "standby",
                                                       "pending")
                        if getattr(node, flag))
    for wanted in [("member", "unclean"), ("member", "pending"), ("member", "offline"),
                   ("member", "standby"), ("member", "maintenance"), ("member", "shutdown"),
                   ("remote", "unclean"), ("remote", "offline"), ("remote", "standby"),
                   ("remote", "maintenance"), ("remote", "shutdown"), ("guest", "offline"),
                   ("guest", "online")]:
        assert wanted in seen, wanted
