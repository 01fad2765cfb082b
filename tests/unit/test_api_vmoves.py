"""The vm moves of a host notification (hakari/api/vmoves.py, views.vmove): Nova's
migration statuses as Masakari's move statuses, ids every controller derives alike,
the incident's window, and Masakari's filters, sort, limit and marker over the list."""

from __future__ import annotations

import datetime as dt

import pytest

from hakari.api import validation, views, vmoves
from hakari.api.faults import ApiError
from hakari.nova.resources import Migration
from hakari.records.store import incident_id

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
N1 = "0f4c2a1e-6a49-4b1e-9a51-2d1a8f0e3c11"
N2 = "7a3e1d44-0b2c-4f8e-8d7a-55c0e9b1a2f3"


def migration(n: int, status: str = "done", minutes: int = 1, dest: str | None = "node1",
              updated: int | None = 2) -> Migration:
    return Migration(f"00000000-0000-4000-8000-{n:012d}", f"server-{n}", "node3", dest,
                     status, "evacuation", T0 + dt.timedelta(minutes=minutes),
                     None if updated is None else T0 + dt.timedelta(minutes=updated))


@pytest.mark.parametrize("nova, move", [
    ("done", vmoves.SUCCEEDED), ("completed", vmoves.SUCCEEDED),
    ("failed", vmoves.FAILED), ("error", vmoves.FAILED),
    ("cancelled", vmoves.IGNORED),
    ("accepted", vmoves.PENDING), ("queued", vmoves.PENDING),
    ("pre-migrating", vmoves.ONGOING), ("rebuilding", vmoves.ONGOING),
    ("something-new", vmoves.ONGOING),
])
def test_nova_statuses_as_move_statuses(nova, move):
    assert vmoves.status(nova) == move


def test_a_move_from_a_migration_and_its_view():
    done = vmoves.from_migration(N1, migration(1), "web-1")
    assert (done.instance_uuid, done.instance_name, done.source_host, done.dest_host,
            done.type, done.status) == ("server-1", "web-1", "node3", "node1",
                                        "evacuation", "succeeded")
    assert (done.start_time, done.end_time) == (T0 + dt.timedelta(minutes=1),
                                                T0 + dt.timedelta(minutes=2))
    # Derived, not drawn: another controller, or this one after a restart, agrees.
    again = vmoves.from_migration(N1, migration(1), None)
    assert (again.uuid, again.id) == (done.uuid, done.id)
    assert vmoves.from_migration(N2, migration(1), None).uuid != done.uuid
    assert vmoves.from_migration(N1, migration(2), None).uuid != done.uuid
    assert 0 < done.id < 2 ** 53
    # Still in flight: no end yet, whatever Nova last touched.
    assert vmoves.from_migration(N1, migration(3, "rebuilding"), None).end_time is None

    doc = views.vmove(done)
    assert doc == {
        "id": done.id, "uuid": done.uuid, "notification_uuid": N1,
        "instance_uuid": "server-1", "instance_name": "web-1", "source_host": "node3",
        "dest_host": "node1", "start_time": "2026-03-01T12:01:00.000000",
        "end_time": "2026-03-01T12:02:00.000000", "status": "succeeded",
        "type": "evacuation", "message": f"Nova migration {migration(1).id}: done",
        "created_at": "2026-03-01T12:01:00.000000",
        "updated_at": "2026-03-01T12:02:00.000000", "deleted_at": None, "deleted": False}


def test_an_incidents_window_ends_at_the_next_loss_of_the_host():
    first = incident_id("compute2", T0)
    second = incident_id("compute2", T0 + dt.timedelta(days=2))
    since, until = vmoves.window(first, [first, second])
    assert since == T0 - vmoves.SINCE_MARGIN
    assert until == T0 + dt.timedelta(days=2) - vmoves.SINCE_MARGIN
    assert vmoves.window(second, [first, second])[1] is None
    # A process or instance incident's id carries no loss time.
    assert vmoves.window("process-node2", [first]) is None
    in_window = vmoves.before([migration(1, minutes=1), migration(2, minutes=3 * 24 * 60)],
                              until)
    assert [m.server_id for m in in_window] == ["server-1"]


def moves() -> list[vmoves.VMove]:
    return vmoves.moves(N1, [migration(1, "done", 1), migration(2, "error", 2),
                             migration(3, "accepted", 3, dest=None, updated=None),
                             migration(4, "done", 4)],
                        {"server-1": "db", "server-2": "web", "server-4": "app"})


def page(params, found=None) -> list[vmoves.VMove]:
    limit, marker = validation.pagination(params, 1000)
    filters = {k: v for k, v in params if k in vmoves.FILTERS}
    return vmoves.select(moves() if found is None else found, filters,
                         validation.sorting(params, vmoves.KEYS), limit, marker)


def names(found) -> list[str | None]:
    return [v.instance_name for v in found]


def test_masakari_list_parameters_over_the_moves():
    # Newest first by default.
    assert names(page([])) == ["app", None, "web", "db"]
    assert names(page([("status", "succeeded")])) == ["app", "db"]
    assert page([("type", "migration")]) == []
    assert names(page([("sort_key", "instance_name"), ("sort_dir", "asc")])) == \
        [None, "app", "db", "web"]
    # A missing value is the smallest, as the database sorts it.
    assert names(page([("sort_key", "dest_host"), ("sort_dir", "desc"),
                       ("sort_key", "start_time"), ("sort_dir", "asc")])) == \
        ["db", "web", "app", None]
    with pytest.raises(ApiError) as err:
        page([("sort_key", "flavor")])
    assert err.value.code == 400


def test_pages_by_marker_cover_every_move_once():
    for params in ([], [("sort_key", "status"), ("sort_dir", "asc")],
                   [("status", "succeeded")]):
        seen, marker = [], None
        while True:
            asked = params + [("limit", "1")] + ([("marker", str(marker))] if marker else [])
            got = page(asked)
            if not got:
                break
            seen += got
            marker = got[-1].id
        assert seen == page(params)
    # The marker is a move of the list, filtered or not; another is refused.
    assert names(page([("status", "failed"), ("marker", str(moves()[3].id))])) == ["web"]
    with pytest.raises(ApiError) as err:
        page([("marker", "12345")])
    assert err.value.code == 400
    assert page([("limit", "0")]) == []


def test_one_move_by_uuid_or_by_id():
    found = moves()
    assert vmoves.find(found, N1, found[1].uuid) == found[1]
    # openstacksdk's VMove sends back its id.
    assert vmoves.find(found, N1, str(found[2].id)) == found[2]
    with pytest.raises(ApiError) as err:
        vmoves.find(found, N1, "nothing")
    assert err.value.code == 404 and N1 in str(err.value)
