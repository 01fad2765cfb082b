"""`hakari api` on 127.0.0.1, driven as Masakari is: openstacksdk's instance_ha proxy
(what masakari-monitors and `openstack segment|notification` use) with tokens from the
fake Nova's Keystone stand-in, validated by the real keystonemiddleware over HTTP.

Notifications run hakari's recoveries against the fake Nova (PROCESS, VM) and read a
real CIB for COMPUTE_HOST (bench/cibgen's cloud, made and changed by Pacemaker's offline
tools: CIB_file, no daemons). Its compute1 and compute2 are the fake's node2 and node3.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
import requests
from openstack import exceptions as sdk_exc

from hakari import lifecycle
from hakari.api import statuses
from hakari.cluster import attributes
from hakari.model import HOLD_ATTRIBUTE, INCIDENT_ATTRIBUTE, SEGMENT_ATTRIBUTE, Incident
from hakari.nova.client import Nova
from hakari.records.journal import Journal
from hakari.records.store import incident_id, to_record
from tests.api_helpers import MEMBER, serve
from tests.conftest import require_tools
from tests.integration.test_crm_mon_offline import simulate
from tests.process_cibs import cloud

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ROOT = pathlib.Path(__file__).resolve().parents[2]

SETTINGS = ("[cluster]\nnode_map = compute1:node2,compute2:node3\n"
            "[api]\nhost_follow_interval = 0.5\nhost_follow_timeout = 60\n"
            "[instance_failure]\npoll_interval = 0.05\nverify_timeout = 20\n")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return cloud(tmp_path_factory.mktemp("cloud") / "cloud.xml")


@pytest.fixture
def cib(base, tmp_path, monkeypatch):
    path = tmp_path / "cib.xml"
    path.write_bytes(base.read_bytes())
    monkeypatch.setenv("CIB_file", str(path))
    return path


@pytest.fixture
def api(fake_nova, cib, tmp_path):
    served, stop = serve(fake_nova, tmp_path, SETTINGS)
    try:
        yield served
    finally:
        stop()


@pytest.fixture
def ha(api):
    return api.sdk().instance_ha


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat()


def shown(ha, notification_uuid: str) -> dict:
    """The notification as the API shows it (openstacksdk's resource has no message)."""
    answer = ha.get(f"/notifications/{notification_uuid}")
    assert answer.status_code == 200, answer.text
    return answer.json()["notification"]


def settled(ha, notification_uuid: str, timeout: float = 30.0) -> dict:
    """The notification once its status is final."""
    deadline = time.monotonic() + timeout
    while True:
        n = shown(ha, notification_uuid)
        if n["status"] in statuses.FINAL or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


def segment_with(ha, *hosts: str):
    segment = ha.create_segment(name="rack1", recovery_method="auto", service_type="COMPUTE")
    for name in hosts:
        ha.create_host(segment.uuid, name=name, type="COMPUTE", control_attributes="SSH")
    return segment


def test_sdk_manages_segments_and_hosts(ha):
    segment = ha.create_segment(name="rack1", recovery_method="auto", service_type="COMPUTE",
                                description="first rack")
    assert (segment.name, segment.recovery_method, segment.is_enabled) == \
        ("rack1", "auto", True)
    assert [s.uuid for s in ha.segments()] == [segment.uuid]
    assert ha.get_segment(segment.uuid).description == "first rack"
    changed = ha.update_segment(segment.uuid, recovery_method="reserved_host",
                                is_enabled=False)
    assert (changed.recovery_method, changed.is_enabled) == ("reserved_host", False)
    assert [s.name for s in ha.segments(is_enabled=False)] == ["rack1"]
    assert list(ha.segments(recovery_method="auto")) == []
    # openstacksdk pages with the last item's id as the marker.
    second = ha.create_segment(name="rack2", recovery_method="auto", service_type="COMPUTE")
    assert [s.name for s in ha.segments(limit=1, sort_key="name", sort_dir="asc")] == \
        ["rack1", "rack2"]
    ha.delete_segment(second.uuid, ignore_missing=False)

    # A Pacemaker node name (mapped to Nova's) and a Nova name (node3: the node
    # compute2) are both accepted.
    mapped = ha.create_host(segment.uuid, name="compute1", type="COMPUTE",
                            control_attributes="SSH")
    plain = ha.create_host(segment.uuid, name="node3", type="COMPUTE",
                           control_attributes="SSH", reserved=True)
    assert (mapped.failover_segment_id, mapped.on_maintenance, plain.reserved) == \
        (segment.uuid, False, True)
    assert sorted(h.name for h in ha.hosts(segment.uuid)) == ["compute1", "node3"]
    assert [h.name for h in ha.hosts(segment.uuid, reserved=True)] == ["node3"]
    updated = ha.update_host(mapped.uuid, segment.uuid, on_maintenance="True")
    assert ha.get_host(updated.uuid, segment.uuid).on_maintenance is True
    # Both are on their Pacemaker nodes, for the engine; maintenance is a hold.
    raw = attributes.read_all()
    assert json.loads(raw["compute2"][SEGMENT_ATTRIBUTE])["reserved"] is True
    assert json.loads(raw["compute1"][HOLD_ATTRIBUTE])["why"] == \
        "on_maintenance set through the API"

    # Nova has no such compute, or Pacemaker no such node: refused, nothing stored.
    with pytest.raises(sdk_exc.BadRequestException, match="nowhere"):
        ha.create_host(segment.uuid, name="nowhere", type="COMPUTE", control_attributes="")
    with pytest.raises(sdk_exc.BadRequestException, match="Pacemaker has no node node1"):
        ha.create_host(segment.uuid, name="node1", type="COMPUTE", control_attributes="")
    with pytest.raises(sdk_exc.ConflictException):
        ha.create_host(segment.uuid, name="node3", type="COMPUTE", control_attributes="")
    assert len(list(ha.hosts(segment.uuid))) == 2

    ha.delete_host(plain.uuid, segment.uuid, ignore_missing=False)
    with pytest.raises(sdk_exc.NotFoundException):
        ha.get_host(plain.uuid, segment.uuid)
    ha.delete_segment(segment.uuid, ignore_missing=False)
    assert list(ha.segments()) == []
    with pytest.raises(sdk_exc.NotFoundException):
        ha.hosts(segment.uuid).__next__()


def test_process_notification_disables_the_compute_with_its_request_id(api, ha, fake_nova):
    segment_with(ha, "compute1")
    body = {"notification": {"type": "PROCESS", "hostname": "compute1",
                             "generated_time": now(),
                             "payload": {"event": "STOPPED", "process_name": "nova-compute"}}}
    headers = {"X-Auth-Token": api.token(), "Content-Type": "application/json"}
    answer = requests.post(f"{api.endpoint}/notifications", json=body, headers=headers,
                           timeout=30)
    assert answer.status_code == 202, answer.text
    created = answer.json()["notification"]
    assert created["status"] == "new"
    request_id = answer.headers["x-openstack-request-id"]

    n = settled(ha, created["notification_uuid"])
    assert n["status"] == "finished", n
    host = fake_nova.host("node2")
    assert host["status"] == "disabled"
    assert host["disabled_reason"].startswith("hakari: process failure")
    journal = list(Journal.open(api.conf.state_dir).read())
    signal = next(e for e in journal if e.event == "failure-signal")
    assert signal.request_id == request_id and signal.detail["process"] == "nova-compute"
    result = [e for e in journal if e.event == "api-notification"
              and e.detail["status"] == "finished"]
    assert [e.request_id for e in result] == [request_id]

    # The same report again within Masakari's detection interval: a duplicate, refused.
    again = requests.post(f"{api.endpoint}/notifications", json=body, headers=headers,
                          timeout=30)
    assert again.status_code == 409
    assert "duplicate" in again.json()["conflictingRequest"]["message"]
    assert len(list(ha.notifications())) == 1

    # The process is back: the same recovery re-enables what hakari disabled.
    healthy = ha.create_notification(type="PROCESS", hostname="compute1",
                                     generated_time=now(),
                                     payload={"event": "STARTED",
                                              "process_name": "nova-compute"})
    assert settled(ha, healthy.notification_uuid)["status"] == "finished"
    assert fake_nova.host("node2")["status"] == "enabled"


def test_vm_notification_starts_a_crashed_instance(api, fake_nova):
    # Microversion 1.1 and later show the recovery workflow.
    ha = api.sdk(instance_ha_api_version="1.2").instance_ha
    segment_with(ha, "compute1")
    crashed = fake_nova.add_server("node2", status="SHUTOFF")
    n = ha.create_notification(type="VM", hostname="compute1", generated_time=now(),
                               payload={"instance_uuid": crashed, "event": "LIFECYCLE",
                                        "vir_domain_event": "STOPPED_FAILED"})
    assert n.status == "new"
    assert settled(ha, n.notification_uuid)["status"] == "finished"
    assert fake_nova.server(crashed)["status"] == "ACTIVE"
    [task] = ha.get_notification(n.notification_uuid).recovery_workflow_details
    assert task.state == "SUCCESS"
    assert any("attempt" in step.message for step in task.progress_details)

    # A guest shut down from inside is no failure, for Masakari or hakari.
    stopped = fake_nova.add_server("node2", status="SHUTOFF")
    n = ha.create_notification(type="VM", hostname="compute1", generated_time=now(),
                               payload={"instance_uuid": stopped, "event": "LIFECYCLE",
                                        "vir_domain_event": "STOPPED_SHUTDOWN"})
    ignored = settled(ha, n.notification_uuid)
    assert ignored["status"] == "ignored" and "STOPPED_SHUTDOWN" in ignored["message"]
    assert fake_nova.server(stopped)["status"] == "SHUTOFF"


def _incident(cib, node: str, state: str) -> None:
    lost = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    record = to_record(Incident(incident_id(node, lost), node, lost, state))
    attributes.update(node, INCIDENT_ATTRIBUTE, record, timeout=30)


def test_compute_host_notification_never_evacuates_and_follows_the_incident(
        ha, cib, fake_nova):
    segment_with(ha, "compute1", "compute2")
    stopped = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}

    def notify(host):
        n = ha.create_notification(type="COMPUTE_HOST", hostname=host,
                                   generated_time=now(), payload=stopped)
        return n.notification_uuid

    alive = settled(ha, notify("compute1"))
    assert alive["status"] == "ignored" and "alive" in alive["message"]

    simulate(cib, cib, "--node-fail", "compute2")
    lost = notify("compute2")
    time.sleep(1.5)
    waiting = shown(ha, lost)
    assert waiting["status"] == "running" and "waiting for the engine" in waiting["message"]
    _incident(cib, "compute2", lifecycle.EVACUATING)
    time.sleep(1.5)
    attached = shown(ha, lost)
    assert attached["status"] == "running" and lifecycle.EVACUATING in attached["message"]
    _incident(cib, "compute2", lifecycle.EVACUATED)
    done = settled(ha, lost)
    assert done["status"] == "finished" and "compute2-20260101T000000Z" in done["message"]
    # The notification only watched: it asked nothing of Nova.
    assert [r.route for r in fake_nova.requests() if r.method in ("POST", "PUT")
            and not r.route.startswith("identity")] == []
    assert fake_nova.host("node3")["status"] == "enabled"


def test_vm_moves_of_a_host_notification_are_novas_evacuations(api, ha, cib, fake_nova):
    segment_with(ha, "compute1", "compute2")
    servers = {outcome: fake_nova.add_server("node3", name=f"web-{outcome}")
               for outcome in ("ok", "failed", "hang")}
    simulate(cib, cib, "--node-fail", "compute2")
    _incident(cib, "compute2", lifecycle.EVACUATING)
    # By its uuid, as Masakari finds a notification (the resource's id is a number).
    n = ha.create_notification(type="COMPUTE_HOST", hostname="compute2",
                               generated_time=now(),
                               payload={"event": "STOPPED"}).notification_uuid
    deadline = time.monotonic() + 30
    while lifecycle.EVACUATING not in (shown(ha, n)["message"] or ""):
        assert time.monotonic() < deadline, "the notification never followed the incident"
        time.sleep(0.1)
    assert list(ha.vmoves(n)) == []

    # What the engine does meanwhile, on whichever controller: evacuations in Nova.
    fake_nova.kill_host("node3")
    nova = Nova.connect(api.conf)
    for outcome, server in servers.items():
        fake_nova.set_evacuation_outcome(server, outcome)
        nova.evacuate(server)
    deadline = time.monotonic() + 20
    while sorted(m["status"] for m in fake_nova.migrations(source="node3")) != \
            ["done", "failed", "pre-migrating"]:
        assert time.monotonic() < deadline, fake_nova.migrations(source="node3")
        time.sleep(0.05)

    # openstacksdk's instance_ha proxy, with no microversion (as it asks for vmoves).
    moves = {v.server_name: v for v in ha.vmoves(n)}
    assert {name: (v.status, v.type, v.source_host, v.server_id)
            for name, v in moves.items()} == {
        "web-ok": ("succeeded", "evacuation", "node3", servers["ok"]),
        "web-failed": ("failed", "evacuation", "node3", servers["failed"]),
        "web-hang": ("ongoing", "evacuation", "node3", servers["hang"])}
    assert moves["web-ok"].dest_host in ("node1", "node2") and moves["web-ok"].end_time
    assert moves["web-hang"].end_time is None
    assert [v.server_name for v in ha.vmoves(n, status="failed")] == ["web-failed"]
    # Pages of one, the last id the marker, in name order.
    assert [v.server_name for v in ha.vmoves(n, limit=1, sort_key="instance_name",
                                             sort_dir="asc")] == \
        ["web-failed", "web-hang", "web-ok"]
    ok = moves["web-ok"]
    assert ha.get_vmove(ok.uuid, n).to_dict() == ok.to_dict()
    assert ha.get_vmove(ok, n).status == "succeeded"
    with pytest.raises(sdk_exc.NotFoundException):
        ha.get_vmove("00000000-0000-4000-8000-000000000000", n)
    # Asked for 1.3 by name: the same moves, the same ids (derived from Nova's).
    other = requests.get(f"{api.endpoint}/notifications/{n}/vmoves",
                         headers={"X-Auth-Token": api.token(),
                                  "OpenStack-API-Version": "instance-ha 1.3"}, timeout=30)
    assert other.status_code == 200
    assert other.headers["OpenStack-API-Version"] == "instance-ha 1.3"
    assert sorted(v["uuid"] for v in other.json()["vmoves"]) == \
        sorted(v.uuid for v in moves.values())

    _incident(cib, "compute2", lifecycle.EVACUATED)
    assert settled(ha, n)["status"] == "finished"
    assert len(list(ha.vmoves(n))) == 3
    # Only a host notification has moves: Masakari's 400.
    process = ha.create_notification(type="PROCESS", hostname="compute1",
                                     generated_time=now(),
                                     payload={"event": "STARTED", "process_name": "x"})
    with pytest.raises(sdk_exc.BadRequestException, match="COMPUTE_HOST"):
        list(ha.vmoves(process.notification_uuid))


def test_no_token_member_token_and_bad_requests_store_nothing(api, ha):
    segment_with(ha, "compute1")
    url = f"{api.endpoint}/notifications"
    assert requests.get(url, timeout=30).status_code == 401
    member = api.sdk(MEMBER).instance_ha
    with pytest.raises(sdk_exc.ForbiddenException):
        list(member.segments())
    with pytest.raises(sdk_exc.ForbiddenException):
        member.create_notification(type="PROCESS", hostname="compute1",
                                   generated_time=now(),
                                   payload={"event": "STOPPED", "process_name": "x"})

    admin = {"X-Auth-Token": api.token(), "Content-Type": "application/json"}
    good = {"type": "PROCESS", "hostname": "compute1", "generated_time": now(),
            "payload": {"event": "STOPPED", "process_name": "nova-compute"}}
    refused = [
        (json.dumps({"notification": {**good, "payload": {"x": "y" * 200000}}}), 413,
         "overLimit"),
        ("{not json", 400, "badRequest"),
        (json.dumps({"notification": {**good, "type": "NETWORK"}}), 400, "badRequest"),
        (json.dumps({"notification": {**good, "hostname": "nowhere"}}), 400, "badRequest"),
        (json.dumps({"notification": {**good, "payload": {"event": "STOPPED"}}}), 400,
         "badRequest"),
        (json.dumps({"notification": {**good, "generated_time": "yesterday"}}), 400,
         "badRequest"),
    ]
    for data, code, name in refused:
        answer = requests.post(url, data=data, headers=admin, timeout=30)
        assert answer.status_code == code, (data[:80], answer.text)
        assert answer.json()[name]["code"] == code
        assert answer.headers["x-openstack-request-id"].startswith("req-")
    too_new = requests.get(url, headers={**admin, "OpenStack-API-Version": "instance-ha 1.4"},
                           timeout=30)
    assert too_new.status_code == 406
    assert list(ha.notifications()) == []


def _start(argv, env) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stderr:
        if "serving on" in line:
            return proc, line.split("serving on ")[1].strip()
    proc.wait(10)
    raise AssertionError(f"hakari api exited {proc.returncode} without serving")


def test_hakari_api_serves_https_until_sigterm(api, tmp_path):
    require_tools("openssl")
    cert, key = tmp_path / "api.crt", tmp_path / "api.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    conf = tmp_path / "hakari.conf"
    with open(conf, "a") as f:
        f.write(f"[api]\ncert_file = {cert}\nkey_file = {key}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc, url = _start([sys.executable, "-m", "hakari", "--config-file", str(conf), "api",
                        "--bind-host", "127.0.0.1", "--bind-port", "0"], env)
    try:
        assert url.startswith("https://127.0.0.1:")
        root = requests.get(url + "/", verify=str(cert), timeout=30)
        assert root.status_code == 200 and root.json()["versions"][0]["version"] == "1.3"
        assert requests.get(url + "/v1/segments", verify=str(cert),
                            timeout=30).status_code == 401
        listed = requests.get(url + "/v1/segments", verify=str(cert), timeout=30,
                              headers={"X-Auth-Token": api.token()})
        assert listed.status_code == 200, listed.text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_hakari_api_without_keystone_settings_says_so_in_one_line(tmp_path):
    conf = tmp_path / "hakari.conf"
    conf.write_text(f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n")
    proc = subprocess.run([sys.executable, "-m", "hakari", "--config-file", str(conf), "api",
                           "--bind-host", "127.0.0.1", "--bind-port", "0"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("hakari: error:")]
    assert len(errors) == 1 and "[keystone_authtoken] auth_type" in errors[0]
    assert "Traceback" not in proc.stderr


def test_without_the_api_extra_only_hakari_api_refuses(tmp_path):
    conf = tmp_path / "hakari.conf"
    conf.write_text(f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n")
    # The extra's libraries made unimportable, as on a machine without the extra.
    code = ("import sys\nfor m in ('keystonemiddleware', 'oslo_policy', 'sqlalchemy', "
            "'webob'):\n    sys.modules[m] = None\nfrom hakari.cli import main\n"
            f"sys.exit(main(['--config-file', {str(conf)!r}] + sys.argv[1:]))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def hakari(*args):
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                              text=True, timeout=60, env=env)

    refused = hakari("api")
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith("hakari: error: hakari api needs the api extra")
    assert "Traceback" not in refused.stderr
    status = hakari("status", "--cib-file", str(ROOT / "tests/data/cib/masakari_cib_cib_xml.xml"))
    assert status.returncode == 0, status.stderr
    assert hakari("--help").returncode == 0
