"""pytest fixtures for real Nova (the Nova lab) and the fake Nova server."""

from __future__ import annotations

import time
from typing import Callable

import pytest

import lab.nova as nova_lab_mod
from tests.conftest import IN_CI, check_marked

# --- the Nova lab (real Nova 34, fake virt driver, one process; lab/nova) --------------------


def require_nova_venv() -> None:
    """Skip locally when .venv-nova is missing; in CI that is a failure."""
    check_marked("nova", "real Nova")
    why = nova_lab_mod.available()
    if why:
        if IN_CI:
            pytest.fail(f"{why}; CI must run the Nova lab tests (make test creates it)")
        pytest.skip(why)


def nova_connection(lab: nova_lab_mod.NovaLab, project: str = "admin"):
    """An openstacksdk Connection from the lab's clouds.yaml: project "admin" (admin user),
    "demo" or "alt" (member users of those projects). Environment OS_* variables and the
    user's own clouds.yaml are ignored."""
    import openstack
    from openstack import config as os_config

    config = os_config.OpenStackConfig(config_files=[lab.clouds_yaml], load_envvars=False)
    return openstack.connection.Connection(config=config.get_one(lab.cloud_name(project)))


def wait_for(predicate: Callable[[], object], timeout: float = 60.0, interval: float = 0.2,
             what: str = "condition"):
    """Poll until predicate() is truthy; return its value or fail the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def restore_computes(lab: nova_lab_mod.NovaLab, conn) -> None:
    """Every compute running, up, enabled and not forced down, as the lab starts."""
    changed = False
    for host in lab.hosts:
        if not lab.control.host(host)["running"]:
            lab.control.start_compute(host)
            changed = True
    for svc in conn.compute.services(binary="nova-compute"):
        if svc.is_forced_down:
            conn.compute.update_service_forced_down(svc, forced=False)
            changed = True
        if svc.status != "enabled":
            conn.compute.enable_service(svc)
            changed = True
    if changed:
        # A compute re-enabled while Nova saw it down keeps Placement's
        # COMPUTE_STATUS_DISABLED trait until its next periodic task: until then the
        # scheduler finds no room there, and the next test's boot on it goes to ERROR.
        lab.control.run_periodics()


@pytest.fixture(scope="session")
def nova_lab(tmp_path_factory):
    """The Nova lab for the whole session, stopped (by PID) at the end."""
    require_nova_venv()
    lab = nova_lab_mod.start(tmp_path_factory.mktemp("nova-lab"))
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="session")
def nova_admin(nova_lab):
    """openstacksdk Connection to the lab as the admin user in project admin."""
    conn = nova_connection(nova_lab)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def nova(nova_lab, nova_admin):
    """The session's Nova lab for a test that may stop, force down or disable computes:
    all computes are running and enabled again afterwards."""
    yield nova_lab
    restore_computes(nova_lab, nova_admin)


# --- the fake Nova (lab/fakenova: stdlib HTTP server for scale, latency, faults) -------------
# Imported lazily so a broken fake never breaks collection of the real-Nova tests above.

FAKE_NOVA_HOSTS = ("node1", "node2", "node3")


@pytest.fixture
def fake_nova():
    """A started FakeNova on 127.0.0.1 (free port, seed 0) with computes node1..node3 like
    the Nova lab, no servers, 0.05 s rebuilds. Stopped afterwards, with all its threads;
    an exception inside the fake fails the test."""
    from lab.fakenova import EvacuationConfig, FakeNova

    fake = FakeNova(seed=0, evacuation=EvacuationConfig(rebuild_time=0.05))
    fake.add_hosts(FAKE_NOVA_HOSTS)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
    assert not fake.errors, fake.errors[0]


@pytest.fixture
def fake_nova_process(tmp_path):
    """FakeNova in a child process (python -m lab.fakenova), driven through .control /
    the same method names; computes node1..node3. Terminated (by PID) afterwards."""
    from lab.fakenova import FakeNovaProcess

    proc = FakeNovaProcess(seed=0, workdir=str(tmp_path),
                           args=["--hosts", ",".join(FAKE_NOVA_HOSTS), "--rebuild-time", "0.05"])
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
