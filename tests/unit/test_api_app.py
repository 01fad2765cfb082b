"""The WSGI application behind keystonemiddleware (hakari/api/app.py): the caller it
confirmed, Masakari's policy rules and a policy file overriding them, and the refusals
that come before any handler, each with a request id and Masakari's error body.
(tests/integration/test_api_masakari.py puts the real keystonemiddleware in front.)"""

from __future__ import annotations

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
from hakari.records.journal import Journal

PROJECT = "0123abcd"


class Submitted(list):
    def submit(self, notification_uuid):
        self.append(notification_uuid)


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
    resources = Resources(conf, records, submitted, Journal.open(conf.state_dir),
                          compute_host=lambda name: name.startswith("compute"))
    root = Root(V1(resources, policy.enforcer(conf), 2048), 2048)
    root.submitted = submitted
    root.resources = resources
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
    assert resp.status_int == 200 and resp.json["version"]["version"] == "1.2"
    assert resp.headers["OpenStack-API-Version"] == "instance-ha 1.2"
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
