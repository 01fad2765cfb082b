"""`hakari status` rendering: its JSON contract (docs/design.md), fenced_at, the text view."""

from __future__ import annotations

import datetime as dt
import json

from hakari.cluster.crm_mon import parse_crm_mon
from hakari.commands.status import (fenced_at, newest_first, render_json, render_text,
                                    status_document)
from hakari.model import ClusterSnapshot, FenceEvent, NodeState
from tests.conftest import DATA

UTC = dt.timezone.utc
NODE_KEYS = ["name", "id", "type", "state", "online", "standby", "maintenance", "pending",
             "unclean", "shutdown", "expected_up", "is_dc", "fenced_at", "fencing", "hold"]
EVENT_KEYS = ["target", "action", "status", "completed", "delegate", "origin", "client",
              "exit_reason"]


def at(minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, 23, 22, minute, second, tzinfo=UTC)


def ev(target, action="reboot", status="success", completed=None, **kw) -> FenceEvent:
    return FenceEvent(target, action, status, completed, **kw)


def test_json_contract_on_live_output():
    snap = parse_crm_mon((DATA / "live" / "demo-single_crm_mon-node2-fenced.xml").read_bytes())
    doc = json.loads(render_json(snap))
    assert list(doc) == ["quorate", "dc", "nodes", "fence_events"]
    assert doc["quorate"] is True and doc["dc"] == "node1"
    node1, node2 = doc["nodes"]
    assert list(node1) == NODE_KEYS and list(node2) == NODE_KEYS
    assert node1 == {"name": "node1", "id": "1", "type": "member", "state": "online",
                     "online": True, "standby": False, "maintenance": False,
                     "pending": False, "unclean": False, "shutdown": False,
                     "expected_up": True, "is_dc": True, "fenced_at": None,
                     "fencing": None, "hold": None}
    assert node2["state"] == "offline" and node2["online"] is False
    assert node2["fencing"] == "confirmed"
    # The success and a failure completed in the same second; the success is the proof.
    assert node2["fenced_at"] == "2026-11-23T22:31:49+00:00"
    assert len(doc["fence_events"]) == 6
    first = doc["fence_events"][0]
    assert list(first) == EVENT_KEYS
    assert first == {"target": "node2", "action": "reboot", "status": "success",
                     "completed": "2026-11-23T22:31:49+00:00", "delegate": "node1",
                     "origin": "node1", "client": "pacemaker-controld.3129",
                     "exit_reason": None}
    assert {e["status"] for e in doc["fence_events"][1:]} == {"failed"}


def test_json_types_for_every_node_of_a_mixed_cluster():
    snap = parse_crm_mon((DATA / "crm_mon" / "gen_2.1.5_bundle-order-fencing.xml").read_bytes())
    doc = status_document(snap)
    types = {n["name"]: n["type"] for n in doc["nodes"]}
    assert types["controller-0"] == "member" and types["galera-bundle-0"] == "guest"
    for node in doc["nodes"]:
        assert node["state"] in ("unclean", "pending", "offline", "maintenance", "standby",
                                 "online")
        assert all(isinstance(node[k], bool) for k in NODE_KEYS[4:12])
        assert isinstance(node["id"], str)


def test_json_nulls_when_no_dc():
    snap = parse_crm_mon((DATA / "crm_mon" / "gen_2.1.5_quorum-1.xml").read_bytes())
    doc = json.loads(render_json(snap))
    assert doc["quorate"] is None and doc["dc"] is None and doc["fence_events"] == []


def test_fenced_at_counts_only_successful_off_and_reboot():
    events = [
        ev("a", "on", "success", at(50)),          # unfencing proves nothing
        ev("a", "reboot", "failed", at(40)),
        ev("a", "reboot", "pending"),
        ev("a", "off", "success", at(30)),
        ev("a", "reboot", "success", at(10)),      # older success
        ev("b", "reboot", "failed", at(45)),
        ev("c", "reboot", "success", None),        # success without a time: unusable
        ev("d", "off", "success", at(5, 30)),
    ]
    assert fenced_at(events) == {"a": at(30), "d": at(5, 30)}


def test_fenced_at_is_latest_not_first_listed():
    assert fenced_at([ev("a", completed=at(1)), ev("a", completed=at(3)),
                      ev("a", completed=at(2))]) == {"a": at(3)}


def test_fenced_at_keeps_offsets_in_iso_output():
    plus2 = dt.timezone(dt.timedelta(hours=2))
    snap = ClusterSnapshot(True, "n1", (NodeState("a", "1", online=False),),
                           (ev("a", completed=dt.datetime(2026, 1, 1, 12, 0, tzinfo=plus2)),))
    assert status_document(snap)["nodes"][0]["fenced_at"] == "2026-01-01T12:00:00+02:00"


def test_newest_first_puts_pending_first_and_keeps_ties_in_order():
    e1, e2, e3 = (ev("a", status="failed", completed=at(1)),
                  ev("a", completed=at(2)), ev("b", status="failed", completed=at(2)))
    p = ev("c", status="pending")
    assert newest_first([e1, e2, p, e3]) == [p, e2, e3, e1]


def test_text_view():
    snap = ClusterSnapshot(
        quorate=True, dc="ctl-0",
        nodes=(NodeState("ctl-0", "1", "member", online=True, expected_up=True, is_dc=True),
               NodeState("compute-17", "compute-17", "remote", unclean=True),
               NodeState("vm1", "vm1", "guest", online=True, container="vm1-rsc")),
        fence_events=tuple(
            [ev("compute-17", "off", "success", at(31, 49), delegate="ctl-0", origin="ctl-0")]
            + [ev("compute-17", "off", "failed", at(20, s), delegate="ctl-0",
                  exit_reason="Timer expired") for s in range(12)]
            + [ev("compute-17", "reboot", "pending")]),
        guest_hosts={"vm1": "ctl-0"})
    text = render_text(snap)
    lines = text.splitlines()
    header = lines[0]
    assert header.split() == ["NODE", "TYPE", "STATE", "FENCING", "FENCED", "AT", "NOTES"]
    # aligned: every column starts at the same offset in every row
    col = header.index("STATE")
    assert lines[1][col:].startswith("online") and lines[2][col:].startswith("unclean")
    fenced_col = header.index("FENCED AT")
    assert lines[2][fenced_col:].startswith("2026-11-23 22:31:49+00:00")
    # A newer attempt is in flight: the verdict waits for it.
    assert lines[2][header.index("FENCING"):].startswith("pending")
    assert lines[1][header.index("FENCING"):].startswith("-")
    assert "DC" in lines[1] and "guest in vm1-rsc on ctl-0" in lines[3]
    assert "Quorum: yes" in text and "DC:     ctl-0" in text
    fencing = lines[lines.index("Recent fencing (newest first, 10 of 14):") + 1:]
    assert len(fencing) == 10
    assert "pending" in fencing[0] and "22:31:49" in fencing[1]
    assert "reason: Timer expired" in fencing[2]


def test_text_view_without_quorum_or_history():
    text = render_text(ClusterSnapshot(False, "n1", (NodeState("n1", "1", online=True),)))
    assert "Quorum: NO" in text and "Recent fencing: none recorded" in text
    text = render_text(ClusterSnapshot(None, None))
    assert "No nodes reported." in text and "Quorum: unknown (no DC)" in text
    assert "DC:     none" in text


def test_fencing_verdict_per_node():
    up = NodeState("n1", "1", online=True, expected_up=True)
    planned = NodeState("n2", "2")  # cleanly stopped, nothing fenced it
    lost = NodeState("n3", "3", unclean=True)
    fenced = NodeState("n4", "4")
    failing = NodeState("n5", "5", unclean=True)
    snap = ClusterSnapshot(True, "n1", (up, planned, lost, fenced, failing), (
        ev("n4", "off", "success", at(31, 49)),
        ev("n5", "reboot", "failed", at(31, 50), exit_reason="Timer expired"),
        ev("n1", "reboot", "success", at(10, 0)),
    ))
    verdicts = {n["name"]: n["fencing"] for n in status_document(snap)["nodes"]}
    assert verdicts == {"n1": None, "n2": None, "n3": "none", "n4": "confirmed",
                        "n5": "failed"}


# Each would start a line of its own, or make the terminal move or hide text, if printed raw.
HOSTILE = ["a\nQuorum: yes", "b\r\nDC:     ctl-0", "c\u2028Quorum: yes", "d\u2029e",
           "f\x1b[2Jg", "h\u202ei", "j\x85k", "l\x00m", "n\\no"]


def test_text_view_escapes_every_cluster_string():
    nodes = tuple(NodeState(name, str(i), "guest", unclean=True, is_dc=(i == 0),
                            container=f"vm-{name}")
                  for i, name in enumerate(HOSTILE))
    events = tuple(ev(name, f"off{name}", "failed", at(10, i), delegate=f"del{name}",
                      origin=f"org{name}", client=f"cli{name}", exit_reason=f"why{name}")
                   for i, name in enumerate(HOSTILE[:8]))
    snap = ClusterSnapshot(quorate=False, dc=HOSTILE[0], nodes=nodes, fence_events=events,
                           guest_hosts={n: f"host{n}" for n in HOSTILE})
    text = render_text(snap)
    lines = text.split("\n")
    assert all(line.isprintable() for line in lines), text
    assert [ln for ln in lines if ln.startswith("Quorum:")] == [
        "Quorum: NO (hakari will not act)"]
    assert [ln for ln in lines if ln.startswith("DC:")] == ["DC:     a\\nQuorum: yes"]
    # 1 header + 9 nodes, blank, quorum, DC, blank, fencing title + 8 events, final "".
    assert len(lines) == 1 + 9 + 1 + 2 + 1 + 1 + 8 + 1
    for shown in ("a\\nQuorum: yes", "b\\r\\nDC:     ctl-0", "c\\u2028Quorum: yes",
                  "d\\u2029e", "f\\x1b[2Jg", "h\\u202ei", "j\\x85k", "l\\x00m", "n\\\\no"):
        assert any(line.startswith(shown + " ") for line in lines[1:10]), shown
        assert f"guest in vm-{shown} on host{shown}" in text
    for field in ("off", "del", "org", "why"):
        assert f"{field}a\\nQuorum: yes" in text and f"{field}f\\x1b[2Jg" in text


def test_escaping_leaves_ordinary_names_alone():
    snap = parse_crm_mon((DATA / "live" / "demo-single_crm_mon-node2-fenced.xml").read_bytes())
    text = render_text(snap)
    assert "\\" not in text and "node2  member  offline  confirmed" in text


def test_holds_are_shown_in_both_views():
    from hakari.holds import Hold

    snap = parse_crm_mon((DATA / "live" / "demo-single_crm_mon-node2-fenced.xml").read_bytes())
    held = {"node2": Hold("node2", "alice@node1", "disk\nswap", at(30)),
            "node1": Hold("node1", "[recovery] excluded_hosts", "", configured=True)}
    doc = status_document(snap, held)
    node1, node2 = doc["nodes"]
    assert node2["hold"] == {"by": "alice@node1", "why": "disk\nswap",
                             "at": "2026-11-23T22:30:00+00:00", "configured": False}
    assert node1["hold"]["configured"] is True
    text = render_text(snap, held=held)
    assert "held by alice@node1 since 2026-11-23 22:30:00Z: disk\\nswap" in text
    assert "held by [recovery] excluded_hosts" in text
