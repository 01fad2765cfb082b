"""hakari.cluster.live against fake cibadmin and stonith_admin: what one look runs, what it
reads from their answers, and how each way a tool can fail is reported."""

from __future__ import annotations

import os
import time

import pytest

from bench import cibgen
from hakari import config
from hakari.cluster import live
from hakari.cluster.cib_status import parse_cib
from hakari.engine import detect
from hakari.errors import (ClusterNotConnected, ParseError, ToolFailed, ToolNotFound,
                           ToolTimeout)
from tests.conftest import DATA
from tests.fake_tools import fake_tool, path_with, shell_tool

HISTORY = (DATA / "live" / "demo-multinode_stonith-history-1.xml").read_bytes()
NOT_CONNECTED = (b'<pacemaker-result api-version="2.25" request="stonith_admin --history *">'
                 b'<status code="102" message="Not connected"><errors><error>Could not '
                 b'connect to fencer: Transport endpoint is not connected</error></errors>'
                 b'</status></pacemaker-result>')
# node1 and node3 up; node2 down and fenced (the history above); hakari's records.
CIB = (DATA / "cib" / "hand_members-node2-down.xml").read_bytes()


@pytest.fixture
def bindir(tmp_path, monkeypatch):
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", path_with(path))
    return path


@pytest.fixture
def conf():
    c = config.load([])
    c.set_override("tool_timeout", 1.0, group="cluster")
    return c


def tools(bindir, tmp_path, *, cib=CIB, history=HISTORY, **cib_kw):
    fake_tool(bindir, "cibadmin", stdout=cib, argv_log=tmp_path / "cib.argv", **cib_kw)
    fake_tool(bindir, "stonith_admin", stdout=history, argv_log=tmp_path / "st.argv")


def test_one_look_is_the_cib_and_the_fencers_history(bindir, conf, tmp_path):
    tools(bindir, tmp_path)
    seen = live.look(conf)
    assert (tmp_path / "cib.argv").read_text().split("\n") == ["--query"]
    assert (tmp_path / "st.argv").read_text().split("\n") == [
        "--history", "*", "--verbose", "--output-as=xml"]
    snap = seen.snapshot
    assert snap.dc == "node1" and snap.quorate is True
    assert {n.name: n.state for n in snap.nodes} == {
        "node1": "online", "node2": "offline", "node3": "online"}
    assert [(e.target, e.status) for e in snap.fence_events] == [("node2", "success")]
    # hakari's own attributes come from the same document, and only hakari's.
    assert set(seen.attributes) == {"node2", "node3"}
    assert seen.attributes["node2"] == {"hakari-fenced": "2026-11-23T22:32:10+00:00"}
    assert list(seen.attributes["node3"]) == ["hakari-hold"]


def test_not_connected_cib(bindir, conf, tmp_path):
    tools(bindir, tmp_path, cib=b"", rc=102,
          stderr="Could not connect to the CIB: Transport endpoint is not connected\n")
    with pytest.raises(ClusterNotConnected, match="Transport endpoint") as exc:
        live.look(conf)
    assert exc.value.returncode == 102 and exc.value.argv[0] == "cibadmin"


def test_not_connected_fencer_reported_from_its_xml(bindir, conf, tmp_path):
    fake_tool(bindir, "cibadmin", stdout=CIB)
    fake_tool(bindir, "stonith_admin", stdout=NOT_CONNECTED, rc=102)
    with pytest.raises(ClusterNotConnected, match="fencer"):
        live.look(conf)


def test_failure_without_xml_uses_stderr(bindir, conf, tmp_path):
    tools(bindir, tmp_path, cib=b"garbage", rc=1, stderr="boom\nmore\n")
    with pytest.raises(ToolFailed, match=r"^cibadmin: exit status 1: boom$"):
        live.look(conf)


def test_nonzero_exit_with_a_cib_is_still_a_failure(bindir, conf, tmp_path):
    tools(bindir, tmp_path, rc=1)
    with pytest.raises(ToolFailed, match="exit status 1"):
        live.look(conf)


@pytest.mark.parametrize("data,message", [
    (b"<cib", "not well-formed"),
    (b"<pacemaker-result/>", "cib"),
])
def test_success_with_garbage_is_a_parse_error(bindir, conf, tmp_path, data, message):
    tools(bindir, tmp_path, cib=data)
    with pytest.raises(ParseError, match=message):
        live.look(conf)


def test_missing_tool(bindir, conf):
    with pytest.raises(ToolNotFound, match="cibadmin: command not found"):
        live.look(conf)


def test_hanging_tool_is_killed(bindir, conf):
    # A helper left in the background holds stdout open: the whole group must die.
    shell_tool(bindir, "cibadmin", "sleep 60 &\nsleep 60")
    start = time.monotonic()
    with pytest.raises(ToolTimeout, match="no answer within 1s"):
        live.look(conf)
    assert time.monotonic() - start < 8


def test_a_cib_is_read_as_cibadmin_writes_it(bindir, conf, tmp_path):
    # Many pieces (the runner reads 64 kB at a time), parsed as they come: the same
    # states as the whole document parsed at once.
    cloud = cibgen.to_bytes(cibgen.generate(128, 3))
    assert len(cloud) > 10 * 65536
    tools(bindir, tmp_path, cib=cloud)
    snap = live.look(conf).snapshot
    assert snap.nodes == parse_cib(cloud).nodes
    assert sum(detect.is_lost(n) for n in snap.nodes) == 3


def test_a_started_cib_query_not_collected_is_killed(bindir, tmp_path):
    pidfile = tmp_path / "pid"
    shell_tool(bindir, "cibadmin", f"echo $$ > {pidfile}\nexec sleep 60")
    with live.start_cib():
        deadline = time.monotonic() + 10
        while not pidfile.exists() or not pidfile.read_text().strip():
            assert time.monotonic() < deadline
            time.sleep(0.01)
    with pytest.raises(ProcessLookupError):
        os.kill(int(pidfile.read_text()), 0)
