"""The fencing chain on real parts, no engine: a Pacemaker Remote compute is fenced through
[lab power device, fence_hakari] and real Nova hears of it; unfencing (fence_hakari
provides it, as deployed) puts the compute back in service, and lets the cluster start
its nova-compute, only after the evacuation.

A fenced compute stays off here until a test powers it on: stonith-action is off, and
its power device cannot switch it on again (lab.set_fence(dead=True)); the unfencing
that follows a remote node's fencing would otherwise boot it at once.
"""

from __future__ import annotations

import json
import time

import pytest

from hakari import lifecycle
from tests.conftest import require_remoted
from tests.e2e.drill import fence_success
from tests.fixtures_nova import nova_connection, require_nova_venv, wait_for

pytestmark = pytest.mark.nova

VICTIM, OTHER = "compute1", "compute2"


@pytest.fixture(scope="module")
def stack(pacemaker_lab_factory):
    require_remoted()
    require_nova_venv()
    from lab.stack import Stack

    pcmk = pacemaker_lab_factory("fc", nodes=3, computes=2)
    st = Stack.up(pcmk, evacuation_wait=3)
    try:
        pcmk.exec("node1", ["crm_attribute", "--type", "crm_config", "--name",
                            "stonith-action", "--update", "off"], timeout=60)
        # The computes' nova-compute runs once Pacemaker unfenced them.
        wait_for(lambda: all(st.nova.control.host(n)["running"] for n in st.nodes),
                 timeout=60, what="every compute's nova-compute started by the cluster")
        yield st
    finally:
        # The cluster first: it stops nova-compute while its agent and Nova are there.
        try:
            pcmk.down()
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
    assert service(admin, VICTIM).status == "enabled"
    mark = len(stack.pcmk.fence_log())
    stack.pcmk.set_fence(VICTIM, dead=True)
    t0 = time.time()
    stack.power_off(VICTIM)
    stack.pcmk.wait(lambda v: fence_success(v, VICTIM, t0), timeout=60,
                    what=f"{VICTIM} fenced")
    svc = wait_for(lambda: (s := service(admin, VICTIM)).is_forced_down
                   and s.status == "disabled" and s, timeout=30,
                   what=f"{VICTIM} disabled")
    elapsed = time.time() - t0
    assert svc.disabled_reason.startswith("hakari: fenced at ")
    print(f"power cut -> Nova forced down and disabled: {elapsed:.2f}s")
    assert elapsed < 30, f"power cut to Nova disabled took {elapsed:.1f}s"
    # The power device cut it, from a controller (a remote compute fences nobody).
    cuts = [c for c in stack.pcmk.fence_log()[mark:] if c["action"] in ("off", "reboot")]
    assert cuts and {c["target"] for c in cuts} == {VICTIM}, cuts
    assert {c["host"] for c in cuts} <= set(stack.pcmk.controllers), cuts
    # fence_hakari recorded the fencing in the replicated CIB.
    assert stack.crm_attribute(VICTIM, "hakari-fenced")
    # The other compute is untouched.
    other = service(admin, OTHER)
    assert other.status == "enabled" and not other.is_forced_down


def test_unfencing_waits_for_the_evacuation(stack, admin):
    incident = {"id": "inc-e2e", "lost_at": "2026-11-25T07:00:00+00:00"}
    stack.crm_attribute(VICTIM, "hakari-incident",
                        json.dumps(dict(incident, state=lifecycle.EVACUATING)))
    stack.pcmk.clear_fence()
    # Its connection comes back; the cluster's own unfencing of it fails meanwhile.
    stack.power_on(VICTIM, wait=False)
    blocked = stack.pcmk.exec("node1", ["stonith_admin", "--unfence", VICTIM,
                                        "--timeout", "30"], check=False, timeout=60)
    assert blocked.returncode != 0
    svc = service(admin, VICTIM)
    assert svc.status == "disabled" and svc.is_forced_down
    # Not unfenced, so the cluster starts nothing there: no nova-compute.
    assert not stack.nova.control.host(VICTIM)["running"]

    stack.crm_attribute(VICTIM, "hakari-incident",
                        json.dumps(dict(incident, state=lifecycle.EVACUATED)))
    done = stack.pcmk.exec("node1", ["stonith_admin", "--unfence", VICTIM,
                                     "--timeout", "30"], check=False, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    svc = service(admin, VICTIM)
    assert svc.status == "enabled" and not svc.is_forced_down
    assert stack.crm_attribute(VICTIM, "hakari-fenced") is None
    wait_for(lambda: stack.nova.control.host(VICTIM)["running"], timeout=60,
             what=f"{VICTIM}'s nova-compute started once unfenced")
    stack.pcmk.exec("node1", ["crm_attribute", "--type", "nodes", "--node", VICTIM,
                              "--name", "hakari-incident", "--delete"], timeout=30)


def test_failed_power_fencing_never_reaches_nova(stack, admin):
    stack.pcmk.set_fence(OTHER, fail=True)
    t0 = time.time()
    try:
        stack.power_off(OTHER)
        stack.pcmk.wait(lambda v: len(v.fenced(OTHER, "failed")) >= 2, timeout=60,
                        what=f"two failed fencing attempts of {OTHER}")
        svc = service(admin, OTHER)
        assert svc.status == "enabled" and not svc.is_forced_down
        assert stack.crm_attribute(OTHER, "hakari-fenced") is None
    finally:
        stack.pcmk.set_fence(OTHER, dead=True)
    # Once the power device works again the chain completes.
    stack.pcmk.wait(lambda v: fence_success(v, OTHER, t0), timeout=90,
                    what=f"{OTHER} fenced after the device recovered")
    wait_for(lambda: service(admin, OTHER).is_forced_down, timeout=30,
             what=f"{OTHER} forced down")
    stack.pcmk.clear_fence()
    stack.power_on(OTHER, wait=False)
