"""The API's records in SQLite (hakari/api/records.py, db.py) and the notification
workers' claims (hakari/api/worker.py): what Masakari refuses is refused with nothing
written, pages never overlap, and exactly one process runs a notification."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import sqlite3
import threading

import pytest

from hakari import config
from hakari.api import db, statuses, views
from hakari.api.decide import Outcome
from hakari.api.faults import ApiError
from hakari.api.records import Records
from hakari.api.worker import STALE, Parts, Recoveries
from hakari.records.journal import Journal

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def records(tmp_path):
    return Records.open("", str(tmp_path / "state"))


def code_of(call, *args, **kwargs) -> int:
    with pytest.raises(ApiError) as err:
        call(*args, **kwargs)
    return err.value.code


def segment(records, name="rack1", enabled=True):
    return records.create_segment({"name": name, "recovery_method": "auto",
                                   "service_type": "COMPUTE", "description": None,
                                   "enabled": enabled})


def host(records, seg, name, **flags):
    return records.create_host(seg.uuid, {"name": name, "type": "COMPUTE",
                                          "control_attributes": "SSH", "reserved": False,
                                          "on_maintenance": False, **flags})


def notify(records, hostname, payload=None, when=T0, kind="PROCESS"):
    return records.create_notification(
        {"type": kind, "hostname": hostname, "generated_time": when,
         "payload": payload or {"event": "STOPPED", "process_name": "nova-compute"}},
        duplicate_interval=180, request_id="req-1")


def test_schema_is_versioned_and_the_file_private(tmp_path, records):
    path = tmp_path / "state" / db.SQLITE_NAME
    assert path.stat().st_mode & 0o077 == 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("select version from hakari_api_schema").fetchall() == [(1,)]
        conn.execute("update hakari_api_schema set version = 99")
    with pytest.raises(db.DatabaseError, match="newer hakari"):
        Records.open("", str(tmp_path / "state"))
    with pytest.raises(db.DatabaseError, match=r"\[api\] connection"):
        Records.open("nosuchdb://x", str(tmp_path))


def test_segments_and_hosts_refuse_as_masakari_does(records):
    seg = segment(records)
    assert code_of(segment, records) == 409                     # same name
    h = host(records, seg, "compute1")
    assert code_of(host, records, seg, "compute1") == 409        # same name, any segment
    other = segment(records, "rack2")
    assert code_of(host, records, other, "compute1") == 409
    assert code_of(records.host, other.uuid, h.uuid) == 404      # not in that segment
    assert code_of(records.segment, "no-such") == 404
    assert records.update_host(seg.uuid, h.uuid, {"reserved": True}).reserved is True

    # A segment whose host has a notification being handled cannot change or go.
    n = notify(records, "compute1")
    assert code_of(records.update_segment, seg.uuid, {"name": "x"}) == 409
    assert code_of(records.delete_host, seg.uuid, h.uuid) == 409
    assert records.claim(n.notification_uuid, "me")
    assert records.finish(n.notification_uuid, "me", statuses.FINISHED, "done")
    assert records.update_segment(seg.uuid, {"name": "x"}).name == "x"
    # Deleting a segment deletes its hosts.
    records.delete_segment(seg.uuid)
    assert records.host_by_uuid(h.uuid) is None
    assert [s.name for s in records.segments({}, [("id", "asc")], 10, None)] == ["rack2"]


def test_notifications_refused_with_nothing_stored(records):
    seg = segment(records)
    host(records, seg, "compute1")
    host(records, seg, "compute2", on_maintenance=True)
    first = notify(records, "compute1")
    assert (first.status, first.request_id, first.failover_segment_uuid) == \
        ("new", "req-1", seg.uuid)
    assert code_of(notify, records, "compute9") == 400           # no such host
    assert code_of(notify, records, "compute2") == 409           # on maintenance
    assert code_of(notify, records, "compute1", when=T0 + dt.timedelta(seconds=60)) == 409
    # Another payload, or the same one past the detection interval, is no duplicate.
    notify(records, "compute1", {"event": "STOPPED", "process_name": "libvirtd"})
    notify(records, "compute1", when=T0 + dt.timedelta(seconds=181))
    everything = records.notifications({}, [("id", "asc")], 100, None)
    assert len(everything) == 3
    assert records.notifications({}, [("id", "asc")], 100, None,
                                 generated_since=T0 + dt.timedelta(seconds=1))[0].id == 3


def test_pages_follow_the_sort_and_never_overlap(records):
    names = ["b", "a", "d", "c", "e"]
    for i, name in enumerate(names):
        segment(records, name, enabled=i % 2 == 0)
    order = [("enabled", "asc"), ("name", "desc"), ("id", "desc")]
    seen, marker = [], None
    while True:
        page = records.segments({}, order, 2, marker)
        if not page:
            break
        seen += [s.name for s in page]
        marker = page[-1].id
    assert seen == ["c", "a", "e", "d", "b"]
    assert [s.name for s in records.segments({"enabled": False}, order, 10, None)] == \
        ["c", "a"]
    assert code_of(records.segments, {}, order, 2, 999) == 400
    assert records.segments({}, order, 0, None) == []
    # Null sorts first ascending: updated_at is null until a segment changes.
    changed = records.update_segment(records.segments({"name": "a"}, order, 1, None)[0].uuid,
                                     {"description": "x"})
    by_update = [("updated_at", "asc"), ("id", "asc")]
    first, rest = records.segments({}, by_update, 4, None), None
    rest = records.segments({}, by_update, 10, first[-1].id)
    assert [s.name for s in first + rest][-1] == changed.name
    assert len(first + rest) == 5


def test_views_write_times_as_masakari_does(records):
    seg = segment(records)
    doc = views.host(host(records, seg, "compute1"))
    assert doc["failover_segment_id"] == seg.uuid and doc["failover_segment"]["name"] == \
        "rack1"
    assert doc["deleted"] is False and doc["updated_at"] is None
    assert views.timestamp(T0) == "2026-01-01T12:00:00.000000"
    n = views.notification(notify(records, "compute1"))
    assert n["generated_time"] == "2026-01-01T12:00:00.000000"
    assert "recovery_workflow_details" not in n


def test_one_claim_wins_and_a_silent_worker_is_taken_over(records):
    seg = segment(records)
    host(records, seg, "compute1")
    n = notify(records, "compute1")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda i: records.claim(n.notification_uuid, f"w{i}"),
                             range(8)))
    assert wins.count(True) == 1
    owner = f"w{wins.index(True)}"
    assert not records.claim(n.notification_uuid, "late",
                             stale_before=dt.datetime.now(dt.timezone.utc)
                             - dt.timedelta(seconds=60))
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    assert records.unclaimed(later, later) == [(n.notification_uuid, True)]
    assert records.claim(n.notification_uuid, "heir", stale_before=later)
    # The first owner's late outcome no longer counts.
    assert not records.finish(n.notification_uuid, owner, statuses.FAILED, "late")
    assert records.finish(n.notification_uuid, "heir", statuses.FINISHED, "done")
    assert records.notification(n.notification_uuid).status == statuses.FINISHED


def _conf(tmp_path):
    path = tmp_path / "hakari.conf"
    path.write_text(f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n[api]\n"
                    "recovery_workers = 2\n")
    return config.load([str(path)])


def test_recoveries_run_each_notification_once_and_journal_it(tmp_path, records,
                                                              monkeypatch):
    conf = _conf(tmp_path)
    journal = Journal.open(conf.state_dir)
    seg = segment(records)
    host(records, seg, "compute1")
    disabled = segment(records, "off", enabled=False)
    host(records, disabled, "compute2")
    handled = []
    gate = threading.Event()

    def handle(self, n, h):
        handled.append(n.notification_uuid)
        gate.wait(10)
        return Outcome(statuses.FINISHED, "done", "compute1-incident")

    unused = Parts(nova=None, look=None, process=None, instance=None)
    first = Recoveries(conf, records, journal, unused, worker="one")
    second = Recoveries(conf, records, journal, unused, worker="two")
    n = notify(records, "compute1")
    with monkeypatch.context() as m:
        m.setattr(Recoveries, "_handle", handle)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(r.run, n.notification_uuid) for r in (first, second)]
            gate.set()
            results = sorted(str(f.result()) for f in runs)
    assert results == ["None", "finished"] and handled == [n.notification_uuid]
    done = records.notification(n.notification_uuid)
    assert (done.status, done.incident) == ("finished", "compute1-incident")
    [event] = [e for e in journal.read() if e.event == "api-notification"]
    assert (event.incident, event.request_id, event.detail["status"]) == \
        ("compute1-incident", "req-1", "finished")

    # A disabled segment's notifications are ignored, saying why.
    off = notify(records, "compute2")
    assert first.run(off.notification_uuid) == statuses.IGNORED
    assert "disabled" in records.notification(off.notification_uuid).message

    # One left running by a process that died is taken over by the next sweep.
    orphan = notify(records, "compute1", {"event": "STARTED", "process_name": "x"})
    assert records.claim(orphan.notification_uuid, "dead")
    with monkeypatch.context() as m:
        m.setattr(Recoveries, "_handle",
                  lambda self, n, h: Outcome(statuses.FINISHED, f"by {self.worker}"))
        m.setattr(Recoveries, "submit", lambda self, u, stale=False: self.run(u, stale))
        second.sweep(dt.datetime.now(dt.timezone.utc))
        assert records.notification(orphan.notification_uuid).status == "running"
        m.setattr("hakari.api.worker.utcnow", lambda: dt.datetime.now(dt.timezone.utc)
                  + dt.timedelta(seconds=STALE + 1))
        second.sweep(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=STALE + 1))
    assert dataclasses.astuple(records.notification(orphan.notification_uuid))[8:10] == \
        ("finished", "by two")
    first.stop()
    second.stop()
