"""`hakari api` on the Nova lab: real Nova 34 and its real Keystone 30.

The API's ``instance-ha`` service and endpoint are registered in the lab's Keystone as
Masakari's are, so openstacksdk's ``instance_ha`` proxy finds it in the catalog, and
keystonemiddleware checks every token against that Keystone. masakari-monitors' own
notifier (masakari-monitors 22.0.0 in .venv-monitors, lab/monitors) posts the PROCESS and
VM notifications its monitors send; hakari's recoveries then act on the real Nova.

The CIB is test_api_masakari's offline cloud (CIB_file, no daemons): its compute1 and
compute2 are the lab's node2 and node3 ([cluster] node_map).
"""

from __future__ import annotations

import pytest
import requests
from openstack import exceptions as sdk_exc

import lab.monitors as monitors
from tests.api_helpers import serve_lab
from tests.conftest import IN_CI, check_marked
from tests.fixtures_nova import wait_for
from tests.integration.test_api_masakari import (SETTINGS, base, cib, now,  # noqa: F401
                                                 segment_with, settled)
from tests.integration.test_nova_lab import compute_service

pytestmark = [pytest.mark.nova, pytest.mark.timeout(300)]


def require_monitors_venv() -> None:
    """Skip locally when .venv-monitors is missing; in CI that is a failure."""
    check_marked("nova", "the Nova lab")
    why = monitors.available()
    if why:
        if IN_CI:
            pytest.fail(f"{why}; CI must run the API lab test (make test creates it)")
        pytest.skip(why)


@pytest.fixture
def api(nova, nova_admin, cib, tmp_path):  # noqa: F811 (cib: a fixture imported above)
    served, stop = serve_lab(nova, nova_admin, tmp_path, SETTINGS)
    try:
        yield served
    finally:
        stop()


@pytest.fixture
def ha(api):
    return api.sdk().instance_ha


@pytest.fixture
def notifier(nova, tmp_path):
    """masakari-monitors' configuration: the lab's admin user, the API from the catalog."""
    require_monitors_venv()
    path = tmp_path / "masakarimonitors.conf"
    monitors.write_config(path, auth_url=f"{nova.base_url}/identity", password=nova.password)
    return path


def send(config, *args: str) -> None:
    done = monitors.send(config, *args)
    assert done.returncode == 0, done.stderr[-3000:]


def posted(ha, kind: str, host: str):
    """The one notification of kind from segment host ``host`` (the notifier logs, never
    raises, what the API refused: its absence is the failure). Listed, as by Masakari, by
    the host's uuid, not its name."""
    (segment,) = ha.segments()
    (uuid,) = [h.uuid for h in ha.hosts(segment.uuid) if h.name == host]
    found = [n for n in ha.notifications() if (n.type, n.source_host_uuid) == (kind, uuid)]
    assert len(found) == 1, found
    return found[0]


def test_sdk_manages_segments_hosts_and_notifications(api, ha):
    # Found in the real catalog, the project id substituted by Keystone.
    assert ha.get_endpoint() == api.endpoint
    segment = ha.create_segment(name="rack1", recovery_method="auto",
                                service_type="COMPUTE", description="first rack")
    assert [s.uuid for s in ha.segments()] == [segment.uuid]
    assert ha.get_segment(segment.uuid).description == "first rack"
    hosts = [ha.create_host(segment.uuid, name=name, type="COMPUTE", control_attributes="SSH")
             for name in ("compute1", "compute2")]
    assert sorted(h.name for h in ha.hosts(segment.uuid)) == ["compute1", "compute2"]
    assert ha.get_host(hosts[1].uuid, segment.uuid).failover_segment_id == segment.uuid

    made = {
        "PROCESS": ha.create_notification(
            type="PROCESS", hostname="compute2", generated_time=now(),
            payload={"event": "STARTED", "process_name": "nova-compute"}),
        "VM": ha.create_notification(
            type="VM", hostname="compute2", generated_time=now(),
            payload={"instance_uuid": "2c7a4b25-0c3d-4c0e-9a41-3c6f4f1f2d11",
                     "event": "LIFECYCLE", "vir_domain_event": "STOPPED_SHUTDOWN"}),
        "COMPUTE_HOST": ha.create_notification(
            type="COMPUTE_HOST", hostname="compute1", generated_time=now(),
            payload={"event": "STOPPED", "host_status": "NORMAL",
                     "cluster_status": "OFFLINE"}),
    }
    listed = {n.notification_uuid: n.type for n in ha.notifications()}
    assert listed == {n.notification_uuid: kind for kind, n in made.items()}
    for kind, n in made.items():
        assert ha.get_notification(n.notification_uuid).type == kind
    # nova-compute back on compute2: nothing hakari disabled there to enable again. The VM
    # event is a guest shut down from inside, no failure. The CIB has compute1 alive.
    healthy = settled(ha, made["PROCESS"].notification_uuid)
    assert healthy["status"] == "finished" and "up, enabled" in healthy["message"], healthy
    vm = settled(ha, made["VM"].notification_uuid)
    assert vm["status"] == "ignored" and "STOPPED_SHUTDOWN" in vm["message"]
    alive = settled(ha, made["COMPUTE_HOST"].notification_uuid)
    assert alive["status"] == "ignored" and "alive" in alive["message"]


def test_no_token_is_401_and_a_member_token_403(api, ha):
    segment_with(ha, "compute1")
    assert requests.get(f"{api.endpoint}/segments", timeout=30).status_code == 401
    member = api.sdk("demo").instance_ha
    with pytest.raises(sdk_exc.ForbiddenException):
        list(member.segments())
    with pytest.raises(sdk_exc.ForbiddenException):
        member.create_notification(type="PROCESS", hostname="compute1",
                                   generated_time=now(),
                                   payload={"event": "STOPPED", "process_name": "x"})
    assert list(ha.notifications()) == []


def test_monitors_process_notification_disables_the_compute(ha, notifier, nova_admin):
    segment_with(ha, "compute1")
    send(notifier, "process", "compute1", "/usr/bin/nova-compute")
    n = settled(ha, posted(ha, "PROCESS", "compute1").notification_uuid)
    assert n["status"] == "finished", n
    assert n["payload"] == {"event": "STOPPED", "process_name": "nova-compute"}
    svc = compute_service(nova_admin, "node2")
    assert svc.status == "disabled" and svc.disabled_reason.startswith("hakari:"), svc
    assert compute_service(nova_admin, "node3").status == "enabled"


def test_monitors_vm_notification_starts_a_shutoff_instance(ha, nova, notifier, nova_admin):
    segment_with(ha, "compute1")
    (server,) = nova.control.boot_servers("node2", project="demo", stopped=True)
    try:
        assert server["status"] == "SHUTOFF"
        send(notifier, "vm", "compute1", server["id"])
        n = settled(ha, posted(ha, "VM", "compute1").notification_uuid, timeout=60)
        assert n["status"] == "finished", n
        assert n["payload"]["vir_domain_event"] == "STOPPED_FAILED"
        wait_for(lambda: nova_admin.compute.get_server(server["id"]).status == "ACTIVE",
                 timeout=30, what="the instance ACTIVE")
    finally:  # the session's lab stays as it started for the next test
        booted = nova_admin.compute.get_server(server["id"])
        nova_admin.compute.delete_server(booted)
        nova_admin.compute.wait_for_delete(booted, interval=0.2, wait=60)
