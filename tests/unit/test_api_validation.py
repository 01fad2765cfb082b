"""The API's pure parts: bodies and list parameters as Masakari checks them, versions,
routes, the error body and the notification statuses."""

from __future__ import annotations

import datetime as dt

import pytest

from hakari.api import faults, routes, statuses, validation, versions
from hakari.api.faults import ApiError

UUID = "96ab1c42-668c-4f2d-8689-afa3301d4ee9"


def refused(call, *args, code=400) -> str:
    with pytest.raises(ApiError) as err:
        call(*args)
    assert err.value.code == code
    return str(err.value)


def test_segment_create_takes_masakaris_fields_and_enabled_from_1_2():
    body = {"segment": {"name": "rack 1", "recovery_method": "rh_priority",
                        "service_type": "COMPUTE"}}
    assert validation.segment_create(body, (1, 0)) == {
        "name": "rack 1", "recovery_method": "rh_priority", "service_type": "COMPUTE",
        "description": None, "enabled": True}
    with_enabled = {"segment": {**body["segment"], "enabled": "no"}}
    assert validation.segment_create(with_enabled, (1, 2))["enabled"] is False
    assert "'enabled' was unexpected" in refused(validation.segment_create, with_enabled,
                                                 (1, 1))
    for bad, why in [({"segment": {**body["segment"], "recovery_method": "fast"}}, "fast"),
                     ({"segment": {**body["segment"], "name": " padded"}}, "space"),
                     ({"segment": {**body["segment"], "name": "x" * 256}}, "255"),
                     ({"segment": {**body["segment"], "name": "tab\there"}}, "printable"),
                     ({"segment": {"name": "a", "service_type": "b"}}, "recovery_method"),
                     ({**body, "extra": 1}, "extra"),
                     ([], "JSON object")]:
        assert why in refused(validation.segment_create, bad, (1, 2))


def test_updates_must_change_something():
    assert validation.segment_update({"segment": {"description": "a\nb"}}, (1, 0)) == \
        {"description": "a\nb"}
    assert "at least one" in refused(validation.segment_update, {"segment": {}}, (1, 2))
    assert validation.host_update({"host": {"on_maintenance": "True"}}) == \
        {"on_maintenance": True}
    assert "at least one" in refused(validation.host_update, {"host": {}})


def test_host_create_defaults_and_types():
    body = {"host": {"name": "compute1", "type": "COMPUTE", "control_attributes": "SSH"}}
    assert validation.host_create(body) == {**body["host"], "reserved": False,
                                            "on_maintenance": False}
    assert "letters and digits" in refused(
        validation.host_create, {"host": {**body["host"], "type": "COMPUTE-HOST"}})
    assert "'control_attributes' is a required" in refused(
        validation.host_create, {"host": {"name": "a", "type": "b"}})
    assert "not a boolean" in refused(validation.host_create,
                                      {"host": {**body["host"], "reserved": "maybe"}})


@pytest.mark.parametrize("value,expected", [
    (True, True), ("yes", True), ("ON", True), ("1", True),
    (False, False), ("No", False), ("off", False), ("0", False)])
def test_booleans_as_masakari_spells_them(value, expected):
    assert validation.boolean(value, "x") is expected


@pytest.mark.parametrize("value", ["tRue", "y", 1, None, "2"])
def test_other_booleans_are_refused(value):
    refused(validation.boolean, value, "x")


def test_notifications_of_each_type_as_masakari_monitors_send_them():
    def body(kind, payload, when="2017-04-24 08:34:46"):
        return {"notification": {"type": kind, "hostname": "compute-1.example.com",
                                 "generated_time": when, "payload": payload}}

    host = validation.notification_create(body("COMPUTE_HOST", {
        "event": "STOPPED", "host_status": "UNKNOWN", "cluster_status": "OFFLINE"}))
    assert host["generated_time"] == dt.datetime(2017, 4, 24, 8, 34, 46,
                                                 tzinfo=dt.timezone.utc)
    process = validation.notification_create(body("PROCESS", {
        "event": "STOPPED", "process_name": "nova-compute"},
        when="2017-04-21T17:29:55.523726+02:00"))
    assert process["generated_time"].hour == 15
    vm = validation.notification_create(body("VM", {
        "instance_uuid": UUID, "vir_domain_event": "STOPPED_FAILED", "event": "LIFECYCLE"}))
    assert vm["payload"]["instance_uuid"] == UUID

    for kind, payload, why in [
            ("NETWORK", {}, "NETWORK"),
            ("PROCESS", {"event": "stopped", "process_name": "x"}, "'stopped'"),
            ("PROCESS", {"event": "STOPPED"}, "'process_name' is a required"),
            ("COMPUTE_HOST", {"event": "STOPPED", "host_status": "DOWN"}, "DOWN"),
            ("COMPUTE_HOST", {"event": "STOPPED", "extra": "x"}, "'extra' was unexpected"),
            ("VM", {"instance_uuid": "nope", "vir_domain_event": "x", "event": "y"},
             "not a UUID"),
            ("PROCESS", {"event": "STOPPED", "process_name": "x" * 300}, "255"),
            ("PROCESS", {"event": "STOPPED", "process_name": 7}, "not a string"),
            ("PROCESS", "STOPPED", "not an object")]:
        assert why in refused(validation.notification_create, body(kind, payload))
    assert "not a date" in refused(validation.notification_create,
                                   body("PROCESS", {}, when="yesterday"))
    bad_host = body("PROCESS", {"event": "STOPPED", "process_name": "x"})
    bad_host["notification"]["hostname"] = "compute 1"
    assert "hostname" in refused(validation.notification_create, bad_host)


def test_pagination_and_sorting():
    assert validation.pagination([], 1000) == (1000, None)
    assert validation.pagination([("limit", "5000"), ("marker", "7")], 1000) == (1000, 7)
    assert validation.pagination([("limit", "0")], 1000) == (0, None)
    assert "0 or more" in refused(validation.pagination, [("limit", "-1")], 10)
    assert "integer" in refused(validation.pagination, [("limit", "ten")], 10)
    assert "could not be found" in refused(validation.pagination, [("marker", "abc")], 10)

    keys = ("id", "name", "created_at")
    assert validation.sorting([], keys) == [("created_at", "desc"), ("id", "desc")]
    assert validation.sorting([("sort_key", "name"), ("sort_dir", "asc")], keys) == \
        [("name", "asc"), ("created_at", "asc"), ("id", "asc")]
    assert validation.sorting([("sort_dir", "asc")], keys) == \
        [("created_at", "asc"), ("id", "asc")]
    assert "invalid" in refused(validation.sorting, [("sort_key", "password")], keys)
    assert "asc" in refused(validation.sorting, [("sort_dir", "up")], keys)
    assert "exceeds" in refused(validation.sorting, [("sort_key", "name"),
                                                     ("sort_dir", "asc"),
                                                     ("sort_dir", "desc")], keys)


def test_microversions():
    assert versions.requested(None) == (1, 0)
    assert versions.requested("instance-ha 1.2") == (1, 2)
    assert versions.requested("compute 2.95, instance-ha latest") == versions.MAX_VERSION
    assert versions.requested("compute 2.95") == (1, 0)
    assert versions.requested("instance-ha 1.3") == (1, 3)
    assert refused(versions.requested, "instance-ha 1.4", code=406)
    assert refused(versions.requested, "instance-ha 1.02", code=400)
    doc = versions.versions_document("http://api.example.com:15868/")
    [v] = doc["versions"]
    assert (v["version"], v["min_version"]) == ("1.3", "1.0")
    assert v["links"] == [{"rel": "self", "href": "http://api.example.com:15868/v1/"}]


@pytest.mark.parametrize("method,path,handler,args,project", [
    ("GET", "/v1/segments", "segments_index", {}, None),
    ("POST", "/v1/0a1b-2c/segments/", "segments_create", {}, "0a1b-2c"),
    ("PUT", f"/v1/segments/{UUID}", "segments_update", {"id": UUID}, None),
    ("GET", f"/v1/abc/segments/{UUID}/hosts", "hosts_index", {"segment_id": UUID}, "abc"),
    ("DELETE", f"/v1/segments/{UUID}/hosts/h1", "hosts_delete",
     {"segment_id": UUID, "id": "h1"}, None),
    ("GET", f"/v1/notifications/{UUID}", "notifications_show", {"id": UUID}, None),
    ("GET", "/v1/", "version", {}, None),
    ("GET", f"/v1/abc/notifications/{UUID}/vmoves", "vmoves_index",
     {"notification_id": UUID}, "abc"),
    ("GET", f"/v1/notifications/{UUID}/vmoves/7", "vmoves_show",
     {"notification_id": UUID, "id": "7"}, None),
])
def test_routes(method, path, handler, args, project):
    r = routes.route(method, path)
    assert (r.handler, r.args, r.project) == (handler, args, project)
    assert r.rule.startswith("os_masakari_api:")


def test_unknown_paths_and_methods():
    assert refused(routes.route, "DELETE", f"/v1/notifications/{UUID}", code=405)
    assert refused(routes.route, "GET", "/v1/vmoves", code=404)
    assert refused(routes.route, "GET", "/v2/segments", code=404)


def test_error_body_has_masakaris_shape():
    assert faults.body(400, "no") == {"badRequest": {"code": 400, "message": "no"}}
    assert faults.body(404, "gone") == {"itemNotFound": {"code": 404, "message": "gone"}}
    assert list(faults.body(406, "x")) == ["masakariFault"]


def test_notification_statuses():
    statuses.check(statuses.NEW, statuses.RUNNING)
    for final in statuses.FINAL:
        statuses.check(statuses.RUNNING, final)
        with pytest.raises(statuses.IllegalStatus):
            statuses.check(final, statuses.RUNNING)
    with pytest.raises(statuses.IllegalStatus):
        statuses.check(statuses.NEW, statuses.FINISHED)
