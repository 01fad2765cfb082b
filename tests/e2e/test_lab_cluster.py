"""Drills on a real Pacemaker cluster of the production shape (the lab): three
controllers (Corosync members) and two Pacemaker Remote computes. Power cuts, partitions,
failed fencing, what `hakari status` shows of them, and what the lab guarantees: every
node's own /etc/hakari and /var/lib/hakari."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.fixtures_pacemaker import hakari_status, require_lab

CONTROLLERS = ("node1", "node2", "node3")
COMPUTES = ("compute1", "compute2")
NODES = CONTROLLERS + COMPUTES
# A member: token loss (1 s token) + consensus + fencing, measured at 4-5 s; a remote
# compute: its connection's monitor times out (3 s + 6 s), then fencing. Generous for CI.
FENCE_TIMEOUT = 45


def _node(doc: dict, name: str) -> dict:
    return next(n for n in doc["nodes"] if n["name"] == name)


def _fencing_calls(lab, since: int = 0) -> list[dict]:
    return [c for c in lab.fence_log()[since:] if c["action"] in ("off", "reboot")]


def test_all_nodes_online(pacemaker_lab3_clean):
    lab = pacemaker_lab3_clean
    assert lab.controllers == list(CONTROLLERS) and lab.computes == list(COMPUTES)
    view = lab.view("node2")
    assert view.quorate is True and view.dc in CONTROLLERS
    assert view.all_joined(NODES)
    assert set(view.connections) == set(COMPUTES)
    assert set(view.connections.values()) <= set(CONTROLLERS)
    doc = hakari_status(lab, "node3")
    assert doc["quorate"] is True
    assert sorted((n["name"], n["state"]) for n in doc["nodes"]) == sorted(
        (n, "online") for n in NODES)
    assert {n["name"] for n in doc["nodes"] if n["type"] == "remote"} == set(COMPUTES)
    assert sum(n["is_dc"] for n in doc["nodes"]) == 1


def test_every_node_has_its_own_hakari_directories(pacemaker_lab3_clean):
    """What one node writes to /etc/hakari or /var/lib/hakari, no other node sees: hakari
    state passes between nodes only through the cluster, as on real machines."""
    lab = pacemaker_lab3_clean
    for path in ("/var/lib/hakari/mine", "/etc/hakari/mine"):
        for node in ("node1", "compute1"):
            lab.exec(node, ["sh", "-c", f"echo {node} > {path}"])
        seen = {n: lab.exec(n, ["cat", path], check=False).stdout.decode().strip()
                for n in lab.real_nodes}
        assert seen == {n: n if n in ("node1", "compute1") else "" for n in lab.real_nodes}
        with open(lab.inside("compute1", path)) as f:
            assert f.read().strip() == "compute1"
        assert not os.path.exists(path)  # the machine's own is not theirs either
        for node in ("node1", "compute1"):
            lab.exec(node, ["rm", "-f", path])


def test_power_cut_of_a_remote_compute_is_fenced_then_rejoins(pacemaker_lab3_clean):
    lab = pacemaker_lab3_clean
    mark = len(lab.fence_log())

    killed = lab.power_off("compute2")
    assert killed and not lab.is_on("compute2")
    lab.wait(lambda v: v.offline_clean("compute2") and v.fenced("compute2"),
             timeout=FENCE_TIMEOUT, node="node1", what="compute2 fenced")

    doc = hakari_status(lab, "node1")
    compute2 = _node(doc, "compute2")
    assert compute2["state"] == "offline" and compute2["fenced_at"] is not None
    assert doc["quorate"] is True
    success = [e for e in doc["fence_events"]
               if e["target"] == "compute2" and e["status"] == "success"]
    assert success and success[0]["delegate"] in CONTROLLERS
    calls = _fencing_calls(lab, mark)
    assert calls and {c["target"] for c in calls} == {"compute2"}
    # A remote node fences nobody: the controllers do.
    assert {c["host"] for c in calls} <= set(CONTROLLERS)
    assert calls[-1]["rc"] == 0

    lab.power_on("compute2")
    view = lab.wait(lambda v: v.all_joined(NODES), timeout=30, node="node1",
                    what="compute2 reconnected")
    assert view.quorate is True and "compute2" in view.connections


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
    # The computes stay: their connections run on the majority's controllers.
    view = lab.wait(lambda v: v.all_joined(("node1", "node2") + COMPUTES)
                    and set(v.connections.values()) <= {"node1", "node2"},
                    timeout=FENCE_TIMEOUT, node="node2", what="connections in the majority")
    assert view.quorate is True
    assert not [c for c in calls if c["target"] in COMPUTES]

    lab.heal("node3")
    lab.power_on("node3")
    lab.wait(lambda v: v.all_joined(NODES), timeout=30, node="node1", what="node3 rejoined")


def test_failed_fencing_leaves_a_compute_unclean(pacemaker_lab3_clean):
    lab = pacemaker_lab3_clean
    lab.set_fence("compute1", fail=True)
    mark = len(lab.fence_log())

    lab.power_off("compute1")
    view = lab.wait(lambda v: v.unclean("compute1") and v.fenced("compute1", "failed"),
                    timeout=FENCE_TIMEOUT, node="node1", what="failed fencing of compute1")
    assert not view.joined("compute1")

    history = lab.exec("node1", ["stonith_admin", "--history", "compute1", "--verbose",
                                 "--output-as=xml"]).stdout.decode()
    assert 'status="failed"' in history and 'target="compute1"' in history
    doc = hakari_status(lab, "node1")
    assert _node(doc, "compute1")["state"] == "unclean"
    assert any(e["target"] == "compute1" and e["status"] == "failed"
               for e in doc["fence_events"])
    failed_calls = [c for c in _fencing_calls(lab, mark) if c["target"] == "compute1"]
    assert failed_calls and all(c["rc"] == 1 for c in failed_calls)

    # Fencing works again: Pacemaker's next attempt succeeds and compute1 turns clean.
    lab.clear_fence()
    lab.wait(lambda v: v.offline_clean("compute1"), timeout=FENCE_TIMEOUT, node="node1",
             what="compute1 fenced once fencing works")


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
    lab = pacemaker_lab_factory("tdown", nodes=3, computes=1)
    lab.power_off("node2")
    lab.cut("node3")
    lab.power_off("compute1")
    pids = _pids_of(lab)

    report = lab.down()

    assert report["found"]
    assert _lab_traces(lab.name, pids) == []


def test_lab_left_by_crashed_process_is_cleaned(pacemaker_lab_factory):
    """A lab whose creator died and whose state file is gone: down finds it by prefix."""
    require_lab()
    from lab import config

    lab = pacemaker_lab_factory("tcrash", nodes=2, computes=1, wait=False)
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
        res = lab.exec("compute1", [sys.executable, "-c", CLIENT], timeout=30)
        assert res.stdout.decode().strip() == "hello 10.213.0.14"
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
