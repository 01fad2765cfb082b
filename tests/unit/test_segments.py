"""Failover segments in the CIB (hakari/segments.py): the record the API writes on a
host's node, and the holds a disabled segment puts on its hosts (hakari/holds.py)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from hakari import holds, segments
from hakari.hostnames import HostNameMap
from hakari.model import HOLD_ATTRIBUTE, SEGMENT_ATTRIBUTE, SegmentMembership

RACK1 = SegmentMembership("0b0c", "rack1", "reserved_host", enabled=True, reserved=True)


def test_the_record_is_one_line_of_json_and_reads_back():
    value = segments.to_value(RACK1)
    assert "\n" not in value
    assert json.loads(value) == {"segment": "0b0c", "name": "rack1",
                                 "method": "reserved_host", "enabled": True,
                                 "reserved": True}
    assert segments.from_value(value) == RACK1


@pytest.mark.parametrize("raw", [
    "", "{", "[]", "null", '{"segment": "u"}',
    '{"segment": "u", "name": "n", "method": "anywhere", "enabled": true, "reserved": false}',
    '{"segment": "u", "name": "n", "method": "auto", "enabled": "no", "reserved": false}',
    '{"segment": "", "name": "n", "method": "auto", "enabled": true, "reserved": false}',
    '{"segment": 7, "name": "n", "method": "auto", "enabled": true, "reserved": false}'])
def test_an_unreadable_record_is_as_none(raw):
    assert segments.from_value(raw) is None
    assert segments.current({"c1": {SEGMENT_ATTRIBUTE: raw}}) == {}


def test_a_disabled_segment_holds_its_hosts_after_other_holds():
    off = segments.to_value(SegmentMembership("u2", "rack2", "auto", enabled=False))
    raw = {"c1": {SEGMENT_ATTRIBUTE: segments.to_value(RACK1)},
           "c2": {SEGMENT_ATTRIBUTE: off},
           "c3": {SEGMENT_ATTRIBUTE: off, HOLD_ATTRIBUTE: holds.to_value(
               "dave", "disk", dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))},
           "c4": {SEGMENT_ATTRIBUTE: off}}
    held = holds.current(raw, ["c4"], HostNameMap())
    assert set(held) == {"c2", "c3", "c4"}
    assert (held["c2"].segment, held["c2"].describe(), held["c2"].configured) == \
        ("rack2", "held: segment rack2 is disabled", False)
    assert held["c2"].lifted_by() == "enable segment rack2 through the API"
    # An operator's hold and a configured one come first: theirs to lift.
    assert held["c3"].by == "dave" and held["c3"].lifted_by() == "`hakari unhold c3`"
    assert held["c4"].configured and "excluded_hosts" in held["c4"].lifted_by()
