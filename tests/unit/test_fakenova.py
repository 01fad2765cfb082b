"""The fake Nova HTTP server, driven the way hakari drives Nova: with openstacksdk.

Each test gets a fresh server (fixture ``fake_nova``: computes node1..node3, no servers).
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
import uuid

import pytest
import requests
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as os_exc

from lab.fakenova import EvacuationConfig, FakeNova
from lab.fakenova.process import RemoteError

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def conn(fake_nova):
    c = fake_nova.connect()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def conn268(fake_nova):
    c = fake_nova.connect(microversion="2.68")
    try:
        yield c
    finally:
        c.close()


def raw(conn, method, url, mv, **kw):
    return conn.compute.request(url, method, microversion=mv, raise_exc=False, **kw)


def compute_service(conn, host):
    (svc,) = list(conn.compute.services(binary="nova-compute", host=host))
    return svc


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def fence(fake, conn, host="node1"):
    """What hakari does after fencing: compute dead, forced down, disabled."""
    fake.kill_host(host)
    svc = compute_service(conn, host)
    conn.compute.update_service_forced_down(svc, forced=True)
    conn.compute.disable_service(svc, disabled_reason="fenced")


# -- discovery, auth, records ------------------------------------------------------------------


def test_openstacksdk_discovers_and_every_answer_has_request_ids(fake_nova, conn):
    assert conn.compute.get_endpoint() == fake_nova.compute_url
    assert [s.host for s in conn.compute.services(binary="nova-compute")] == \
        ["node1", "node2", "node3"]
    resp = raw(conn, "GET", "/os-services", "2.53")
    assert resp.headers["x-openstack-request-id"] == resp.headers["x-compute-request-id"]
    assert resp.headers["OpenStack-API-Version"] == "compute 2.53"
    routes = [r.route for r in fake_nova.requests()]
    assert routes[:3] == ["identity.version", "identity.tokens", "compute.version"]
    rec = fake_nova.requests(route="services.list")[-1]
    assert rec.request_id == resp.headers["x-openstack-request-id"]
    assert (rec.microversion, rec.status, rec.method) == ("2.53", 200, "GET")
    for r in fake_nova.requests():
        assert r.status is not None and r.request_id.startswith("req-")

    versions = requests.get(f"{fake_nova.url}/compute/", timeout=5).json()["versions"]
    assert versions[-1]["version"] == fake_nova.max_microversion
    assert requests.get(f"{fake_nova.compute_url}/os-services", timeout=5).status_code == 401


def test_microversion_negotiation(fake_nova, conn):
    assert raw(conn, "GET", "/os-services", "2.999").status_code == 406
    latest = raw(conn, "GET", "/os-services", "latest")
    assert latest.headers["X-OpenStack-Nova-API-Version"] == fake_nova.max_microversion
    # The legacy header alone is honoured too.
    token = fake_nova.admin_token
    r = requests.get(f"{fake_nova.compute_url}/os-services", timeout=5,
                     headers={"X-Auth-Token": token, "X-OpenStack-Nova-API-Version": "2.11"})
    assert isinstance(r.json()["services"][0]["id"], int)
    assert "forced_down" in r.json()["services"][0]
    r = requests.get(f"{fake_nova.compute_url}/os-services", timeout=5,
                     headers={"X-Auth-Token": token})
    assert "forced_down" not in r.json()["services"][0]     # no header: 2.1


def test_revoked_tokens_are_renewed_by_keystoneauth(fake_nova, conn):
    list(conn.compute.services())
    fake_nova.revoke_tokens()
    assert list(conn.compute.services())
    statuses = [(r.route, r.status) for r in fake_nova.requests()][-3:]
    assert statuses == [("services.list", 401), ("identity.tokens", 201),
                        ("services.list", 200)]


# -- services ----------------------------------------------------------------------------------


def test_force_down_disable_enable_with_openstacksdk(fake_nova, conn):
    svc = compute_service(conn, "node2")
    uuid.UUID(svc.id)                                    # UUIDs at >= 2.53
    assert (svc.state, svc.status, svc.is_forced_down) == ("up", "enabled", False)

    svc = conn.compute.update_service_forced_down(svc, forced=True)
    assert (svc.state, svc.is_forced_down) == ("down", True)
    svc = conn.compute.disable_service(svc, disabled_reason="fenced by hakari")
    assert (svc.status, svc.disabled_reason) == ("disabled", "fenced by hakari")
    assert fake_nova.host("node2")["state"] == "down"

    svc = conn.compute.update_service_forced_down(svc, forced=False)
    svc = conn.compute.enable_service(svc)
    assert (svc.state, svc.status, svc.disabled_reason) == ("up", "enabled", None)
    updates = fake_nova.requests(route="services.update")
    assert [r.body for r in updates] == [{"forced_down": True},
                                         {"status": "disabled",
                                          "disabled_reason": "fenced by hakari"},
                                         {"forced_down": False}, {"status": "enabled"}]
    assert {r.path for r in updates} == {f"/compute/v2.1/os-services/{svc.id}"}


def test_legacy_service_actions_below_2_53(fake_nova):
    conn = fake_nova.connect(microversion="2.11")
    try:
        svc = compute_service(conn, "node3")
        assert isinstance(svc.id, int)
        assert conn.compute.update_service_forced_down(svc, "node3", "nova-compute") is None
        conn.compute.disable_service(svc, "node3", "nova-compute", disabled_reason="r")
        assert [r.path for r in fake_nova.requests(route="services.update")] == [
            "/compute/v2.1/os-services/force-down",
            "/compute/v2.1/os-services/disable-log-reason"]
        assert fake_nova.host("node3") | {"state": "down", "forced_down": True,
                                          "status": "disabled", "disabled_reason": "r"} == \
            fake_nova.host("node3")
        r = raw(conn, "PUT", "/os-services/force-down", "2.53", json={"forced_down": True})
        assert (r.status_code, r.json()["badRequest"]["message"]) == \
            (400, "Invalid uuid force-down")
        r = raw(conn, "PUT", "/os-services/nope", "2.11",
                json={"host": "node3", "binary": "nova-compute"})
        assert r.status_code == 404
    finally:
        conn.close()


def test_service_update_validation(fake_nova, conn):
    svc = compute_service(conn, "node1")
    url = f"/os-services/{svc.id}"
    cases = [({}, 400, "No updates were requested"),
             ({"status": "enabled", "disabled_reason": "x"}, 400,
              "Specifying 'disabled_reason' with status 'enabled' is invalid."),
             ({"status": "off"}, 400, "is not one of"),
             ({"forced_down": "maybe"}, 400, "boolean")]
    for body, code, text in cases:
        r = raw(conn, "PUT", url, "2.53", json=body)
        assert r.status_code == code and text in r.text, (body, r.text)
    sched = [s for s in raw(conn, "GET", "/os-services", "2.53").json()["services"]
             if s["binary"] == "nova-scheduler"][0]
    r = raw(conn, "PUT", f"/os-services/{sched['id']}", "2.53", json={"status": "disabled"})
    assert r.status_code == 400 and "Only nova-compute" in r.text
    assert raw(conn, "PUT", f"/os-services/{uuid.uuid4()}", "2.53",
               json={"status": "disabled"}).status_code == 404


def test_disabling_a_dead_compute_not_yet_down_waits_for_rpc(fake_nova, conn):
    """Nova calls a compute it believes up; a dead one never answers (docs/design.md, rule 3)."""
    fake_nova.dead_rpc_delay = 0.5
    fake_nova.kill_host("node1", down_after=60)
    svc = compute_service(conn, "node1")
    assert svc.state == "up"
    t0 = time.monotonic()
    conn.compute.disable_service(svc, disabled_reason="too early")
    assert time.monotonic() - t0 >= 0.5
    t0 = time.monotonic()
    conn.compute.update_service_forced_down(svc, forced=True)      # no RPC for forced_down
    assert time.monotonic() - t0 < 0.5


# -- servers -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_servers_by_host_over_many_pages(fake_nova, conn268):
    fake_nova.add_servers(3500)
    other = fake_nova.add_server("node2", project_id="another-project")
    on2 = set(fake_nova.servers_on("node2"))
    assert len(on2) == 1168

    found = [s.id for s in conn268.compute.servers(all_projects=True, compute_host="node2")]
    assert sorted(found) == sorted(on2) and len(found) == len(set(found))
    pages = fake_nova.requests(route="servers.detail")
    # Nova's page size (max_limit 1000) and its servers_links next link, followed by sdk.
    assert len(pages) == 2 and "marker" in pages[-1].query
    assert pages[0].query == {"all_tenants": ["True"], "host": ["node2"]}

    # details=False: openstacksdk builds lighter objects (its resource layer, not the fake,
    # dominates the time of big listings).
    found = [s.id for s in conn268.compute.servers(details=False, all_projects=True,
                                                   compute_host="node2", limit=100)]
    assert sorted(found) == sorted(on2)
    # 12 pages, plus the one more try openstacksdk makes after a short page when given limit.
    assert len(fake_nova.requests(route="servers.list")) == 13
    # Admin without all_tenants sees its own project only.
    mine = {s.id for s in conn268.compute.servers(compute_host="node2")}
    assert other not in mine and other in on2

    page = raw(conn268, "GET", "/servers/detail?all_tenants=1&host=node1&limit=2", "2.68")
    body = page.json()
    (link,) = body["servers_links"]
    assert link["rel"] == "next" and link["href"].startswith(fake_nova.compute_url)
    assert f"marker={body['servers'][-1]['id']}" in link["href"]
    r = raw(conn268, "GET", f"/servers/detail?marker={uuid.uuid4()}", "2.68")
    assert r.status_code == 400 and "marker" in r.text


def test_server_views_follow_microversions(fake_nova, conn):
    sid = fake_nova.add_server("node1", metadata={"ha": "on"}, tags=["gold"])
    old = raw(conn, "GET", f"/servers/{sid}", "2.1").json()["server"]
    new = raw(conn, "GET", f"/servers/{sid}", "2.100").json()["server"]
    assert set(old["flavor"]) == {"id", "links"}
    assert set(new["flavor"]) >= {"vcpus", "ram", "original_name", "extra_specs"}
    assert "tags" not in old and new["tags"] == ["gold"]
    assert new["host_status"] == "UP" and new["OS-EXT-SRV-ATTR:host"] == "node1"
    assert raw(conn, "GET", f"/servers/{uuid.uuid4()}", "2.1").status_code == 404
    s = conn.compute.get_server(sid)
    assert (s.compute_host, s.status, s.metadata) == ("node1", "ACTIVE", {"ha": "on"})


def test_query_parameters_turn_strict_like_nova(fake_nova, conn):
    assert raw(conn, "GET", "/servers/detail?bogus=1", "2.74").status_code == 200
    r = raw(conn, "GET", "/servers/detail?bogus=1", "2.75")
    assert r.status_code == 400 and "'bogus' does not match" in r.text
    assert raw(conn, "GET", "/os-migrations?bogus=1", "2.58").status_code == 200
    assert raw(conn, "GET", "/os-migrations?bogus=1", "2.59").status_code == 400
    assert raw(conn, "GET", "/os-services?binary=nova-compute", "2.75").status_code == 200


def test_create_and_delete_server(fake_nova, conn268):
    fake_nova.set_service("node1", disabled=True, disabled_reason="maint")
    server = conn268.compute.create_server(name="web", flavor_id="1",
                                           image_id=str(uuid.uuid4()), networks="none")
    server = conn268.compute.wait_for_server(server, status="ACTIVE", wait=10, interval=0.05)
    assert server.compute_host in ("node2", "node3")
    conn268.compute.delete_server(server)
    assert fake_nova.server_count() == 0


# -- evacuation --------------------------------------------------------------------------------


def test_evacuate_refused_while_the_source_compute_is_up(fake_nova, conn268):
    sid = fake_nova.add_server("node1")
    url = f"/servers/{sid}/action"
    r = raw(conn268, "POST", url, "2.68", json={"evacuate": {}})
    assert (r.status_code, r.json()) == (400, {"badRequest": {
        "code": 400, "message": "Compute service of node1 is still in use."}})
    # Dead but not yet reported down (service_down_time): still refused.
    fake_nova.kill_host("node1", down_after=60)
    assert raw(conn268, "POST", url, "2.68", json={"evacuate": {}}).status_code == 400
    conn268.compute.update_service_forced_down(compute_service(conn268, "node1"), forced=True)
    assert raw(conn268, "POST", url, "2.68", json={"evacuate": {}}).status_code == 200
    assert not fake_nova.requests(route="servers.action.evacuate")[-1].fault


def test_evacuate_at_pinned_microversion_keeps_power_state(fake_nova, conn268):
    fake_nova.configure_evacuation(rebuild_time=0.3, claim_delay=0.3)
    active = fake_nova.add_server("node1")
    stopped = fake_nova.add_server("node1", status="SHUTOFF")
    fence(fake_nova, conn268, "node1")
    for sid in (active, stopped):
        conn268.compute.evacuate_server(sid)
    assert {r.microversion for r in fake_nova.requests(route="servers.action.evacuate")} == \
        {"2.68"}
    s = conn268.compute.get_server(active)
    assert (s.status, s.task_state) == ("REBUILD", "rebuilding")

    seen = []

    def done():
        migs = list(conn268.compute.migrations(migration_type="evacuation",
                                               source_compute="node1"))
        statuses = sorted(m.status for m in migs)
        if not seen or seen[-1] != statuses:
            seen.append(statuses)
        return len(migs) == 2 and statuses == ["done", "done"] and migs

    migs = wait_for(done, what="evacuations done")
    assert ["accepted", "accepted"] in seen or ["accepted", "pre-migrating"] in seen
    assert any("pre-migrating" in s for s in seen)
    for sid, want in ((active, "ACTIVE"), (stopped, "SHUTOFF")):
        s = conn268.compute.get_server(sid)
        assert (s.status, s.task_state) == (want, None)
        assert s.compute_host in ("node2", "node3")
        (m,) = [m for m in migs if m.server_id == sid]
        assert m.dest_compute == s.compute_host and m.source_compute == "node1"
    assert not fake_nova.servers_on("node1")


def test_openstacksdk_default_microversion_leaves_instances_stopped(fake_nova, conn):
    sid = fake_nova.add_server("node1")
    fence(fake_nova, conn, "node1")
    conn.compute.evacuate_server(sid)
    assert fake_nova.requests(route="servers.action.evacuate")[-1].microversion == "2.100"
    fake_nova.wait_idle(5)
    assert conn.compute.get_server(sid).status == "SHUTOFF"      # >= 2.95


def test_evacuate_body_rules_by_microversion(fake_nova, conn):
    sids = fake_nova.add_servers(6, hosts=["node1"])
    paused = fake_nova.add_server("node1", status="paused")
    fence(fake_nova, conn, "node1")

    def post(sid, body, mv):
        # The per-call way to pin a microversion on any openstacksdk connection.
        return conn.compute.post(f"/servers/{sid}/action", json={"evacuate": body},
                                 microversion=mv, raise_exc=False)

    r = post(sids[0], {}, "2.13")
    assert r.status_code == 400 and "'onSharedStorage' is a required property" in r.text
    r = post(sids[0], {"onSharedStorage": "False"}, "2.13")
    assert r.status_code == 200 and r.json()["adminPass"]
    r = post(sids[1], {"onSharedStorage": False}, "2.14")
    assert r.status_code == 400 and "'onSharedStorage' was unexpected" in r.text
    r = post(sids[1], {"host": "node2", "force": True}, "2.29")
    assert (r.status_code, r.content) == (200, b"")
    r = post(sids[2], {"force": True}, "2.29")
    assert r.status_code == 400 and "non-provided destination" in r.text
    r = post(sids[2], {"host": "node2", "force": False}, "2.68")
    assert r.status_code == 400 and "'force' was unexpected" in r.text
    assert post(sids[2], {"host": "node1"}, "2.68").status_code == 400     # same host
    assert post(sids[2], {"host": "nope"}, "2.68").status_code == 404
    r = post(paused, {}, "2.68")
    assert r.status_code == 409 and "vm_state paused" in r.text
    assert post(sids[2], {"host": "node3"}, "2.95").status_code == 200
    fake_nova.wait_idle(5)
    assert fake_nova.server(sids[1])["host"] == "node2"
    assert fake_nova.server(sids[2]) | {"host": "node3", "status": "SHUTOFF"} == \
        fake_nova.server(sids[2])


def test_evacuation_outcomes_failed_error_hang(fake_nova, conn268):
    ok, failed, error, hung = fake_nova.add_servers(4, hosts=["node1"])
    fake_nova.set_evacuation_outcome(failed, "failed")
    fake_nova.set_evacuation_outcome(error, "error")
    fake_nova.set_evacuation_outcome(hung, "hang")
    fence(fake_nova, conn268, "node1")
    for sid in (ok, failed, error, hung):
        conn268.compute.evacuate_server(sid)
    assert fake_nova.wait_idle(5)
    status = {m["instance_uuid"]: m["status"] for m in fake_nova.migrations(source="node1")}
    assert status == {ok: "done", failed: "failed", error: "error", hung: "pre-migrating"}
    s = conn268.compute.get_server(failed)
    assert s.status == "ERROR" and s.compute_host != "node1" and s.fault["code"] == 500
    s = conn268.compute.get_server(error)
    assert s.status == "ERROR" and s.compute_host == "node1"
    assert "No valid host" in s.fault["message"]
    s = conn268.compute.get_server(hung)
    assert (s.status, s.task_state) == ("REBUILD", "rebuilding")
    stats = fake_nova.stats()
    assert stats["rebuilds"]["current"] == 1 and stats["hung_evacuations"] == 1
    assert fake_nova.release_hung() == 1 and fake_nova.wait_idle(5)
    assert fake_nova.migrations(server_id=hung)[0]["status"] == "done"
    assert fake_nova.stats()["rebuilds"]["current"] == 0


def test_no_valid_host_and_random_failure_rate(fake_nova, conn268):
    fake_nova.set_service("node2", disabled=True)
    fake_nova.set_service("node3", forced_down=True)
    sids = fake_nova.add_servers(3, hosts=["node1"])
    fence(fake_nova, conn268, "node1")
    conn268.compute.evacuate_server(sids[0])
    fake_nova.wait_idle(5)
    assert fake_nova.migrations(server_id=sids[0])[0]["status"] == "error"

    fake_nova.set_service("node2", disabled=False)
    fake_nova.configure_evacuation(failure_rate=1.0)
    conn268.compute.evacuate_server(sids[1])
    fake_nova.wait_idle(5)
    assert fake_nova.migrations(server_id=sids[1])[0]["status"] == "failed"


@pytest.mark.slow
def test_a_second_evacuate_is_accepted_and_breaks_the_server_like_nova(fake_nova, conn268):
    """Nova 34 checks vm_state only: evacuating twice returns 200 twice (seen in the lab).
    Exactly-once is the caller's job."""
    # The second request must reach the fake while the first rebuild runs, also on a
    # loaded machine: once the server is on node3, Nova refuses (node3 is up).
    fake_nova.configure_evacuation(rebuild_time=1.5)
    sid = fake_nova.add_server("node1")
    fence(fake_nova, conn268, "node1")
    for _ in range(2):
        r = raw(conn268, "POST", f"/servers/{sid}/action", "2.68", json={"evacuate": {}})
        assert r.status_code == 200
    assert fake_nova.wait_idle(10)
    assert sorted(m["status"] for m in fake_nova.migrations(server_id=sid)) == \
        ["accepted", "failed"]
    assert conn268.compute.get_server(sid).status == "ERROR"
    assert fake_nova.stats()["double_evacuations"]["total"] == 1

    # The other ending real Nova shows: stuck in REBUILD, first migration failed.
    fake_nova.configure_evacuation(double_evacuation="stuck")
    other = fake_nova.add_server("node1")
    for _ in range(2):
        conn268.compute.evacuate_server(other)
    assert fake_nova.wait_idle(5)
    assert sorted(m["status"] for m in fake_nova.migrations(server_id=other)) == \
        ["accepted", "failed"]
    s = conn268.compute.get_server(other)
    assert (s.status, s.task_state) == ("REBUILD", "rebuilding")


def test_source_return_completes_migrations_and_changes_since_skips_new_ones(fake_nova,
                                                                            conn268):
    fake_nova.configure_evacuation(claim_delay=0.3)
    a, b = fake_nova.add_servers(2, hosts=["node1"])
    fence(fake_nova, conn268, "node1")
    since = time.time() - 5
    conn268.compute.evacuate_server(a)
    # A migration still "accepted" has updated_at NULL: changes-since never returns it.
    r = raw(conn268, "GET", "/os-migrations?changes-since=" +
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)), "2.80")
    assert r.json()["migrations"] == []
    assert raw(conn268, "GET", "/os-migrations", "2.80").json()["migrations"][0][
        "updated_at"] is None
    fake_nova.wait_idle(5)
    assert len(r.json()["migrations"]) == 0
    r = raw(conn268, "GET", "/os-migrations?changes-since=" +
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)), "2.80")
    assert [m["status"] for m in r.json()["migrations"]] == ["done"]
    fake_nova.revive_host("node1")
    assert [m["status"] for m in fake_nova.migrations()] == ["completed"]
    assert b in fake_nova.servers_on("node1")


def test_migrations_filters_and_pagination():
    with FakeNova(max_limit=5, evacuation=EvacuationConfig(rebuild_time=0.0,
                                                           claim_delay=0.0)) as fake:
        fake.add_hosts(3)
        sids = fake.add_servers(12, hosts=["node1"])
        conn = fake.connect(microversion="2.80")
        try:
            fence(fake, conn, "node1")
            for sid in sids:
                conn.compute.evacuate_server(sid)
            fake.wait_idle(5)
            body = raw(conn, "GET", "/os-migrations", "2.80").json()
            assert len(body["migrations"]) == 5 and "migrations_links" in body   # capped
            assert len(raw(conn, "GET", "/os-migrations", "2.58").json()["migrations"]) == 12
            every = list(conn.compute.migrations(source_compute="node1"))    # follows links
            assert sorted(m.server_id for m in every) == sorted(sids)
            one = raw(conn, "GET", f"/os-migrations?instance_uuid={sids[3]}", "2.80").json()
            assert [m["instance_uuid"] for m in one["migrations"]] == [sids[3]]
            assert set(one["migrations"][0]) >= {"uuid", "migration_type", "user_id",
                                                 "project_id", "dest_compute"}
            r = raw(conn, "GET", "/os-migrations?marker=nope", "2.80")
            assert r.status_code == 400
        finally:
            conn.close()


# -- metadata, tags, flavors, aggregates, hypervisors ------------------------------------------


def test_metadata_and_tags(fake_nova, conn268):
    sid = fake_nova.add_server("node1", tags=["a"])
    conn268.compute.set_server_metadata(sid, evacuate="true")
    assert conn268.compute.get_server_metadata(sid).metadata == {"evacuate": "true"}
    conn268.compute.delete_server_metadata(sid, ["evacuate"])
    assert fake_nova.server(sid)["metadata"] == {}
    r = raw(conn268, "PUT", f"/servers/{sid}/tags/ha", "2.26")
    assert r.status_code == 201 and r.headers["Location"].endswith("/tags/ha")
    assert raw(conn268, "PUT", f"/servers/{sid}/tags/ha", "2.26").status_code == 204
    assert raw(conn268, "GET", f"/servers/{sid}/tags", "2.26").json() == {"tags": ["a", "ha"]}
    assert raw(conn268, "GET", f"/servers/{sid}/tags", "2.25").status_code == 404
    assert [s.id for s in conn268.compute.servers(all_projects=True, tags="ha")] == [sid]
    # Writable while rebuilding (Nova checks vm_state only); not in ERROR.
    fake_nova.set_evacuation_outcome(sid, "failed")
    fence(fake_nova, conn268, "node1")
    conn268.compute.evacuate_server(sid)
    assert raw(conn268, "POST", f"/servers/{sid}/metadata", "2.68",
               json={"metadata": {"k": "v"}}).status_code == 200
    fake_nova.wait_idle(5)
    r = raw(conn268, "POST", f"/servers/{sid}/metadata", "2.68", json={"metadata": {"k": "w"}})
    assert r.status_code == 409 and "update metadata" in r.text


def test_flavors_aggregates_hypervisors(fake_nova, conn):
    fake_nova.add_flavor("ha.large", vcpus=8, ram=16384, disk=80, flavor_id="ha1",
                         extra_specs={"hakari:evacuable": "true"})
    fake_nova.add_aggregate("ha-hosts", hosts=["node1", "node2"],
                            metadata={"evacuation_group": "a"}, availability_zone="az1")
    flavors = {f.id: f for f in conn.compute.flavors()}
    assert flavors["ha1"].extra_specs == {"hakari:evacuable": "true"}
    assert conn.compute.fetch_flavor_extra_specs("ha1").extra_specs == \
        {"hakari:evacuable": "true"}
    (agg,) = list(conn.compute.aggregates())
    assert (agg.hosts, agg.metadata["evacuation_group"], agg.availability_zone) == \
        (["node1", "node2"], "a", "az1")
    zones = {s.host: s.availability_zone for s in conn.compute.services(binary="nova-compute")}
    assert zones == {"node1": "az1", "node2": "az1", "node3": "nova"}
    fake_nova.add_server("node1")
    hyps = raw(conn, "GET", "/os-hypervisors?with_servers=true", "2.53").json()["hypervisors"]
    assert [len(h.get("servers", [])) for h in hyps] == [1, 0, 0]
    assert sorted(h.name for h in conn.compute.hypervisors()) == ["node1", "node2", "node3"]


# -- latency, faults, in-flight ----------------------------------------------------------------


def test_latency_per_route_and_global(fake_nova, conn):
    list(conn.compute.services())
    fake_nova.set_latency(0.3, route="services.list")
    fake_nova.set_latency(0.05)
    t0 = time.monotonic()
    list(conn.compute.services())
    assert time.monotonic() - t0 >= 0.35
    assert fake_nova.requests(route="services.list")[-1].duration >= 0.35
    fake_nova.clear_latency()
    list(conn.compute.services())
    assert fake_nova.latency_rules() == []


def test_error_faults_before_and_after_processing(fake_nova, conn268):
    a, b = fake_nova.add_servers(2, hosts=["node1"])
    fence(fake_nova, conn268, "node1")
    fid = fake_nova.add_fault(route="servers.action.evacuate", status=503, count=1)
    with pytest.raises(os_exc.HttpException) as err:
        conn268.compute.evacuate_server(a)
    assert err.value.status_code == 503
    assert fake_nova.migrations(server_id=a) == []           # never reached "Nova"
    conn268.compute.evacuate_server(a)                       # count exhausted
    assert [f["triggered"] for f in fake_nova.faults() if f["id"] == fid] == [1]

    # Processed, then the answer is lost: the migration exists although the call failed.
    fake_nova.add_fault(route="servers.action.evacuate", status=500, phase="after", count=1)
    r = raw(conn268, "POST", f"/servers/{b}/action", "2.68", json={"evacuate": {}})
    assert r.status_code == 500 and r.headers["x-openstack-request-id"]
    assert len(fake_nova.migrations(server_id=b)) == 1
    fake_nova.add_fault(route="services.*", method="PUT", status=409, count=1)
    r = raw(conn268, "PUT", f"/os-services/{compute_service(conn268, 'node2').id}", "2.53",
            json={"status": "disabled"})
    assert r.status_code == 409 and "conflictingRequest" in r.json()


def test_dropped_connections_and_hangs_reach_the_client_as_keystoneauth_errors(fake_nova,
                                                                             conn268):
    """keystoneauth reports a lost answer as ConnectFailure and a read timeout as
    ConnectTimeout: neither proves the request never reached Nova."""
    sid = fake_nova.add_server("node1")
    fence(fake_nova, conn268, "node1")
    list(conn268.compute.services())
    fake_nova.add_fault(route="servers.action.evacuate", action="drop", phase="after", count=1)
    with pytest.raises(ks_exc.ConnectFailure):
        conn268.compute.post(f"/servers/{sid}/action", json={"evacuate": {}},
                             microversion="2.68", connect_retries=0)
    assert len(fake_nova.migrations(server_id=sid)) == 1      # it did reach "Nova"
    fake_nova.add_fault(route="services.list", action="reset", count=1)
    with pytest.raises(ks_exc.ConnectFailure):
        conn268.compute.get("/os-services", microversion="2.53", connect_retries=0)
    fake_nova.add_fault(route="services.list", action="hang", hang=5, then="drop", count=1)
    t0 = time.monotonic()
    with pytest.raises(ks_exc.ConnectTimeout):
        conn268.compute.get("/os-services", microversion="2.53", timeout=0.3,
                            connect_retries=0)
    assert time.monotonic() - t0 < 4
    assert list(conn268.compute.services())                  # the fake still serves


def test_fault_predicate_sees_the_request(fake_nova, conn):
    sid = fake_nova.add_server("node1")
    fence(fake_nova, conn, "node1")
    # Refuse evacuations that would leave the instance stopped (>= 2.95).
    fake_nova.add_fault(route="servers.action.evacuate", status=400, message="no stop",
                        match=lambda req: req.mv >= (2, 95) and req.params["id"] == sid)
    r = raw(conn, "POST", f"/servers/{sid}/action", "2.95", json={"evacuate": {}})
    assert (r.status_code, r.json()["badRequest"]["message"]) == (400, "no stop")
    rec = fake_nova.requests(route="servers.action.evacuate")[-1]
    assert (rec.microversion, rec.fault.split()[1]) == ("2.95", "error")
    assert raw(conn, "POST", f"/servers/{sid}/action", "2.94",
               json={"evacuate": {}}).status_code == 200


def test_seeded_fault_probability_is_reproducible():
    def run(seed):
        with FakeNova(seed=seed) as fake:
            fake.add_fault(route="services.list", status=500, probability=0.5)
            s = requests.Session()
            hdr = {"X-Auth-Token": fake.admin_token}
            return [s.get(f"{fake.compute_url}/os-services", headers=hdr, timeout=5)
                    .status_code for _ in range(20)]
    first = run(7)
    assert first == run(7) and {200, 500} == set(first)


def test_in_flight_peaks_per_source_host(fake_nova, conn268):
    sids = fake_nova.add_servers(16, hosts=["node1"])
    fence(fake_nova, conn268, "node1")
    fake_nova.configure_evacuation(rebuild_time=0.5)
    fake_nova.set_latency(0.2, route="servers.action.evacuate")
    fake_nova.reset_stats()

    def evacuate(sid):
        conn268.compute.evacuate_server(sid)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(evacuate, sids))
    stats = fake_nova.stats()
    calls = stats["evacuate_calls"]["by"]["node1"]
    assert calls["total"] == 16 and 2 <= calls["peak"] <= 8 and calls["current"] == 0
    assert stats["rebuilds"]["by"]["node1"]["peak"] >= 8
    assert stats["http"]["by"]["servers.action.evacuate"]["peak"] == calls["peak"]
    assert fake_nova.wait_idle(5)
    assert fake_nova.stats()["rebuilds"]["current"] == 0


# -- lifecycle ---------------------------------------------------------------------------------


def test_stop_ends_every_thread_even_with_idle_and_hanging_connections():
    before = set(threading.enumerate())
    fake = FakeNova().start()
    fake.add_fault(route="services.list", action="hang", hang=30)
    idle = requests.Session()
    idle.get(f"{fake.url}/compute/", timeout=5)                 # keep-alive connection

    def hanging():
        try:
            requests.get(f"{fake.compute_url}/os-services", timeout=20,
                         headers={"X-Auth-Token": fake.admin_token})
        except requests.RequestException:
            pass

    t = threading.Thread(target=hanging)
    t.start()
    wait_for(lambda: fake.stats()["http"]["current"] == 1, what="hanging request")
    t0 = time.monotonic()
    fake.stop()
    assert time.monotonic() - t0 < 5
    t.join(10)
    idle.close()
    assert not t.is_alive()
    assert not [x for x in set(threading.enumerate()) - before if x.is_alive()]


def test_subprocess_mode_writes_ready_file_and_is_driven_remotely(fake_nova_process):
    p = fake_nova_process
    assert p.ready_file.exists() and p.info["url"].startswith("http://127.0.0.1:")
    sids = p.add_servers(10, hosts=["node1"])
    conn = p.connect(microversion="2.68")
    try:
        fence(p, conn, "node1")
        conn.compute.evacuate_server(sids[0])
        assert p.wait_idle(timeout=5)
        assert p.server(sids[0])["host"] in ("node2", "node3")
        recs = p.requests(route="servers.action.evacuate")
        assert recs[0]["microversion"] == "2.68" and recs[0]["status"] == 200
        with pytest.raises(RemoteError, match="not a control method"):
            p.control.call("stop")
    finally:
        conn.close()
    pid = p.pid
    assert p.stop() == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_subprocess_exits_when_its_parent_dies(tmp_path):
    """An orphaned fake (test runner killed) must not live on."""
    import pathlib
    import subprocess
    import sys
    repo = str(pathlib.Path(__file__).resolve().parents[2])
    script = ("import time; from lab.fakenova import FakeNovaProcess;"
              f"p = FakeNovaProcess(workdir={str(tmp_path)!r}).start();"
              "print(p.pid, flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              text=True, cwd=repo, env=dict(os.environ, PYTHONPATH=repo))
    try:
        child = int(parent.stdout.readline())
    finally:
        parent.kill()
        parent.wait(5)
        parent.stdout.close()

    def gone():
        # An exited child of init may linger as a zombie: that counts as gone.
        try:
            state = pathlib.Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        return state == "Z"

    wait_for(gone, timeout=10, what="orphaned fakenova to exit")
