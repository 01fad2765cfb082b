"""Fence history from crm_mon and stonith_admin: one event parser, every time format."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from hakari.cluster.crm_mon import parse_crm_mon
from hakari.cluster.fence_history import parse_completed, parse_stonith_history
from hakari.errors import ClusterNotConnected, ParseError
from tests.conftest import DATA

LIVE = DATA / "live"
UTC = dt.timezone.utc


def tz(hours: int, minutes: int = 0) -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=hours, minutes=minutes))


@pytest.fixture
def local_tz(monkeypatch):
    """Run with a known local zone (POSIX rule, so no tzdata is needed), then restore."""
    monkeypatch.setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("text,expected", [
    # 2.0.3-2.1.5, UTC: "Z" glued to the seconds (live 2.1.5 output)
    ("2026-11-23 22:31:49Z", dt.datetime(2026, 11, 23, 22, 31, 49, tzinfo=UTC)),
    # 2.0.3-2.1.5, other zones: space, then ±HH:MM
    ("2015-04-13 16:06:27 +02:00", dt.datetime(2015, 4, 13, 16, 6, 27, tzinfo=tz(2))),
    ("2015-04-13 16:06:27 -05:30", dt.datetime(2015, 4, 13, 16, 6, 27, tzinfo=tz(-5, -30))),
    # 2.1.6+: microseconds
    ("2026-11-23 22:31:49.123456Z",
     dt.datetime(2026, 11, 23, 22, 31, 49, 123456, tzinfo=UTC)),
    ("2026-11-23 22:31:49.000042 +01:00",
     dt.datetime(2026, 11, 23, 22, 31, 49, 42, tzinfo=tz(1))),
    # shorter and longer fractions are scaled, not misread
    ("2026-11-23 22:31:49.5Z", dt.datetime(2026, 11, 23, 22, 31, 49, 500000, tzinfo=UTC)),
    ("2026-11-23 22:31:49.123456789Z",
     dt.datetime(2026, 11, 23, 22, 31, 49, 123456, tzinfo=UTC)),
    # hand-written ISO-8601 variants
    ("2026-11-23T22:31:49+0100", dt.datetime(2026, 11, 23, 22, 31, 49, tzinfo=tz(1))),
    ("2026-11-23T22:31:49Z", dt.datetime(2026, 11, 23, 22, 31, 49, tzinfo=UTC)),
])
def test_completed_formats(text, expected):
    got = parse_completed(text)
    assert got == expected
    assert got.utcoffset() == expected.utcoffset()


def test_legacy_ctime_is_local_time_made_aware(local_tz):
    parse_completed.cache_clear()
    summer = parse_completed("Mon Apr 13 16:06:27 2015")
    winter = parse_completed("Tue Dec  1 08:00:00 2015")  # ctime pads the day with a space
    assert summer.utcoffset() == dt.timedelta(hours=2)
    assert summer == dt.datetime(2015, 4, 13, 14, 6, 27, tzinfo=UTC)
    assert winter.utcoffset() == dt.timedelta(hours=1)
    assert winter == dt.datetime(2015, 12, 1, 7, 0, tzinfo=UTC)
    parse_completed.cache_clear()


def test_completed_without_offset_is_local_time(local_tz):
    parse_completed.cache_clear()
    got = parse_completed("2015-01-10 12:00:00")
    assert got.tzinfo is not None
    assert got == dt.datetime(2015, 1, 10, 11, 0, tzinfo=UTC)
    parse_completed.cache_clear()


def test_empty_completed_is_none():
    assert parse_completed("") is None
    assert parse_completed("  ") is None


@pytest.mark.parametrize("text", [
    "yesterday", "2026-13-01 00:00:00Z", "2026-11-23 25:00:00Z", "Mon Foo 13 16:06:27 2015",
    "2026-11-23 22:31:49 +2", "1795473109",
])
def test_bad_completed_is_a_parse_error(text):
    with pytest.raises(ParseError, match="completion time"):
        parse_completed(text)


def _crm_mon_with(events: str, root: str = "pacemaker-result") -> bytes:
    status = '<status code="0" message="OK"/>' if root == "pacemaker-result" else ""
    head = '<crm_mon version="1.1.18">' if root == "crm_mon" else \
        '<pacemaker-result api-version="2.25" request="crm_mon">'
    return (f'{head}<summary><current_dc present="true" name="n1" with_quorum="true"/>'
            f'</summary><nodes/><fence_history>{events}</fence_history>{status}'
            f'</{root}>').encode()


def test_2x_events_all_fields_in_order():
    snap = parse_crm_mon(_crm_mon_with(
        '<fence_event action="reboot" target="c1" client="stonith_admin.1" origin="n1" '
        'status="pending" extended-status="1"/>'
        '<fence_event action="off" target="c2" client="pacemaker-controld.7" origin="n2" '
        'status="failed" delegate="n1" exit-reason="Agent returned error" '
        'completed="2026-11-23 22:31:49.250000 +01:00"/>'
        '<fence_event action="reboot" target="c1" client="pacemaker-controld.7" '
        'origin="n1" status="success" delegate="n3" completed="2026-11-23 22:30:00Z"/>'))
    pending, failed, success = snap.fence_events
    assert (pending.target, pending.action, pending.status, pending.completed,
            pending.delegate) == ("c1", "reboot", "pending", None, None)
    assert failed.status == "failed" and failed.exit_reason == "Agent returned error"
    assert failed.completed == dt.datetime(2026, 11, 23, 21, 31, 49, 250000, tzinfo=UTC)
    assert (failed.delegate, failed.origin, failed.client) == (
        "n1", "n2", "pacemaker-controld.7")
    assert success.status == "success" and success.exit_reason is None
    assert success.completed == dt.datetime(2026, 11, 23, 22, 30, tzinfo=UTC)


def test_legacy_state_attribute_and_ctime(local_tz):
    parse_completed.cache_clear()
    snap = parse_crm_mon(_crm_mon_with(
        '<fence_event target="node2" action="reboot" state="success" origin="node1" '
        'client="crmd.1234" delegate="node1" completed="Mon Apr 13 16:06:27 2015"/>'
        '<fence_event target="node3" action="off" state="failed" origin="node1" '
        'client="stonith_admin.99" exit-reason="timed out" '
        'completed="Mon Apr 13 16:00:00 2015"/>', root="crm_mon"))
    ok, bad = snap.fence_events
    assert (ok.target, ok.status, ok.delegate) == ("node2", "success", "node1")
    assert ok.completed == dt.datetime(2015, 4, 13, 14, 6, 27, tzinfo=UTC)
    assert (bad.status, bad.exit_reason) == ("failed", "timed out")
    parse_completed.cache_clear()


@pytest.mark.parametrize("event,match", [
    ('<fence_event action="reboot" target="c1" status="done"/>', "unknown status 'done'"),
    ('<fence_event action="reboot" target="c1"/>', "fence event for c1: no status"),
    ('<fence_event action="reboot" status="success"/>', "without target"),
    ('<fence_event target="c1" status="success"/>', "without target or action"),
    ('<fence_event action="off" target="c1" status="success" completed="soon"/>',
     "completion time"),
])
def test_bad_events_are_refused(event, match):
    # An event hakari cannot read must never silently count (or not count) as fencing.
    with pytest.raises(ParseError, match=match):
        parse_crm_mon(_crm_mon_with(event))


def test_crm_mon_and_stonith_admin_read_the_same_event_alike():
    event = ('<fence_event action="reboot" target="node2" client="pacemaker-controld.3129" '
             'origin="node1" status="success" delegate="node1" '
             'completed="2026-11-23 22:31:49Z"/>')
    from_crm_mon = parse_crm_mon(_crm_mon_with(event)).fence_events
    from_stonith = parse_stonith_history(
        ('<pacemaker-result api-version="2.25" request="stonith_admin --history * '
         f'--output-as=xml"><list name="fencing history" count="1">{event}</list>'
         '<status code="0" message="OK"/></pacemaker-result>').encode())
    assert from_crm_mon == from_stonith
    assert from_stonith[0].completed == dt.datetime(2026, 11, 23, 22, 31, 49, tzinfo=UTC)


@pytest.mark.parametrize("name,expected", [
    ("adhoc-single-node_stonith-history-node2-off.xml",
     ("node2", "off", "success", "node1", "node1", "stonith_admin.9860",
      dt.datetime(2026, 11, 23, 22, 16, 8, tzinfo=UTC))),
    ("adhoc-single-node_stonith-history-startup-fencing.xml",
     ("node2", "reboot", "success", "node1", "node1", "pacemaker-controld.13576",
      dt.datetime(2026, 11, 23, 22, 18, 57, tzinfo=UTC))),
    ("adhoc-multinode_stonith-history-node2-fenced.xml",
     ("node2", "reboot", "success", "node1", "node3", "pacemaker-controld.16265",
      dt.datetime(2026, 11, 23, 22, 21, 56, tzinfo=UTC))),
    ("demo-single_stonith-history.xml",
     ("node2", "reboot", "success", "node1", "node1", "pacemaker-controld.3129",
      dt.datetime(2026, 11, 23, 22, 31, 49, tzinfo=UTC))),
    ("demo-multinode_stonith-history-1.xml",
     ("node2", "reboot", "success", "node1", "node1", "pacemaker-controld.4686",
      dt.datetime(2026, 11, 23, 22, 32, 10, tzinfo=UTC))),
    ("demo-multinode_stonith-history-final.xml",
     ("node2", "reboot", "success", "node1", "node1", "pacemaker-controld.4686",
      dt.datetime(2026, 11, 23, 22, 32, 10, tzinfo=UTC))),
])
def test_live_stonith_admin_history(name, expected):
    (event,) = parse_stonith_history((LIVE / name).read_bytes())
    assert (event.target, event.action, event.status, event.delegate, event.origin,
            event.client, event.completed) == expected


def test_stonith_admin_empty_list_and_errors():
    empty = (b'<pacemaker-result api-version="2.25" request="stonith_admin --history *">'
             b'<list name="fencing history" count="0"/><status code="0" message="OK"/>'
             b'</pacemaker-result>')
    assert parse_stonith_history(empty) == ()
    down = (b'<pacemaker-result api-version="2.25" request="stonith_admin --history *">'
            b'<status code="102" message="Not connected"><errors><error>Could not connect'
            b' to fencer: Connection refused</error></errors></status></pacemaker-result>')
    with pytest.raises(ClusterNotConnected, match="stonith_admin: not connected.*fencer"):
        parse_stonith_history(down)
    with pytest.raises(ParseError, match="is this stonith_admin"):
        parse_stonith_history((DATA / "crm_mon" / "gen_2.1.5_stonith-1.xml").read_bytes())


@pytest.mark.parametrize("name,expected", [
    # pending first, then the failed attempts, as Pacemaker lists them
    ("demo-single_crm_mon-node2-unclean.xml",
     [("reboot", "pending", None), ("reboot", "failed", "22:31:45"),
      ("reboot", "failed", "22:31:44")]),
    ("adhoc-single-node_crm_mon-after-fence-node2.xml", [("off", "success", "22:16:08")]),
    ("demo-multinode_crm_mon-node2-fenced.xml", [("reboot", "success", "22:32:10")]),
])
def test_live_crm_mon_fence_history(name, expected):
    snap = parse_crm_mon((LIVE / name).read_bytes())
    got = [(e.action, e.status, e.completed.strftime("%H:%M:%S") if e.completed else None)
           for e in snap.fence_events]
    assert got == expected
    assert all(e.completed is None or e.completed.tzinfo is not None
               for e in snap.fence_events)


def test_live_crm_mon_unclean_with_only_failed_fencing():
    snap = parse_crm_mon((LIVE / "adhoc-single-node_crm_mon-node2-unclean-fence-failing.xml")
                         .read_bytes())
    assert snap.node("node2").state == "unclean"
    assert {e.status for e in snap.fence_events} == {"failed"}
    assert len(snap.fence_events) == 6
