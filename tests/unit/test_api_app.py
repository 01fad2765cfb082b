"""The WSGI application behind keystonemiddleware (hakari/api/app.py): the caller it
confirmed, Masakari's policy rules and a policy file overriding them, and the refusals
that come before any handler, each with a request id and Masakari's error body.
(tests/integration/test_api_masakari.py puts the real keystonemiddleware in front.)"""

from __future__ import annotations

import json

import pytest
import webob
from oslo_config import cfg

from hakari import config
from hakari.api import auth, policy
from hakari.api.app import V1, Root
from hakari.api.records import Records
from hakari.api.resources import Resources
from hakari.errors import ConfigError
from hakari.records.journal import Journal

PROJECT = "0123abcd"


class Submitted(list):
    def submit(self, notification_uuid):
        self.append(notification_uuid)


@pytest.fixture
def app(tmp_path):
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
