"""The crm_mon parser against the real Pacemaker 2.1.5 crm_mon, offline (CIB_file).

CIBs (small ones built here with cibadmin, and the corpus scheduler CIBs) are put into
states with crm_simulate and crm_attribute, rendered by crm_mon as 2.x XML, legacy XML and
text; the parsed XML must agree with crm_mon's own text and both XML flavours must agree.
No daemons are started.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from hakari.cluster.crm_mon import parse_crm_mon
from hakari.errors import ParseError
from tests.conftest import DATA, require_tools
from tests.crm_mon_text import mismatches, parse_text
from tests.fake_tools import fake_tool

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT = 60
CORPUS_CIBS = sorted((DATA / "cib").glob("*.xml"))
# crm_mon refuses this one (schema validation fails) yet exits 0: see the error test.
UNREADABLE_CIB = "ha_cluster_exporter_fake_cibadmin.xml"


@pytest.fixture(scope="module", autouse=True)
def _tools():
    require_tools("crm_mon", "crm_simulate", "cibadmin", "crm_attribute")


def tool(argv: list[str], cib: pathlib.Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("CIB_file", None)
    if cib is not None:
        env["CIB_file"] = str(cib)
    proc = subprocess.run(argv, env=env, capture_output=True, timeout=TIMEOUT)
    assert proc.returncode == 0, (argv, proc.returncode, proc.stderr.decode()[-2000:])
    return proc


def render(cib: pathlib.Path) -> tuple[bytes, bytes, str]:
    """(2.x XML, legacy XML, text) of crm_mon -1 on ``cib``."""
    modern = tool(["crm_mon", "-1", "--output-as=xml"], cib).stdout
    legacy = tool(["crm_mon", "-1", "--as-xml"], cib).stdout
    text = tool(["crm_mon", "-1"], cib).stdout.decode()
    return modern, legacy, text


def look(cib: pathlib.Path):
    """Parse both XML renderings, check them against each other and against the text."""
    modern, legacy, text = render(cib)
    assert modern.lstrip().startswith(b"<pacemaker-result")
    assert legacy.lstrip().startswith(b"<crm_mon")
    snap = parse_crm_mon(modern)
    assert parse_crm_mon(legacy) == snap
    assert mismatches(snap, parse_text(text)) == [], text
    return snap, text


def simulate(src: pathlib.Path, dst: pathlib.Path, *args: str) -> pathlib.Path:
    tool(["crm_simulate", "-x", str(src), "-O", str(dst), *args])
    return dst


def cib_copy(src: pathlib.Path, dst: pathlib.Path) -> pathlib.Path:
    shutil.copyfile(src, dst)
    return dst


# --- a small instance-HA CIB built from scratch ---------------------------------------

@pytest.fixture(scope="module")
def base(tmp_path_factory) -> pathlib.Path:
    """3 members, 2 remote computes, 1 guest (VM resource on node2), all started."""
    require_tools("crm_mon", "crm_simulate", "cibadmin", "crm_attribute")
    d = tmp_path_factory.mktemp("cib")
    empty = d / "empty.xml"
    empty.write_bytes(tool(["cibadmin", "--empty"]).stdout)
    cib = cib_copy(empty, d / "config.xml")
    tool(["cibadmin", "-M", "--xml-text", '<cib dc-uuid="1"/>'], cib)
    tool(["crm_attribute", "--type", "crm_config", "--name", "stonith-enabled",
          "--update", "true"], cib)
    nodes = ['<node id="1" uname="node1"/>', '<node id="2" uname="node2"/>',
             '<node id="3" uname="node3"/>',
             # Declared as remote: crm_simulate would otherwise add them as members.
             '<node id="compute1" uname="compute1" type="remote"/>',
             '<node id="compute2" uname="compute2" type="remote"/>']
    for xml in nodes:
        tool(["cibadmin", "--create", "-o", "nodes", "--xml-text", xml], cib)
    resources = ['<primitive id="fence1" class="stonith" type="fence_dummy"/>']
    for name in ("compute1", "compute2"):
        resources.append(
            f'<primitive id="{name}" class="ocf" provider="pacemaker" type="remote">'
            f'<operations><op id="{name}-mon" name="monitor" interval="60s"/></operations>'
            '</primitive>')
    resources.append(
        '<primitive id="vm1" class="ocf" provider="heartbeat" type="VirtualDomain">'
        '<meta_attributes id="vm1-meta"><nvpair id="vm1-rn" name="remote-node" '
        'value="guest1"/></meta_attributes></primitive>')
    for xml in resources:
        tool(["cibadmin", "--create", "-o", "resources", "--xml-text", xml], cib)
    for rsc, node in (("vm1", "node2"), ("compute1", "node1"), ("compute2", "node1")):
        tool(["cibadmin", "--create", "-o", "constraints", "--xml-text",
              f'<rsc_location id="loc-{rsc}" rsc="{rsc}" node="{node}" score="100"/>'], cib)
    return simulate(cib, d / "up.xml", "--node-up", "node1", "--node-up", "node2",
                    "--node-up", "node3", "-q", "1", "-S")


def test_all_up(base):
    snap, text = look(base)
    assert (snap.dc, snap.quorate) == ("node1", True)
    assert {n.name: (n.type, n.state) for n in snap.nodes} == {
        "node1": ("member", "online"), "node2": ("member", "online"),
        "node3": ("member", "online"), "compute1": ("remote", "online"),
        "compute2": ("remote", "online"), "guest1": ("guest", "online")}
    assert snap.node("guest1").container == "vm1"
    assert snap.guest_hosts == {"guest1": "node2"}
    assert "RemoteOnline: [ compute1 compute2 ]" in text


def test_member_unclean_before_fencing(base, tmp_path):
    snap, text = look(simulate(base, tmp_path / "unclean.xml", "--node-fail", "node3"))
    node3 = snap.node("node3")
    assert (node3.state, node3.online, node3.unclean) == ("unclean", False, True)
    assert "* Node node3: UNCLEAN (offline)" in text


def test_member_offline_after_fencing(base, tmp_path):
    snap, text = look(simulate(base, tmp_path / "fenced.xml", "--node-fail", "node3", "-S"))
    node3 = snap.node("node3")
    assert (node3.state, node3.unclean, node3.expected_up) == ("offline", False, False)
    assert "OFFLINE: [ node3 ]" in text


def test_guest_goes_down_with_its_host(base, tmp_path):
    snap, text = look(simulate(base, tmp_path / "host-fail.xml", "--node-fail", "node2"))
    assert snap.node("node2").state == "unclean"
    assert snap.node("guest1").state == "offline"
    # The container is still reported on the lost host: that is where to look for proof.
    assert snap.guest_hosts == {"guest1": "node2"}
    assert "guest1" not in text  # crm_mon's text hides offline guests


def test_remote_unclean_after_connection_failure(base, tmp_path):
    snap, text = look(simulate(base, tmp_path / "remote-fail.xml",
                               "-i", "compute1_monitor_60000@node1=1"))
    compute1 = snap.node("compute1")
    assert (compute1.type, compute1.state) == ("remote", "unclean")
    assert "* RemoteNode compute1: UNCLEAN (offline)" in text


def test_standby_maintenance_pending_shutdown(base, tmp_path):
    cib = cib_copy(base, tmp_path / "planned.xml")
    for node, name, value in (("node3", "standby", "on"), ("node2", "maintenance", "true"),
                              ("compute2", "standby", "on")):
        tool(["crm_attribute", "--node", node, "--name", name, "--update", value], cib)
    tool(["crm_attribute", "--node", "node3", "--name", "shutdown", "--update", "1",
          "--lifetime", "reboot"], cib)
    tool(["cibadmin", "-M", "-o", "status", "--xml-text",
          '<node_state id="1" join="pending"/>'], cib)
    snap, text = look(cib)
    states = {n.name: n.state for n in snap.nodes}
    assert states == {"node1": "pending", "node2": "maintenance", "node3": "standby",
                      "compute1": "online", "compute2": "standby", "guest1": "online"}
    # A node shutting down cleanly is planned: its state stays what it was.
    assert snap.node("node3").shutdown is True and snap.node("node1").shutdown is False
    assert snap.node("node3").standby and snap.node("node2").maintenance
    assert "* RemoteNode compute2: standby" in text


def test_no_quorum(base, tmp_path):
    cib = cib_copy(base, tmp_path / "noquorum.xml")
    tool(["cibadmin", "-M", "--xml-text", '<cib have-quorum="0"/>'], cib)
    snap, text = look(cib)
    assert (snap.dc, snap.quorate) == ("node1", False)
    assert "partition WITHOUT quorum" in text


def test_no_dc_means_unknown_quorum(base, tmp_path):
    cib = cib_copy(base, tmp_path / "nodc.xml")
    tool(["cibadmin", "-M", "--xml-text", '<cib dc-uuid="none-such"/>'], cib)
    snap, text = look(cib)
    assert (snap.dc, snap.quorate) == (None, None)
    assert "Current DC: NONE" in text


def test_hakari_status_reads_the_real_cib(base, tmp_path):
    """The live code path (the real cibadmin via the runner) on an offline CIB; a CIB
    file has no fencer behind it, so stonith_admin is a stand-in with no history."""
    cib = simulate(base, tmp_path / "unclean.xml", "--node-fail", "node3")
    conf = tmp_path / "hakari.conf"
    conf.write_text("[cluster]\ntool_timeout = 30\n")
    bindir = tmp_path / "bin"
    fake_tool(bindir, "stonith_admin", stdout=b'<pacemaker-result api-version="2.25" '
              b'request="stonith_admin --history *"><list name="fencing history" '
              b'count="0"/><status code="0" message="OK"/></pacemaker-result>')
    env = dict(os.environ, CIB_file=str(cib),
               PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([sys.executable, "-m", "hakari", "--config-file", str(conf),
                           "status", "--format", "json"], cwd=ROOT, env=env,
                          capture_output=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["dc"], doc["quorate"]) == ("node1", True)
    nodes = {n["name"]: n for n in doc["nodes"]}
    assert nodes["node3"]["state"] == "unclean" and nodes["node3"]["fenced_at"] is None
    assert nodes["guest1"]["type"] == "guest" and nodes["compute1"]["type"] == "remote"
    assert doc["fence_events"] == []


# --- the corpus CIBs -------------------------------------------------------------------

@pytest.mark.parametrize("cib", [c for c in CORPUS_CIBS if c.name != UNREADABLE_CIB],
                         ids=lambda c: c.name)
def test_corpus_cib(cib, tmp_path):
    snap, _ = look(cib_copy(cib, tmp_path / cib.name))
    assert snap.nodes
    # The corpus crm_mon file generated from this CIB (same Pacemaker) reads the same.
    if cib.name.startswith("sched_"):
        saved = DATA / "crm_mon" / f"gen_2.1.5_{cib.name[len('sched_'):]}"
        if saved.exists():
            assert parse_crm_mon(saved.read_bytes()) == snap


@pytest.mark.parametrize("name,node,after_state", [
    ("sched_rec-node-2.xml", "node1", "offline"),
    ("sched_stonith-1.xml", "sles-3", "offline"),
    # a fenced remote node is reconnected right away by its connection resource
    ("sched_remote-fence-unclean.xml", "remote1", "online"),
])
def test_corpus_cib_after_fencing(name, node, after_state, tmp_path):
    """crm_simulate carries out the fencing the scheduler wants: the node ends clean."""
    before, _ = look(cib_copy(DATA / "cib" / name, tmp_path / name))
    assert before.node(node).state == "unclean"
    after, _ = look(simulate(DATA / "cib" / name, tmp_path / f"after-{name}", "-S"))
    assert after.node(node).state == after_state
    assert after.node(node).type == before.node(node).type


def test_cib_crm_mon_cannot_read_is_an_error_not_an_empty_cluster(tmp_path):
    # crm_mon 2.1.5 exits 0 and says "OK" here; only <errors> tells what went wrong.
    cib = cib_copy(DATA / "cib" / UNREADABLE_CIB, tmp_path / UNREADABLE_CIB)
    modern = tool(["crm_mon", "-1", "--output-as=xml"], cib).stdout
    with pytest.raises(ParseError, match="no cluster status.*does not conform"):
        parse_crm_mon(modern)
