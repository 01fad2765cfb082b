"""The installed OCF agents, run the way Pacemaker and ocf-tester run them.

evacuator runs tests/fake_hakari.py (the engine's contract and nothing else) through its
hakari_command parameter, and once the real `hakari engine`; compute-guard reads
incidents from an offline CIB (CIB_file) through the real crm_attribute; api runs the
real `hakari api` on a loopback port (Keystone is only asked once a token comes).
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from hakari import lifecycle, paths
from tests.agents_helpers import (  # noqa: F401 - fixtures
    fake_hakari_command, installed, open_tmp, run_as, shared_python)
from tests.conftest import require_root, require_tools

OCF_TESTER = "/usr/sbin/ocf-tester"


def gone(pid: int) -> bool:
    """No such process, or a zombie waiting for init to reap it."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(") ", 1)[1][0] in "ZX"


def instance(name: str) -> str:
    return f"hkt-{name}-{os.getpid()}"


class Agent:
    """One installed agent and the environment Pacemaker would give it."""

    def __init__(self, plan, name, rsc, params, env=None):
        self.path = plan.under(f"{plan.ocf_dir}/{name}")
        self.ocf_root = plan.under(plan.ocf_root)
        self.rsc = rsc
        self.params = params
        self.env = env or {}

    def environ(self, **meta):
        env = {"OCF_ROOT": self.ocf_root, "OCF_RESOURCE_INSTANCE": self.rsc,
               "OCF_RESKEY_CRM_meta_timeout": "20000", **self.env}
        env.update({f"OCF_RESKEY_{k}": str(v) for k, v in self.params.items()})
        env.update({f"OCF_RESKEY_CRM_meta_{k}": str(v) for k, v in meta.items()})
        return env

    def __call__(self, action, wait=90, **meta):
        res = run_as([self.path, action], None, self.environ(**meta), timeout=wait)
        self.stderr = res.stderr.decode()
        reason = [line.split(":", 1)[1] for line in self.stderr.splitlines()
                  if line.startswith("ocf-exit-reason:")]
        return res.returncode, (reason[-1] if reason else "")

    def tester(self, timeout=300):
        require_tools("ocf-tester", "xmllint")
        argv = [OCF_TESTER, "-n", self.rsc]
        for k, v in self.params.items():
            argv += ["-o", f"{k}={v}"]
        env = {"OCF_ROOT": self.ocf_root, **self.env}
        return run_as(argv + [self.path], None, env, timeout=timeout)

    def record(self):
        path = pathlib.Path(paths.RUN_DIR) / f"{self.rsc}.pid"
        return json.loads(path.read_text()) if path.exists() else None


@pytest.fixture
def evacuator(installed):  # noqa: F811
    require_root()
    plan, conf, state_dir = installed
    log = pathlib.Path(plan.prefix) / "engine.log"
    agent = Agent(plan, "evacuator", instance("evac"),
                  {"config": conf, "hakari_command": fake_hakari_command(),
                   "log_file": log})
    agent.state_dir = state_dir
    agent.log = log
    yield agent
    agent("stop")
    assert agent.record() is None


def test_evacuator_passes_ocf_tester(evacuator):
    res = evacuator.tester()
    out = res.stdout.decode() + res.stderr.decode()
    assert res.returncode == 0, out
    assert "passed all tests" in out
    assert evacuator.log.read_text().count("fake_hakari: stopping") == 2


def test_evacuator_passes_ocf_tester_with_the_real_engine(installed):  # noqa: F811
    require_root()
    plan, conf, state_dir = installed
    agent = Agent(plan, "evacuator", instance("real"),
                  {"config": conf, "log_file": pathlib.Path(plan.prefix) / "real.log"})
    try:
        res = agent.tester()
        assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()
        assert "hakari-engine" in (pathlib.Path(plan.prefix) / "real.log").read_text()
    finally:
        agent("stop")


def test_start_monitor_stop(evacuator):
    assert evacuator("monitor", interval=0) == (7, "")
    assert evacuator("start") == (0, "")
    rec = evacuator.record()
    assert rec["argv"][-3:] == ["--config-file", str(evacuator.params["config"]),
                                "engine"][-3:]
    assert (evacuator.state_dir / "engine.heartbeat").exists()
    assert evacuator("monitor", interval=10000) == (0, "")
    assert evacuator("start") == (0, "")
    assert evacuator.record()["pid"] == rec["pid"]  # start on started: the same engine
    assert evacuator("stop") == (0, "")
    assert gone(rec["pid"])
    assert evacuator("monitor", interval=10000) == (7, "")
    assert evacuator("stop") == (0, "")


def test_a_dead_engine_fails_the_monitor_and_the_probe_says_stopped(evacuator):
    assert evacuator("start") == (0, "")
    pid = evacuator.record()["pid"]
    os.kill(pid, signal.SIGKILL)
    rc, reason = evacuator("monitor", interval=10000)
    assert rc == 1 and reason.startswith(f"engine (pid {pid}) died")
    assert evacuator("monitor", interval=0) == (7, "")
    assert evacuator.record() is None
    assert evacuator("stop") == (0, "")


def test_a_stuck_engine_fails_the_monitor(evacuator):
    evacuator.env["FAKE_ENGINE"] = "stuck"
    evacuator.params["heartbeat_timeout"] = 5
    assert evacuator("start") == (0, "")
    heartbeat = evacuator.state_dir / "engine.heartbeat"
    old = time.time() - 30
    os.utime(heartbeat, (old, old))
    rc, reason = evacuator("monitor", interval=10000)
    assert rc == 1 and "stuck: last heartbeat 30s ago (limit 5s)" in reason
    assert evacuator("stop") == (0, "")


def test_an_engine_that_dies_at_start_fails_start_with_its_last_words(evacuator):
    evacuator.env["FAKE_ENGINE"] = "crash"
    rc, reason = evacuator("start")
    assert rc == 1
    assert reason == "engine exited with status 3 while starting: fake_hakari: cannot " \
        "reach the cluster"
    assert evacuator.record() is None


def test_an_engine_without_heartbeat_is_stopped_when_start_times_out(evacuator):
    evacuator.env["FAKE_ENGINE"] = "slow"
    rc, reason = evacuator("start", timeout=4000)
    assert rc == 1 and reason.startswith("engine gave no heartbeat within 4s")
    assert evacuator.record() is None
    assert "slow engine" in evacuator.log.read_text()
    pid = int(evacuator.log.read_text().split("pid ")[1].split(",")[0])
    assert gone(pid)


def test_an_engine_deaf_to_sigterm_is_killed(evacuator):
    evacuator.env["FAKE_ENGINE"] = "deaf"
    assert evacuator("start") == (0, "")
    pid = evacuator.record()["pid"]
    t = time.monotonic()
    assert evacuator("stop", timeout=12000) == (0, "")
    assert time.monotonic() - t >= 2  # the grace period before SIGKILL
    assert evacuator.record() is None
    assert gone(pid)


def test_an_unreadable_pid_record_is_not_taken_for_stopped(evacuator):
    path = pathlib.Path(paths.RUN_DIR) / f"{evacuator.rsc}.pid"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{garbage")
    try:
        assert evacuator("monitor", interval=10000)[0] == 1
        rc, reason = evacuator("stop")
        assert rc == 1 and "unreadable pid record" in reason
    finally:
        path.unlink()


@pytest.mark.parametrize("params,rc,why", [
    ({"config": "/nonexistent/hakari.conf"}, 5, "config file /nonexistent/hakari.conf: "
     "not found"),
    ({"config": "relative.conf"}, 6, "config: must be an absolute path"),
    ({"heartbeat_timeout": "soon"}, 6, "heartbeat_timeout: not an integer"),
    ({"hakari_command": "fake_hakari.py"}, 6, "hakari_command: must start with"),
    ({"log_file": "engine.log"}, 6, "log_file: must be the absolute path of a file"),
    ({"hakari_command": "/nonexistent/hakari"}, 5, "/nonexistent/hakari: not executable"),
])
def test_validate_all_names_the_problem(evacuator, params, rc, why):
    evacuator.params.update(params)
    got_rc, reason = evacuator("validate-all")
    assert got_rc == rc and reason.startswith(why)
    if rc != 5 or "config" in params:
        assert evacuator("start")[0] == rc


def test_validate_all_checks_the_config_file(evacuator):
    conf = pathlib.Path(evacuator.params["config"])
    conf.write_text(f"[DEFAULT]\nstate_dir = {evacuator.state_dir}\n")
    rc, reason = evacuator("validate-all")
    assert rc == 2 and reason.startswith("no cloud: set the cloud parameter")
    evacuator.params["cloud"] = "lab"
    assert evacuator("validate-all") == (0, "")
    conf.write_text("[cluster]\ntool_timeout = never\n")
    rc, reason = evacuator("validate-all")
    assert rc == 2 and "[cluster] tool_timeout: invalid value" in reason


def test_validate_all_at_level_10_asks_nova(evacuator):
    clouds = pathlib.Path(evacuator.params["config"]).parent / "clouds.yaml"
    clouds.write_text("clouds:\n  lab:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n"
                      "      username: u\n      password: p\n      project_name: p\n"
                      "      user_domain_name: Default\n"
                      "      project_domain_name: Default\n")
    pathlib.Path(evacuator.params["config"]).write_text(
        f"[DEFAULT]\nstate_dir = {evacuator.state_dir}\n[openstack]\ncloud = lab\n"
        f"clouds_file = {clouds}\n")
    assert evacuator("validate-all") == (0, "")
    rc, reason = run_level_10(evacuator)
    assert rc == 1 and reason.startswith("Nova not reachable:")


def run_level_10(agent):
    env = {**agent.environ(), "OCF_CHECK_LEVEL": "10"}
    res = run_as([agent.path, "validate-all"], None, env, timeout=120)
    reasons = [l for l in res.stderr.decode().splitlines() if l.startswith("ocf-exit")]
    return res.returncode, reasons[-1].split(":", 1)[1] if reasons else ""


# -- crm_resource --validate: Pacemaker 2.1.5 only looks in /usr/lib/ocf ------------------------

@pytest.fixture
def system_evacuator(shared_python):  # noqa: F811
    """ocf:hakari:evacuator where crm_resource looks, removed afterwards unless it was
    there before (another install on this machine is left alone)."""
    require_root()
    require_tools("crm_resource")
    from hakari.install import Installer, make_plan

    plan = make_plan(python=shared_python, ocf_root=paths.OCF_ROOT)
    launcher = plan.launchers[0]
    target = pathlib.Path(launcher.path)
    created_dir = not target.parent.exists()
    created = not target.exists()
    if created:
        target.parent.mkdir(parents=True, exist_ok=True)
        Installer(plan, report=lambda _m: None).launcher(launcher)
    try:
        yield target
    finally:
        if created:
            target.unlink(missing_ok=True)
        if created_dir:
            try:
                target.parent.rmdir()
            except OSError:
                pass


def test_crm_resource_validate_shows_hakaris_exit_reason(system_evacuator):
    res = subprocess.run(
        ["crm_resource", "--validate", "--class", "ocf", "--provider", "hakari",
         "--agent", "evacuator", "--option", "config=/nonexistent", "--output-as=xml"],
        capture_output=True, timeout=60)
    out = res.stdout.decode()
    assert res.returncode == 5, out + res.stderr.decode()
    assert 'reason="config file /nonexistent: not found"' in out
    assert "ocf-exit-reason:config file /nonexistent: not found" in out


# -- compute-guard ---------------------------------------------------------------------------

@pytest.fixture
def guard(installed, tmp_path):  # noqa: F811
    require_root()
    require_tools("cibadmin", "crm_attribute")
    plan, _, _ = installed
    cib = tmp_path / "cib.xml"
    cib.write_bytes(subprocess.run(["cibadmin", "--empty"], capture_output=True,
                                   check=True, timeout=30).stdout)
    env = {"CIB_file": str(cib), "OCF_RESKEY_CRM_meta_on_node": "compute1"}
    subprocess.run(["cibadmin", "--create", "-o", "nodes", "--xml-text",
                    '<node id="compute1" uname="compute1"/>'], check=True, timeout=30,
                   env={**os.environ, **env})
    agent = Agent(plan, "compute-guard", instance("guard"), {"poll_interval": 1}, env)
    agent.cib_env = {**os.environ, "CIB_file": str(cib)}
    yield agent
    agent("stop")


def set_incident(guard, state):
    argv = ["crm_attribute", "--type", "nodes", "--node", "compute1", "--name",
            "hakari-incident"]
    if state is None:
        argv.append("--delete")
    else:
        argv += ["--update", json.dumps({"id": "inc-7", "state": state,
                                         "lost_at": "2026-11-25T07:00:00+00:00"})]
    subprocess.run(argv, check=True, timeout=30, env=guard.cib_env, capture_output=True)


def test_compute_guard_passes_ocf_tester(guard):
    res = guard.tester()
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()


@pytest.mark.parametrize("state", [None, lifecycle.EVACUATED, lifecycle.HOST_RETURNED,
                                   lifecycle.ENABLED, lifecycle.BLOCKED,
                                   lifecycle.FENCE_FAILED])
def test_compute_guard_lets_nova_compute_start(guard, state):
    set_incident(guard, state)
    assert guard("monitor", interval=0) == (7, "")
    assert guard("start") == (0, "")
    assert guard("monitor", interval=10000) == (0, "")
    assert guard("stop") == (0, "")
    assert guard("monitor", interval=10000) == (7, "")


def test_compute_guard_refuses_a_failed_incident_at_once(guard):
    set_incident(guard, lifecycle.FAILED)
    t = time.monotonic()
    rc, reason = guard("start")
    assert rc == 1 and time.monotonic() - t < 15
    assert reason == "compute1: incident inc-7 FAILED and needs an operator; " \
        "nova-compute stays stopped"
    assert guard("monitor", interval=10000) == (7, "")


@pytest.mark.parametrize("state", [lifecycle.DETECTED, lifecycle.FENCE_CONFIRMED,
                                   lifecycle.FORCED_DOWN, lifecycle.EVACUATING])
def test_compute_guard_holds_back_while_evacuating_then_times_out(guard, state):
    set_incident(guard, state)
    rc, reason = guard("start", timeout=3000)
    assert rc == 1
    assert reason == f"compute1: incident inc-7 is {state}: evacuations not finished " \
        "after 3s; nova-compute held back"
    assert guard("monitor", interval=10000) == (7, "")


def test_compute_guard_starts_as_soon_as_the_evacuation_finished(guard):
    set_incident(guard, lifecycle.EVACUATING)
    timer = threading.Timer(2.0, set_incident, (guard, lifecycle.EVACUATED))
    timer.start()
    try:
        t = time.monotonic()
        assert guard("start", timeout=60000) == (0, "")
        assert 2.0 <= time.monotonic() - t
    finally:
        timer.cancel()
        timer.join()
    assert guard("monitor", interval=10000) == (0, "")


def test_compute_guard_waits_out_an_unreachable_cib(guard):
    guard.env["CIB_file"] = "/nonexistent/cib.xml"
    rc, reason = guard("start", timeout=3000)
    assert rc == 1 and reason.startswith("compute1: cannot read the incident:")


def test_crm_resource_validate_level_10_reaches_for_nova(system_evacuator, open_tmp):  # noqa: F811
    clouds = open_tmp / "clouds.yaml"
    clouds.write_text("clouds:\n  lab:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n"
                      "      username: u\n      password: p\n      project_name: p\n"
                      "      user_domain_name: Default\n"
                      "      project_domain_name: Default\n")
    state = open_tmp / "state"
    state.mkdir()
    conf = open_tmp / "hakari.conf"
    conf.write_text(f"[DEFAULT]\nstate_dir = {state}\n[openstack]\ncloud = lab\n"
                    f"clouds_file = {clouds}\n")
    base = ["crm_resource", "--class", "ocf", "--provider", "hakari", "--agent",
            "evacuator", "--option", f"config={conf}", "--output-as=xml"]
    res = subprocess.run(base + ["--validate"], capture_output=True, timeout=120)
    assert res.returncode == 0, res.stdout.decode()
    res = subprocess.run(base + ["--validate=10"], capture_output=True, timeout=120)
    assert res.returncode == 1, res.stdout.decode()
    assert 'reason="Nova not reachable:' in res.stdout.decode()


# -- api: the real `hakari api` on loopback -------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# api.conf, as hakari render writes it: hakari.conf holds none of it.
API_SECTIONS = """
[api]
bind_host = 127.0.0.1
bind_port = {port}

[keystone_authtoken]
auth_type = password
auth_url = http://127.0.0.1:9/v3
username = hakari
password = unused
project_name = service
user_domain_name = Default
project_domain_name = Default
"""


@pytest.fixture
def api_agent(installed):  # noqa: F811
    require_root()
    plan, conf, state_dir = installed
    port = free_port()
    api_conf = conf.parent / "api.conf"
    api_conf.write_text(API_SECTIONS.format(port=port))
    api_conf.chmod(0o600)
    log = pathlib.Path(plan.prefix) / "api.log"
    agent = Agent(plan, "api", instance("api"), {"config": conf, "api_config": api_conf,
                                                  "log_file": log})
    agent.port, agent.log, agent.api_conf = port, log, api_conf
    yield agent
    agent("stop")
    assert agent.record() is None


def versions(port: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def test_api_passes_ocf_tester(api_agent):
    res = api_agent.tester()
    out = res.stdout.decode() + res.stderr.decode()
    assert res.returncode == 0, out + api_agent.log.read_text()
    assert "passed all tests" in out
    assert "hakari api: serving on http://127.0.0.1:" in api_agent.log.read_text()


def test_api_start_monitor_stop(api_agent):
    assert api_agent("monitor", interval=0) == (7, "")
    assert api_agent("start") == (0, "")
    rec = api_agent.record()
    assert rec["argv"][-5:] == ["--config-file", str(api_agent.params["config"]),
                                "--config-file", str(api_agent.api_conf), "api"]
    assert rec["extra"]["port"] == api_agent.port  # from api.conf
    assert versions(api_agent.port)["versions"][0]["id"] == "v1.0"
    assert api_agent("monitor", interval=10000) == (0, "")
    assert api_agent("start") == (0, "")
    assert api_agent.record()["pid"] == rec["pid"]
    assert api_agent("stop") == (0, "")
    assert gone(rec["pid"])
    assert api_agent("monitor", interval=10000) == (7, "")


def test_a_hung_api_fails_the_monitor(api_agent):
    api_agent.params["check_timeout"] = 1
    assert api_agent("start") == (0, "")
    pid = api_agent.record()["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        rc, reason = api_agent("monitor", interval=10000)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert rc == 1
    assert reason.startswith(f"api (pid {pid}) on http://127.0.0.1:{api_agent.port}/: "
                             "no answer: TimeoutError")
    os.kill(pid, signal.SIGKILL)
    rc, reason = api_agent("monitor", interval=10000)
    assert rc == 1 and reason.startswith(f"api (pid {pid}) died")


def test_an_api_that_never_answers_is_stopped_when_start_times_out(api_agent):
    api_agent.params["hakari_command"] = f"{sys.executable} -c 'import time; " \
        "time.sleep(600)'"
    rc, reason = api_agent("start", timeout=4000)
    assert rc == 1
    assert reason.startswith(f"api did not answer on http://127.0.0.1:{api_agent.port}/ "
                             "within 4s; stopped it")
    assert api_agent.record() is None


def test_an_api_without_keystone_fails_start_with_its_last_words(api_agent):
    conf = api_agent.api_conf
    conf.write_text(conf.read_text().replace("auth_type = password\n", ""))
    rc, reason = api_agent("start")
    assert rc == 1
    assert reason.startswith("api exited with status 2 while starting: hakari: error: "
                             "[keystone_authtoken] auth_type is not set")
    assert api_agent.record() is None


@pytest.mark.parametrize("params,rc,why", [
    ({"config": "/nonexistent/hakari.conf"}, 5, "config file /nonexistent/hakari.conf: "
     "not found"),
    ({"api_config": "/nonexistent/api.conf"}, 5, "api_config file /nonexistent/api.conf: "
     "not found (hakari render writes api.conf with the api enabled)"),
    ({"api_config": "api.conf"}, 6, "api_config: must be an absolute path"),
    ({"check_timeout": "0"}, 6, "check_timeout: 0 out of range"),
    ({"log_file": "api.log"}, 6, "log_file: must be the absolute path of a file"),
])
def test_api_validate_all_names_the_problem(api_agent, params, rc, why):
    assert api_agent("validate-all") == (0, "")
    api_agent.params.update(params)
    got_rc, reason = api_agent("validate-all")
    assert got_rc == rc and reason.startswith(why)


def test_a_group_readable_api_conf_is_a_warning_not_a_failure(api_agent):
    assert api_agent("validate-all") == (0, "") and "WARNING" not in api_agent.stderr
    api_agent.api_conf.chmod(0o640)
    assert api_agent("validate-all") == (0, "")
    assert f"WARNING: api_config file {api_agent.api_conf}: readable by group (mode 0640)" \
        in api_agent.stderr
    assert api_agent("start") == (0, "")
    assert "readable by group" in api_agent.stderr  # in Pacemaker's log at each start
