"""`hakari recover-instance` and `hakari notify process` against real Nova (the Nova lab),
and the retry limit against the fake Nova (which can fail a start on demand).

No Pacemaker here: the CLI runs with a PATH without the cluster tools.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.fixtures_nova import wait_for
from tests.recovery_helpers import conf_for_fake, conf_for_lab

pytestmark = pytest.mark.timeout(300)

NO_CLUSTER_PATH = os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"])
FAST = {"instance_failure": {"poll_interval": "0.2", "verify_timeout": "60"}}


def write_conf(make, backend, tmp_path, sections: dict, **recovery):
    make(backend, tmp_path, **recovery)
    extra = "".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in opts.items())
                    for name, opts in sections.items())
    with open(tmp_path / "hakari.conf", "a") as f:
        f.write(extra)


def runner(make, backend, tmp_path):
    state = {"sections": FAST, "recovery": {}}

    def configure(sections=None, **recovery):
        state["sections"] = {**FAST, **(sections or {})}
        state["recovery"] = recovery

    def run(*argv, expect=None):
        write_conf(make, backend, tmp_path, state["sections"], **state["recovery"])
        proc = subprocess.run(
            [sys.executable, "-m", "hakari", "--config-file", str(tmp_path / "hakari.conf"),
             *argv], capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
            env=dict(os.environ, PATH=NO_CLUSTER_PATH))
        if expect is not None:
            assert proc.returncode == expect, (proc.stdout, proc.stderr)
        doc = json.loads(proc.stdout) if "json" in argv and proc.stdout.strip() else None
        return proc, doc

    run.configure = configure
    return run


@pytest.fixture
def cli(nova, tmp_path):
    return runner(conf_for_lab, nova, tmp_path)


def service(conn, host):
    return next(iter(conn.compute.services(binary="nova-compute", host=host)))


def operator_disable(conn, host, reason):
    """What an operator's `openstack compute service set --disable` does."""
    resp = conn.compute.put(f"/os-services/{service(conn, host).id}",
                            json={"status": "disabled", "disabled_reason": reason},
                            microversion="2.53")
    assert resp.status_code == 200, resp.text


def incidents(cli, kind):
    _, doc = cli("incidents", "--format", "json", "--timeline", expect=0)
    return [i for i in doc["incidents"] if i["kind"] == kind]


def test_stopped_server_is_started_then_rerun_is_a_no_op(nova, nova_admin, cli):
    [srv] = nova.control.boot_servers("node1", project="demo", stopped=True)
    other = nova.control.boot_servers("node1", project="demo", stopped=True)[0]
    _, doc = cli("recover-instance", srv["id"], "--format", "json", expect=0)
    assert doc["result"] == "recovered" and doc["status"] == "ACTIVE"
    assert doc["attempts"] == 1 and doc["incident"].startswith(f"instance-{srv['id']}-")
    assert nova_admin.compute.get_server(srv["id"]).status == "ACTIVE"
    assert nova_admin.compute.get_server(other["id"]).status == "SHUTOFF"

    _, again = cli("recover-instance", srv["id"], "--format", "json", expect=0)
    assert again["result"] == "healthy" and again["incident"] is None

    [inc] = incidents(cli, "instance")
    assert inc["state"] == "RECOVERED" and inc["node"] == srv["id"]
    accepted = [e for e in inc["timeline"] if e["event"] == "action-accepted"]
    assert [e["detail"]["verb"] for e in accepted] == ["start"]
    assert accepted[0]["request_id"].startswith("req-")
    assert inc["instances"][0]["result"] == "recovered"


def test_error_server_is_hard_rebooted(nova, nova_admin, cli):
    [srv] = nova.control.boot_servers("node3", project="alt")
    nova_admin.compute.reset_server_state(srv["id"], "error")
    wait_for(lambda: nova_admin.compute.get_server(srv["id"]).status == "ERROR",
             what="server in ERROR")
    proc, _ = cli("recover-instance", srv["id"], expect=0)
    assert "recovered" in proc.stdout and "hard_reboot" in proc.stdout
    assert nova_admin.compute.get_server(srv["id"]).status == "ACTIVE"
    [inc] = incidents(cli, "instance")
    assert [e["detail"]["verb"] for e in inc["timeline"]
            if e["event"] == "action-accepted"] == ["hard_reboot"]


def test_non_ha_instance_is_skipped_per_policy(nova, nova_admin, cli):
    cli.configure(instance_selection="tagged")
    [plain] = nova.control.boot_servers("node1", project="demo", stopped=True)
    [ha] = nova.control.boot_servers("node1", project="demo", stopped=True,
                                     metadata={"evacuable": "true"})
    _, doc = cli("recover-instance", plain["id"], "--format", "json", expect=0)
    assert doc["result"] == "skipped" and "not an HA instance" in doc["reason"]
    assert nova_admin.compute.get_server(plain["id"]).status == "SHUTOFF"
    _, doc = cli("recover-instance", ha["id"], "--format", "json", expect=0)
    assert doc["result"] == "recovered"
    assert nova_admin.compute.get_server(ha["id"]).status == "ACTIVE"


def test_unknown_server_is_a_usage_error(nova, cli):
    proc, _ = cli("recover-instance", "00000000-0000-0000-0000-000000000000", expect=2)
    assert proc.stderr.startswith("hakari: error: Nova has no server")


def test_process_failure_disables_and_reenables_only_its_own(nova, nova_admin, cli):
    proc, doc = cli("notify", "process", "node3", "--format", "json", expect=0)
    assert doc["action"] == "disable" and doc["state"] == "DISABLED"
    svc = service(nova_admin, "node3")
    assert svc.status == "disabled" and svc.disabled_reason.startswith(
        f"hakari: process failure {doc['incident']}")
    # Reported again: still disabled, nothing new.
    _, again = cli("notify", "process", "node3", "--format", "json", expect=0)
    assert again["action"] == "wait" and again["incident"] == doc["incident"]
    _, healthy = cli("notify", "process", "node3", "--healthy", "--format", "json",
                     expect=0)
    assert healthy["action"] == "enable" and healthy["state"] == "ENABLED"
    assert service(nova_admin, "node3").status == "enabled"

    # Disabled by an operator: hakari neither claims it nor re-enables it.
    operator_disable(nova_admin, "node1", "maintenance by ops")
    _, other = cli("notify", "process", "node1", "--format", "json", expect=0)
    assert other["action"] == "close" and other["state"] == "IGNORED"
    _, other = cli("notify", "process", "node1", "--healthy", "--format", "json", expect=0)
    assert other["action"] == "nothing"
    svc = service(nova_admin, "node1")
    assert svc.status == "disabled" and svc.disabled_reason == "maintenance by ops"

    # hakari disabled it, then an operator took it over: left disabled.
    _, doc2 = cli("notify", "process", "node3", "--format", "json", expect=0)
    assert doc2["action"] == "disable" and doc2["incident"] != doc["incident"]
    operator_disable(nova_admin, "node3", "ops: keep off")
    _, h2 = cli("notify", "process", "node3", "--healthy", "--format", "json", expect=0)
    assert h2["action"] == "close" and h2["state"] == "IGNORED"
    assert service(nova_admin, "node3").status == "disabled"

    states = {i["id"]: i["state"] for i in incidents(cli, "process")}
    assert states[doc["incident"]] == "ENABLED" and states[doc2["incident"]] == "IGNORED"
    text, _ = cli("incidents", expect=0)
    assert "process" in text.stdout and "ENABLED" in text.stdout


# -- the fake Nova: a start that keeps failing -------------------------------------------------

@pytest.fixture
def fake_cli(fake_nova, tmp_path):
    return runner(conf_for_fake, fake_nova, tmp_path)


def test_retry_limit_holds_across_runs(fake_nova, fake_cli):
    sid = fake_nova.add_server("node1", status="SHUTOFF")
    fake_nova.add_fault(route="servers.action.os-start", action="error", status=500)
    fake_cli.configure({"instance_failure": {"max_attempts": "2"}})
    _, doc = fake_cli("recover-instance", sid, "--format", "json", expect=1)
    assert doc["result"] == "failed" and doc["attempts"] == 2
    assert "retry limit" in doc["reason"]
    assert len(fake_nova.requests(route="servers.action.os-start")) == 2
    # Run again: the limit counted from the journal holds; nothing is sent.
    _, again = fake_cli("recover-instance", sid, "--format", "json", expect=1)
    assert again["result"] == "failed" and again["incident"] == doc["incident"]
    assert len(fake_nova.requests(route="servers.action.os-start")) == 2
    rejected = [e for e in incidents(fake_cli, "instance")[0]["timeline"]
                if e["event"] == "action-rejected"]
    assert len(rejected) == 2 and all(e["request_id"] for e in rejected)


def test_fake_hard_reboot_and_stop_start_from_error(fake_nova, fake_cli):
    a = fake_nova.add_server("node2", status="ERROR")
    b = fake_nova.add_server("node2", status="ERROR")
    _, doc = fake_cli("recover-instance", a, "--format", "json", expect=0)
    assert doc["result"] == "recovered" and fake_nova.server(a)["status"] == "ACTIVE"
    assert [r.body for r in fake_nova.requests(route="servers.action.reboot")] == \
        [{"reboot": {"type": "HARD"}}]
    fake_cli.configure({"instance_failure": {"method": "stop_start"}})
    _, doc = fake_cli("recover-instance", b, "--format", "json", expect=0)
    assert doc["result"] == "recovered" and fake_nova.server(b)["status"] == "ACTIVE"
    assert len(fake_nova.requests(route="servers.action.os-stop")) == 1
