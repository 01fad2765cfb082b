"""The lab fence agent's protocol, without a cluster: stdin parsing, metadata, actions
against a lab state directory whose nodes are ghosts, fail/delay control, the log."""

from __future__ import annotations

import io
import os
import subprocess
import time

import pytest
from lxml import etree

from lab import config, fence_agent, fence_control, state


@pytest.fixture
def lab_dir(tmp_path):
    path = tmp_path / "lab"
    path.mkdir()
    nodes = {f"node{i}": {"index": i, "address": config.node_address(i), "ghost": True}
             for i in (1, 2, 3)}
    state.write_json(config.state_file(str(path)), {"name": "t", "nodes": nodes})
    return str(path)


def run(action, target, lab_dir):
    out = io.StringIO()
    rc, detail = fence_agent.run_action(action, target, lab_dir, out)
    return rc, out.getvalue(), detail


def test_stdin_is_parsed_like_fence_agents():
    opts = fence_agent.parse_stdin(
        "# comment\n\naction=off\nport=node2\nnodename=node2\nlab-dir=\"/x/y\"\n"
        "pcmk_host_list=node1 node2\nbroken line\naction=reboot\n")
    assert opts["action"] == "reboot"  # the last duplicate wins
    assert opts["plug"] == "node2"     # port is an alias of plug
    assert opts["lab_dir"] == "/x/y"   # dashes as underscores, quotes stripped
    assert opts["pcmk_host_list"] == "node1 node2"


def test_metadata_is_fence_agents_xml(lab_dir):
    rc, out, _ = run("metadata", "", lab_dir)
    assert rc == 0
    root = etree.fromstring(out.encode())
    assert root.tag == "resource-agent" and root.get("name") == config.FENCE_AGENT
    params = {p.get("name") for p in root.iterfind("parameters/parameter")}
    assert {"action", "plug", "port", "lab_dir"} <= params
    actions = {a.get("name") for a in root.iterfind("actions/action")}
    assert {"on", "off", "reboot", "status", "list", "monitor", "metadata"} <= actions


def test_off_and_reboot_of_a_ghost_succeed(lab_dir):
    assert run("off", "node2", lab_dir)[:2] == (0, "Success: Powered OFF\n")
    assert run("reboot", "node3", lab_dir)[:2] == (0, "Success: Rebooted\n")


def test_status_list_monitor(lab_dir):
    assert run("status", "node2", lab_dir)[:2] == (2, "Status: OFF\n")
    rc, out, _ = run("list", "", lab_dir)
    assert rc == 0 and out.split() == ["node1,node1", "node2,node2", "node3,node3"]
    assert run("monitor", "", lab_dir)[0] == 0
    assert run("monitor", "", lab_dir + "-missing")[0] == 1
    assert run("off", "node9", lab_dir)[0] == 1
    assert run("off", "", lab_dir)[0] == 1


def test_told_to_fail_or_delay(lab_dir):
    fence_control.set_behaviour(lab_dir, "node2", fail=True)
    rc, _, detail = run("off", "node2", lab_dir)
    assert rc == 1 and "told to fail" in detail
    assert run("off", "node3", lab_dir)[0] == 0

    fence_control.set_behaviour(lab_dir, "node2", fail=False)
    fence_control.set_behaviour(lab_dir, "*", delay=0.2)
    started = time.monotonic()
    assert run("reboot", "node2", lab_dir)[0] == 0
    assert time.monotonic() - started >= 0.2
    fence_control.clear(lab_dir)
    assert fence_control.behaviour(lab_dir, "node2") == {"fail": False, "delay": 0.0}


def test_every_call_is_logged(lab_dir, monkeypatch, capsys):
    stdin = f"action=off\nport=node2\nlab_dir={lab_dir}\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert fence_agent.main([]) == 0
    fence_control.set_behaviour(lab_dir, "node3", fail=True)
    assert fence_agent.main(["-o", "reboot", "-n", "node3", "--lab-dir", lab_dir]) == 1
    assert "Failed: reboot node3" in capsys.readouterr().err
    log = fence_control.read_log(lab_dir)
    assert [(e["action"], e["target"], e["rc"]) for e in log] == [
        ("off", "node2", 0), ("reboot", "node3", 1)]
    assert all(e["host"] and e["pid"] and e["time"] for e in log)


def test_installed_launcher_runs_with_the_system_python(tmp_path, lab_dir):
    """pacemaker-fenced runs the agent with /usr/bin/python3: no virtualenv, no lxml."""
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("no /usr/bin/python3")
    path = tmp_path / "fence_hakarilab"
    fence_agent.install(str(path))
    assert os.access(path, os.X_OK)
    res = subprocess.run([str(path)], input=f"action=status\nport=node2\nlab_dir={lab_dir}\n",
                         capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin"})
    assert (res.returncode, res.stdout) == (2, "Status: OFF\n"), res.stderr
    res = subprocess.run([str(path)], input="action=metadata\n", capture_output=True,
                         text=True, timeout=30, env={"PATH": "/usr/bin"})
    assert res.returncode == 0 and "<resource-agent" in res.stdout
