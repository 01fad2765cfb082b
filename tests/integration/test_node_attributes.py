"""Node attributes through the real crm_attribute, on an offline CIB (CIB_file)."""


import pytest

from hakari.cluster import attributes
from hakari.errors import ToolFailed


@pytest.fixture
def cib(offline_cib):
    return offline_cib('<node id="1" uname="node1"/>',
                       '<node id="compute1" uname="compute1" type="remote"/>')


def test_set_get_delete_round_trip(cib):
    assert attributes.query("compute1", "hakari-incident") is None
    value = '{"state": "DETECTED", "note": "a <b> & \'c\'"}'
    attributes.update("compute1", "hakari-incident", value)
    assert attributes.query("compute1", "hakari-incident") == value
    assert "hakari-incident" in cib.read_text()
    attributes.delete("compute1", "hakari-incident")
    assert attributes.query("compute1", "hakari-incident") is None
    attributes.delete("compute1", "hakari-incident")  # idempotent


def test_member_and_remote_nodes_are_separate(cib):
    attributes.update("node1", "hakari-x", "1")
    attributes.update("compute1", "hakari-x", "2")
    assert attributes.query("node1", "hakari-x") == "1"
    assert attributes.query("compute1", "hakari-x") == "2"


def test_unknown_node_is_a_clear_error(cib):
    with pytest.raises(ToolFailed, match="no node named 'ghost'"):
        attributes.update("ghost", "hakari-x", "1")


def test_multiline_values_are_refused(cib):
    with pytest.raises(ValueError):
        attributes.update("node1", "hakari-x", "a\nb")


def test_read_all_in_one_call(cib):
    attributes.update("node1", "hakari-incident", '{"state": "DETECTED"}')
    attributes.update("compute1", "hakari-fenced", "2026-11-25T07:00:00+00:00")
    attributes.update("compute1", "other-attr", "x")
    assert attributes.read_all() == {
        "node1": {"hakari-incident": '{"state": "DETECTED"}'},
        "compute1": {"hakari-fenced": "2026-11-25T07:00:00+00:00"},
    }
