"""The Nova lab: real Nova 34 (fake virt driver) answering openstacksdk as a cloud would.

The evacuation test walks hakari's recovery path by hand: a compute dies, is forced down and
disabled, its servers are evacuated at a microversion that keeps power state, then the compute
comes back and is re-enabled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests
from openstack import exceptions as os_exc

import lab.nova as nova_lab_mod
from tests.conftest import require_root, require_tools
from tests.fixtures_nova import nova_connection, require_nova_venv, wait_for

pytestmark = pytest.mark.nova

# Below 2.95 an evacuated instance keeps its power state; 2.68 is the first without "force".
EVACUATE_MICROVERSION = "2.68"


def evacuate(conn, server_id: str, microversion: str = EVACUATE_MICROVERSION):
    # openstacksdk's evacuate_server() negotiates its highest microversion (>= 2.95 leaves
    # instances stopped); post the action ourselves at a fixed one.
    resp = conn.compute.post(f"/servers/{server_id}/action", json={"evacuate": {}},
                             microversion=microversion)
    os_exc.raise_from_response(resp)
    return resp


def servers_on(conn, host: str) -> dict[str, object]:
    return {s.id: s for s in conn.compute.servers(all_projects=True, compute_host=host)}


def settled(conn, server_id: str):
    server = conn.compute.get_server(server_id)
    return None if server.task_state else server


def compute_service(conn, host: str):
    (svc,) = list(conn.compute.services(binary="nova-compute", host=host))
    return svc


def test_lab_is_a_cloud(nova_lab, nova_admin):
    services = {s.host: s for s in nova_admin.compute.services(binary="nova-compute")}
    assert sorted(services) == ["node1", "node2", "node3"]
    assert all(s.state == "up" and s.status == "enabled" for s in services.values())
    assert sorted(h.name for h in nova_admin.compute.hypervisors()) == sorted(nova_lab.hosts)
    assert nova_admin.compute.get_endpoint().startswith("http://127.0.0.1:")
    assert nova_lab.startup_seconds < 30

    rps = nova_admin.placement.get("/resource_providers").json()["resource_providers"]
    assert sorted(rp["name"] for rp in rps) == sorted(nova_lab.hosts)

    # Project members see their own project only; member users are not admins.
    demo = nova_connection(nova_lab, "demo")
    assert demo.current_project_id == nova_lab.projects["demo"]
    with pytest.raises(os_exc.ForbiddenException):
        list(demo.compute.services())


def test_identity_is_a_real_keystone(nova_lab, nova_admin):
    """Keystone's own API answers, and Nova checks tokens with it: one it revoked is
    refused at once (never checked before, so in no cache)."""
    assert sorted(p.name for p in nova_admin.identity.projects()) == ["admin", "alt", "demo"]
    assert {p.name: p.id for p in nova_admin.identity.projects()} == nova_lab.projects
    member_roles = {a.role["name"] for a in nova_admin.identity.role_assignments(
        user_id=nova_lab.ready["users"]["demo"], effective=True, include_names=True)}
    assert member_roles == {"member", "reader"}  # reader: implied by member, in Keystone

    kept, revoked = (nova_connection(nova_lab, "alt").auth_token for _ in range(2))
    answer = nova_admin.identity.delete("/auth/tokens", headers={"X-Subject-Token": revoked})
    assert answer.status_code == 204

    def servers(token):
        return requests.get(f"{nova_lab.compute_url}/servers", timeout=30,
                            headers={"X-Auth-Token": token}).status_code

    assert (servers(kept), servers(revoked), servers("garbage")) == (200, 401, 401)


def test_evacuate_a_dead_compute(nova, nova_admin):
    conn, control = nova_admin, nova.control
    active = control.boot_servers("node2", project="demo", count=2)
    active += control.boot_servers("node2", project="alt", count=1)
    stopped = control.boot_servers("node2", project="alt", count=1, stopped=True)
    bystander = control.boot_servers("node1", project="demo", count=1)
    assert {s["status"] for s in active} == {"ACTIVE"}
    assert {s["status"] for s in stopped} == {"SHUTOFF"}
    victims = {s["id"]: s["status"] for s in active + stopped}
    assert set(victims) <= set(servers_on(conn, "node2"))
    assert {s["project_id"] for s in active} == {nova.projects["demo"], nova.projects["alt"]}

    # The host dies: no heartbeat, no RPC.
    control.stop_compute("node2")
    assert control.host("node2")["running"] is False
    svc = compute_service(conn, "node2")

    # Until Nova believes the host is down, evacuation is refused.
    with pytest.raises(os_exc.HttpException) as refused:
        evacuate(conn, next(iter(victims)))
    assert refused.value.status_code == 400
    assert "still in use" in str(refused.value)

    # Force down first (disabling a dead but "up" compute makes Nova call it), then disable.
    conn.compute.update_service_forced_down(svc, forced=True)
    conn.compute.disable_service(svc, disabled_reason="hakari lab: fenced")
    svc = compute_service(conn, "node2")
    assert (svc.state, svc.status, svc.is_forced_down) == ("down", "disabled", True)

    on_node2 = servers_on(conn, "node2")
    assert set(victims) <= set(on_node2)
    for server_id in on_node2:
        assert evacuate(conn, server_id).status_code == 200

    def all_done():
        migs = list(conn.compute.migrations(migration_type="evacuation",
                                            source_compute="node2"))
        mine = {m.server_id: m for m in migs if m.server_id in on_node2}
        if len(mine) == len(on_node2) and all(m.status in ("done", "completed")
                                              for m in mine.values()):
            return mine
        assert not [m for m in mine.values() if m.status in ("failed", "error")], mine
        return None

    migrations = wait_for(all_done, timeout=60, what="evacuation migrations to finish")
    assert {m.dest_compute for m in migrations.values()} <= {"node1", "node3"}

    for server_id, before in victims.items():
        s = wait_for(lambda: settled(conn, server_id), what=f"server {server_id} to settle")
        assert s.compute_host in ("node1", "node3"), s.compute_host
        assert s.status == before  # ACTIVE stays ACTIVE, SHUTOFF stays SHUTOFF
        assert s.compute_host == migrations[server_id].dest_compute
    assert not servers_on(conn, "node2")

    # Servers elsewhere are untouched.
    (b,) = bystander
    s = conn.compute.get_server(b["id"])
    assert (s.compute_host, s.status) == ("node1", "ACTIVE")
    assert not list(conn.compute.migrations(server_id=b["id"]))

    # The host comes back: evacuations are cleaned up on it, then it takes new servers.
    control.start_compute("node2")
    conn.compute.update_service_forced_down(svc, forced=False)
    conn.compute.enable_service(svc)
    wait_for(lambda: compute_service(conn, "node2").state == "up", what="node2 up")
    wait_for(lambda: all(m.status == "completed" for m in conn.compute.migrations(
        migration_type="evacuation", source_compute="node2")
        if m.server_id in on_node2), what="evacuations completed by the returning source")
    assert control.host("node2")["hypervisor_instances"] == 0
    (again,) = control.boot_servers("node2", project="demo", count=1)
    assert (again["host"], again["status"]) == ("node2", "ACTIVE")


def test_host_reenabled_while_down_loses_disabled_trait(nova, nova_admin):
    """Enabling a compute that Nova still sees as down cannot reach it; the compute's own
    periodic task must then drop COMPUTE_STATUS_DISABLED, or the host gets NoValidHost."""
    conn, control = nova_admin, nova.control
    (rp,) = conn.placement.get("/resource_providers?name=node3").json()["resource_providers"]

    def disabled_trait() -> bool:
        traits = conn.placement.get(f"/resource_providers/{rp['uuid']}/traits",
                                    microversion="1.6").json()["traits"]
        return "COMPUTE_STATUS_DISABLED" in traits

    control.stop_compute("node3")
    svc = compute_service(conn, "node3")
    conn.compute.update_service_forced_down(svc, forced=True)
    conn.compute.disable_service(svc, disabled_reason="hakari lab: fenced")
    control.start_compute("node3")  # comes back disabled: it reports the trait itself
    assert disabled_trait()
    conn.compute.enable_service(svc)  # still forced down: Nova does not call the compute
    conn.compute.update_service_forced_down(svc, forced=False)
    wait_for(lambda: not disabled_trait(), timeout=30, interval=0.5,
             what="the periodic task to drop COMPUTE_STATUS_DISABLED")
    (server,) = control.boot_servers("node3", project="alt")
    assert (server["host"], server["status"]) == ("node3", "ACTIVE")


def test_stopped_compute_is_reported_by_control(nova):
    control = nova.control
    assert control.stop_compute("node3")["changed"] is True
    assert control.stop_compute("node3")["changed"] is False
    assert control.host("node3")["running"] is False
    assert control.start_compute("node3")["running"] is True
    with pytest.raises(nova_lab_mod.NovaLabError):
        control.stop_compute("no-such-host")


def test_stop_leaves_nothing_behind(tmp_path):
    require_nova_venv()
    lab = nova_lab_mod.start(tmp_path / "lab", hosts=("c1", "c2"))
    pid, keystone = lab.pid, lab.ready["keystone"]["pid"]
    assert [h["host"] for h in lab.control.hosts()] == ["c1", "c2"]
    assert _process_exists(keystone)
    lab.stop()
    lab.stop()  # idempotent
    assert not _process_exists(pid)
    assert not _process_exists(keystone)
    assert not (tmp_path / "lab" / "control.sock").exists()
    assert not (tmp_path / "lab" / "tmp").exists()


def test_server_dies_with_its_owner(tmp_path):
    """A test session killed with SIGKILL must not leave a Nova lab running."""
    require_nova_venv()
    code = ("import sys, time, lab.nova as n\n"
            "lab = n.start(sys.argv[1], hosts=('c1',))\n"
            "print(lab.pid, lab.ready['keystone']['pid'], flush=True)\n"
            "time.sleep(120)\n")
    owner = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "lab")],
                             stdout=subprocess.PIPE, text=True, cwd=nova_lab_mod.REPO,
                             env=dict(os.environ, PYTHONPATH=str(nova_lab_mod.REPO)))
    try:
        line = owner.stdout.readline()
        server_pid, keystone_pid = (int(pid) for pid in line.split())
        assert _process_exists(server_pid) and _process_exists(keystone_pid)
    finally:
        owner.kill()
        owner.wait(timeout=10)
        owner.stdout.close()
    try:
        wait_for(lambda: not (_process_exists(server_pid) or _process_exists(keystone_pid)),
                 timeout=15, what="the orphaned lab server and its Keystone to exit")
    finally:
        for pid in (server_pid, keystone_pid):
            if _process_exists(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.root
def test_listens_inside_a_network_namespace(tmp_path):
    """Nodes in namespaces reach the lab on its namespace address; the host on loopback."""
    require_nova_venv()
    require_root()
    require_tools("ip")
    ns = f"hakari-novatest-{os.getpid()}"
    address = "10.213.0.2"  # the Nova lab's reserved address on the lab bridge
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=30)
        subprocess.run(["ip", "-n", ns, "addr", "add", f"{address}/32", "dev", "lo"],
                       check=True, timeout=30)
        with nova_lab_mod.start(tmp_path / "lab", hosts=("c1",), netns=ns,
                                netns_listen=[address]) as lab:
            assert lab.netns_clouds_yaml and lab.clouds_yaml
            host_conn = nova_connection(lab)
            assert [s.host for s in host_conn.compute.services(binary="nova-compute")] == ["c1"]
            probe = ("import sys\n"
                     "from openstack import config, connection\n"
                     "c = config.OpenStackConfig(config_files=[sys.argv[1]],"
                     " load_envvars=False).get_one(sys.argv[2])\n"
                     "conn = connection.Connection(config=c)\n"
                     "print(conn.compute.get_endpoint())\n"
                     "print(','.join(s.host for s in conn.compute.services()))\n")
            out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", probe,
                                  lab.netns_clouds_yaml, lab.cloud],
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr[-2000:]
            endpoint, hosts = out.stdout.split()
            assert endpoint.startswith(f"http://{address}:")
            assert "c1" in hosts.split(",")
    finally:
        subprocess.run(["ip", "netns", "delete", ns], timeout=30)


def _process_exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
