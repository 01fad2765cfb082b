"""The engine under faults, on the production shape (tests/e2e/drill.py): three
controllers, two Pacemaker Remote computes, real Nova, hakari installed and configured
through pcs. One stack for the module; the cluster is put back together after each test.

The evacuator runs on the controllers (preferring node1); the computes hakari recovers
are compute1 and compute2, each the other's evacuation target. Each engine writes its
log and its journal on its own controller; a test reads them there.

With three controllers quorum is two, so the engine's controller can be lost while a
compute's recovery runs: the other two are a quorate majority, fence it, and Pacemaker
restarts the evacuator on one of them, which carries on from the CIB and Nova.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import pytest

from hakari import lifecycle
from hakari.alerts.spool import Spool
from lab.stack import EVACUATOR
from tests.e2e.drill import (
    assert_moved_once, engine_drill, engine_log, engine_logs, engine_to, evacuations,
    fence_success, host_events, incident, incident_rows, journal_marks, journal_since,
    journals_naming, on_host, one_incident, restore, service, set_property, states,
    wait_engine_on, wait_state)
from tests.fixtures_nova import wait_for

pytestmark = pytest.mark.nova

VICTIM, OTHER = "compute1", "compute2"


def write_config(stack, name: str = "hakari-faults", **extra) -> str:
    return stack.engine_config(name, {
        "cluster": {"reconcile_interval": 2},
        "fencing": {"confirm_timeout": 10},
        # One evacuation in flight per host: the victim's evacuation lasts long enough
        # for the engine's controller to lose power in the middle of it.
        "recovery": {"poll_interval": 0.3, "max_parallel_per_host": 1,
                     "request_settle_time": 5}, **extra})


@pytest.fixture(scope="module")
def drill(pacemaker_lab_factory):
    with engine_drill(pacemaker_lab_factory("ef", nodes=3, computes=2), write_config) as d:
        yield d


@pytest.fixture
def whole(drill):
    """The cluster whole and settled before and after each test."""
    restore(drill)
    yield drill
    restore(drill)


def incidents_on(d, node: str) -> dict[str, str]:
    """{incident id: state} of the incidents `hakari incidents` shows on node."""
    return {r["id"]: r["state"] for r in incident_rows(d, node)}


def use_config(d, conf: str) -> None:
    """Restart the engine with another configuration (a changed parameter restarts the
    evacuator)."""
    d.lab.exec("node1", ["crm_resource", "--resource", EVACUATOR, "--set-parameter",
                         "config", "--parameter-value", conf], timeout=60)
    d.lab.exec("node1", ["crm_resource", "--wait", "--timeout", "90s"], timeout=120,
               check=False)
    wait_engine_on(d, "node1", timeout=90)


def spooled(d, node: str) -> set[str]:
    """Names of the alert records in node's own spool, not yet consumed."""
    spool = os.path.join(d.stack.state_path(node), "spool")
    return {n for n in os.listdir(spool)
            if not n.startswith(".") and os.path.isfile(os.path.join(spool, n))}


# -- the tests --------------------------------------------------------------------------

def test_engine_node_lost_mid_evacuation_resumes_elsewhere(whole):
    d = whole
    engine_to(d, "node1")
    d.stack.nova.control.boot_servers(VICTIM, project="demo", count=14)
    d.stack.nova.control.boot_servers(VICTIM, project="alt", count=2, stopped=True)
    victims = on_host(d, VICTIM)
    marks = journal_marks(d)
    t0 = time.time()
    d.stack.power_off(VICTIM)
    wait_for(lambda: any(e.event == "evacuate-requested"
                         for e in journal_since(d, marks, "node1")),
             timeout=60, what=f"{VICTIM}'s first evacuation request")
    done_before = {e.instance for e in journal_since(d, marks, "node1")
                   if e.event == "result"}
    assert incident(d, VICTIM)["state"] == lifecycle.EVACUATING, (
        f"{VICTIM}'s evacuation ended before the engine's node could be cut; boot more")
    assert len(done_before) < len(victims)
    t_cut = time.time()
    d.lab.power_off("node1")  # the engine dies mid-evacuation

    # The victim, rebooted by its fencing, is being unfenced meanwhile: fence_hakari's
    # `on` waits for the evacuation (up to evacuation_wait, 50 s), and the DC finishes
    # that fencing action before it acts on node1's loss.
    d.lab.wait(lambda v: fence_success(v, "node1", t_cut) is not None, timeout=90,
               avoid="node1", what="node1 fenced")
    successor = wait_for(lambda: (n := d.stack.engine_node()) not in (None, "node1") and n,
                         timeout=30, interval=0.5, what="the evacuator restarted elsewhere")
    t_restarted = time.time()
    done = wait_state(d, VICTIM, (lifecycle.EVACUATED, lifecycle.HOST_RETURNED,
                                  lifecycle.ENABLED, lifecycle.FAILED), timeout=120,
                      what=f"{VICTIM} evacuated by the new engine")
    assert done["state"] != lifecycle.FAILED, done
    before = journal_since(d, marks, "node1")
    after = journal_since(d, marks, successor)
    print(f"power cut {VICTIM} -> node1 (engine) cut after {t_cut - t0:.1f}s with "
          f"{len(done_before)}/{len(victims)} done; engine back on {successor} "
          f"{t_restarted - t_cut:.1f}s later; evacuated {time.time() - t0:.1f}s after the cut")

    assert_moved_once(d, victims, VICTIM, t0)
    assert set(on_host(d, OTHER)) >= set(victims)
    incident_id = one_incident(before + after, VICTIM)
    # The successor resumed the same incident from the CIB, not from node1's disk: it
    # never went back to an earlier state, and finished what node1 had not.
    seq = states(before + after, VICTIM)
    assert seq.count(lifecycle.FENCE_CONFIRMED) == 1, seq
    assert lifecycle.FENCE_CONFIRMED not in states(after, VICTIM), states(after, VICTIM)
    assert lifecycle.EVACUATED in states(after, VICTIM)
    resumed = {e.instance for e in after if e.event == "result"}
    assert resumed and not resumed & done_before, (resumed, done_before)
    # node1 is no compute: nothing of it was touched.
    assert not [e for e in before + after if e.host == "node1"]
    # Each machine journals what it did itself.
    assert sorted(journals_naming(d, incident_id)) == sorted({"node1", successor})
    # `hakari incidents` tells the same on every controller: from the CIB.
    # The host may still be moving (HOST_RETURNED -> ENABLED) while the controllers are
    # asked one after the other: they must agree once it has settled.
    d.stack.power_on("node1")

    def agreeing():
        shown = {n: incidents_on(d, n) for n in d.lab.controllers}
        same = len({json.dumps(s, sort_keys=True) for s in shown.values()}) == 1
        return shown if same else None
    shown = wait_for(agreeing, timeout=30, interval=1.0,
                     what="hakari incidents the same on every controller")
    assert all(incident_id in s for s in shown.values()), shown


def test_partition_minority_never_acts_majority_recovers_once(whole):
    d = whole
    engine_to(d, "node3")  # the engine runs in what becomes the minority
    d.stack.nova.control.boot_servers(VICTIM, project="demo", count=3)
    d.stack.nova.control.boot_servers(VICTIM, project="alt", count=1, stopped=True)
    victims = on_host(d, VICTIM)
    other_before = incident(d, OTHER)
    log3 = len(engine_log(d, "node3"))
    marks = journal_marks(d)
    t0 = time.time()
    # node3 and compute1 fall off the network together; compute1's nova-compute stops
    # reporting to Nova too.
    d.lab.cut("node3")
    d.lab.cut(VICTIM)
    d.stack.nova.control.stop_compute(VICTIM)

    view = d.lab.wait(lambda v: fence_success(v, VICTIM, t0) is not None
                      and fence_success(v, "node3", t0) is not None, timeout=60,
                      node="node1", what="the majority fenced node3 and compute1")
    fenced_at = fence_success(view, VICTIM, t0)
    wait_for(lambda: d.stack.engine_node() in ("node1", "node2"), timeout=60,
             interval=0.5, what="the evacuator restarted in the majority")
    done = wait_state(d, VICTIM, (lifecycle.EVACUATED, lifecycle.HOST_RETURNED,
                                  lifecycle.FAILED), timeout=90,
                      what=f"{VICTIM} evacuated by the majority")
    assert done["state"] != lifecycle.FAILED, done
    events = journal_since(d, marks)
    minority = journal_since(d, marks, "node3")
    minority_log = engine_log(d, "node3")[log3:]
    print(f"cut node3 and {VICTIM} -> fenced +{fenced_at - t0:.1f}s -> evacuated "
          f"+{time.time() - t0:.1f}s")
    print("minority engine log:\n" + minority_log[-2000:])

    # The minority saw everyone else lost and did nothing: no journal line, no request.
    assert minority == [], minority
    assert "evacuate-requested" not in minority_log
    early = [e for e in host_events(events, VICTIM) if e.ts.timestamp() < fenced_at - 1
             and e.event != "state"]
    assert not early, f"acted before {VICTIM} was fenced: {early}"
    # The other compute and the controllers were not touched.
    assert not [e for e in events if e.host != VICTIM], events
    assert incident(d, OTHER) == other_before
    svc = service(d, OTHER)
    assert svc.status == "enabled" and not svc.is_forced_down
    # The majority recovered the compute once.
    one_incident(events, VICTIM)
    assert states(events, VICTIM).count(lifecycle.FENCE_CONFIRMED) == 1
    requests = [e.ts.timestamp() for e in events if e.event == "evacuate-requested"]
    assert requests and min(requests) >= fenced_at - 1
    assert_moved_once(d, victims, VICTIM, t0)


def test_network_cut_compute_is_not_evacuated_until_fencing_succeeds(whole):
    d = whole
    engine_to(d, "node1")
    d.stack.nova.control.boot_servers(VICTIM, project="demo", count=2)
    victims = on_host(d, VICTIM)
    marks = journal_marks(d)
    t0 = time.time()
    d.lab.set_fence(VICTIM, fail=True, delay=1.0)
    # The compute keeps running, cut off from the cluster and the control plane.
    d.lab.cut(VICTIM)
    d.stack.nova.control.stop_compute(VICTIM)

    failed = wait_state(d, VICTIM, (lifecycle.FENCE_FAILED, lifecycle.FENCE_CONFIRMED,
                                    lifecycle.FORCED_DOWN, lifecycle.EVACUATING,
                                    lifecycle.EVACUATED), timeout=60,
                        what=f"{VICTIM}'s incident FENCE_FAILED")
    assert failed["state"] == lifecycle.FENCE_FAILED, failed
    d.lab.wait(lambda v: len(v.fenced(VICTIM, "failed")) >= 2
               and fence_success(v, VICTIM, t0) is None,
               timeout=60, what=f"fencing of {VICTIM} failing")
    # Nothing moved: not forced down, no evacuation, the servers where they were.
    svc = service(d, VICTIM)
    assert svc.status == "enabled" and not svc.is_forced_down
    assert evacuations(d, VICTIM, t0) == {}
    assert set(on_host(d, VICTIM)) == set(victims)
    events = journal_since(d, marks)
    assert [e.event for e in host_events(events, VICTIM)] == ["state", "state"], events
    assert states(events, VICTIM) == [lifecycle.DETECTED, lifecycle.FENCE_FAILED]
    assert d.lab.is_on(VICTIM)  # still running, isolated

    t_fixed = time.time()
    d.lab.clear_fence()
    view = d.lab.wait(lambda v: fence_success(v, VICTIM, t_fixed) is not None,
                      timeout=120, what=f"{VICTIM} fenced once the device works")
    fenced_at = fence_success(view, VICTIM, t_fixed)
    done = wait_state(d, VICTIM, (lifecycle.EVACUATED, lifecycle.HOST_RETURNED,
                                  lifecycle.FAILED), timeout=90,
                      what=f"{VICTIM} evacuated")
    assert done["state"] != lifecycle.FAILED, done
    events = journal_since(d, marks)
    print(f"fencing fixed after {t_fixed - t0:.1f}s; fenced +{fenced_at - t_fixed:.1f}s; "
          f"evacuated +{time.time() - t_fixed:.1f}s")
    one_incident(events, VICTIM)
    seq = states(events, VICTIM)
    assert seq.index(lifecycle.FENCE_FAILED) < seq.index(lifecycle.FENCE_CONFIRMED), seq
    requests = [e.ts.timestamp() for e in events if e.event == "evacuate-requested"]
    assert requests and min(requests) >= fenced_at - 1
    assert_moved_once(d, victims, VICTIM, t0)


def test_alerts_while_the_engine_is_down_are_not_lost(whole):
    d = whole
    engine_to(d, "node1")
    d.stack.nova.control.boot_servers(VICTIM, project="demo", count=2)
    d.stack.nova.control.boot_servers(VICTIM, project="alt", count=1, stopped=True)
    victims = on_host(d, VICTIM)
    before = incident(d, VICTIM)
    d.lab.exec("node1", ["pcs", "resource", "disable", EVACUATOR, "--wait=60"], timeout=90)
    assert d.stack.engine_node() is None
    # The compute stays dead while no engine runs: fenced off, and its power device
    # cannot switch it on again (the unfencing that follows a remote node's fencing
    # would: see test_brake_drill).
    set_property(d.lab, "stonith-action", "off")
    d.lab.set_fence(VICTIM, dead=True)
    marks = journal_marks(d)
    spooled_before = {n: spooled(d, n) for n in d.lab.controllers}
    t0 = time.time()
    d.stack.power_off(VICTIM)
    view = d.lab.wait(lambda v: fence_success(v, VICTIM, t0) is not None
                      and v.offline_clean(VICTIM), timeout=60,
                      what=f"{VICTIM} fenced with no engine running")
    fenced_at = fence_success(view, VICTIM, t0)
    wait_for(lambda: d.stack.crm_attribute(VICTIM, "hakari-fenced"), timeout=30,
             what="fence_hakari's record")
    time.sleep(2)  # every node's alerts have landed
    new = {n: spooled(d, n) - spooled_before[n] for n in d.lab.controllers}
    # Each controller spooled the fencing in its own /var/lib/hakari.
    assert all(new.values()), new
    # No engine, no incident, no Nova action but fence_hakari's.
    assert incident(d, VICTIM) == before
    assert journal_since(d, marks) == []
    assert evacuations(d, VICTIM, t0) == {}

    print("spooled on node1 while down:",
          [(i.name, i.event.kind, getattr(i.event, "node", None), i.event.timestamp)
           for i in Spool(d.stack.state_path("node1")).pending()])
    t_start = time.time()
    d.lab.exec("node1", ["pcs", "resource", "enable", EVACUATOR], timeout=60)
    done = wait_state(d, VICTIM, (lifecycle.EVACUATED, lifecycle.HOST_RETURNED,
                                  lifecycle.FAILED), timeout=90,
                      what=f"{VICTIM} evacuated once the engine started")
    assert done["state"] != lifecycle.FAILED, done
    print(f"cut {VICTIM} -> fenced +{fenced_at - t0:.1f}s; engine started "
          f"+{t_start - t0:.1f}s; evacuated +{time.time() - t0:.1f}s")
    events = journal_since(d, marks, "node1")
    one_incident(events, VICTIM)
    # A sound loss time: not before the power cut (less the clock skew allowance), not
    # after the fencing that proves it.
    lost_at = dt.datetime.fromisoformat(done["lost_at"]).timestamp()
    assert t0 - 2 <= lost_at <= fenced_at + 1, (t0, lost_at, fenced_at, done)
    assert_moved_once(d, victims, VICTIM, t0)
    # The engine consumed its own node's spool, and only that one: the copies on the
    # other controllers stay theirs (the alert agent prunes them there).
    assert not (spooled(d, "node1") & new["node1"])
    for node in ("node2", "node3"):
        assert new[node] <= spooled(d, node), node


def test_a_lost_computes_failing_nova_compute_does_not_hold_up_its_evacuation(whole):
    """When a compute's connection drops, Pacemaker records its nova-compute's pending
    monitor as failed (status 8, "pending when executor connection was dropped"), and
    process-failure recovery sees a nova-compute failure of that host. The host is lost:
    that is host recovery's, and nothing may delay it. With [process_failure]
    failure_threshold = 1 one power cut shows it (with the default 3: the third power cut
    of one compute within failure_window, as in bench/latency.py's runs)."""
    d = whole
    engine_to(d, "node1")
    use_config(d, write_config(d.stack, "hakari-faults-process",
                               process_failure={"failure_threshold": 1}))
    try:
        d.stack.nova.control.boot_servers(VICTIM, project="demo", count=2)
        victims = on_host(d, VICTIM)
        marks = journal_marks(d)
        t0 = time.time()
        d.stack.power_off(VICTIM)
        view = d.lab.wait(lambda v: fence_success(v, VICTIM, t0) is not None, timeout=60,
                          what=f"{VICTIM} fenced")
        fenced_at = fence_success(view, VICTIM, t0)
        done = wait_state(d, VICTIM, (lifecycle.EVACUATED, lifecycle.HOST_RETURNED,
                                      lifecycle.ENABLED, lifecycle.FAILED), timeout=90,
                          what=f"{VICTIM}'s incident past its evacuations")
        events = journal_since(d, marks, "node1")
        opened = next(e.ts.timestamp() for e in host_events(events, VICTIM)
                      if e.event == "state")
        requests = [e.ts.timestamp() for e in events if e.event == "evacuate-requested"]
        print(f"power cut {VICTIM} -> fenced +{fenced_at - t0:.1f}s, incident opened "
              f"+{opened - t0:.1f}s, first request "
              + (f"+{min(requests) - t0:.1f}s" if requests else "never")
              + f"; {done['state']}: {done['reason']}")
        assert requests, (f"{VICTIM} was never evacuated: {done}\n"
                          + "\n".join(f"{e.ts:%H:%M:%S.%f} {e.incident} {e.event} "
                                      f"{e.detail}" for e in events)
                          + f"\n{engine_logs(d)}")
        assert min(requests) <= fenced_at + 10, (min(requests) - fenced_at, done)
        assert_moved_once(d, victims, VICTIM, t0)
    finally:
        use_config(d, d.conf)


def test_random_drills_keep_the_safety_rules(whole):
    """Random power cuts and partitions of a compute, the engine on a controller. After
    each: no evacuation before a successful fencing of the host after its loss (rule 1),
    nothing done to the other compute, every instance of the fenced host ends on a live
    host exactly once. HAKARI_DRILLS (default 2) and HAKARI_DRILL_SEED set the loop;
    `make soak` runs many."""
    import random

    from tests.soak_counters import record

    d = whole
    rng = random.Random(int(os.environ.get("HAKARI_DRILL_SEED", "1")))
    drills = int(os.environ.get("HAKARI_DRILLS", "2"))
    engine_to(d, "node1")
    for i in range(drills):
        victim = rng.choice(d.computes)
        other = next(c for c in d.computes if c != victim)
        kind = rng.choice(("power", "partition"))
        d.stack.nova.control.boot_servers(victim, project="demo", count=rng.randint(1, 3))
        if rng.random() < 0.5:
            d.stack.nova.control.boot_servers(victim, project="alt", count=1, stopped=True)
        victims = on_host(d, victim)
        other_before = incident(d, other)
        marks = journal_marks(d)
        time.sleep(2)  # the engine has seen the victim alive
        t0 = time.time()
        if kind == "power":
            d.stack.power_off(victim)
        else:
            d.lab.cut(victim)
            d.stack.nova.control.stop_compute(victim)
        view = d.lab.wait(lambda v: fence_success(v, victim, t0) is not None,
                          timeout=60, node="node1",
                          what=f"drill {i + 1}: {victim} fenced after a {kind} cut")
        fenced_at = fence_success(view, victim, t0)
        wait_state(d, victim, (lifecycle.EVACUATED, lifecycle.HOST_RETURNED,
                               lifecycle.ENABLED), timeout=120,
                   what=f"drill {i + 1}: {victim} evacuated")
        events = journal_since(d, marks)
        requests = [e.ts.timestamp() for e in events
                    if e.event == "evacuate-requested" and e.host == victim]
        # Pacemaker 2.1.5 prints fence completion to the second.
        unsafe = sum(1 for t in requests if t < fenced_at - 1)
        unsafe += len(host_events(events, other))
        assert unsafe == 0, f"drill {i + 1} ({kind} {victim}): {events}"
        assert incident(d, other) == other_before
        assert_moved_once(d, victims, victim, t0)
        print(f"drill {i + 1}: {kind} cut of {victim} -> fenced +{fenced_at - t0:.1f}s, "
              f"{len(victims)} instances moved once")
        record("lab-drill", scenarios=1, faults=1, recovered=len(victims), duplicates=0,
               unsafe=unsafe)
        if kind == "partition":
            d.lab.heal(victim)
        wait_state(d, victim, (lifecycle.ENABLED,), timeout=120,
                   what=f"drill {i + 1}: re-enabled")
        wait_for(lambda: d.stack.nova.control.host(victim)["running"], timeout=60,
                 what=f"drill {i + 1}: {victim}'s nova-compute running again")
