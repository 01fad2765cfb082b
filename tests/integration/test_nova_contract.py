"""Contract: the fake Nova answers like real Nova 34 to the calls hakari makes.

One openstacksdk call sequence (the recovery path: services, force down, disable, servers by
host, evacuate at a pinned microversion, migrations, the host's return, plus the error
answers hakari relies on) runs against each backend and is reduced to a transcript of
normalized facts: field sets per microversion, status codes, error kinds and messages,
status transitions. Each backend must satisfy the invariants below, and the fake's
transcript must equal real Nova's, so the fake cannot drift unnoticed.

Only the set-up differs per backend (how servers are booted, how a compute is "killed").
"""

from __future__ import annotations

import time
import uuid

import pytest

from tests.fixtures_nova import nova_connection

pytestmark = [pytest.mark.timeout(300)]

VICTIM, OTHERS = "node2", ("node1", "node3")
PIN = "2.68"              # below 2.95: evacuated servers keep their power state
LIFECYCLE = ("accepted", "pre-migrating", "done")
_TRANSCRIPTS: dict[str, dict] = {}


class FakeBackend:
    name = "fake_nova"

    def __init__(self, fake):
        self.fake = fake
        self.conn = fake.connect()

    def boot(self, host, count, stopped=False):
        return [self.fake.add_server(host, status="SHUTOFF" if stopped else "ACTIVE")
                for _ in range(count)]

    def kill(self, host):
        # Like the lab's stopped compute: Nova still says "up" until service_down_time.
        self.fake.kill_host(host, down_after=60)

    def revive(self, host):
        self.fake.revive_host(host)

    def close(self):
        self.conn.close()


class RealBackend:
    name = "nova_lab"

    def __init__(self, lab):
        self.lab = lab
        self.conn = nova_connection(lab)

    def boot(self, host, count, stopped=False):
        return [s["id"] for s in self.lab.control.boot_servers(host, project="demo",
                                                               count=count, stopped=stopped)]

    def kill(self, host):
        self.lab.control.stop_compute(host)

    def revive(self, host):
        self.lab.control.start_compute(host)

    def close(self):
        self.conn.close()


def _make_backend(request, name):
    if name == "fake_nova":
        return FakeBackend(request.getfixturevalue("fake_nova"))
    # "nova" is the session lab, with every compute restored after the test.
    request.getfixturevalue("nova_lab")
    return RealBackend(request.getfixturevalue("nova"))


@pytest.fixture(params=["fake_nova", pytest.param("nova_lab", marks=pytest.mark.nova)])
def backend(request):
    b = _make_backend(request, request.param)
    try:
        yield b
    finally:
        b.close()


# -- the sequence ------------------------------------------------------------------------------


def _raw(conn, method, url, mv, **kw):
    return conn.compute.request(url, method, microversion=mv, raise_exc=False, **kw)


def _error(resp) -> tuple:
    """(status, error kind, message) with ids masked."""
    try:
        body = resp.json()
    except ValueError:
        return resp.status_code, None, resp.text[:80]
    (kind, detail), = body.items()
    return resp.status_code, kind, _mask(detail.get("message", ""))


def _mask(text: str) -> str:
    import re
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>",
                  text)
    # Value echoes in schema errors differ only in the dict repr of the query.
    return re.sub(r"Value: \{.*?\}\.", "Value: <...>.", text)


def _wait(predicate, timeout=90.0, what="condition", describe=None):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}" +
                        (f": {describe()}" if describe else ""))
        time.sleep(0.1)


def _service(conn, host):
    (svc,) = list(conn.compute.services(binary="nova-compute", host=host))
    return svc


def run_contract(b) -> dict:
    conn = b.conn
    t: dict = {}

    # Services, per microversion: field names and id type.
    for mv in ("2.1", "2.11", "2.53", "2.69", "2.75"):
        svcs = [s for s in _raw(conn, "GET", "/os-services?binary=nova-compute", mv)
                .json()["services"]]
        t[f"service_fields@{mv}"] = sorted(set().union(*(s.keys() for s in svcs)))
        t[f"service_id_type@{mv}"] = sorted({type(s["id"]).__name__ for s in svcs})
    t["computes"] = sorted((s.host, s.state, s.status, s.is_forced_down)
                           for s in conn.compute.services(binary="nova-compute"))

    active = b.boot(VICTIM, 2)
    stopped = b.boot(VICTIM, 1, stopped=True)
    twice = b.boot(VICTIM, 1)
    mine = active + stopped + twice
    try:
        _run_recovery(b, conn, t, active, stopped, twice)
    finally:
        for sid in mine:
            conn.compute.delete_server(sid, ignore_missing=True)
    return t


def _run_recovery(b, conn, t, active, stopped, twice):
    mine = active + stopped + twice
    sid = active[0]

    # Server views per microversion.
    for mv in ("2.1", "2.3", "2.16", "2.26", "2.47", "2.68", "2.96", "2.98", "2.100", "2.104"):
        s = _raw(conn, "GET", f"/servers/{sid}", mv).json()["server"]
        t[f"server_fields@{mv}"] = sorted(s)
        t[f"server_flavor_fields@{mv}"] = sorted(s["flavor"])
        t[f"server_image_fields@{mv}"] = sorted(s["image"])
    detail = _raw(conn, "GET", f"/servers/detail?all_tenants=1&host={VICTIM}", PIN).json()
    t["detail_fields_equal_show"] = [sorted(s) == t[f"server_fields@{PIN}"]
                                     for s in detail["servers"] if s["id"] == sid]
    t["status_before"] = {s["status"] for s in detail["servers"] if s["id"] in mine}

    # Servers by host, the openstacksdk way, and one raw page with its next link.
    pinned = b.conn.compute
    found = {s.id for s in conn.compute.servers(all_projects=True, compute_host=VICTIM)}
    t["sdk_lists_host"] = set(mine) <= found
    page = _raw(conn, "GET", f"/servers/detail?all_tenants=1&host={VICTIM}&limit=1", PIN).json()
    (link,) = page["servers_links"]
    t["page"] = (len(page["servers"]), link["rel"],
                 f"marker={page['servers'][0]['id']}" in link["href"],
                 "/v2.1/servers/detail?" in link["href"])

    # Error answers.
    def post_evac(server, body, mv=PIN):
        return pinned.post(f"/servers/{server}/action", json={"evacuate": body},
                           microversion=mv, raise_exc=False)

    t["err_server_404"] = _error(_raw(conn, "GET", f"/servers/{uuid.uuid4()}", PIN))
    t["err_mv_406"] = _error(_raw(conn, "GET", "/os-services", "2.999"))[:2]
    t["err_evac_force_268"] = _error(post_evac(sid, {"force": True, "host": OTHERS[0]}))
    t["err_evac_shared_21"] = _error(post_evac(sid, {}, "2.1"))
    t["err_evac_same_host"] = _error(post_evac(sid, {"host": VICTIM}))
    t["err_evac_no_host"] = _error(post_evac(sid, {"host": "no-such-host"}))
    t["err_evac_force_no_host"] = _error(post_evac(sid, {"force": True}, "2.29"))
    t["err_svc_bad_uuid"] = _error(_raw(conn, "PUT", "/os-services/force-down", "2.53",
                                        json={"forced_down": True}))
    t["err_svc_unknown_action"] = _error(_raw(conn, "PUT", "/os-services/xyz", "2.11",
                                              json={"host": VICTIM,
                                                    "binary": "nova-compute"}))
    svc = _service(conn, VICTIM)
    t["err_svc_reason_enabled"] = _error(_raw(conn, "PUT", f"/os-services/{svc.id}", "2.53",
                                              json={"status": "enabled",
                                                    "disabled_reason": "x"}))
    t["err_svc_empty"] = _error(_raw(conn, "PUT", f"/os-services/{svc.id}", "2.53", json={}))
    t["err_query_servers_275"] = _error(_raw(conn, "GET", "/servers/detail?bogus=1", "2.75"))
    t["query_servers_274"] = _raw(conn, "GET", "/servers/detail?bogus=1", "2.74").status_code
    t["err_query_migrations_259"] = _error(_raw(conn, "GET", "/os-migrations?bogus=1&zz=1",
                                                "2.59"))
    t["err_query_services_275"] = _error(_raw(conn, "GET", "/os-services?bogus=1", "2.75"))
    t["err_query_limit"] = _error(_raw(conn, "GET", "/servers/detail?limit=abc", PIN))
    t["err_query_all_tenants"] = _error(_raw(conn, "GET", "/servers/detail?all_tenants=maybe",
                                             PIN))
    t["err_query_changes_order"] = _error(_raw(
        conn, "GET", "/os-migrations?changes-since=2020-01-01T00:00:00Z"
                     "&changes-before=2019-01-01T00:00:00Z", "2.80"))
    t["err_marker_servers"] = _error(_raw(conn, "GET", "/servers/detail?marker=nope", PIN))
    t["err_marker_migrations"] = _error(_raw(conn, "GET", "/os-migrations?marker=nope", "2.80"))
    t["err_hypervisor_pattern"] = _error(_raw(
        conn, "GET", "/os-hypervisors?hypervisor_hostname_pattern=zz", "2.53"))
    t["err_tags_225"] = _error(_raw(conn, "GET", f"/servers/{sid}/tags", "2.25"))
    t["err_meta_item_404"] = _error(_raw(conn, "GET", f"/servers/{sid}/metadata/none", PIN))

    # The compute dies: Nova still believes it up, so evacuation is refused.
    t["err_evac_source_up"] = _error(post_evac(sid, {}))
    b.kill(VICTIM)
    t["state_after_kill"] = _service(conn, VICTIM).state
    t["err_evac_source_dead_not_down"] = _error(post_evac(sid, {}))

    # hakari's order: force down, then disable (openstacksdk, default microversions).
    svc = conn.compute.update_service_forced_down(svc, forced=True)
    t["after_force_down"] = (svc.state, svc.status, svc.is_forced_down)
    svc = conn.compute.disable_service(svc, disabled_reason="hakari: fenced")
    t["after_disable"] = (svc.state, svc.status, svc.disabled_reason, svc.is_forced_down)
    legacy = _raw(conn, "PUT", "/os-services/disable-log-reason", "2.11",
                  json={"host": VICTIM, "binary": "nova-compute",
                        "disabled_reason": "hakari: fenced"})
    t["legacy_disable_log_reason"] = (legacy.status_code, legacy.json())
    t["host_status_forced_down"] = _raw(conn, "GET", f"/servers/{sid}", PIN).json()[
        "server"]["host_status"]

    # Evacuate at the pinned microversion; one server twice in a row.
    answers = [post_evac(s, {}) for s in active + stopped]
    answers += [post_evac(twice[0], {}), post_evac(twice[0], {})]
    t["evacuate_answers"] = sorted({(r.status_code, r.content) for r in answers})
    mid = _raw(conn, "GET", f"/servers/{twice[0]}", PIN).json()["server"]
    t["during_rebuild"] = (mid["status"], mid["OS-EXT-STS:task_state"])
    r = _raw(conn, "POST", f"/servers/{twice[0]}/metadata", PIN, json={"metadata": {"a": "b"}})
    t["metadata_during_rebuild"] = r.status_code

    seen: dict[str, list] = {}

    def settled():
        migs = list(conn.compute.migrations(migration_type="evacuation",
                                            source_compute=VICTIM))
        migs = [m for m in migs if m.server_id in mine]
        for m in migs:
            hist = seen.setdefault(m.id, [])
            if not hist or hist[-1] != m.status:
                hist.append(m.status)
        singles = [m for m in migs if m.server_id != twice[0]]
        if len(singles) != len(active + stopped) or \
                any(m.status not in ("done", "failed", "error") for m in singles):
            return None
        # The twice-evacuated server may stay "rebuilding" for good (see below): wait for
        # its failed migration instead.
        if not any(m.status == "failed" for m in migs if m.server_id == twice[0]):
            return None
        servers = [conn.compute.get_server(s) for s in active + stopped]
        if any(s.task_state for s in servers):
            return None
        return migs, servers + [conn.compute.get_server(twice[0])]

    def state():
        return {"migrations": seen, "servers": [
            (s.id, s.status, s.task_state, s.compute_host)
            for s in (conn.compute.get_server(x) for x in mine)]}

    migs, servers = _wait(settled, what="evacuations to settle", describe=state)
    by_server: dict = {}
    for m in migs:
        by_server.setdefault(m.server_id, []).append(m)
    t["single_lifecycles_valid"] = all(
        list(dict.fromkeys(seen[m.id])) == [s for s in LIFECYCLE if s in seen[m.id]]
        for s in active + stopped for m in by_server[s])
    t["single_final"] = sorted(m.status for s in active + stopped for m in by_server[s])
    t["double_final"] = sorted(m.status for m in by_server[twice[0]])
    by_id = {s.id: s for s in servers}
    # Evacuating twice breaks the server in real Nova, in one of two ways depending on a
    # race: ERROR, or stuck in REBUILD/rebuilding. Either way: not usable, and the second
    # migration stays "accepted".
    t["final_status"] = {
        "active": sorted(by_id[s].status for s in active),
        "stopped": sorted(by_id[s].status for s in stopped),
        "twice_broken": by_id[twice[0]].status in ("ERROR", "REBUILD")}
    t["final_hosts_elsewhere"] = all(by_id[s].compute_host in OTHERS for s in mine)
    t["dest_matches_host"] = all(by_server[s][0].dest_compute == by_id[s].compute_host
                                 for s in active + stopped)
    t["err_evac_after_done"] = _error(post_evac(active[0], {}))[:2]

    # Migration views per microversion, and changes-since vs a never-updated migration.
    for mv in ("2.1", "2.23", "2.59", "2.80"):
        ms = _raw(conn, "GET", f"/os-migrations?instance_uuid={active[0]}", mv).json()
        t[f"migration_fields@{mv}"] = sorted(set().union(*(m.keys()
                                                            for m in ms["migrations"])))
    all_double = _raw(conn, "GET", f"/os-migrations?instance_uuid={twice[0]}", "2.80").json()
    t["accepted_has_null_updated_at"] = [m["updated_at"] is None
                                         for m in all_double["migrations"]
                                         if m["status"] == "accepted"]
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    visible = _raw(conn, "GET", f"/os-migrations?instance_uuid={twice[0]}&changes-since="
                   f"{since}", "2.80").json()["migrations"]
    t["changes_since_double"] = sorted(m["status"] for m in visible)
    capped = _raw(conn, "GET", "/os-migrations?limit=1", "2.80").json()
    t["migrations_page"] = (len(capped["migrations"]), "migrations_links" in capped)

    # The host comes back: open evacuations are closed as "completed".
    b.revive(VICTIM)
    conn.compute.update_service_forced_down(svc, forced=False)
    conn.compute.enable_service(svc)
    _wait(lambda: _service(conn, VICTIM).state == "up", what="victim up")

    def completed():
        ms = [m for m in conn.compute.migrations(migration_type="evacuation",
                                                 source_compute=VICTIM)
              if m.server_id in mine]
        if all(m.status in ("completed", "failed", "error") for m in ms):
            return ms
        return None

    t["after_return"] = sorted(m.status for m in _wait(completed, what="completed"))
    svc = _service(conn, VICTIM)
    t["service_after_return"] = (svc.state, svc.status, svc.disabled_reason,
                                 svc.is_forced_down)


def check_invariants(t: dict) -> None:
    """What hakari relies on, whichever backend."""
    assert t["service_id_type@2.1"] == ["int"] and t["service_id_type@2.53"] == ["str"]
    assert "forced_down" in t["service_fields@2.11"]
    assert t["computes"] == [(h, "up", "enabled", False) for h in ("node1", "node2", "node3")]
    assert t["sdk_lists_host"] and t["page"] == (1, "next", True, True)
    assert t["detail_fields_equal_show"] == [True]
    assert t["err_evac_source_up"][:2] == (400, "badRequest")
    assert "still in use" in t["err_evac_source_up"][2]
    assert t["state_after_kill"] == "up"
    assert t["after_force_down"] == ("down", "enabled", True)
    assert t["after_disable"] == ("down", "disabled", "hakari: fenced", True)
    assert t["evacuate_answers"] == [(200, b"")]
    assert t["single_lifecycles_valid"] and t["single_final"] == ["done"] * 3
    assert t["final_status"]["active"] == ["ACTIVE", "ACTIVE"]
    assert t["final_status"]["stopped"] == ["SHUTOFF"]
    assert t["double_final"] == ["accepted", "failed"] and t["final_status"]["twice_broken"]
    assert t["final_hosts_elsewhere"] and t["dest_matches_host"]
    assert t["err_evac_after_done"] == (400, "badRequest")
    assert t["service_after_return"] == ("up", "enabled", None, False)


def _transcript(request, name: str) -> dict:
    if name not in _TRANSCRIPTS:
        b = _make_backend(request, name)
        try:
            _TRANSCRIPTS[name] = run_contract(b)
        finally:
            b.close()
    return _TRANSCRIPTS[name]


def test_contract(backend):
    t = run_contract(backend)
    check_invariants(t)
    _TRANSCRIPTS[backend.name] = t


@pytest.mark.nova
def test_fake_agrees_with_real_nova(request):
    fake = _transcript(request, "fake_nova")
    real = _transcript(request, "nova_lab")
    diff = {k: {"fake": fake.get(k), "real": real.get(k)}
            for k in sorted(set(fake) | set(real)) if fake.get(k) != real.get(k)}
    assert not diff, "fake Nova drifted from real Nova:\n" + "\n".join(
        f"  {k}: fake={v['fake']!r}\n  {' ' * len(k)}  real={v['real']!r}"
        for k, v in diff.items())
