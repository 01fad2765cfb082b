"""`hakari evacuate` and `hakari incidents` against real Nova (the Nova lab).

No Pacemaker here: the CLI runs with a PATH without the cluster tools, so the only way
to act is --assume-fenced (and refusing without it is tested).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hakari import lifecycle
from tests.fixtures_nova import wait_for
from tests.recovery_helpers import conf_for_lab

pytestmark = pytest.mark.timeout(300)

NO_CLUSTER_PATH = os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"])


@pytest.fixture
def cli(nova, tmp_path):
    """Run `python -m hakari` with a config for the lab; returns (proc, json or None)."""
    state = {"recovery": {}}

    def configure(**recovery):
        state["recovery"] = recovery

    def run(*argv, expect=None, env=None):
        conf_for_lab(nova, tmp_path, **state["recovery"])
        proc = subprocess.run(
            [sys.executable, "-m", "hakari", "--config-file", str(tmp_path / "hakari.conf"),
             *argv], capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
            env=dict(os.environ, PATH=NO_CLUSTER_PATH, **(env or {})))
        if expect is not None:
            assert proc.returncode == expect, (proc.stdout, proc.stderr)
        doc = None
        if "--format" in argv and "json" in argv and proc.stdout.strip():
            doc = json.loads(proc.stdout)
        return proc, doc

    run.configure = configure
    run.state_dir = tmp_path / "state"
    return run


def service(conn, host):
    return next(iter(conn.compute.services(binary="nova-compute", host=host)))


def evacuations(conn, host):
    return [m for m in conn.compute.migrations(migration_type="evacuation",
                                               source_compute=host)]


def server(conn, sid):
    return conn.compute.get_server(sid)


def test_evacuate_two_projects_active_and_shutoff_then_rerun(nova, nova_admin, cli):
    demo = nova.control.boot_servers("node2", project="demo", count=2)
    alt_off = nova.control.boot_servers("node2", project="alt", count=1, stopped=True)
    alt_on = nova.control.boot_servers("node2", project="alt", count=1)
    other = nova.control.boot_servers("node1", project="demo", count=1)
    mine = {s["id"]: s for s in demo + alt_off + alt_on}
    before_other = {s["id"]: server(nova_admin, s["id"]).compute_host for s in other}
    migrations_before = {m.id for m in evacuations(nova_admin, "node2")}
    nova.control.stop_compute("node2")

    proc, doc = cli("evacuate", "node2", "--assume-fenced", "--yes", "--format", "json",
                    expect=0)
    assert "WARNING: --assume-fenced" in proc.stderr
    assert set(doc) == {"host", "forced_down", "disabled", "instances"}
    assert doc["host"] == "node2" and doc["forced_down"] is True and doc["disabled"] is True
    got = {i["id"]: i for i in doc["instances"] if i["id"] in mine}
    assert set(got) == set(mine)
    for sid, item in got.items():
        assert set(item) == {"id", "name", "result", "dest_host", "reason"}
        assert item["result"] == "evacuated" and item["name"] == mine[sid]["name"]
        s = server(nova_admin, sid)
        assert s.compute_host == item["dest_host"] and s.compute_host in ("node1", "node3")
        assert s.status == ("SHUTOFF" if mine[sid] in alt_off else "ACTIVE")
    # Servers elsewhere untouched.
    assert {sid: server(nova_admin, sid).compute_host for sid in before_other} == \
        before_other
    svc = service(nova_admin, "node2")
    assert svc.is_forced_down and svc.status == "disabled"
    assert svc.disabled_reason.startswith("hakari: incident node2-")
    new = [m for m in evacuations(nova_admin, "node2") if m.id not in migrations_before]
    assert sorted(m.server_id for m in new) == sorted(mine)

    # Again: nothing evacuated twice, every instance accounted for.
    _, again = cli("evacuate", "node2", "--assume-fenced", "--yes", "--format", "json",
                   expect=0)
    got2 = {i["id"]: i for i in again["instances"] if i["id"] in mine}
    assert {i["result"] for i in got2.values()} == {"skipped"}
    assert all("already evacuated" in i["reason"] for i in got2.values())
    assert {i["name"] for i in got2.values()} == {s["name"] for s in mine.values()}
    assert len([m for m in evacuations(nova_admin, "node2")
                if m.id not in migrations_before]) == len(mine)

    # The journal tells the story, override included.
    _, incidents = cli("incidents", "--format", "json", "--timeline", expect=0)
    [inc] = incidents["incidents"]
    assert inc["host"] == "node2" and inc["state"] == lifecycle.EVACUATED
    events = [e["event"] for e in inc["timeline"]]
    assert events.count("fencing-assumed") == 2
    assert {"forced-down", "disabled", "evacuate-requested", "evacuate-accepted",
            "result"} <= set(events)
    assert all(e.get("request_id", "").startswith("req-") for e in inc["timeline"]
               if e["event"] == "evacuate-accepted")
    assert {i["id"] for i in inc["instances"] if i["result"] == "evacuated"} >= set(mine)
    text, _ = cli("incidents", expect=0)
    assert lifecycle.EVACUATED in text.stdout and "node2" in text.stdout


def test_dry_run_changes_nothing(nova, nova_admin, cli):
    ids = [s["id"] for s in nova.control.boot_servers("node3", project="demo", count=2)]
    nova.control.stop_compute("node3")
    migrations_before = len(evacuations(nova_admin, "node3"))
    proc, doc = cli("evacuate", "node3", "--assume-fenced", "--dry-run", "--format", "json",
                    expect=0)
    assert doc["dry_run"] is True and doc["forced_down"] is False and doc["disabled"] is False
    planned = {i["id"]: i["result"] for i in doc["instances"]}
    assert all(planned[i] == "evacuate" for i in ids)
    text, _ = cli("evacuate", "node3", "--assume-fenced", "--dry-run", expect=0)
    assert "would evacuate" in text.stdout and "would force it down and disable it" in \
        text.stdout
    svc = service(nova_admin, "node3")
    assert not svc.is_forced_down and svc.status == "enabled"
    assert len(evacuations(nova_admin, "node3")) == migrations_before
    assert all(server(nova_admin, i).compute_host == "node3" for i in ids)
    assert not (cli.state_dir / "journal.jsonl").exists()


def test_refuses_without_fencing_proof_and_without_confirmation(nova, nova_admin, cli):
    nova.control.boot_servers("node2", project="demo", count=1)
    nova.control.stop_compute("node2")
    proc, _ = cli("evacuate", "node2", "--yes", expect=2)
    assert proc.stderr.startswith("hakari: error: refusing to evacuate node2: no fencing "
                                  "proof")
    assert "--assume-fenced" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert "Traceback" not in proc.stderr
    proc, _ = cli("evacuate", "node2", "--assume-fenced", expect=2)
    assert "not on a terminal" in proc.stderr and "--yes" in proc.stderr
    svc = service(nova_admin, "node2")
    assert not svc.is_forced_down and svc.status == "enabled"
    proc, _ = cli("evacuate", "nosuchhost", "--assume-fenced", "--yes", expect=2)
    assert "no nova-compute service on host 'nosuchhost'" in proc.stderr


def test_evacuable_tags_and_excluded_instances(nova, nova_admin, cli):
    flavor = nova_admin.compute.create_flavor(name="ha-tiny", ram=512, vcpus=1, disk=1)
    try:
        nova_admin.compute.create_flavor_extra_specs(flavor, {"evacuable": "true"})
        by_meta = nova.control.boot_servers("node2", project="demo", count=2,
                                            metadata={"evacuable": "true"})
        by_flavor = nova.control.boot_servers("node2", project="alt", count=1,
                                              flavor=flavor.id)
        untagged = nova.control.boot_servers("node2", project="demo", count=1)
        excluded = by_meta[1]["id"]
        nova.control.stop_compute("node2")
        cli.configure(instance_selection="tagged", excluded_instances=[excluded])
        _, doc = cli("evacuate", "node2", "--assume-fenced", "--yes", "--format", "json",
                     expect=0)
        got = {i["id"]: i for i in doc["instances"]}
        assert got[by_meta[0]["id"]]["result"] == "evacuated"
        assert got[by_flavor[0]["id"]]["result"] == "evacuated"
        assert got[excluded]["result"] == "skipped"
        assert "excluded_instances" in got[excluded]["reason"]
        assert got[untagged[0]["id"]]["result"] == "skipped"
        assert "not tagged evacuable" in got[untagged[0]["id"]]["reason"]
        assert server(nova_admin, excluded).compute_host == "node2"
        assert server(nova_admin, untagged[0]["id"]).compute_host == "node2"
    finally:
        nova_admin.compute.delete_flavor(flavor, ignore_missing=True)


def test_reserved_host_target(nova, nova_admin, cli):
    ids = [s["id"] for s in nova.control.boot_servers("node2", project="demo", count=3)]
    nova_admin.compute.disable_service(service(nova_admin, "node3"),
                                       disabled_reason="reserved for hakari")
    nova.control.stop_compute("node2")
    cli.configure(target="reserved_host", reserved_hosts=["node3"])
    _, doc = cli("evacuate", "node2", "--assume-fenced", "--yes", "--format", "json",
                 expect=0)
    got = {i["id"]: i for i in doc["instances"] if i["id"] in ids}
    assert {i["dest_host"] for i in got.values()} == {"node3"}
    assert {server(nova_admin, i).compute_host for i in ids} == {"node3"}
    assert service(nova_admin, "node3").status == "enabled"


def test_stop_at_destination_policy(nova, nova_admin, cli):
    ids = [s["id"] for s in nova.control.boot_servers("node3", project="demo", count=2)]
    nova.control.stop_compute("node3")
    cli.configure(stop_at_destination="true")
    _, doc = cli("evacuate", "node3", "--assume-fenced", "--yes", "--format", "json",
                 expect=0)
    got = {i["id"]: i for i in doc["instances"] if i["id"] in ids}
    assert {i["result"] for i in got.values()} == {"evacuated"}
    assert {server(nova_admin, i).status for i in ids} == {"SHUTOFF"}


def test_text_output_prints_a_line_per_instance(nova, nova_admin, cli):
    ids = [s["id"] for s in nova.control.boot_servers("node3", project="alt", count=2)]
    nova.control.stop_compute("node3")
    proc, _ = cli("evacuate", "node3", "--assume-fenced", "--yes", expect=0)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Evacuating node3 (incident node3-")
    for sid in ids:
        assert any(ln.split()[:2] == ["evacuated", sid] and "-> node" in ln for ln in lines)
    assert "evacuated" in lines[-1] and "forced down, disabled" in lines[-1]
    wait_for(lambda: all(server(nova_admin, i).status == "ACTIVE" for i in ids), 30,
             what="servers active")


def test_capacity_check_reports_what_cannot_fit(nova, nova_admin, cli):
    # Every lab compute has 800000 MB; a 400000 MB instance on each leaves no other
    # compute room for node2's.
    flavor = nova_admin.compute.create_flavor(name="huge", ram=400000, vcpus=1, disk=1)
    created = []
    try:
        [big] = nova.control.boot_servers("node2", project="demo", count=1, flavor=flavor.id)
        created.append(big)
        small = nova.control.boot_servers("node2", project="demo", count=1)
        for h in ("node1", "node3"):
            created += nova.control.boot_servers(h, project="alt", count=1, flavor=flavor.id)
        nova.control.stop_compute("node2")
        proc, doc = cli("evacuate", "node2", "--assume-fenced", "--dry-run", "--format",
                        "json", expect=0)
        planned = {i["id"]: i for i in doc["instances"]}
        assert planned[big["id"]]["result"] == "fail"
        assert "not enough free capacity" in planned[big["id"]]["reason"]
        assert planned[small[0]["id"]]["result"] == "evacuate"
        proc, doc = cli("evacuate", "node2", "--assume-fenced", "--yes", "--format", "json",
                        expect=1)
        got = {i["id"]: i for i in doc["instances"]}
        assert got[big["id"]]["result"] == "failed"
        assert "400000 MB RAM" in got[big["id"]]["reason"]
        assert got[small[0]["id"]]["result"] == "evacuated"
        assert server(nova_admin, big["id"]).compute_host == "node2"
        assert not [m for m in evacuations(nova_admin, "node2") if m.server_id == big["id"]]
    finally:
        for s in created:
            nova_admin.compute.delete_server(s["id"], ignore_missing=True)
        nova_admin.compute.delete_flavor(flavor, ignore_missing=True)
