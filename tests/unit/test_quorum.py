"""corosync-quorumtool -s: real samples and the exit-status contract (0/2/1)."""

from __future__ import annotations

import pytest

from hakari.cluster.quorum import QuorumMember, parse_quorumtool
from hakari.errors import ClusterNotConnected, ParseError
from tests.conftest import DATA

COROSYNC = DATA / "corosync"


def read(name: str) -> str:
    return (COROSYNC / name).read_text()


@pytest.mark.parametrize("name,rc,expected", [
    ("ha_cluster_exporter_quorumtool_s_2node_qdevice.txt", 0, dict(
        quorate=True, node_id=1084783375, nodes=2, ring_id="1084783375/40",
        expected_votes=2, highest_expected=2, total_votes=2, quorum=1,
        flags=("2Node", "Quorate"),
        members=(QuorumMember(1084783375, 1, "stefanotorresi-hana01", True, "NR"),
                 QuorumMember(1084783376, 1, "stefanotorresi-hana02", False, "A,V,NMW"),
                 QuorumMember(0, 1, "Qdevice", False, None)))),
    ("ha_cluster_exporter_parser_test_quorumtool_2.txt", None, dict(
        quorate=True, node_id=1084780051, ring_id="1084780051.44", expected_votes=232,
        highest_expected=22, total_votes=21, quorum=421,
        flags=("2Node", "Quorate", "WaitForAll"),
        members=(QuorumMember(1084780051, 1, "dma-dog-hana01", True, "NR"),
                 QuorumMember(1084780052, 1, "dma-dog-hana02", False, "A,V,NMW")))),
    ("ha_cluster_exporter_parser_test_quorumtool_3.txt", None, dict(
        quorate=True, ring_id="1084780051/44",
        members=(QuorumMember(1084780051, 1, "dma-dog-hana01", True),
                 QuorumMember(1084780052, 1, "dma-dog-hana02", False)))),
    # corosync 2.3: single-number ring id, no blank lines between sections
    ("ha_cluster_exporter_parser_test_quorumtool_4.txt", 0, dict(
        quorate=True, node_id=1, ring_id="100", quorum=1,
        members=(QuorumMember(1, 1, "10.1.2.4", True), QuorumMember(2, 1, "10.1.2.5")))),
    ("ha_cluster_exporter_parser_test_quorumtool_7.txt", 0, dict(
        quorate=True, node_id=2, ring_id="1/8",
        members=(QuorumMember(1, 1, "192.168.127.20", False, "NR"),
                 QuorumMember(2, 1, "192.168.127.21", True, "NR")))),
    # a fragment with only the membership table (edited by the exporter's authors)
    ("ha_cluster_exporter_parser_test_quorumtool_8.txt", None, dict(
        quorate=None, node_id=None, quorum=None, flags=(),
        members=(QuorumMember(1, 1, "fe80:00:000:0000:1234:5678:ABCD:EF", False, "NR"),
                 QuorumMember(2, 1, "FE80:0:00:000:0000::1", True, "NR")))),
    # our own lab: one node holding 2 of 3 votes while a ghost node is missing
    ("live_3.1.7_quorumtool_s_ghost_node2.txt", 0, dict(
        quorate=True, node_id=1, nodes=1, ring_id="1.f", expected_votes=3, total_votes=2,
        quorum=2, activity_blocked=False, flags=("Quorate",),
        members=(QuorumMember(1, 2, "node1", True),))),
])
def test_samples(name, rc, expected):
    status = parse_quorumtool(read(name), rc)
    for field, value in expected.items():
        assert getattr(status, field) == value, field


NOT_QUORATE = """\
Quorum information
------------------
Date:             Mon Nov 23 22:18:50 2026
Quorum provider:  corosync_votequorum
Nodes:            1
Node ID:          0x00000003
Ring ID:          3.2a
Quorate:          No

Votequorum information
----------------------
Expected votes:   3
Highest expected: 3
Total votes:      1
Quorum:           2 Activity blocked
Flags:

Membership information
----------------------
    Nodeid      Votes Name
0x00000003          1 node3 (local)
"""


def test_not_quorate_activity_blocked_and_hex_ids():
    status = parse_quorumtool(NOT_QUORATE, 2)
    assert status.quorate is False
    assert status.activity_blocked is True
    assert (status.quorum, status.total_votes, status.node_id) == (2, 1, 3)
    assert status.flags == ()
    assert status.members == (QuorumMember(3, 1, "node3", True),)


def test_exit_status_decides_when_text_is_silent():
    body = NOT_QUORATE.replace("Quorate:          No\n", "")
    assert parse_quorumtool(body, 0).quorate is True
    assert parse_quorumtool(body, 2).quorate is False
    assert parse_quorumtool(body).quorate is None


def test_exit_status_and_text_must_agree():
    with pytest.raises(ParseError, match="contradicts exit status 0"):
        parse_quorumtool(NOT_QUORATE, 0)


def test_exit_1_is_corosync_unreachable():
    with pytest.raises(ClusterNotConnected, match="Cannot initialize CMAP service"):
        parse_quorumtool(read("gen_3.1.7_quorumtool_s_error_corosync_down.txt"), 1)


@pytest.mark.parametrize("text,rc,match", [
    ("", 0, "no quorum information"),
    ("Cannot initialize CMAP service\n", None, "no quorum information"),
    ("Quorate: Maybe\n", None, "expected Yes or No"),
    ("Nodes: many\n", None, "Nodes: not a number"),
    ("Membership information\n  1\n", None, "too short"),
    ("Quorate: Yes\n", 3, "unexpected exit status 3"),
])
def test_bad_input(text, rc, match):
    with pytest.raises(ParseError, match=match):
        parse_quorumtool(text, rc)
