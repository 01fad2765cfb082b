"""The production shape, end to end (tests/e2e/drill.py): three controllers, two Pacemaker
Remote computes, hakari as docs/deployment.md configures it.

A remote compute loses power: its connection times out, Pacemaker fences it through
[power device, fence_hakari], the engine on a controller evacuates each instance once.
The reboot fencing boots the compute again while its instances are still being moved
([recovery] delay): fence_hakari's unfencing and compute-guard keep its nova-compute off
until the evacuations are over, then it is back in service. The engine's journal is on
its own controller's disk only.

fence_hakari's unfencing wait against Pacemaker's fencing timeouts: stonith-action is
reboot, so Pacemaker performs a reboot as off on both devices, then on. fence_hakari
declares its `on` automatic (it is the unfencing device): fenced leaves it out of the
reboot's on phase, the power device alone boots the host, and fence_hakari's `on` runs
when the rejoined compute is unfenced. That `on` waits for the host's incident to be past
its evacuations, up to evacuation_wait, inside a fencing action bounded by stonith-timeout
(or pcmk_on_timeout).

Losing the controller that holds a healthy compute's connection moves the connection;
hakari must not take the compute for lost.
"""

from __future__ import annotations

import glob
import os
import time

import pytest

from hakari import lifecycle
from hakari.records import failures
from hakari.recovery.process.recovery import SIGNAL_EVENT
from lab.stack import GUARD
from tests.e2e import drill as drills
from tests.e2e.drill import (
    ServiceWatch, engine_drill, fence_events, fence_success, incident, incident_rows,
    journal_marks, journal_since, journals_naming, on_host, restore, service)
from tests.fixtures_nova import wait_for

pytestmark = pytest.mark.nova

VICTIM, OTHER = "compute1", "compute2"
# Seconds the engine waits after the fencing is confirmed before its first evacuation:
# long enough that the rebooted compute is back, and being unfenced, while its instances
# move.
EVACUATION_DELAY = 15


def write_config(stack) -> str:
    return stack.engine_config("engine-drill", {
        "cluster": {"reconcile_interval": 1},
        "fencing": {"confirm_timeout": 10},
        "recovery": {"poll_interval": 0.3, "delay": EVACUATION_DELAY}})


@pytest.fixture(scope="module")
def drill(pacemaker_lab_factory):
    with engine_drill(pacemaker_lab_factory("dr", nodes=3, computes=2), write_config) as d:
        yield d


@pytest.fixture
def whole(drill):
    restore(drill)
    yield drill
    restore(drill)


# -- helpers ----------------------------------------------------------------------------

def started_at(d, rsc: str, node: str) -> float | None:
    """When rsc last started on node (epoch), from the CIB's operation history."""
    from lxml import etree

    cib = etree.fromstring(d.lab.exec("node1", ["cibadmin", "--query", "-o", "status"],
                                      timeout=30).stdout)
    ops = cib.xpath(f"//node_state[@uname='{node}']//lrm_resource[@id='{rsc}']"
                    "/lrm_rsc_op[@operation='start' and @rc-code='0']")
    return max((float(op.get("last-rc-change")) for op in ops), default=None)


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

    drills.set_property(d.lab, "stonith-timeout", stonith_timeout)
    d.lab.exec("node1", ["crm_resource", "--resource", NOVA_DEVICE_ID, "--set-parameter",
                         "evacuation_wait", "--parameter-value", evacuation_wait],
               timeout=60)
    # New parameters of the unfencing device make Pacemaker unfence every compute again
    # and restart what requires it there (compute-guard, nova-compute): wait it out.
    drills.settled(d)


def power_cut_with_slow_evacuation(d, servers: int) -> dict:
    """Boot servers on the victim, cut its power (stonith-action reboot), let the
    power device boot it again, and follow it until its nova-compute is back in service.
    Returns what was seen, with times as epoch seconds."""
    d.stack.nova.control.boot_servers(VICTIM, project="demo", count=servers)
    d.stack.nova.control.boot_servers(VICTIM, project="alt", count=1, stopped=True)
    victims = on_host(d, VICTIM)
    engine = seen_engine = d.stack.engine_node()
    marks = drills.journal_marks(d)
    time.sleep(2)  # the engine has seen the victim alive
    seen: dict = {"victims": victims, "engine": seen_engine}
    with ServiceWatch(d.stack, VICTIM) as watch:
        t0 = seen["t0"] = time.time()
        d.stack.power_off(VICTIM)
        # The power device's `on` in the reboot's second phase boots the host again. One
        # loop watches both, so which came first is measured, not imposed by the test.
        def fenced_and_rejoined(v) -> bool:
            if "powered" not in seen and seen.get("lost") and d.lab.is_on(VICTIM):
                seen["powered"] = time.time()
            if not v.joined(VICTIM):
                seen["lost"] = True
            elif seen.get("lost") and "rejoined" not in seen:
                seen["rejoined"] = time.time()
            return "rejoined" in seen and fence_success(v, VICTIM, t0) is not None

        d.lab.wait(fenced_and_rejoined, timeout=120, avoid=VICTIM, interval=0.1,
                   what=f"{VICTIM} fenced, booted by the reboot fencing and rejoined")
        done = drills.wait_state(d, VICTIM, tuple(lifecycle.EVACUATION_FINISHED)
                                 + (lifecycle.FAILED,), timeout=120,
                                 what=f"{VICTIM} evacuated")
        assert done["state"] != lifecycle.FAILED, done
        # Its nova-compute starts once compute-guard lets it (Nova refuses to lift
        # forced_down while the host's evacuation migrations are `done`, until the
        # restarted nova-compute has cleaned them up to `completed`).
        view = d.lab.wait(lambda v: any(ev.action == "on" and ev.status == "success"
                                        for ev in fence_events(v, VICTIM, t0)),
                          timeout=90, avoid=VICTIM, what=f"{VICTIM} unfenced")
        seen["history"] = fence_events(view, VICTIM, t0)
        wait_for(lambda: watch.back_in_service(), timeout=60,
                 what=f"{VICTIM}'s nova-compute back in service")
    seen["out_until"], seen["usable"] = watch.back_in_service()
    seen["compute_started"] = (watch.started_again() or (None, float("nan")))[1]
    seen["watch_errors"] = watch.errors
    seen["events"] = journal_since(d, marks, engine)
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
    drills.one_incident(events, VICTIM)
    drills.assert_moved_once(d, seen["victims"], VICTIM, t0)
    evacuated = state_at(events, VICTIM, lifecycle.EVACUATED)
    assert evacuated is not None, drills.states(events, VICTIM)
    # The test only says something about the wait if the host was back while its
    # evacuation was still running. (Whether its connection came up before its
    # unfencing, and so before EVACUATED, or after, varies from one transition to the
    # next: Pacemaker may order the unfencing first.)
    assert seen["powered"] < evacuated - 5, (
        f"{VICTIM} powered on again at +{seen['powered'] - t0:.1f}s, EVACUATED at "
        f"+{evacuated - t0:.1f}s: raise EVACUATION_DELAY")
    ons = [ev for ev in history if ev.action == "on"]
    # Pacemaker records completions to the second.
    early = [ev for ev in ons if ev.completed.timestamp() < evacuated - 1
             and ev.completed.timestamp() < seen["powered"] + evacuation_wait - 1]
    unfenced = next(ev for ev in ons if ev.status == "success").completed.timestamp()
    usable = seen["usable"]
    times = {"fenced": fenced - t0, "powered": seen["powered"] - t0,
             "rejoined": seen["rejoined"] - t0,
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

def test_power_cut_of_a_remote_compute_is_evacuated_once_and_held_until_done(whole):
    d = whole
    bystander = d.stack.nova.control.boot_servers(OTHER, project="demo", count=1)[0]
    cuts_before = len(d.lab.fence_log())
    seen = power_cut_with_slow_evacuation(d, servers=3)
    times = check_recovery(d, seen, evacuation_wait=50)
    t0, events = seen["t0"], seen["events"]
    guard = started_at(d, GUARD, VICTIM)
    print(f"  guard started +{guard - t0:.1f}s, nova-compute started "
          f"+{seen['compute_started'] - t0:.1f}s")
    # Fenced by the power device from a controller, then fence_hakari (its reason).
    cuts = [c for c in d.lab.fence_log()[cuts_before:] if c["target"] == VICTIM
            and c["rc"] == 0 and c["action"] in ("off", "reboot")]
    assert cuts and {c["host"] for c in cuts} <= set(d.lab.controllers), cuts
    assert d.admin.compute.get_server(bystander["id"]).compute_host == OTHER
    assert drills.states(events, VICTIM)[:2] == [lifecycle.DETECTED,
                                                 lifecycle.FENCE_CONFIRMED]
    # fence_hakari's automatic `on` is not part of the reboot: it was over by the time
    # the host had rejoined, not held until the evacuation (or evacuation_wait) ended.
    assert times["fenced"] <= times["rejoined"] + 1, times
    assert times["fenced"] < times["first_request"] <= times["evacuated"]
    # Rule 5: back while its instances were still moving, the compute's unfencing, its
    # guard and its nova-compute all waited for the evacuations. The first unfencing
    # did not return while the incident was EVACUATING, and none was cut short: the
    # wait fitted in stonith-timeout (Pacemaker's default, 60 s).
    assert not times["early_ons"], times
    timed_out = [ev for ev in times["ons"] if "did not complete" in (ev.exit_reason or "")]
    assert not timed_out, timed_out
    assert guard is not None and guard >= t0 + times["evacuated"] - 1, times
    assert seen["compute_started"] >= t0 + times["last_result"], (times, seen["watch_errors"])
    svc = service(d, VICTIM)
    assert svc.status == "enabled" and not svc.is_forced_down
    wait_for(lambda: (i := incident(d, VICTIM)) and i["state"] == lifecycle.ENABLED,
             timeout=60, what=f"{VICTIM}'s incident closed")
    # Each node's /var/lib/hakari is its own: the journal of this recovery is on the
    # engine's controller and nowhere else.
    incident_id = drills.one_incident(events, VICTIM)
    assert journals_naming(d, incident_id) == [seen["engine"]]


def test_evacuation_wait_above_stonith_timeout_times_out_unfencing_not_fencing(whole):
    d = whole
    # fence_hakari would wait up to 40 s; fenced kills each device action after 10 s.
    set_timeouts(d, "10s", "40")
    try:
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


def connection_of(d, compute: str) -> str | None:
    return d.lab.view().connections.get(compute)


def connection_away_from(d, compute: str, controller: str) -> str:
    """The controller holding compute's connection, moved off ``controller`` first if it
    was there."""
    holder = connection_of(d, compute)
    if holder != controller:
        return holder
    holder = next(n for n in d.lab.controllers if n != controller)
    d.lab.exec(controller, ["crm_resource", "--move", "-r", compute, "-N", holder],
               timeout=60)
    try:
        d.lab.wait(lambda v: v.connections.get(compute) == holder and v.joined(compute),
                   timeout=60, what=f"{compute}'s connection moved to {holder}")
    finally:
        d.lab.exec(controller, ["crm_resource", "--clear", "-r", compute], timeout=60)
    return holder


def test_losing_the_controller_holding_a_computes_connection_evacuates_nothing(whole):
    d = whole
    engine = d.stack.engine_node()
    # The engine's own controller would take the engine with it: another test.
    holder = connection_away_from(d, OTHER, engine)
    d.stack.nova.control.boot_servers(OTHER, project="demo", count=2)
    servers = on_host(d, OTHER)
    before = incident(d, OTHER)
    marks = journal_marks(d)
    time.sleep(2)
    t0 = time.time()
    d.lab.power_off(holder)

    view = d.lab.wait(lambda v: fence_success(v, holder, t0) is not None
                      and v.connections.get(OTHER) not in (None, holder)
                      and v.joined(OTHER), timeout=60, avoid=holder,
                      what=f"{holder} fenced and {OTHER}'s connection moved")
    moved_to = view.connections[OTHER]
    t_moved = time.time()
    # The engine looks every second: give it several looks at the moved connection.
    time.sleep(8)
    print(f"{holder} lost; fenced +{fence_success(view, holder, t0) - t0:.1f}s; "
          f"{OTHER}'s connection on {moved_to} by +{t_moved - t0:.1f}s")
    assert d.stack.engine_node() == engine
    assert incident(d, OTHER) == before
    assert [e for e in journal_since(d, marks) if e.host == OTHER] == []
    history = fence_events(d.lab.view(engine), OTHER, t0)
    assert not [ev for ev in history if ev.action in ("off", "reboot")], history
    svc = service(d, OTHER)
    assert svc.status == "enabled" and not svc.is_forced_down
    assert not list(d.admin.compute.migrations(source_compute=OTHER,
                                               migration_type="evacuation"))
    assert on_host(d, OTHER) == servers
    assert d.stack.nova.control.host(OTHER)["running"]


def test_nova_compute_failing_on_a_remote_compute_is_seen_from_another_controller(whole):
    """nova-compute dies on a compute that stays up. Its resource alert runs on the
    controller holding the compute's connection, which is made not to be the engine's:
    the engine still finds the failure, in the CIB, and every controller shows the
    process incident."""
    d = whole
    engine = d.stack.engine_node()
    connection_away_from(d, VICTIM, engine)
    marks = journal_marks(d)
    d.stack.nova.control.stop_compute(VICTIM)       # it crashed; the host runs on

    def signalled():
        return [e for e in journal_since(d, marks, engine)
                if e.event == SIGNAL_EVENT and e.host == VICTIM]
    [signal] = wait_for(signalled, timeout=60, what="the failure signalled by the engine")
    assert signal.detail["resource"].startswith("hakari-nova-compute")
    # Pacemaker restarts it; one failure is below the threshold: recorded, nothing
    # disabled, the host never taken for lost.
    wait_for(lambda: d.stack.nova.control.host(VICTIM)["running"], timeout=60,
             what=f"{VICTIM}'s nova-compute restarted by Pacemaker")
    for node in d.lab.controllers:
        rows = [r for r in incident_rows(d, node) if r.get("kind") == "process"
                and r["host"] == VICTIM]
        assert [r["state"] for r in rows] == [failures.STATES[failures.PROCESS][0]], (
            node, rows)
    assert service(d, VICTIM).status == "enabled"
    assert incident(d, VICTIM) is None or incident(d, VICTIM)["state"] in lifecycle.TERMINAL
