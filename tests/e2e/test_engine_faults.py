"""The engine under faults, on real parts: a 3-node Pacemaker lab, real Nova, hakari
installed (`hakari install`) with ocf:hakari:evacuator created by pcs and the alert in the
CIB, fencing through [lab power device, fence_hakari]. One stack for the module; the cluster
is put back together after each test.

The evacuator may run on node1 and node3 (it avoids node2); the computes hakari recovers are
node2 and node3. Each engine writes its log under the node's own /var/log/pacemaker (a
per-node mount in the lab), so the log of the engine on a given node can be told apart;
the state directory (journal, spool) is shared by the lab's nodes.

Why the engine-failover test loses node2 first and the engine's node1 second: with three
nodes, quorum is two. Losing the engine's node while another compute is still down leaves
one node, no quorum, and (rightly) nothing happens. So node2 loses power, is fenced and
boots again (its nova-compute held back, as compute-guard does) while its evacuation is
still running; only then does node1, running the engine, lose power. node2 and node3 are
a quorate majority: Pacemaker fences node1 and restarts the evacuator on node3, which
resumes node2's incident from the CIB and Nova's migrations.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import sys
import time

import pytest

from hakari import lifecycle
from tests.conftest import require_tools
from tests.fixtures_nova import nova_connection, require_nova_venv, restore_computes, wait_for

pytestmark = pytest.mark.nova

RESOURCE = "hakari-evacuator"
COMPUTES = ("node2", "node3")
ENGINE_LOG = "/var/log/pacemaker/hakari-engine.log"  # per node in the lab
CLOSED = lifecycle.TERMINAL | lifecycle.PARKED  # over, or waiting for an operator


@dataclasses.dataclass
class Drill:
    lab: object
    stack: object
    admin: object
    conf: str
    journal: str
    spool: str


def write_config(stack) -> str:
    return stack.engine_config("hakari-faults", {
        "cluster": {"compute_nodes": COMPUTES, "reconcile_interval": 2},
        "fencing": {"confirm_timeout": 10},
        # One evacuation in flight per host: node2's evacuation lasts long enough for
        # the engine's node to lose power in the middle of it.
        "recovery": {"poll_interval": 0.3, "max_parallel_per_host": 1,
                     "request_settle_time": 5}})


def configure_cluster(lab, conf: str) -> None:
    run = lambda argv: lab.exec("node1", argv, timeout=60)  # noqa: E731
    run(["pcs", "resource", "create", RESOURCE, "ocf:hakari:evacuator", f"config={conf}",
         f"log_file={ENGINE_LOG}", "op", "monitor", "interval=5s", "timeout=30s",
         "op", "start", "timeout=60s", "op", "stop", "timeout=60s",
         "meta", "resource-stickiness=200", "--disabled"])
    run(["pcs", "constraint", "location", RESOURCE, "prefers", "node1=100"])
    # The failed-fencing test fails fencing for longer than Pacemaker's default 10
    # attempts; past them it would retry only at the next recheck (1 min in the lab).
    run(["crm_attribute", "--type", "crm_config", "--name", "stonith-max-attempts",
         "--update", "100"])
    run(["pcs", "constraint", "location", RESOURCE, "avoids", "node2"])
    alert = (
        '<alerts><alert id="hakari-alert" path="/usr/libexec/hakari/alert">'
        '<select><select_nodes/><select_fencing/><select_resources/></select>'
        '<meta_attributes id="hakari-alert-meta"><nvpair id="hakari-alert-ts" '
        'name="timestamp-format" value="%Y-%m-%dT%H:%M:%S.%06NZ"/></meta_attributes>'
        f'<recipient id="hakari-alert-to" value="{conf}"/></alert></alerts>')
    run(["cibadmin", "--modify", "--allow-create", "-o", "configuration", "--xml-text",
         alert])
    # Created disabled: started before its constraints exist, stickiness would keep it
    # wherever Pacemaker first put it.
    run(["pcs", "resource", "enable", RESOURCE])


@contextlib.contextmanager
def engine_drill(lab, write_conf, engine_timeout: float = 90):
    """The whole stack on ``lab``: Nova, hakari installed, the evacuator created with pcs
    and running on node1 with the config ``write_conf(stack)`` writes. Torn down after."""
    require_tools("pcs")
    require_nova_venv()
    from hakari.records.journal import JOURNAL_NAME
    from lab.stack import Stack, run_hakari as hakari

    stack = None
    installed = False
    admin = None
    try:
        stack = Stack.up(lab)  # waits for any other stack on this machine
        conf = write_conf(stack)
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        res = hakari("install", "--python", python)
        assert res.returncode == 0, res.stderr
        installed = True
        configure_cluster(lab, conf)
        admin = nova_connection(stack.nova)
        state = os.path.join(lab.path, "hakari-state")
        d = Drill(lab, stack, admin, conf, os.path.join(state, JOURNAL_NAME),
                  os.path.join(state, "spool"))
        wait_engine_on(d, "node1", timeout=engine_timeout)
        yield d
    finally:
        if admin is not None:
            admin.close()
        if installed:
            hakari("install", "--uninstall")
        if stack is not None:
            stack.down()
        from tests.fixtures_pacemaker import _keep_logs
        lab.down(keep_logs=_keep_logs())


@pytest.fixture(scope="module")
def drill(pacemaker_lab_factory):
    with engine_drill(pacemaker_lab_factory("ef", nodes=3), write_config) as d:
        yield d


@pytest.fixture
def whole(drill):
    """The cluster whole and settled before and after each test."""
    restore(drill)
    yield drill
    restore(drill)


# -- helpers ----------------------------------------------------------------------------

def locate(d: Drill) -> str | None:
    via = next(n for n in d.lab.real_nodes if d.lab.is_on(n) and not d.lab.is_cut(n))
    out = d.lab.exec(via, ["crm_resource", "--locate", "-r", RESOURCE], check=False,
                     timeout=30).stdout.decode()
    # "resource hakari-evacuator is running on: node1"
    if "is running on:" in out:
        return out.rsplit(":", 1)[1].split()[0]
    return None


def heartbeat_age(d: Drill) -> float | None:
    from hakari import paths
    path = paths.heartbeat_file(os.path.dirname(d.journal))
    try:
        return time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return None


def wait_engine_on(d: Drill, node: str, timeout: float = 60) -> None:
    wait_for(lambda: locate(d) == node, timeout=timeout, interval=0.5,
             what=f"{RESOURCE} running on {node}")
    wait_for(lambda: (a := heartbeat_age(d)) is not None and a < 3, timeout=30,
             what="engine heartbeat")
    time.sleep(2.5)  # one reconcile: it has seen every node alive


def engine_to(d: Drill, node: str) -> None:
    if locate(d) != node:
        d.lab.exec("node1", ["crm_resource", "--move", "-r", RESOURCE, "-N", node],
                   timeout=60)
        try:
            wait_for(lambda: locate(d) == node, timeout=60, interval=0.5,
                     what=f"{RESOURCE} moved to {node}")
        finally:
            # Stickiness keeps it there once the move constraint is gone.
            d.lab.exec("node1", ["crm_resource", "--clear", "-r", RESOURCE], timeout=60)
    wait_engine_on(d, node)


def incident(d: Drill, node: str) -> dict | None:
    raw = d.stack.crm_attribute(node, "hakari-incident")
    return json.loads(raw) if raw else None


def journal_size(d: Drill) -> int:
    return os.path.getsize(d.journal) if os.path.exists(d.journal) else 0


def journal_since(d: Drill, offset: int):
    from lab.demo import read_journal
    return read_journal(d.journal, offset)[0]


def engine_log(d: Drill, node: str) -> str:
    from lab import config
    path = os.path.join(config.node_dir(d.lab.path, node), "var-log-pacemaker",
                        os.path.basename(ENGINE_LOG))
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def on_host(d: Drill, host: str) -> dict[str, str]:
    """{server id: status} of every server Nova has on host."""
    return {s.id: s.status for s in d.admin.compute.servers(all_projects=True,
                                                            compute_host=host)}


def evacuations(d: Drill, source: str, since: float) -> dict[str, int]:
    """{server id: evacuation migrations from source created since (epoch)}."""
    counts: dict[str, int] = {}
    for m in d.admin.compute.migrations(source_compute=source, migration_type="evacuation"):
        created = dt.datetime.fromisoformat(m.created_at)
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.timezone.utc)
        if created.timestamp() >= since - 1:
            counts[m.server_id] = counts.get(m.server_id, 0) + 1
    return counts


def service(d: Drill, host: str):
    return next(iter(d.admin.compute.services(binary="nova-compute", host=host)))


def fence_success(view, node: str, since: float) -> float | None:
    """Completion (epoch) of the first successful fencing of node since `since`."""
    from hakari.cluster.crm_mon import parse_crm_mon

    times = [ev.completed.timestamp() for ev in parse_crm_mon(view.raw).fence_events
             if ev.target == node and ev.status == "success" and ev.completed is not None
             and ev.completed.timestamp() >= since - 1]
    return min(times) if times else None


def assert_moved_once(d: Drill, victims: dict[str, str], source: str, since: float):
    for sid, status in victims.items():
        server = d.admin.compute.get_server(sid)
        assert server.compute_host != source, f"{server.name} still on {source}"
        want = "SHUTOFF" if status == "SHUTOFF" else "ACTIVE"
        assert server.status == want, f"{server.name} is {server.status}, not {want}"
    per_server = evacuations(d, source, since)
    assert set(per_server) == set(victims), per_server
    doubled = {sid: n for sid, n in per_server.items() if n != 1}
    assert not doubled, f"evacuated more than once: {doubled}"


def one_incident(events, host: str) -> str:
    ids = {e.incident for e in events if e.host == host}
    assert len(ids) == 1, f"incidents for {host}: {ids}"
    return ids.pop()


def states(events, host: str) -> list[str]:
    return [e.detail.get("state") for e in events if e.host == host and e.event == "state"]


def wait_state(d: Drill, node: str, wanted: tuple[str, ...], timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        current = incident(d, node)
        if current and current["state"] in wanted:
            return current
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- engine log on {n}:\n{engine_log(d, n)[-2500:]}"
                             for n in ("node1", "node3"))
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; "
                        f"{node}'s incident: {current}\n{logs}")
        time.sleep(0.3)


def restore(d: Drill, timeout: float = 150) -> None:
    """Every node powered, cabled and joined, fencing normal, every nova-compute running
    and enabled, every incident closed, the evacuator enabled.

    A loop, because putting things back can cause more: a node that comes back while
    still unclean (its fencing had failed) is fenced now, and the lab's reboot fencing
    leaves it off again."""
    lab, stack = d.lab, d.stack
    lab.clear_fence()
    lab.exec("node1" if lab.is_on("node1") else "node3",
             ["pcs", "resource", "enable", RESOURCE], timeout=60, check=False)
    deadline = time.monotonic() + timeout
    while True:
        for node in lab.real_nodes:
            if lab.is_cut(node):
                lab.heal(node)
        for node in lab.real_nodes:
            if not lab.is_on(node):
                stack.power_on(node, wait=False)
            elif not stack.nova.control.host(node)["running"]:
                stack.nova.control.start_compute(node, rebooted=True)
        try:
            lab.wait_ready(timeout=20)
            # The engine closes the incidents of hosts that are back (re-enables them).
            if locate(d) is not None and all(
                    (i := incident(d, n)) is None or i["state"] in CLOSED
                    for n in COMPUTES) and all(lab.is_on(n) for n in lab.real_nodes):
                break
        except Exception:  # noqa: BLE001 - keep putting it back until the deadline
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            pytest.fail("could not restore the cluster: " + ", ".join(
                f"{n}: {incident(d, n)}" for n in COMPUTES))
        time.sleep(1)
    restore_computes(stack.nova, d.admin)
    # What unfencing does on a real deployment: the record of an old fencing goes.
    for node in lab.real_nodes:
        if stack.crm_attribute(node, "hakari-fenced") is not None:
            lab.exec("node1", ["crm_attribute", "--type", "nodes", "--node", node,
                               "--name", "hakari-fenced", "--delete"], timeout=30)
    lab.wait_ready(timeout=60)


# -- the tests --------------------------------------------------------------------------

def test_engine_node_lost_mid_evacuation_resumes_elsewhere(whole):
    d = whole
    engine_to(d, "node1")
    # Evacuations go to node3 only: node1's nova-compute dies with node1 below.
    d.admin.compute.disable_service(service(d, "node1"))
    d.stack.nova.control.boot_servers("node2", project="demo", count=14)
    d.stack.nova.control.boot_servers("node2", project="alt", count=2, stopped=True)
    victims = on_host(d, "node2")
    offset = journal_size(d)
    t0 = time.time()
    d.stack.power_off("node2")
    wait_for(lambda: any(e.event == "evacuate-requested"
                         for e in journal_since(d, offset)),
             timeout=60, what="node2's first evacuation request")
    # node2 boots again (nova-compute held back), so losing node1 leaves a majority.
    d.lab.power_on("node2", wait=True, timeout=30)
    done_before = {e.instance for e in journal_since(d, offset) if e.event == "result"}
    assert incident(d, "node2")["state"] == lifecycle.EVACUATING, (
        "node2's evacuation ended before the engine's node could be cut; boot more servers")
    assert len(done_before) < len(victims)
    t_cut = time.time()
    d.stack.power_off("node1")  # the engine dies mid-evacuation

    d.lab.wait(lambda v: fence_success(v, "node1", t_cut) is not None, timeout=60,
               avoid="node1", what="node1 fenced")
    wait_for(lambda: locate(d) == "node3", timeout=60, interval=0.5,
             what="the evacuator restarted on node3")
    t_restarted = time.time()
    done = wait_state(d, "node2", (lifecycle.EVACUATED, lifecycle.HOST_RETURNED,
                                   lifecycle.ENABLED, lifecycle.FAILED), timeout=120,
                      what="node2 evacuated by the new engine")
    assert done["state"] != lifecycle.FAILED, done
    events = journal_since(d, offset)
    print(f"power cut node2 -> node1 (engine) cut after {t_cut - t0:.1f}s with "
          f"{len(done_before)}/{len(victims)} done; engine back on node3 "
          f"{t_restarted - t_cut:.1f}s later; evacuated {time.time() - t0:.1f}s after the cut")

    assert_moved_once(d, victims, "node2", t0)
    assert set(on_host(d, "node3")) >= set(victims)
    one_incident(events, "node2")
    # The new engine resumed the same incident: EVACUATING was never left for an earlier
    # state, and the engine on node3 did part of the work.
    seq = states(events, "node2")
    assert seq.count(lifecycle.FENCE_CONFIRMED) == 1, seq
    assert lifecycle.EVACUATED in seq
    resumed = [e for e in events if e.event == "result" and e.ts.timestamp() >= t_restarted]
    assert resumed, "the engine on node3 finished nothing"
    # node1 is no compute: nothing of it was touched.
    assert not any(e.host == "node1" for e in events)

    d.stack.power_on("node1")
    d.lab.exec("node1", ["pcs", "property", "set", "stonith-action=reboot"], timeout=60)
    d.stack.power_on("node2")
    wait_state(d, "node2", (lifecycle.ENABLED,), timeout=90, what="node2 re-enabled")


def test_partition_minority_never_acts_majority_recovers_once(whole):
    d = whole
    engine_to(d, "node3")  # the engine runs in what becomes the minority
    d.stack.nova.control.boot_servers("node3", project="demo", count=3)
    d.stack.nova.control.boot_servers("node3", project="alt", count=1, stopped=True)
    victims = on_host(d, "node3")
    node2_before = incident(d, "node2")
    log3 = len(engine_log(d, "node3"))
    offset = journal_size(d)
    t0 = time.time()
    d.lab.cut("node3")
    # Cut off the control plane too: its nova-compute stops reporting.
    d.stack.nova.control.stop_compute("node3")

    view = d.lab.wait(lambda v: fence_success(v, "node3", t0) is not None
                      and v.offline_clean("node3"), timeout=60, node="node1",
                      what="the majority fenced node3")
    fenced_at = fence_success(view, "node3", t0)
    wait_for(lambda: locate(d) == "node1", timeout=60, interval=0.5,
             what="the evacuator restarted in the majority")
    done = wait_state(d, "node3", (lifecycle.EVACUATED, lifecycle.HOST_RETURNED,
                                   lifecycle.FAILED), timeout=90,
                      what="node3 evacuated by the majority")
    assert done["state"] != lifecycle.FAILED, done
    events = journal_since(d, offset)
    minority_log = engine_log(d, "node3")[log3:]
    print(f"cut node3 -> fenced +{fenced_at - t0:.1f}s -> evacuated +{time.time() - t0:.1f}s")
    print("minority engine log:\n" + minority_log[-2000:])

    # The minority saw node1 and node2 lost, and did nothing: no incident for node2, no
    # request of any kind before node3 was fenced (after that the minority engine is dead:
    # a power-off fencing).
    assert not any(e.host == "node2" for e in events), [e for e in events if e.host == "node2"]
    assert incident(d, "node2") == node2_before
    svc = service(d, "node2")
    assert svc.status == "enabled" and not svc.is_forced_down
    early = [e for e in events if e.ts.timestamp() < fenced_at - 1]
    assert not early, f"acted before node3 was fenced: {early}"
    assert "evacuat" not in minority_log.lower() or "no quorum" in minority_log
    # The majority recovered node3 once.
    one_incident(events, "node3")
    assert states(events, "node3").count(lifecycle.FENCE_CONFIRMED) == 1
    assert_moved_once(d, victims, "node3", t0)

    d.lab.heal("node3")
    d.stack.power_on("node3")
    wait_state(d, "node3", (lifecycle.ENABLED,), timeout=90, what="node3 re-enabled")


def test_failed_fencing_never_evacuates_until_fencing_succeeds(whole):
    d = whole
    engine_to(d, "node1")
    d.stack.nova.control.boot_servers("node2", project="demo", count=2)
    victims = on_host(d, "node2")
    offset = journal_size(d)
    t0 = time.time()
    d.lab.set_fence("node2", fail=True, delay=1.0)
    d.stack.power_off("node2")

    failed = wait_state(d, "node2", (lifecycle.FENCE_FAILED, lifecycle.FENCE_CONFIRMED,
                                     lifecycle.FORCED_DOWN, lifecycle.EVACUATING,
                                     lifecycle.EVACUATED), timeout=60,
                        what="node2's incident FENCE_FAILED")
    assert failed["state"] == lifecycle.FENCE_FAILED, failed
    d.lab.wait(lambda v: len(v.fenced("node2", "failed")) >= 2
               and fence_success(v, "node2", t0) is None,
               timeout=60, avoid="node2", what="fencing of node2 failing")
    # Nothing reached Nova: not forced down, no evacuation, the servers where they were.
    svc = service(d, "node2")
    assert svc.status == "enabled" and not svc.is_forced_down
    assert evacuations(d, "node2", t0) == {}
    assert set(on_host(d, "node2")) == set(victims)
    events = journal_since(d, offset)
    assert not [e for e in events if e.event not in ("state",)], events
    assert states(events, "node2") == [lifecycle.DETECTED, lifecycle.FENCE_FAILED]
    assert incident(d, "node2")["state"] == lifecycle.FENCE_FAILED

    t_fixed = time.time()
    d.lab.clear_fence()
    view = d.lab.wait(lambda v: fence_success(v, "node2", t_fixed) is not None,
                      timeout=120, avoid="node2", what="node2 fenced once the device works")
    fenced_at = fence_success(view, "node2", t_fixed)
    done = wait_state(d, "node2", (lifecycle.EVACUATED, lifecycle.HOST_RETURNED,
                                   lifecycle.FAILED), timeout=90, what="node2 evacuated")
    assert done["state"] != lifecycle.FAILED, done
    events = journal_since(d, offset)
    print(f"fencing fixed after {t_fixed - t0:.1f}s; fenced +{fenced_at - t_fixed:.1f}s; "
          f"evacuated +{time.time() - t_fixed:.1f}s")
    one_incident(events, "node2")
    seq = states(events, "node2")
    assert seq.index(lifecycle.FENCE_FAILED) < seq.index(lifecycle.FENCE_CONFIRMED), seq
    requests = [e.ts.timestamp() for e in events if e.event == "evacuate-requested"]
    assert requests and min(requests) >= fenced_at - 1
    assert_moved_once(d, victims, "node2", t0)

    d.lab.exec("node1", ["pcs", "property", "set", "stonith-action=reboot"], timeout=60)
    d.stack.power_on("node2")
    wait_state(d, "node2", (lifecycle.ENABLED,), timeout=90, what="node2 re-enabled")


def test_alerts_while_the_engine_is_down_are_not_lost(whole):
    d = whole
    engine_to(d, "node1")
    d.stack.nova.control.boot_servers("node2", project="demo", count=2)
    d.stack.nova.control.boot_servers("node2", project="alt", count=1, stopped=True)
    victims = on_host(d, "node2")
    before = incident(d, "node2")
    d.lab.exec("node1", ["pcs", "resource", "disable", RESOURCE, "--wait=60"], timeout=90)
    assert locate(d) is None
    # With two devices in a level, Pacemaker performs a reboot as off-all then on-all, so
    # the lab's power device boots node2 again and it rejoins: alive, nothing to evacuate.
    # This test is about a host that stays dead while no engine runs.
    d.lab.exec("node1", ["pcs", "property", "set", "stonith-action=off"], timeout=60)
    offset = journal_size(d)
    spooled_before = set(os.listdir(d.spool)) if os.path.isdir(d.spool) else set()
    t0 = time.time()
    d.stack.power_off("node2")
    view = d.lab.wait(lambda v: fence_success(v, "node2", t0) is not None
                      and v.offline_clean("node2"), timeout=60, avoid="node2",
                      what="node2 fenced with no engine running")
    fenced_at = fence_success(view, "node2", t0)
    wait_for(lambda: d.stack.crm_attribute("node2", "hakari-fenced"), timeout=30,
             what="fence_hakari's record")
    time.sleep(2)  # every node's alerts have landed
    spooled = {n for n in os.listdir(d.spool)
               if not n.startswith(".") and os.path.isfile(os.path.join(d.spool, n))}
    assert spooled - spooled_before, "no alert was spooled while the engine was down"
    # No engine, no incident, no Nova action — but fence_hakari forced node2 down.
    assert incident(d, "node2") == before
    assert journal_since(d, offset) == []
    assert evacuations(d, "node2", t0) == {}

    from hakari.alerts.spool import Spool
    print("spooled while down:", [(i.name, i.event.kind, getattr(i.event, "node", None),
                                   getattr(i.event, "desc", None), i.event.timestamp)
                                  for i in Spool(os.path.dirname(d.spool)).pending()])
    print("hakari-fenced:", d.stack.crm_attribute("node2", "hakari-fenced"),
          "fenced_at:", dt.datetime.fromtimestamp(fenced_at, dt.timezone.utc))
    t_start = time.time()
    d.lab.exec("node1", ["pcs", "resource", "enable", RESOURCE], timeout=60)
    done = wait_state(d, "node2", (lifecycle.EVACUATED, lifecycle.HOST_RETURNED,
                                   lifecycle.FAILED), timeout=90,
                      what="node2 evacuated once the engine started")
    assert done["state"] != lifecycle.FAILED, done
    print(f"cut node2 -> fenced +{fenced_at - t0:.1f}s; engine started "
          f"+{t_start - t0:.1f}s; evacuated +{time.time() - t0:.1f}s")
    events = journal_since(d, offset)
    one_incident(events, "node2")
    # A sound loss time: not before the power cut (less the clock skew allowance), not
    # after the fencing that proves it.
    lost_at = dt.datetime.fromisoformat(done["lost_at"]).timestamp()
    assert t0 - 2 <= lost_at <= fenced_at + 1, (t0, lost_at, fenced_at, done)
    assert_moved_once(d, victims, "node2", t0)
    # Every spooled alert was consumed.
    left = {n for n in os.listdir(d.spool)
            if not n.startswith(".") and os.path.isfile(os.path.join(d.spool, n))}
    assert not (left & spooled), f"alerts left in the spool: {left & spooled}"

    d.lab.exec("node1", ["pcs", "property", "set", "stonith-action=reboot"], timeout=60)
    d.stack.power_on("node2")
    wait_state(d, "node2", (lifecycle.ENABLED,), timeout=90, what="node2 re-enabled")


def test_random_drills_keep_the_safety_rules(whole):
    """Random power cuts and partitions of a compute, the engine in the majority. After
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
        victim = rng.choice(COMPUTES)
        other = next(c for c in COMPUTES if c != victim)
        kind = rng.choice(("power", "partition"))
        d.stack.nova.control.boot_servers(victim, project="demo", count=rng.randint(1, 3))
        if rng.random() < 0.5:
            d.stack.nova.control.boot_servers(victim, project="alt", count=1, stopped=True)
        victims = on_host(d, victim)
        other_before = incident(d, other)
        offset = journal_size(d)
        time.sleep(2)  # the engine has seen the victim alive
        t0 = time.time()
        if kind == "power":
            d.stack.power_off(victim)
        else:
            d.lab.cut(victim)
            d.stack.nova.control.stop_compute(victim)
        view = d.lab.wait(lambda v: fence_success(v, victim, t0) is not None
                          and v.offline_clean(victim), timeout=60, node="node1",
                          what=f"drill {i + 1}: {victim} fenced after a {kind} cut")
        fenced_at = fence_success(view, victim, t0)
        wait_state(d, victim, (lifecycle.EVACUATED, lifecycle.HOST_RETURNED), timeout=120,
                   what=f"drill {i + 1}: {victim} evacuated")
        events = journal_since(d, offset)
        requests = [e.ts.timestamp() for e in events
                    if e.event == "evacuate-requested" and e.host == victim]
        # Pacemaker 2.1.5 prints fence completion to the second.
        unsafe = sum(1 for t in requests if t < fenced_at - 1)
        unsafe += sum(1 for e in events if e.host == other)
        assert unsafe == 0, f"drill {i + 1} ({kind} {victim}): {events}"
        assert incident(d, other) == other_before
        assert_moved_once(d, victims, victim, t0)
        print(f"drill {i + 1}: {kind} cut of {victim} -> fenced +{fenced_at - t0:.1f}s, "
              f"{len(victims)} instances moved once")
        record("lab-drill", scenarios=1, faults=1, recovered=len(victims), duplicates=0,
               unsafe=unsafe)
        if kind == "partition":
            d.lab.heal(victim)
        d.stack.power_on(victim)
        wait_state(d, victim, (lifecycle.ENABLED,), timeout=120, what=f"drill {i + 1}: re-enabled")
