"""fence_hakari's evacuation wait against Pacemaker's fencing timeouts, on real parts.

Every compute's fencing level is [lab power device, fence_hakari] and stonith-action is
reboot, so Pacemaker performs a reboot as off on both devices, then on. fence_hakari
declares its `on` automatic (it is the unfencing device): fenced leaves it out of the
reboot's on phase, the power device alone boots the host, and fence_hakari's `on` runs
when the rejoined host is unfenced. That `on` waits for the host's incident to be past
its evacuations, up to evacuation_wait, inside a fencing action bounded by stonith-timeout
(or pcmk_on_timeout).

The evacuation is made slow on purpose ([recovery] delay after the fencing is confirmed),
so the host is back and being unfenced while its instances are still being moved: the
case where the two timeouts meet. The engine stack (evacuator resource, alert, stonith
settings) is the one tests/e2e/test_engine_faults.py builds.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import threading
import time

import pytest

from hakari import lifecycle
from tests.e2e import test_engine_faults as faults
from tests.e2e.test_engine_faults import drill  # noqa: F401 - the fixture, reused
from tests.fixtures_nova import nova_connection, wait_for

pytestmark = pytest.mark.nova

VICTIM = "node2"
# Seconds the engine waits after the fencing is confirmed before its first evacuation:
# long enough that the rebooted host has rejoined and is being unfenced meanwhile.
EVACUATION_DELAY = 15


@pytest.fixture(scope="module")
def timeouts(drill):
    """The engine fault drills' stack (a module-scoped one of this module's own), with
    unfencing enabled and the slow evacuation configured."""
    from lab.stack import NOVA_DEVICE_ID

    lab = drill.lab
    # As docs/deployment.md configures it: without provides=unfencing the scheduler
    # never unfences anything and fence_hakari's `on` never runs.
    lab.exec("node1", ["crm_resource", "--resource", NOVA_DEVICE_ID, "--meta",
                       "--set-parameter", "provides", "--parameter-value", "unfencing"],
             timeout=60)
    # Unfencing follows probes of the fence devices: the DC may never need one.
    lab.wait(lambda v: unfenced(v, VICTIM), timeout=60, what=f"{VICTIM} unfenced")
    conf = drill.stack.engine_config("hakari-timeouts", {
        "cluster": {"compute_nodes": faults.COMPUTES, "reconcile_interval": 2},
        "fencing": {"confirm_timeout": 10},
        "recovery": {"poll_interval": 0.3, "delay": EVACUATION_DELAY}})
    # A changed parameter restarts the evacuator with this configuration.
    lab.exec("node1", ["crm_resource", "--resource", faults.RESOURCE, "--set-parameter",
                       "config", "--parameter-value", conf], timeout=60)
    lab.exec("node1", ["crm_resource", "--wait", "--timeout", "90s"], timeout=120)
    d = dataclasses.replace(drill, conf=conf)
    faults.wait_engine_on(d, "node1", timeout=90)
    return d


@pytest.fixture
def whole(timeouts):
    faults.restore(timeouts)
    yield timeouts
    faults.restore(timeouts)


# -- helpers ----------------------------------------------------------------------------

class ServiceWatch:
    """The victim's nova-compute as Nova reports it, sampled a few times a second from a
    connection of its own, so the moment it is re-enabled is known to within a sample."""

    def __init__(self, stack, host: str, interval: float = 0.25):
        self.conn = nova_connection(stack.nova)
        self.host = host
        self.interval = interval
        self.samples: list[tuple[float, str, bool]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)
        self.conn.close()

    def _run(self):
        while not self._stop.is_set():
            try:
                svc = next(iter(self.conn.compute.services(binary="nova-compute",
                                                           host=self.host)))
                self.samples.append((time.time(), svc.status, bool(svc.is_forced_down)))
            except Exception as err:  # noqa: BLE001 - a lost sample is reported, not fatal
                self.errors.append(f"{type(err).__name__}: {err}")
            self._stop.wait(self.interval)

    def back_in_service(self) -> tuple[float, float] | None:
        """(last sample out of service, first sample back in service: enabled and not
        forced down) once it has been taken out. It was put back between the two, so
        the first is the bound that proves "not before"."""
        last_out = None
        for t, status, forced in self.samples:
            if status == "disabled" or forced:
                last_out = t
            elif last_out is not None:
                return last_out, t
        return None


def unfenced(view, node: str) -> bool:
    from hakari.cluster.crm_mon import parse_crm_mon

    return any(ev.target == node and ev.action == "on" and ev.status == "success"
               for ev in parse_crm_mon(view.raw).fence_events)


def fence_events(view, node: str, since: float):
    from hakari.cluster.crm_mon import parse_crm_mon

    return sorted((ev for ev in parse_crm_mon(view.raw).fence_events
                   if ev.target == node and ev.completed is not None
                   and ev.completed.timestamp() >= since - 1),
                  key=lambda ev: ev.completed)


def state_at(events, host: str, state: str) -> float | None:
    return next((e.ts.timestamp() for e in events
                 if e.host == host and e.event == "state" and e.detail.get("state") == state),
                None)


def fenced_log(d, needle: str) -> list[str]:
    """Lines of every node's pacemaker.log mentioning needle (fenced logs each device
    action it runs, with the result), for the record of what ran when."""
    from lab import config

    lines = []
    for path in sorted(glob.glob(os.path.join(config.node_dir(d.lab.path, "*"),
                                              "var-log-pacemaker", "pacemaker.log"))):
        with open(path, errors="replace") as f:
            lines += [line.rstrip() for line in f if needle in line]
    return lines


def set_timeouts(d, stonith_timeout: str | None, evacuation_wait: str) -> None:
    from lab.stack import NOVA_DEVICE_ID

    run = lambda argv: d.lab.exec("node1", argv, timeout=60)  # noqa: E731
    if stonith_timeout is None:
        d.lab.exec("node1", ["crm_attribute", "--type", "crm_config", "--name",
                             "stonith-timeout", "--delete"], timeout=60, check=False)
    else:
        run(["crm_attribute", "--type", "crm_config", "--name", "stonith-timeout",
             "--update", stonith_timeout])
    run(["crm_resource", "--resource", NOVA_DEVICE_ID, "--set-parameter",
         "evacuation_wait", "--parameter-value", evacuation_wait])
    d.lab.settle(timeout=10)


def power_cut_with_slow_evacuation(d, servers: int) -> dict:
    """Boot servers on the victim, cut its power (stonith-action reboot), let the
    power device boot it again, and follow it until its nova-compute is back in service.
    Returns what was seen, with times as epoch seconds."""
    d.stack.nova.control.boot_servers(VICTIM, project="demo", count=servers)
    d.stack.nova.control.boot_servers(VICTIM, project="alt", count=1, stopped=True)
    victims = faults.on_host(d, VICTIM)
    offset = faults.journal_size(d)
    time.sleep(2)  # the engine has seen the victim alive
    seen: dict = {"victims": victims}
    with ServiceWatch(d.stack, VICTIM) as watch:
        t0 = seen["t0"] = time.time()
        d.stack.power_off(VICTIM)
        # The power device's `on` in the reboot's second phase boots the host again. One
        # loop watches both, so which came first is measured, not imposed by the test.
        def fenced_and_rejoined(v) -> bool:
            if not v.joined(VICTIM):
                seen["lost"] = True
            elif seen.get("lost") and "rejoined" not in seen:
                seen["rejoined"] = time.time()
            return "rejoined" in seen and faults.fence_success(v, VICTIM, t0) is not None

        d.lab.wait(fenced_and_rejoined, timeout=120, avoid=VICTIM, interval=0.1,
                   what=f"{VICTIM} fenced, booted by the reboot fencing and rejoined")
        done = faults.wait_state(d, VICTIM, tuple(lifecycle.EVACUATION_FINISHED)
                                 + (lifecycle.FAILED,), timeout=120,
                                 what=f"{VICTIM} evacuated")
        assert done["state"] != lifecycle.FAILED, done
        # Its nova-compute starts only now, as compute-guard holds it back: Nova refuses
        # to lift forced_down while the host's evacuation migrations are `done`, until
        # the restarted nova-compute has cleaned them up to `completed`.
        seen["compute_started"] = time.time()
        d.stack.nova.control.start_compute(VICTIM, rebooted=True)
        view = d.lab.wait(lambda v: any(ev.action == "on" and ev.status == "success"
                                        for ev in fence_events(v, VICTIM, t0)),
                          timeout=90, avoid=VICTIM, what=f"{VICTIM} unfenced")
        seen["history"] = fence_events(view, VICTIM, t0)
        wait_for(lambda: watch.back_in_service(), timeout=60,
                 what=f"{VICTIM}'s nova-compute back in service")
    seen["out_until"], seen["usable"] = watch.back_in_service()
    seen["watch_errors"] = watch.errors
    seen["events"] = faults.journal_since(d, offset)
    seen["fenced_log"] = fenced_log(d, "hakari-nova")
    return seen


def check_recovery(d, seen: dict, evacuation_wait: float) -> dict:
    """What holds whatever the timeouts: one successful reboot proves the fencing and
    no evacuation precedes it; every instance moved once; no unfencing succeeded before
    the incident was EVACUATED; the host back in service only after its last
    evacuation. Returns the key times relative to the power cut, and the unfencing
    attempts ("early": those that ended before EVACUATED and before fence_hakari's own
    wait could have run out)."""
    t0, events, history = seen["t0"], seen["events"], seen["history"]
    for ev in history:
        print(f"  fence history: {ev.action} {ev.status} at "
              f"+{ev.completed.timestamp() - t0:.1f}s by {ev.delegate}"
              + (f" ({ev.exit_reason})" if ev.exit_reason else ""))
    for line in seen["fenced_log"]:
        if "Operation" in line or "did not complete" in line:
            print("  " + line)
    reboots = [ev for ev in history if ev.action in ("reboot", "off")]
    assert [(ev.action, ev.status) for ev in reboots] == [("reboot", "success")], reboots
    fenced = reboots[0].completed.timestamp()
    requests = [e.ts.timestamp() for e in events
                if e.event == "evacuate-requested" and e.host == VICTIM]
    results = [e.ts.timestamp() for e in events if e.event == "result" and e.host == VICTIM]
    assert requests and min(requests) >= fenced - 1, (requests, fenced)
    assert len(results) == len(seen["victims"]), results
    faults.one_incident(events, VICTIM)
    faults.assert_moved_once(d, seen["victims"], VICTIM, t0)
    evacuated = state_at(events, VICTIM, lifecycle.EVACUATED)
    assert evacuated is not None, faults.states(events, VICTIM)
    # The test only says something about the wait if the host was back, and being
    # unfenced, while its evacuation was still running.
    assert seen["rejoined"] < evacuated - 5, (
        f"{VICTIM} rejoined at +{seen['rejoined'] - t0:.1f}s, EVACUATED at "
        f"+{evacuated - t0:.1f}s: raise EVACUATION_DELAY")
    ons = [ev for ev in history if ev.action == "on"]
    # Pacemaker records completions to the second.
    early = [ev for ev in ons if ev.completed.timestamp() < evacuated - 1
             and ev.completed.timestamp() < seen["rejoined"] + evacuation_wait - 1]
    unfenced = next(ev for ev in ons if ev.status == "success").completed.timestamp()
    usable = seen["usable"]
    times = {"fenced": fenced - t0, "rejoined": seen["rejoined"] - t0,
             "first_request": min(requests) - t0, "last_result": max(results) - t0,
             "evacuated": evacuated - t0, "compute_started": seen["compute_started"] - t0,
             "unfenced": unfenced - t0, "usable": usable - t0}
    print("power cut -> " + ", ".join(f"{k} +{v:.1f}s" for k, v in times.items()))
    assert unfenced >= evacuated - 1, times
    assert seen["out_until"] >= max(results), (
        f"nova-compute back in service between +{seen['out_until'] - t0:.2f}s and "
        f"+{usable - t0:.2f}s, not after the last evacuation at +{max(results) - t0:.2f}s"
        f" (lost samples: {seen['watch_errors'][:3]})")
    return {**times, "early_ons": early, "ons": ons}


# -- the tests --------------------------------------------------------------------------

def test_evacuation_wait_below_stonith_timeout_unfences_after_the_evacuation(whole):
    d = whole
    set_timeouts(d, None, "50")  # Pacemaker's default stonith-timeout, 60 s
    faults.engine_to(d, "node1")
    seen = power_cut_with_slow_evacuation(d, servers=5)
    times = check_recovery(d, seen, evacuation_wait=50)
    # fence_hakari's automatic `on` is not part of the reboot: it was over by the time
    # the host had rejoined, not held until the evacuation (or evacuation_wait) ended.
    assert times["fenced"] <= times["rejoined"] + 1, times
    assert times["fenced"] < times["first_request"] <= times["evacuated"]
    # The first unfencing of the rejoined host did not return while the incident was
    # EVACUATING: no attempt of any outcome before EVACUATED.
    assert not times["early_ons"], times
    # None was cut short by Pacemaker: the wait fitted in stonith-timeout.
    timed_out = [ev for ev in times["ons"] if "did not complete" in (ev.exit_reason or "")]
    assert not timed_out, timed_out


def test_evacuation_wait_above_stonith_timeout_times_out_unfencing_not_fencing(whole):
    d = whole
    # fence_hakari would wait up to 40 s; fenced kills each device action after 10 s.
    set_timeouts(d, "10s", "40")
    try:
        faults.engine_to(d, "node1")
        seen = power_cut_with_slow_evacuation(d, servers=3)
        times = check_recovery(d, seen, evacuation_wait=40)
    finally:
        set_timeouts(d, None, "50")
    # The reboot succeeded once (check_recovery) within the 10 s per device, over
    # before the host rejoined: evacuation_wait plays no part in it.
    assert times["fenced"] <= times["rejoined"] + 1, times
    # Unfencing attempts made while the incident was EVACUATING were cut short by
    # Pacemaker (timed out) — failed, never successful — and the controller tried
    # again until one ran after the evacuation.
    early = times["early_ons"]
    assert early, f"no unfencing attempt ended before EVACUATED: {times['ons']}"
    assert all(ev.status == "failed" and "did not complete within 10s" in
               (ev.exit_reason or "") for ev in early), early
    print(f"unfencing attempts: {len(times['ons'])}, {len(early)} timed out before "
          f"EVACUATED (+{times['evacuated']:.1f}s)")
