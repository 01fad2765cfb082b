"""`hakari status` against a real single-node Pacemaker cluster with ghost nodes.

node1 runs; node2 and node3 are ghosts (in corosync's nodelist, never started), so
Pacemaker fences them at start-up through the lab fence agent: real fence events without
a second machine. hakari runs inside node1's namespaces, where crm_mon reaches the cluster.
"""

from __future__ import annotations

import datetime as dt

from tests.fixtures_pacemaker import hakari_status


def _node(doc: dict, name: str) -> dict:
    for node in doc["nodes"]:
        if node["name"] == name:
            return node
    raise AssertionError(f"{name} not in hakari status: {[n['name'] for n in doc['nodes']]}")


def _parse_time(text: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(text)
    assert when.tzinfo is not None, f"completed without a UTC offset: {text}"
    return when


def test_ghost_fenced_at_startup_shows_in_status(pacemaker_single):
    lab = pacemaker_single
    lab.wait(lambda v: v.fenced("node2") and v.offline_clean("node2"), timeout=30,
             what="ghost node2 fenced")

    doc = hakari_status(lab)

    assert doc["quorate"] is True
    assert doc["dc"] == "node1"
    node1 = _node(doc, "node1")
    assert node1["state"] == "online" and node1["online"] and node1["is_dc"]
    node2 = _node(doc, "node2")
    assert node2["state"] == "offline"
    assert node2["online"] is False and node2["unclean"] is False
    assert node2["fenced_at"] is not None
    successes = [e for e in doc["fence_events"]
                 if e["target"] == "node2" and e["status"] == "success"]
    assert successes, doc["fence_events"]
    assert all(e["action"] in ("reboot", "off") for e in successes)
    assert _parse_time(node2["fenced_at"]) == max(_parse_time(e["completed"])
                                                  for e in successes)
    assert {e["delegate"] for e in successes} == {"node1"}
    assert all(e["origin"] == "node1" for e in successes)
    # The fence agent really ran, on node1, for node2.
    assert any(c["host"] == "node1" and c["target"] == "node2" and c["rc"] == 0
               and c["action"] in ("reboot", "off") for c in lab.fence_log())


def test_manual_fence_of_other_ghost_shows_in_status(pacemaker_single):
    lab = pacemaker_single
    lab.wait(lambda v: v.offline_clean("node3"), timeout=30, what="ghost node3 fenced")
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

    lab.exec("node1", ["stonith_admin", "--fence", "node3"], timeout=60)

    doc = hakari_status(lab)
    offs = [e for e in doc["fence_events"]
            if e["target"] == "node3" and e["action"] == "off" and e["status"] == "success"]
    assert offs, doc["fence_events"]
    newest = max(_parse_time(e["completed"]) for e in offs)
    assert newest >= before
    assert offs[0]["client"].startswith("stonith_admin")
    node3 = _node(doc, "node3")
    assert node3["state"] == "offline"
    assert _parse_time(node3["fenced_at"]) >= newest


def test_status_text_names_every_node(pacemaker_single):
    text = hakari_status(pacemaker_single, fmt="text")
    for name in ("node1", "node2", "node3"):
        assert name in text


def test_lab_node_is_isolated_from_host(pacemaker_single):
    lab = pacemaker_single
    assert lab.exec("node1", ["hostname"]).stdout.decode().strip() == "node1"
    conf = lab.exec("node1", ["cat", "/etc/corosync/corosync.conf"]).stdout.decode()
    assert f"cluster_name: hakari-{lab.name}" in conf
    assert "quorum_votes: 3" in conf
    with open("/etc/corosync/corosync.conf") as f:
        assert f"hakari-{lab.name}" not in f.read()
    addrs = lab.exec("node1", ["ip", "-o", "-4", "addr", "show"]).stdout.decode()
    assert "10.213.0.11/24" in addrs
