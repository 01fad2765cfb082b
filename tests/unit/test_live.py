"""hakari.cluster.live against a fake crm_mon."""

from __future__ import annotations

import time

import pytest

from hakari import config
from hakari.cluster import live
from hakari.errors import (ClusterNotConnected, ParseError, ToolFailed, ToolNotFound,
                           ToolTimeout)
from tests.conftest import DATA
from tests.fake_tools import fake_tool, path_with, shell_tool

NOT_CONNECTED = (DATA / "crm_mon" / "gen_2.1.5_error_not_connected.xml").read_bytes()
FENCED = (DATA / "live" / "demo-single_crm_mon-node2-fenced.xml").read_bytes()


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


def test_read_cluster_runs_crm_mon_with_fence_history(bindir, conf, tmp_path):
    log = tmp_path / "argv"
    fake_tool(bindir, "crm_mon", stdout=FENCED, argv_log=log)
    snap = live.read_cluster(conf)
    assert log.read_text().split("\n") == ["-1", "--output-as=xml", "--fence-history=3"]
    assert snap.dc == "node1" and snap.node("node2").state == "offline"
    assert snap.fence_events[0].status == "success"


def test_fence_history_level_comes_from_config(bindir, conf, tmp_path):
    log = tmp_path / "argv"
    fake_tool(bindir, "crm_mon", stdout=FENCED, argv_log=log)
    conf.set_override("fence_history_level", 2, group="cluster")
    live.read_cluster(conf)
    assert "--fence-history=2" in log.read_text().split("\n")


def test_not_connected_xml_and_exit_102(bindir, conf):
    fake_tool(bindir, "crm_mon", stdout=NOT_CONNECTED, rc=102)
    with pytest.raises(ClusterNotConnected, match="Connection refused") as exc:
        live.read_cluster(conf)
    assert exc.value.returncode == 102
    assert exc.value.argv[0] == "crm_mon"


def test_exit_102_without_output(bindir, conf):
    fake_tool(bindir, "crm_mon", rc=102, stderr="crm_mon: Connection to cluster failed\n")
    with pytest.raises(ClusterNotConnected, match="Connection to cluster failed"):
        live.read_cluster(conf)


def test_failure_without_xml_uses_stderr(bindir, conf):
    fake_tool(bindir, "crm_mon", stdout=b"garbage", rc=1, stderr="boom\nmore\n")
    with pytest.raises(ToolFailed, match=r"^crm_mon: exit status 1: boom$"):
        live.read_cluster(conf)


def test_nonzero_exit_with_ok_document_is_still_a_failure(bindir, conf):
    fake_tool(bindir, "crm_mon", stdout=FENCED, rc=1)
    with pytest.raises(ToolFailed, match="exit status 1"):
        live.read_cluster(conf)


def test_success_with_garbage_is_a_parse_error(bindir, conf):
    fake_tool(bindir, "crm_mon", stdout=b"<pacemaker-result", rc=0)
    with pytest.raises(ParseError, match="not well-formed"):
        live.read_cluster(conf)


def test_missing_tool(bindir, conf):
    with pytest.raises(ToolNotFound, match="crm_mon: command not found"):
        live.read_cluster(conf)


def test_hanging_tool_is_killed(bindir, conf):
    # A helper left in the background holds stdout open: the whole group must die.
    shell_tool(bindir, "crm_mon", "sleep 60 &\nsleep 60")
    start = time.monotonic()
    with pytest.raises(ToolTimeout, match="no answer within 1s"):
        live.read_cluster(conf)
    assert time.monotonic() - start < 8
