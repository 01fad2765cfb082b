"""The fencing chain on real parts: Pacemaker fences through [lab power device,
fence_hakari] and real Nova hears of it; unfencing re-enables the compute only after evacuation."""

from __future__ import annotations

import json
import time

import pytest

from hakari import lifecycle
from tests.fixtures_nova import nova_connection, require_nova_venv, wait_for

pytestmark = pytest.mark.nova


@pytest.fixture(scope="module")
def stack(pacemaker_lab_factory):
    require_nova_venv()
    from lab.stack import Stack

    pcmk = pacemaker_lab_factory("fc", nodes=3)
    st = Stack.up(pcmk, evacuation_wait=3)
    try:
        yield st
    finally:
        st.down()


@pytest.fixture(scope="module")
def admin(stack):
    conn = nova_connection(stack.nova)
    yield conn
    conn.close()


def service(conn, host):
    return next(iter(conn.compute.services(binary="nova-compute", host=host)))


def test_power_cut_reaches_nova_within_seconds(stack, admin):
    assert service(admin, "node2").status == "enabled"
    t0 = time.monotonic()
    stack.power_off("node2")
    stack.pcmk.wait(lambda v: v.fenced("node2") and v.offline_clean("node2"), timeout=60,
                    what="node2 fenced")
    svc = wait_for(lambda: (s := service(admin, "node2")).is_forced_down
                   and s.status == "disabled" and s, timeout=30, what="node2 disabled")
    elapsed = time.monotonic() - t0
    assert svc.disabled_reason.startswith("hakari: fenced at ")
    print(f"power cut -> Nova forced down and disabled: {elapsed:.2f}s")
    assert elapsed < 30, f"power cut to Nova disabled took {elapsed:.1f}s"
    # fence_hakari recorded the fencing in the replicated CIB.
    assert stack.crm_attribute("node2", "hakari-fenced")
    # The others are untouched.
    for host in ("node1", "node3"):
        other = service(admin, host)
        assert other.status == "enabled" and not other.is_forced_down


def test_unfencing_waits_for_the_evacuation(stack, admin):
    incident = {"id": "inc-e2e", "lost_at": "2026-11-25T07:00:00+00:00"}
    stack.crm_attribute("node2", "hakari-incident",
                        json.dumps(dict(incident, state=lifecycle.EVACUATING)))
    stack.power_on("node2")
    blocked = stack.pcmk.exec("node1", ["stonith_admin", "--unfence", "node2",
                                        "--timeout", "30"], check=False, timeout=60)
    assert blocked.returncode != 0
    svc = service(admin, "node2")
    assert svc.status == "disabled" and svc.is_forced_down

    stack.crm_attribute("node2", "hakari-incident",
                        json.dumps(dict(incident, state=lifecycle.EVACUATED)))
    done = stack.pcmk.exec("node1", ["stonith_admin", "--unfence", "node2",
                                     "--timeout", "30"], check=False, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    svc = service(admin, "node2")
    assert svc.status == "enabled" and not svc.is_forced_down
    assert stack.crm_attribute("node2", "hakari-fenced") is None


def test_failed_power_fencing_never_reaches_nova(stack, admin):
    stack.pcmk.set_fence("node3", fail=True)
    try:
        stack.power_off("node3")
        stack.pcmk.wait(lambda v: len(v.fenced("node3", "failed")) >= 2, timeout=60,
                        what="two failed fencing attempts of node3")
        svc = service(admin, "node3")
        assert svc.status == "enabled" and not svc.is_forced_down
        assert stack.crm_attribute("node3", "hakari-fenced") is None
    finally:
        stack.pcmk.clear_fence()
    # Once the power device works again the chain completes.
    stack.pcmk.wait(lambda v: v.fenced("node3") and v.offline_clean("node3"), timeout=90,
                    what="node3 fenced after the device recovered")
    wait_for(lambda: service(admin, "node3").is_forced_down, timeout=30,
             what="node3 forced down")
    stack.power_on("node3")
