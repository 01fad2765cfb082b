"""plan_host: what to do with each instance, from Nova's servers and migrations. Pure."""

from __future__ import annotations

import datetime as dt

from hakari.recovery.host import plan
from hakari.nova.resources import Migration, Server
from hakari.recovery.policy import Policy

T0 = dt.datetime(2026, 1, 1, 7, 0, tzinfo=dt.timezone.utc)


def srv(sid, status="ACTIVE", task=None, vm_state=None, host="node2", **meta):
    return Server(id=sid, name=f"vm-{sid}", status=status, host=host, project_id="p",
                  task_state=task, vm_state=vm_state or {"SHUTOFF": "stopped"}.get(
                      status, status.lower()), metadata=meta, flavor={}, image_id=None)


def mig(sid, status, minutes=1, mid=None, dest="node3"):
    return Migration(id=mid or f"m-{sid}-{minutes}", server_id=sid, source_compute="node2",
                     dest_compute=dest, status=status, migration_type="evacuation",
                     created_at=T0 + dt.timedelta(minutes=minutes), updated_at=None)


def decide(servers, migrations=(), policy=None, **kw):
    ds = plan.plan_host("node2", servers, migrations, policy or Policy(), **kw)
    return {d.id: d for d in ds}


def test_fresh_host_evacuates_everything_in_priority_order():
    ds = plan.plan_host("node2", [srv("a"), srv("b", **{"hakari:priority": "5"}),
                                  srv("c", "SHUTOFF")], [], Policy())
    assert [(d.id, d.action) for d in ds] == [("b", "evacuate"), ("a", "evacuate"),
                                              ("c", "evacuate")]
    assert ds[2].original_status == "SHUTOFF" and ds[0].priority == 5


def test_in_flight_migration_means_wait_never_again():
    for status in ("accepted", "pre-migrating", "migrating", "queued"):
        d = decide([srv("a", task="rebuilding")], [mig("a", status)])["a"]
        assert d.action == "wait" and d.migration.status == status


def test_finished_migration_of_an_instance_gone_from_the_host_is_skipped():
    d = decide([], [mig("a", "done")], original_status={"a": "SHUTOFF"})["a"]
    assert d.action == "skip" and "already evacuated" in d.reason and d.evacuated_before
    assert d.original_status == "SHUTOFF" and d.dest_host == "node3"
    assert decide([], [mig("a", "completed")])["a"].action == "skip"


def test_in_flight_for_an_instance_already_placed_elsewhere_is_waited_for():
    assert decide([], [mig("a", "pre-migrating")])["a"].action == "wait"


def test_failed_attempts_count_and_the_newest_migration_rules():
    ms = [mig("a", "error", 1), mig("a", "failed", 2)]
    d = decide([srv("a", "ERROR")], ms)["a"]
    assert d.action == "evacuate" and d.attempts == 2
    assert "retry after evacuation failed" in d.reason
    d = decide([srv("a", "ERROR")], ms + [mig("a", "error", 3)])["a"]
    assert d.action == "fail" and "3 attempts" in d.reason
    # An older in-flight one still blocks even if a newer failed one exists.
    d = decide([srv("a")], [mig("a", "accepted", 1), mig("a", "error", 2)])["a"]
    assert d.action == "wait"


def test_failed_attempt_that_left_the_instance_elsewhere_is_checked():
    d = decide([], [mig("a", "failed")])["a"]
    assert d.action == "check"


def test_error_before_loss_is_skipped_but_hakari_error_retried():
    assert decide([srv("a", "ERROR")])["a"].action == "skip"
    assert decide([srv("a", "ERROR")], [mig("a", "error")])["a"].action == "evacuate"
    assert decide([srv("a", "ERROR")], policy=Policy(evacuate_error=True))["a"].action == \
        "evacuate"


def test_original_status_is_the_kept_one_or_unknown_after_an_attempt():
    d = decide([srv("a", "ERROR")], [mig("a", "error")], original_status={"a": "SHUTOFF"})["a"]
    assert d.original_status == "SHUTOFF"
    # Not kept: what Nova shows, unless an attempt of this incident may have changed it.
    assert decide([srv("a", "SHUTOFF")])["a"].original_status == "SHUTOFF"
    assert decide([srv("a", "ERROR")], [mig("a", "error")])["a"].original_status is None
    assert decide([], [mig("a", "failed")])["a"].original_status is None


def test_unevacuable_states_and_foreign_rebuilds_fail_with_a_reason():
    d = decide([srv("a", "PAUSED", vm_state="paused")])["a"]
    assert d.action == "fail" and "vm_state paused" in d.reason
    d = decide([srv("a", task="rebuilding")])["a"]
    assert d.action == "fail" and "rebuilding" in d.reason


def test_excluded_and_untagged_are_skipped():
    p = Policy(selection="tagged", excluded_instances=frozenset({"b"}))
    ds = decide([srv("a"), srv("b", evacuable="true"), srv("c", evacuable="true")], policy=p)
    assert ds["a"].action == "skip" and ds["b"].action == "skip"
    assert ds["c"].action == "evacuate"


def test_moved_back_after_a_done_evacuation_is_evacuated_again():
    # Migrations are read before servers: a done one with the instance still listed here
    # means it came back, not that the listing raced the rebuild.
    d = decide([srv("a")], [mig("a", "done")])["a"]
    assert d.action == "evacuate" and d.attempts == 1


def test_failure_reason():
    s = Server("a", "a", "ERROR", "node3", "p", None, "error", {}, {}, None,
               fault="No valid host was found.")
    assert plan.failure_reason(mig("a", "error"), s) == \
        "evacuation error on node3: No valid host was found."
    assert plan.failure_reason(None, None) == "evacuation failed"


def test_old_in_flight_counts_but_old_finished_does_not():
    since = T0 + dt.timedelta(minutes=10)
    ms = [mig("a", "accepted", 1), mig("b", "done", 2), mig("c", "error", 3),
          mig("c", "error", 11)]
    ds = {d.id: d for d in plan.plan_host("node2", [srv("a"), srv("c")], ms, Policy(),
                                          since=since)}
    assert ds["a"].action == "wait"                 # someone's evacuation, still running
    assert "b" not in ds                            # an earlier incident's success
    assert ds["c"].action == "evacuate" and ds["c"].attempts == 1
    # Yet every one listed is known: a request sent now cannot have made any of them.
    assert [m.id for m in ds["c"].listed] == ["m-c-11", "m-c-3"]
