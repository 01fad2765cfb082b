"""The mass-failure brake on the production shape (tests/e2e/drill.py): three controllers
run the engine, three Pacemaker Remote computes are what hakari recovers, real Nova,
hakari installed and configured through pcs, fencing through [lab power device,
fence_hakari].

Two computes lose power 15 s apart. Each look of the engine sees one loss, yet together
they are a mass failure ([recovery] mass_failure_max_hosts = 1 over the window): the
first host's recovery, still in its [recovery] delay, is stopped, the second is never
started, and both stay BLOCKED while the engine keeps looking. `hakari release --all`,
run on a controller as an operator would, lets the engine recover both onto the third
compute: every instance is evacuated exactly once.
"""

from __future__ import annotations

import sys
import time

import pytest

from hakari import lifecycle
from tests.e2e.drill import Drill, engine_drill, engine_logs, evacuations, incident, on_host
from tests.fixtures_nova import wait_for

pytestmark = [pytest.mark.nova, pytest.mark.timeout(900)]

FIRST, SECOND = "compute2", "compute3"
STAGGER = 15.0
DELAY = 25.0          # longer than the stagger: the first host evacuates nothing before


def write_config(stack) -> str:
    return stack.engine_config("hakari-brake", {
        "cluster": {"reconcile_interval": 1},
        "fencing": {"confirm_timeout": 30},
        "recovery": {"poll_interval": 0.3, "delay": DELAY, "mass_failure_max_hosts": 1,
                     "mass_failure_window": 90}})


@pytest.fixture(scope="module")
def drill(pacemaker_lab_factory):
    # Fenced computes stay off (docs/deployment.md's advice): the lab's reboot would
    # power them on again, and a host that is back is closed, not evacuated.
    with engine_drill(pacemaker_lab_factory("bk", nodes=3, computes=3), write_config,
                      engine_timeout=120, stonith_action="off") as d:
        yield d


def state_of(d: Drill, node: str) -> str | None:
    found = incident(d, node)
    return found["state"] if found else None


def test_two_computes_lost_15s_apart_stay_blocked_until_released(drill):
    d = drill
    servers = {h: [s["id"] for s in d.stack.nova.control.boot_servers(h, count=3)]
               for h in (FIRST, SECOND)}
    # They die for good: fenced off, and no unfencing can switch them on again. (With
    # fence_hakari providing unfencing, Pacemaker 2.1 unfences a fenced remote node at
    # once, and the power device's `on` in its level would boot it.)
    for host in (FIRST, SECOND):
        d.lab.set_fence(host, dead=True)
    since = time.time() - 60
    t0 = time.monotonic()
    d.stack.power_off(FIRST)
    # Fenced and confirmed: its recovery has started and waits out [recovery] delay.
    wait_for(lambda: state_of(d, FIRST) in lifecycle.RECOVERING,
             timeout=STAGGER - 1, interval=0.3, what=f"{FIRST}'s recovery started")
    time.sleep(max(0.0, t0 + STAGGER - time.monotonic()))
    d.stack.power_off(SECOND)
    wait_for(lambda: state_of(d, FIRST) == state_of(d, SECOND) == lifecycle.BLOCKED,
             timeout=DELAY + 30, interval=0.5, what="both BLOCKED")
    # The engine keeps looking (every second) and leaves them blocked, touching nothing.
    for _ in range(10):
        time.sleep(1.0)
        assert state_of(d, FIRST) == state_of(d, SECOND) == lifecycle.BLOCKED
    for host in (FIRST, SECOND):
        assert evacuations(d, host, since) == {}
        assert set(on_host(d, host)) == set(servers[host])

    res = d.lab.exec("node1", [sys.executable, "-m", "hakari", "--config-file", d.conf,
                               "release", "--all", "--why", "drill: both really lost"],
                     timeout=120, check=False)
    out = res.stdout.decode()
    assert res.returncode == 0, res.stderr.decode()
    assert f"{FIRST}: incident" in out and f"{SECOND}: incident" in out
    deadline = time.monotonic() + DELAY + 120
    while state_of(d, FIRST) != lifecycle.EVACUATED or \
            state_of(d, SECOND) != lifecycle.EVACUATED:
        assert time.monotonic() < deadline, (
            f"not both EVACUATED after release: {incident(d, FIRST)}, {incident(d, SECOND)}"
            f"\n{engine_logs(d)}")
        time.sleep(1.0)
    for host in (FIRST, SECOND):
        assert evacuations(d, host, since) == {sid: 1 for sid in servers[host]}
        assert on_host(d, host) == {}
    assert incident(d, FIRST)["released_by"]     # who released it, in the CIB
