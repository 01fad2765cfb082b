"""Drills on a real 3-node Pacemaker cluster (the lab): power cuts, partitions, failed
fencing, and what `hakari status` shows of them."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.fixtures_pacemaker import hakari_status, require_lab

NODES = ("node1", "node2", "node3")
# Token loss (1 s token) + consensus + fencing, measured at 4-5 s; generous for slow CI.
FENCE_TIMEOUT = 45


def _node(doc: dict, name: str) -> dict:
    return next(n for n in doc["nodes"] if n["name"] == name)


def _fencing_calls(lab, since: int = 0) -> list[dict]:
    return [c for c in lab.fence_log()[since:] if c["action"] in ("off", "reboot")]


def test_all_nodes_online(pacemaker_lab3_clean):
    lab = pacemaker_lab3_clean
    view = lab.view("node2")
    assert view.quorate is True and view.dc in NODES
    assert view.all_joined(NODES)
    doc = hakari_status(lab, "node3")
    assert doc["quorate"] is True
    assert [(n["name"], n["state"]) for n in doc["nodes"]] == [(n, "online") for n in NODES]
    assert sum(n["is_dc"] for n in doc["nodes"]) == 1


def test_power_cut_node2_is_fenced_then_rejoins(pacemaker_lab3_clean):
    lab = pacemaker_lab3_clean
    mark = len(lab.fence_log())

    killed = lab.power_off("node2")
    assert killed and not lab.is_on("node2")
    lab.wait(lambda v: v.offline_clean("node2") and v.fenced("node2"),
             timeout=FENCE_TIMEOUT, node="node1", what="node2 fenced")

    doc = hakari_status(lab, "node1")
    node2 = _node(doc, "node2")
    assert node2["state"] == "offline" and node2["fenced_at"] is not None
    assert doc["quorate"] is True
    success = [e for e in doc["fence_events"]
               if e["target"] == "node2" and e["status"] == "success"]
    assert success and success[0]["delegate"] in ("node1", "node3")
    calls = _fencing_calls(lab, mark)
    assert calls and {c["target"] for c in calls} == {"node2"}
    assert {c["host"] for c in calls} <= {"node1", "node3"}
    assert calls[-1]["rc"] == 0

    lab.power_on("node2")
    view = lab.wait(lambda v: v.all_joined(NODES), timeout=30, node="node1",
                    what="node2 rejoined")
    assert view.quorate is True


def test_partitioned_node3_is_fenced_by_majority_and_fences_nobody(pacemaker_lab3_clean):
    lab = pacemaker_lab3_clean
    mark = len(lab.fence_log())

    lab.cut("node3")
    lab.wait(lambda v: v.offline_clean("node3") and v.fenced("node3"),
             timeout=FENCE_TIMEOUT, node="node1", what="node3 fenced by the majority")

    calls = _fencing_calls(lab, mark)
    assert calls, "no fencing call logged"
    # The minority (node3 alone, no quorum) must never have fenced anyone.
    assert [c for c in calls if c["host"] == "node3"] == []
    assert {c["target"] for c in calls} == {"node3"}
    assert {c["host"] for c in calls} <= {"node1", "node2"}
    assert lab.is_on("node1") and lab.is_on("node2") and not lab.is_on("node3")
    view = lab.view("node2")
    assert view.quorate is True and view.all_joined(("node1", "node2"))

    lab.heal("node3")
    lab.power_on("node3")
    lab.wait(lambda v: v.all_joined(NODES), timeout=30, node="node1", what="node3 rejoined")


def test_failed_fencing_leaves_node_unclean(pacemaker_lab3_clean):
    lab = pacemaker_lab3_clean
    lab.set_fence("node2", fail=True)
    mark = len(lab.fence_log())

    lab.power_off("node2")
    view = lab.wait(lambda v: v.unclean("node2") and v.fenced("node2", "failed"),
                    timeout=FENCE_TIMEOUT, node="node1", what="failed fencing of node2")
    assert not view.online("node2")

    history = lab.exec("node1", ["stonith_admin", "--history", "node2", "--verbose",
                                 "--output-as=xml"]).stdout.decode()
    assert 'status="failed"' in history and 'target="node2"' in history
    doc = hakari_status(lab, "node1")
    assert _node(doc, "node2")["state"] == "unclean"
    assert any(e["target"] == "node2" and e["status"] == "failed"
               for e in doc["fence_events"])
    failed_calls = [c for c in _fencing_calls(lab, mark) if c["target"] == "node2"]
    assert failed_calls and all(c["rc"] == 1 for c in failed_calls)

    # Fencing works again: Pacemaker's next attempt succeeds and node2 turns clean.
    lab.clear_fence()
    lab.wait(lambda v: v.offline_clean("node2"), timeout=FENCE_TIMEOUT, node="node1",
             what="node2 fenced once fencing works")


def _lab_traces(name: str, pids: list[int]) -> list[str]:
    from lab import config, netns, proc

    traces = [f"process {pid}" for pid in pids if proc.start_ticks(pid) is not None]
    traces += [f"netns {n}" for n in netns.with_prefix(config.netns_prefix(name))]
    path = config.lab_dir(name)
    with open("/proc/self/mountinfo") as f:
        traces += [f"mount {line.split()[4]}" for line in f
                   if path in line or f"/run/netns/{config.netns_prefix(name)}" in line]
    if os.path.exists(path):
        traces.append(f"dir {path}")
    return traces


def _pids_of(lab) -> list[int]:
    from lab import power

    pids = []
    for node in lab.real_nodes:
        pids.append(power.holder_of(lab.path, node).pid)
        pids += [r.pid for r in power.daemons_of(lab.path, node).values()]
    return pids


def test_down_leaves_nothing_even_mid_failure(pacemaker_lab_factory):
    lab = pacemaker_lab_factory("tdown", nodes=3)
    lab.power_off("node2")
    lab.cut("node3")
    pids = _pids_of(lab)

    report = lab.down()

    assert report["found"]
    assert _lab_traces(lab.name, pids) == []


def test_lab_left_by_crashed_process_is_cleaned(pacemaker_lab_factory):
    """A lab whose creator died and whose state file is gone: down finds it by prefix."""
    require_lab()
    from lab import config

    lab = pacemaker_lab_factory("tcrash", nodes=2, wait=False)
    pids = _pids_of(lab)
    os.unlink(config.state_file(lab.path))

    # Another process, as after a crash.
    res = subprocess.run([sys.executable, "-m", "lab", "down", "--name", lab.name],
                         capture_output=True, text=True, timeout=60,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert res.returncode == 0, res.stderr
    assert _lab_traces(lab.name, pids) == []


def test_lab_of_a_killed_session_is_removed_by_the_next(pacemaker_labs):
    from lab import teardown

    owner = subprocess.Popen(["sleep", "60"])
    try:
        lab = pacemaker_labs("tgone", nodes=1, ghosts=1, wait=False, owner_pid=owner.pid)
        pids = _pids_of(lab)
        assert lab.name not in teardown.down_abandoned()  # its owner still runs
    finally:
        owner.kill()
        owner.wait(timeout=10)

    assert lab.name in teardown.down_abandoned()
    assert _lab_traces(lab.name, pids) == []


SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.213.0.2", 18774))
s.listen(1)
s.settimeout(20)
print("ready", flush=True)
conn, peer = s.accept()
conn.sendall(("hello " + peer[0]).encode())
conn.close()
"""
CLIENT = """
import socket
c = socket.create_connection(("10.213.0.2", 18774), timeout=10)
print(c.recv(100).decode())
"""


def test_attached_namespace_is_on_the_lab_network(pacemaker_lab3):
    """The Nova lab's namespace hangs off the bridge at 10.213.0.2; nodes reach it."""
    from lab import config, netns

    lab = pacemaker_lab3
    ns = config.netns_name(lab.name, "nova")
    lab.attach_namespace(ns, config.NOVA_ADDRESS)
    server = None
    try:
        server = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns}", "--",
                                   sys.executable, "-c", SERVER],
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        res = lab.exec("node2", [sys.executable, "-c", CLIENT], timeout=30)
        assert res.stdout.decode().strip() == "hello 10.213.0.12"
        assert server.wait(timeout=10) == 0
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait(timeout=10)
        lab.detach_namespace(ns)
    assert not netns.exists(ns)
    host_addrs = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True,
                                timeout=10).stdout
    assert "10.213.0." not in host_addrs
