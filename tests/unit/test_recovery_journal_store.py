"""The journal (append-only JSON lines) and the incident stores."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

import pytest

from hakari import lifecycle
from hakari.model import Incident
from hakari.records.journal import Event, Journal, JournalError, ensure_state_dir
from hakari.records.store import (ORIGINALS_LIMIT, ClusterStore, HostLock, LocalStore,
                                   StoreError, from_record, incident_id, originals_value,
                                   statuses_of, to_record)

T0 = dt.datetime(2026, 1, 1, 7, 0, 5, tzinfo=dt.timezone.utc)


def test_journal_creates_private_dir_and_file(tmp_path):
    d = tmp_path / "state"
    j = Journal.open(str(d))
    j.record("i1", "node2", "state", state=lifecycle.DETECTED)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(j.path).st_mode) == 0o600
    [e] = list(j.read())
    assert e.event == "state" and e.detail == {"state": lifecycle.DETECTED} and e.ts.tzinfo


def test_journal_refuses_world_writable_dir_and_shared_file(tmp_path):
    d = tmp_path / "state"
    d.mkdir()
    os.chmod(d, 0o777)
    with pytest.raises(JournalError, match="world-writable"):
        Journal.open(str(d))
    os.chmod(d, 0o700)
    (d / "journal.jsonl").write_text("")
    os.chmod(d / "journal.jsonl", 0o666)
    with pytest.raises(JournalError, match="writable by others"):
        Journal.open(str(d)).record("i", "h", "x")


def test_journal_round_trip_filters_and_survives_a_torn_line(tmp_path):
    j = Journal.open(str(tmp_path))
    j.append(Event(T0, "i1", "node2", "evacuate-requested", "s1", None, {"name": "vm"}),
             Event(T0, "i2", "node3", "state", detail={}))
    with open(j.path, "a") as f:
        f.write('{"ts": "2026-01-01T07:00:00+00:00", "incid')     # crash mid-record
    j2 = Journal(j.path)
    j2.record("i1", "node2", "result", instance="s1", request_id="req-1", result="evacuated")
    events = list(j2.read())
    assert [e.event for e in events] == ["evacuate-requested", "state", "result"]
    assert [e.event for e in j2.read("i1")] == ["evacuate-requested", "result"]
    assert events[2].request_id == "req-1" and events[2].instance == "s1"
    for line in open(j.path):
        if line.strip() and "incid" in line and "result" in line:
            json.loads(line)


def test_ensure_state_dir_errors(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(JournalError, match="not a directory"):
        ensure_state_dir(str(f))


def test_incident_record_round_trip_and_id():
    inc = Incident("node2-x", "node2", T0, lifecycle.EVACUATING, T0, "why\nnot")
    raw = to_record(inc)
    assert "\n" not in raw
    assert set(json.loads(raw)) == {"id", "state", "lost_at", "updated_at", "reason"}
    back = from_record("node2", raw)
    assert back.state == lifecycle.EVACUATING and back.lost_at == T0 and back.reason == "why not"
    assert from_record("node2", "garbage") is None
    assert from_record("node2", '{"id":"x","state":"NOPE","lost_at":"2026-01-01"}') is None
    assert incident_id("node2", T0) == "node2-20260101T070005Z"


def test_local_store_current_and_transitions(tmp_path):
    store = LocalStore(Journal.open(str(tmp_path)))
    assert store.current("node2") is None
    inc = store.save(Incident("a", "node2", T0), "node2")
    for state in (lifecycle.FENCE_CONFIRMED, lifecycle.FORCED_DOWN, lifecycle.EVACUATING):
        inc = store.transition(inc, "node2", state)
    assert store.current("node2").state == lifecycle.EVACUATING
    assert store.current("node3") is None
    inc = store.transition(inc, "node2", lifecycle.EVACUATED)
    store.transition(inc, "node2", lifecycle.HOST_RETURNED)
    assert store.current("node2") is None      # back: a new loss is a new incident


class FakeAttributes:
    def __init__(self):
        self.values = {}

    def query(self, node, name, timeout=None):
        return self.values.get((node, name))

    def update(self, node, name, value, timeout=None):
        self.values[(node, name)] = value

    def delete(self, node, name, timeout=None):
        self.values.pop((node, name), None)


def test_cluster_store_writes_cib_then_journal(tmp_path):
    attrs = FakeAttributes()
    j = Journal.open(str(tmp_path))
    store = ClusterStore(j, attributes=attrs)
    inc = store.save(Incident("a", "node2", T0, lifecycle.EVACUATING), "compute2.example")
    store.transition(inc, "compute2.example", lifecycle.FAILED, "2 failed")
    raw = attrs.values[("node2", "hakari-incident")]
    assert json.loads(raw)["state"] == lifecycle.FAILED
    assert store.current("node2").reason == "2 failed"
    assert [e.detail["state"] for e in j.read()] == [lifecycle.EVACUATING, lifecycle.FAILED]
    attrs.values[("node2", "hakari-incident")] = "{broken"
    with pytest.raises(StoreError, match="unreadable"):
        store.current("node2")


def test_host_lock_is_exclusive(tmp_path):
    with HostLock(str(tmp_path), "node2"):
        with pytest.raises(StoreError, match="another hakari process"):
            with HostLock(str(tmp_path), "node2"):
                pass
        with HostLock(str(tmp_path), "node3"):
            pass
    with HostLock(str(tmp_path), "node2"):
        pass


def test_originals_keep_shutoff_first_within_the_bound():
    statuses = {f"a{i:04}": "ACTIVE" for i in range(ORIGINALS_LIMIT)}
    statuses |= {"z-stopped": "SHUTOFF", "y-error": "ERROR"}
    value = originals_value(statuses)
    assert value["omitted"] == 2
    kept = statuses_of(value)
    assert len(kept) == ORIGINALS_LIMIT and kept["z-stopped"] == "SHUTOFF"
    assert statuses_of(originals_value({"a": "ACTIVE", "b": "SHUTOFF"})) == \
        {"a": "ACTIVE", "b": "SHUTOFF"}
    assert statuses_of({"statuses": {"ACTIVE": "not a list"}}) is None
    assert statuses_of("junk") is None


@pytest.mark.parametrize("kind", ["local", "cluster"])
def test_originals_are_kept_per_incident(tmp_path, kind):
    attrs = FakeAttributes()
    j = Journal.open(str(tmp_path))
    store = LocalStore(j) if kind == "local" else ClusterStore(j, attributes=attrs)
    first = Incident("node2-1", "node2", T0, lifecycle.EVACUATING)
    assert store.originals(first) is None
    store.keep_originals(first, "compute2", {"a": "SHUTOFF", "b": "ACTIVE"})
    assert store.originals(first) == {"a": "SHUTOFF", "b": "ACTIVE"}
    # A later loss of the same host is another incident: nothing kept for it yet.
    assert store.originals(Incident("node2-2", "node2", T0, lifecycle.EVACUATING)) is None
    [event] = [e for e in j.read("node2-1") if e.event == "originals"]
    assert event.detail["statuses"] == {"SHUTOFF": ["a"], "ACTIVE": ["b"]}
    store.forget_originals(first)
    if kind == "cluster":
        assert json.loads(attrs.values.get(("node2", "hakari-originals"), "null")) is None
        attrs.values[("node2", "hakari-originals")] = "{broken"
        assert store.originals(first) is None
