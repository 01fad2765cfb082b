"""The WSGI application behind keystonemiddleware (hakari/api/app.py): the caller it
confirmed, Masakari's policy rules and a policy file overriding them, and the refusals
that come before any handler, each with a request id and Masakari's error body.
(tests/integration/test_api_masakari.py puts the real keystonemiddleware in front.)"""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest
import webob
from oslo_config import cfg

from hakari import config, holds, segments
from hakari.api import auth, policy
from hakari.api.app import V1, Root
from hakari.api.membership import Cluster
from hakari.api.records import Records
from hakari.api.resources import Resources
from hakari.cluster import attributes
from hakari.errors import ConfigError
from hakari.hostnames import HostNameMap
from hakari.model import SEGMENT_ATTRIBUTE, SegmentMembership
from hakari.nova.errors import NovaError
from hakari.nova.resources import Migration, Server
from hakari.records.journal import Journal
from hakari.records.store import incident_id

PROJECT = "0123abcd"


class Submitted(list):
    def submit(self, notification_uuid):
        self.append(notification_uuid)


class Evacuations:
    """What the vm moves read of Nova: evacuations from a host, servers' names."""

    def __init__(self):
        self.migrations: list[Migration] = []
        self.names: dict[str, str] = {}
        self.asked: list[tuple[str, dt.datetime]] = []
        self.broken = False

    def evacuations(self, host, since=None):
        if self.broken:
            raise NovaError("GET /os-migrations: HTTP 503: down for maintenance", 503)
        self.asked.append((host, since))
        return [m for m in self.migrations if m.source_compute == host
                and m.created_at >= since]

    def servers_changed_since(self, since):
        return [Server(i, name, "ACTIVE", "node1", None, None, "active", {}, {}, None)
                for i, name in self.names.items()]


@pytest.fixture
def app(tmp_path, offline_cib):
    # The hosts' segments and holds go to the CIB: an offline one (CIB_file).
    offline_cib(*[f'<node id="compute{i}" uname="compute{i}" type="remote"/>'
                  for i in (1, 2, 3)])
    (tmp_path / "policy.yaml").write_text(
        '"os_masakari_api:notifications:create": "role:admin or role:monitor"\n')
    path = tmp_path / "hakari.conf"
    path.write_text(f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n"
                    "[api]\nmax_request_body_size = 2048\n")
    conf = config.load([str(path)])
    records = Records.open("", conf.state_dir)
    submitted = Submitted()
    nova = Evacuations()
    resources = Resources(conf, records, submitted, Journal.open(conf.state_dir),
                          compute_host=lambda name: name.startswith("compute"),
                          nova=lambda: nova)
    root = Root(V1(resources, policy.enforcer(conf), 2048), 2048)
    root.submitted = submitted
    root.resources = resources
    root.nova = nova
    return root


def call(app, method, path, body=None, roles="admin", project=PROJECT, headers=None):
    req = webob.Request.blank(path, method=method)
    if roles is not None:
        req.environ.update(HTTP_X_IDENTITY_STATUS="Confirmed", HTTP_X_ROLES=roles,
                           HTTP_X_PROJECT_ID=project, HTTP_X_USER_ID="u1")
    if body is not None:
        req.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        req.content_type = "application/json"
    for name, value in (headers or {}).items():
        req.headers[name] = value
    resp = req.get_response(app)
    assert resp.headers["x-openstack-request-id"].startswith("req-")
    return resp.status_int, resp.json if resp.body else None


def test_admin_only_by_default_and_a_policy_file_overrides_a_rule(app):
    assert call(app, "GET", "/v1/segments", roles="member,reader")[0] == 403
    status, doc = call(app, "GET", "/v1/notifications", roles="member")
    assert status == 403
    assert doc["forbidden"]["message"] == \
        "Policy doesn't allow os_masakari_api:notifications:index to be performed."
    assert call(app, "GET", "/v1/segments")[0] == 200
    # policy.yaml beside the configuration lets monitors post, and only post.
    segment = call(app, "POST", "/v1/segments", {"segment": {
        "name": "rack1", "recovery_method": "auto", "service_type": "COMPUTE"}})[1]
    call(app, "POST", f"/v1/segments/{segment['segment']['uuid']}/hosts", {"host": {
        "name": "compute1", "type": "COMPUTE", "control_attributes": "SSH"}})
    status, doc = call(app, "POST", f"/v1/{PROJECT}/notifications", {"notification": {
        "type": "PROCESS", "hostname": "compute1", "generated_time": "2026-01-01T00:00:00",
        "payload": {"event": "STOPPED", "process_name": "nova-compute"}}}, roles="monitor")
    assert status == 202 and doc["notification"]["status"] == "new"
    assert app.submitted == [doc["notification"]["notification_uuid"]]
    assert call(app, "GET", "/v1/notifications", roles="monitor")[0] == 403


def test_refusals_before_any_handler(app):
    assert call(app, "GET", "/v1/segments", roles=None)[0] == 401
    status, doc = call(app, "GET", "/v1/ffff/segments")
    assert status == 400 and "project_id" in doc["badRequest"]["message"]
    assert call(app, "DELETE", "/v1/notifications/x")[0] == 405
    assert call(app, "GET", "/v1/nothing")[0] == 404
    status, doc = call(app, "POST", "/v1/segments", b"x" * 4096)
    assert status == 413 and doc["overLimit"]["code"] == 413
    assert call(app, "POST", "/v1/segments", b"<segment/>",
                headers={"Content-Type": "application/xml"})[0] == 415
    assert call(app, "POST", "/v1/segments", b"{")[0] == 400
    assert call(app, "GET", "/v1/segments",
                headers={"OpenStack-API-Version": "instance-ha 2.0"})[0] == 406
    assert call(app, "POST", "/", roles=None)[0] == 405
    status, doc = call(app, "GET", "/", roles=None)
    assert status == 200 and doc["versions"][0]["id"] == "v1.0"
    assert call(app, "GET", "/v1/segments")[1] == {"segments": []}


def test_host_names_nova_does_not_know_are_refused(app):
    seg = call(app, "POST", "/v1/segments", {"segment": {
        "name": "rack1", "recovery_method": "auto", "service_type": "COMPUTE"}})[1]["segment"]
    hosts = f"/v1/segments/{seg['uuid']}/hosts"
    status, doc = call(app, "POST", hosts, {"host": {
        "name": "storage1", "type": "COMPUTE", "control_attributes": "SSH"}})
    assert status == 400 and "storage1" in doc["badRequest"]["message"]
    assert call(app, "GET", hosts)[1] == {"hosts": []}


def test_microversions_in_answers(app):
    req = webob.Request.blank("/v1/")
    req.environ.update(HTTP_X_IDENTITY_STATUS="Confirmed", HTTP_X_ROLES="reader",
                       HTTP_X_PROJECT_ID=PROJECT)
    req.headers["OpenStack-API-Version"] = "instance-ha latest"
    resp = req.get_response(app)
    assert resp.status_int == 200 and resp.json["version"]["version"] == "1.3"
    assert resp.headers["OpenStack-API-Version"] == "instance-ha 1.3"
    # enabled is a field of segments from 1.2 only.
    body = {"segment": {"name": "r", "recovery_method": "auto", "service_type": "C",
                        "enabled": False}}
    assert call(app, "POST", "/v1/segments", body)[0] == 400
    status, doc = call(app, "POST", "/v1/segments", body,
                       headers={"OpenStack-API-Version": "instance-ha 1.2"})
    assert status == 201 and doc["segment"]["enabled"] is False


def test_token_checks_have_a_timeout_unless_configured(tmp_path):
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[])
    with pytest.raises(ConfigError):     # no auth_type: refused, but the opts are set
        auth.protect(lambda env, start: [], conf)
    assert conf.keystone_authtoken.http_connect_timeout == auth.KEYSTONE_TIMEOUT
    path = tmp_path / "api.conf"
    path.write_text("[keystone_authtoken]\nhttp_connect_timeout = 3\n")
    mine = cfg.ConfigOpts()
    mine([], default_config_files=[str(path)])
    with pytest.raises(ConfigError):
        auth.protect(lambda env, start: [], mine)
    assert mine.keystone_authtoken.http_connect_timeout == 3


# -- what the API writes in the CIB (hakari.api.membership) ----------------------------------

def segment_of(node: str):
    raw = attributes.read_all().get(node, {}).get(SEGMENT_ATTRIBUTE)
    return segments.from_value(raw) if raw else None


def rack(app, method="reserved_host", **hosts) -> tuple[str, dict[str, dict]]:
    """A segment with ``hosts`` (name -> extra host fields); (its uuid, hosts by name)."""
    seg = call(app, "POST", "/v1/segments", {"segment": {
        "name": "rack1", "recovery_method": method, "service_type": "COMPUTE"}})[1]["segment"]
    made = {}
    for name, extra in hosts.items():
        status, doc = call(app, "POST", f"/v1/segments/{seg['uuid']}/hosts", {"host": {
            "name": name, "type": "COMPUTE", "control_attributes": "SSH", **extra}})
        assert status == 201, doc
        made[name] = doc["host"]
    return seg["uuid"], made


def test_segments_and_hosts_are_written_on_their_nodes(app):
    uuid, made = rack(app, compute1={}, compute2={"reserved": True})
    assert segment_of("compute1") == SegmentMembership(uuid, "rack1", "reserved_host",
                                                       True, False)
    assert segment_of("compute2").reserved is True and segment_of("compute3") is None
    # Renamed: the old node loses it, the new one has it.
    host = f"/v1/segments/{uuid}/hosts/{made['compute1']['uuid']}"
    assert call(app, "PUT", host, {"host": {"name": "compute3"}})[0] == 200
    assert segment_of("compute1") is None and segment_of("compute3").segment == uuid
    # The segment's method and enabled go to every host of it.
    status, _ = call(app, "PUT", f"/v1/segments/{uuid}", {"segment": {
        "recovery_method": "auto", "enabled": False}},
        headers={"OpenStack-API-Version": "instance-ha 1.2"})
    assert status == 200
    assert {(m.method, m.enabled) for m in map(segment_of, ("compute2", "compute3"))} == \
        {("auto", False)}
    # A disabled segment holds its hosts, which `hakari unhold` cannot lift.
    held = holds.current(attributes.read_all(), (), HostNameMap())
    assert held["compute2"].describe() == "held: segment rack1 is disabled"
    assert held["compute2"].lifted_by() == "enable segment rack1 through the API"
    # fence_hakari asks for one node's hold.
    assert holds.of_node("compute3", (), HostNameMap(), timeout=30).segment == "rack1"
    assert call(app, "DELETE", host)[0] == 204
    assert segment_of("compute3") is None
    assert call(app, "DELETE", f"/v1/segments/{uuid}")[0] == 204
    assert attributes.read_all() == {}


def test_a_node_pacemaker_lacks_or_two_hosts_on_one_node_store_nothing(app, tmp_path):
    uuid, _ = rack(app, compute1={})
    hosts = f"/v1/segments/{uuid}/hosts"
    status, doc = call(app, "POST", hosts, {"host": {
        "name": "compute9", "type": "COMPUTE", "control_attributes": "SSH"}})
    assert status == 400 and "Pacemaker has no node compute9" in \
        doc["badRequest"]["message"]
    path = tmp_path / "hakari.conf"
    path.write_text(path.read_text() + "[cluster]\nnode_domain = example.com\n")
    app.resources.cluster = Cluster(config.load([str(path)]))
    status, doc = call(app, "POST", hosts, {"host": {
        "name": "compute1.example.com", "type": "COMPUTE", "control_attributes": "SSH"}})
    assert status == 409 and "node compute1, as host compute1" in \
        doc["conflictingRequest"]["message"]
    assert [h["name"] for h in call(app, "GET", hosts)[1]["hosts"]] == ["compute1"]
    assert set(attributes.read_all()) == {"compute1"}


def test_a_change_the_cluster_refuses_is_undone_and_stores_nothing(app, offline_cib):
    uuid, _ = rack(app, compute1={}, compute2={})
    # compute2's node leaves the CIB: rewriting the segment fails half way.
    subprocess.run(["cibadmin", "--delete", "--xml-text", '<node uname="compute2"/>'],
                   check=True, timeout=30)
    status, doc = call(app, "PUT", f"/v1/segments/{uuid}", {"segment": {
        "recovery_method": "auto"}})
    assert status == 400, doc
    assert call(app, "GET", f"/v1/segments/{uuid}")[1]["segment"]["recovery_method"] == \
        "reserved_host"
    assert segment_of("compute1").method == "reserved_host"


def test_on_maintenance_is_the_hold_and_reserved_what_the_cib_says(app, tmp_path):
    uuid, made = rack(app, compute1={}, compute2={"reserved": True})
    host = f"/v1/segments/{uuid}/hosts/{made['compute1']['uuid']}"
    doc = call(app, "PUT", host, {"host": {"on_maintenance": True}})[1]["host"]
    assert doc["on_maintenance"] is True
    hold = holds.of_node("compute1", (), HostNameMap(), timeout=30)
    assert hold.why == "on_maintenance set through the API" and \
        hold.by.startswith("hakari api req-")
    # A maintenance host's notifications are refused, as Masakari refuses them.
    status, _ = call(app, "POST", "/v1/notifications", {"notification": {
        "type": "PROCESS", "hostname": "compute1", "generated_time": "2026-01-01T00:00:00",
        "payload": {"event": "STOPPED", "process_name": "nova-compute"}}})
    assert status == 409
    assert call(app, "PUT", host, {"host": {"on_maintenance": False}})[1]["host"][
        "on_maintenance"] is False
    assert holds.of_node("compute1", (), HostNameMap(), timeout=30) is None
    # `hakari hold` shows as maintenance; the engine taking compute2 into use, as
    # no longer reserved, in the list and its filters too.
    holds.place("compute1", "dave@ctl1", "firmware", timeout=30)
    assert segments.mark_taken("compute2", HostNameMap(), timeout=30) == \
        "no longer a reserved host of segment rack1"
    listed = {h["name"]: (h["reserved"], h["on_maintenance"])
              for h in call(app, "GET", f"/v1/segments/{uuid}/hosts")[1]["hosts"]}
    assert listed == {"compute1": (False, True), "compute2": (False, False)}
    assert [h["name"] for h in call(app, "GET", f"/v1/segments/{uuid}/hosts"
                                    "?on_maintenance=true")[1]["hosts"]] == ["compute1"]
    # Another change to the host keeps what the CIB says.
    other = f"/v1/segments/{uuid}/hosts/{made['compute2']['uuid']}"
    call(app, "PUT", other, {"host": {"control_attributes": "IPMI"}})
    assert segment_of("compute2").reserved is False
    # A configured hold is not the API's to lift.
    path = tmp_path / "hakari.conf"
    path.write_text(path.read_text() + "[recovery]\nexcluded_hosts = compute1\n")
    app.resources.cluster = Cluster(config.load([str(path)]))
    status, doc = call(app, "PUT", host, {"host": {"on_maintenance": False}})
    assert status == 409 and "excluded_hosts" in doc["conflictingRequest"]["message"]
    assert holds.of_node("compute1", (), HostNameMap(), timeout=30).by == "dave@ctl1"


# -- vm moves (microversion 1.3) ---------------------------------------------------------

def notify(app, kind, payload, host="compute2") -> str:
    status, doc = call(app, "POST", "/v1/notifications", {"notification": {
        "type": kind, "hostname": host, "generated_time": "2026-03-01T12:00:00",
        "payload": payload}})
    assert status == 202, doc
    return doc["notification"]["notification_uuid"]


def attach(app, notification_uuid: str, incident: str) -> None:
    """What the worker records once the notification follows the host's incident."""
    records = app.resources.records
    assert records.claim(notification_uuid, "test")
    records.progress(notification_uuid, "test", message="following", incident=incident)


def test_vm_moves_are_the_evacuations_since_the_incident(app):
    rack(app, compute1={}, compute2={})
    lost = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
    at = [lost + dt.timedelta(minutes=m) for m in (-60, 1, 2, 3)]
    app.nova.migrations = [
        Migration(f"m{i}", f"server-{i}", "compute2", "compute1", status, "evacuation",
                  at[i], at[i] + dt.timedelta(seconds=30))
        for i, status in enumerate(("done", "done", "error", "rebuilding"))]
    app.nova.names = {"server-1": "web-1", "server-2": "web-2"}
    host = notify(app, "COMPUTE_HOST", {"event": "STOPPED"})
    moves = f"/v1/notifications/{host}/vmoves"
    # Not yet following an incident: nothing moved for it, and Nova is not asked.
    assert call(app, "GET", moves) == (200, {"vmoves": []})
    assert app.nova.asked == []
    attach(app, host, incident_id("compute2", lost))

    # Served whatever microversion is asked, as Masakari serves them.
    status, doc = call(app, "GET", moves)
    assert status == 200
    assert [(v["instance_uuid"], v["instance_name"], v["status"]) for v in doc["vmoves"]] == \
        [("server-3", None, "ongoing"), ("server-2", "web-2", "failed"),
         ("server-1", "web-1", "succeeded")]
    assert app.nova.asked[-1][0] == "compute2"
    assert call(app, "GET", f"/v1/{PROJECT}/notifications/{host}/vmoves?status=failed",
                headers={"OpenStack-API-Version": "instance-ha 1.3"}
                )[1]["vmoves"] == [doc["vmoves"][1]]
    first = doc["vmoves"][2]
    assert call(app, "GET", f"{moves}/{first['uuid']}") == (200, {"vmove": first})
    assert call(app, "GET", f"{moves}/{first['id']}")[1] == {"vmove": first}
    status, err = call(app, "GET", f"{moves}/00000000-0000-4000-8000-000000000000")
    assert status == 404 and "itemNotFound" in err
    assert call(app, "GET", f"{moves}?marker=1")[0] == 400
    assert call(app, "GET", f"{moves}?sort_key=flavor")[0] == 400

    # The admin rule by default, Masakari's rule names.
    status, err = call(app, "GET", moves, roles="member")
    assert status == 403 and "os_masakari_api:vmoves:index" in err["forbidden"]["message"]
    status, err = call(app, "GET", f"{moves}/{first['uuid']}", roles="member")
    assert status == 403 and "os_masakari_api:vmoves:detail" in err["forbidden"]["message"]
    assert call(app, "POST", moves, {})[0] == 405

    # Only a host notification has moves; an unknown one is not found.
    process = notify(app, "PROCESS", {"event": "STOPPED", "process_name": "nova-compute"},
                     host="compute1")
    status, err = call(app, "GET", f"/v1/notifications/{process}/vmoves")
    assert status == 400 and "COMPUTE_HOST" in err["badRequest"]["message"]
    assert call(app, "GET", f"/v1/notifications/{process}/vmoves/x")[0] == 400
    assert call(app, "GET", "/v1/notifications/nothing/vmoves")[0] == 404

    # Nova cannot answer: one line, 503.
    app.nova.broken = True
    status, err = call(app, "GET", moves)
    assert status == 503
    assert err["serviceUnavailable"]["message"] == \
        "Nova cannot list the evacuations from compute2: GET /os-migrations: HTTP 503: " \
        "down for maintenance"


def test_a_later_loss_of_the_host_takes_its_own_moves(app):
    rack(app, compute2={})
    monday = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone.utc)
    friday = monday + dt.timedelta(days=4)
    app.nova.migrations = [
        Migration(f"m{i}", f"server-{i}", "compute2", "compute1", "done", "evacuation",
                  when + dt.timedelta(minutes=1), None)
        for i, when in enumerate((monday, friday))]
    first = notify(app, "COMPUTE_HOST", {"event": "STOPPED"})
    attach(app, first, incident_id("compute2", monday))
    second = notify(app, "COMPUTE_HOST", {"event": "STOPPED", "host_status": "UNKNOWN"})
    attach(app, second, incident_id("compute2", friday))
    shown = {n: [v["instance_uuid"] for v in call(app, "GET",
                                                  f"/v1/notifications/{n}/vmoves")[1]["vmoves"]]
             for n in (first, second)}
    assert shown == {first: ["server-0"], second: ["server-1"]}

