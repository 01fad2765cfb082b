"""The evacuator against the fake Nova: verification, retries, lost answers, limits,
targets, resume. Fast (0.05 s rebuilds); the scale test lives in test_recovery_scale.py."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt

import pytest

from hakari import lifecycle
from hakari.model import Incident
from hakari.recovery.host.evacuator import Limits
from hakari.recovery.host.recovery import HostRecovery, Job
from hakari.records.journal import Journal
from hakari.recovery.policy import Policy
from hakari.records.store import LocalStore, incident_id
from tests.recovery_helpers import conf_for_fake, nova as nova_for

pytestmark = pytest.mark.timeout(120)


@dataclasses.dataclass
class Env:
    fake: object
    conf: object
    journal: Journal
    store: LocalStore
    nova: object

    def run(self, hosts, policy=None, limits=None, lost_at=None, **kw):
        policy = policy or Policy.from_config(self.conf)
        limits = limits or Limits(max_parallel=16, max_parallel_per_host=8,
                                  poll_interval=0.05, verify_timeout=20, settle_time=0.3)
        lost_at = lost_at or dt.datetime.now(dt.timezone.utc)
        jobs = []
        for h in hosts:
            inc = self.store.current(h) or Incident(incident_id(h, lost_at), h, lost_at,
                                                    lifecycle.FENCE_CONFIRMED)
            if inc.state in lifecycle.PARKED:  # as `hakari evacuate` takes it over
                inc = self.store.transition(inc, h, lifecycle.FENCE_CONFIRMED, "again",
                                            by=lifecycle.OPERATOR)
            jobs.append(Job(inc, h))
        # As `hakari evacuate` runs it: an operator may run a recovery again.
        self.recovery = HostRecovery(self.nova, self.store, self.journal, policy, limits,
                                     by=lifecycle.OPERATOR, **kw)
        return {r.host: r for r in self.recovery.run(jobs)}

    def evacuate_posts(self):
        return collections.Counter(r.path.split("/")[-2] for r in
                                   self.fake.requests(route="servers.action.evacuate"))


@pytest.fixture
def env(fake_nova, tmp_path):
    conf = conf_for_fake(fake_nova, tmp_path)
    journal = Journal.open(conf.state_dir)
    return Env(fake_nova, conf, journal, LocalStore(journal), nova_for(conf))


def results(report):
    return {o.id: o for o in report.outcomes}


def test_evacuates_active_and_shutoff_keeping_power_state(env):
    fake = env.fake
    active = fake.add_servers(20, hosts=["node2"])
    stopped = fake.add_servers(5, hosts=["node2"], status="SHUTOFF")
    elsewhere = fake.add_servers(3, hosts=["node1"])
    fake.kill_host("node2")
    rep = env.run(["node2"])["node2"]
    assert rep.forced_down and rep.disabled and not rep.failed
    got = results(rep)
    assert set(got) == set(active + stopped)
    for sid in active + stopped:
        s = fake.server(sid)
        assert got[sid].result == "evacuated" and s["host"] in ("node1", "node3")
        assert got[sid].dest_host == s["host"]
        assert s["status"] == ("SHUTOFF" if sid in stopped else "ACTIVE")
    assert all(fake.server(s)["host"] == "node1" for s in elsewhere)
    assert max(env.evacuate_posts().values()) == 1
    assert fake.stats()["rebuilds"]["peak"] <= 8
    assert env.recovery.evacuator.peak_inflight_per_host["node2"] <= 8
    assert rep.incident.state == lifecycle.EVACUATED
    svc = fake.host("node2")
    assert svc["forced_down"] and svc["disabled_reason"].startswith("hakari: incident ")


def test_rerun_evacuates_nothing_twice(env):
    ids = env.fake.add_servers(10, hosts=["node2"])
    env.fake.kill_host("node2")
    first = env.run(["node2"])["node2"]
    assert {o.result for o in first.outcomes} == {"evacuated"}
    second = env.run(["node2"])["node2"]
    assert {o.id: o.result for o in second.outcomes} == {i: "skipped" for i in ids}
    assert all("already evacuated" in o.reason for o in second.outcomes)
    assert all(n == 1 for n in env.evacuate_posts().values())


def test_scheduler_error_is_retried_then_reported_with_novas_reason(env):
    ids = env.fake.add_servers(4, hosts=["node2"])
    env.fake.kill_host("node2")
    env.fake.configure_evacuation(error_rate=1.0)
    rep = env.run(["node2"], policy=Policy(max_attempts=3))["node2"]
    for o in rep.outcomes:
        assert o.result == "failed" and o.attempts == 3
        assert "No valid host" in o.reason and "3 attempts" in o.reason
    assert env.evacuate_posts() == {i: 3 for i in ids}
    assert rep.incident.state == lifecycle.FAILED


def test_one_error_then_success(env):
    [sid] = env.fake.add_servers(1, hosts=["node2"])
    env.fake.kill_host("node2")
    env.fake.set_evacuation_outcome(sid, "error")
    rep = env.run(["node2"])["node2"]
    assert results(rep)[sid].result == "evacuated" and results(rep)[sid].attempts == 1
    assert env.fake.server(sid)["status"] == "ACTIVE"
    assert env.evacuate_posts()[sid] == 2


def test_rebuild_failure_on_destination_is_not_retried(env):
    [sid] = env.fake.add_servers(1, hosts=["node2"])
    env.fake.kill_host("node2")
    env.fake.set_evacuation_outcome(sid, "failed")
    o = results(env.run(["node2"])["node2"])[sid]
    assert o.result == "failed" and "not retried off a live host" in o.reason
    assert "Rebuild of" in o.reason
    assert env.evacuate_posts()[sid] == 1


def test_hung_evacuation_times_out_without_a_second_request(env):
    [sid] = env.fake.add_servers(1, hosts=["node2"])
    env.fake.kill_host("node2")
    env.fake.set_evacuation_outcome(sid, "hang")
    limits = Limits(poll_interval=0.05, verify_timeout=1.0, settle_time=0.3)
    o = results(env.run(["node2"], limits=limits)["node2"])[sid]
    assert o.result == "failed" and "no result within 1s" in o.reason
    assert env.evacuate_posts()[sid] == 1
    env.fake.release_hung()


@pytest.mark.parametrize("action", ["drop", "reset", "error"])
def test_answer_lost_after_nova_acted_is_never_repeated(env, action):
    ids = env.fake.add_servers(6, hosts=["node2"])
    env.fake.kill_host("node2")
    env.fake.add_fault(route="servers.action.evacuate", phase="after", action=action,
                       status=500, count=3)
    rep = env.run(["node2"])["node2"]
    assert {o.result for o in rep.outcomes} == {"evacuated"}
    assert env.evacuate_posts() == {i: 1 for i in ids}
    assert env.fake.stats()["double_evacuations"]["total"] == 0
    unknown = [e for e in env.journal.read() if e.event == "evacuate-unknown"]
    assert len(unknown) == 3


@pytest.mark.parametrize("action,status", [("drop", 500), ("error", 500), ("error", 503),
                                           ("error", 409)])
def test_request_that_never_took_effect_is_retried(env, action, status):
    ids = env.fake.add_servers(3, hosts=["node2"])
    env.fake.kill_host("node2")
    env.fake.add_fault(route="servers.action.evacuate", phase="before", action=action,
                       status=status, count=3)
    rep = env.run(["node2"])["node2"]
    assert {o.result for o in rep.outcomes} == {"evacuated"}, rep.outcomes
    assert sum(env.evacuate_posts().values()) == 6
    assert env.fake.stats()["double_evacuations"]["total"] == 0
    assert set(env.evacuate_posts()) == set(ids)


def test_bad_request_is_final(env):
    [sid] = env.fake.add_servers(1, hosts=["node2"])
    env.fake.kill_host("node2")
    env.fake.add_fault(route="servers.action.evacuate", status=400, message="Bad thing")
    o = results(env.run(["node2"])["node2"])[sid]
    assert o.result == "failed" and "Bad thing" in o.reason and o.attempts == 1


def test_stop_at_destination_policy_uses_2_95(env):
    ids = env.fake.add_servers(3, hosts=["node2"])
    env.fake.kill_host("node2")
    rep = env.run(["node2"], policy=Policy(stop_at_destination=True))["node2"]
    assert {o.result for o in rep.outcomes} == {"evacuated"}
    assert {env.fake.server(i)["status"] for i in ids} == {"SHUTOFF"}
    assert {r.microversion for r in env.fake.requests(route="servers.action.evacuate")} == \
        {"2.95"}


def test_default_keeps_power_state_with_2_68(env):
    env.fake.add_servers(2, hosts=["node2"])
    env.fake.kill_host("node2")
    env.run(["node2"])
    assert {r.microversion for r in env.fake.requests(route="servers.action.evacuate")} == \
        {"2.68"}


def test_reserved_host_is_enabled_and_used(env):
    env.fake.add_hosts(["spare1"])
    env.fake.set_service("spare1", disabled=True, disabled_reason="reserved")
    ids = env.fake.add_servers(5, hosts=["node2"])
    env.fake.kill_host("node2")
    policy = Policy(target="reserved_host", reserved_hosts=("spare1",))
    rep = env.run(["node2"], policy=policy)["node2"]
    assert {o.dest_host for o in rep.outcomes} == {"spare1"}
    assert {env.fake.server(i)["host"] for i in ids} == {"spare1"}
    assert env.fake.host("spare1")["status"] == "enabled"
    bodies = [r.body["evacuate"] for r in env.fake.requests(route="servers.action.evacuate")]
    assert all(b == {"host": "spare1"} for b in bodies)


def test_reserved_host_unusable_fails_or_falls_back(env):
    env.fake.add_hosts(["spare1"])
    env.fake.kill_host("spare1")                  # down: not usable
    [sid] = env.fake.add_servers(1, hosts=["node2"])
    env.fake.kill_host("node2")
    o = results(env.run(["node2"], policy=Policy(target="reserved_host",
                                                 reserved_hosts=("spare1",)))["node2"])[sid]
    assert o.result == "failed" and "no usable reserved host" in o.reason
    o = results(env.run(["node2"], policy=Policy(target="rh_priority",
                                                 reserved_hosts=("spare1",)))["node2"])[sid]
    assert o.result == "evacuated" and o.dest_host in ("node1", "node3")


def test_auto_priority_retries_on_a_reserved_host(env):
    env.fake.add_hosts(["spare1"])
    [sid] = env.fake.add_servers(1, hosts=["node2"])
    env.fake.kill_host("node2")
    env.fake.set_evacuation_outcome(sid, "error")
    policy = Policy(target="auto_priority", reserved_hosts=("spare1",))
    o = results(env.run(["node2"], policy=policy)["node2"])[sid]
    assert o.result == "evacuated" and o.dest_host == "spare1"
    bodies = [r.body["evacuate"] for r in env.fake.requests(route="servers.action.evacuate")]
    assert bodies == [{}, {"host": "spare1"}]


def test_selection_exclusion_priority_order(env):
    fake = env.fake
    tagged = fake.add_servers(3, hosts=["node2"], metadata={"evacuable": "true"})
    [urgent] = fake.add_servers(1, hosts=["node2"],
                                metadata={"evacuable": "true", "hakari:priority": "9"})
    plain = fake.add_servers(2, hosts=["node2"])
    [err] = fake.add_servers(1, hosts=["node2"], status="ERROR",
                             metadata={"evacuable": "true"})
    fake.kill_host("node2")
    policy = Policy(selection="tagged", excluded_instances=frozenset({tagged[0]}))
    got = results(env.run(["node2"], policy=policy,
                          limits=Limits(max_parallel=1, max_parallel_per_host=1,
                                        poll_interval=0.05))["node2"])
    assert {i for i, o in got.items() if o.result == "evacuated"} == {urgent, *tagged[1:]}
    assert "excluded" in got[tagged[0]].reason
    assert all("not tagged" in got[i].reason for i in plain)
    assert "ERROR" in got[err].reason
    posts = [r.path.split("/")[-2] for r in fake.requests(route="servers.action.evacuate")]
    assert posts[0] == urgent


@pytest.mark.slow
def test_global_and_per_host_limits_across_hosts(env):
    env.fake.add_hosts(4)                          # node4..node7
    lost = ["node2", "node3", "node4", "node5"]
    env.fake.add_servers(120, hosts=lost)
    env.fake.configure_evacuation(rebuild_time=0.2)
    for h in lost:
        env.fake.kill_host(h)
    limits = Limits(max_parallel=10, max_parallel_per_host=4, poll_interval=0.05)
    reps = env.run(lost, limits=limits)
    assert all(not r.failed and len(r.outcomes) == 30 for r in reps.values())
    stats = env.fake.stats()
    assert stats["rebuilds"]["peak"] <= 10
    assert all(v["peak"] <= 4 for v in stats["rebuilds"]["by"].values())
    assert env.recovery.evacuator.peak_inflight == 10
    assert max(env.evacuate_posts().values()) == 1


def test_in_flight_evacuation_from_an_earlier_run_is_waited_for(env, fake_nova):
    ids = env.fake.add_servers(3, hosts=["node2"])
    env.fake.kill_host("node2")
    env.fake.set_service("node2", forced_down=True)
    env.fake.set_evacuation_outcome(ids[0], "hang")
    lost_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    env.nova.evacuate(ids[0])                       # "the previous run"
    import threading
    threading.Timer(0.5, env.fake.release_hung).start()
    rep = env.run(["node2"], lost_at=lost_at)["node2"]
    assert {o.result for o in rep.outcomes} == {"evacuated"}
    assert env.evacuate_posts() == {i: 1 for i in ids}


def test_a_resumed_recovery_plans_after_requests_of_a_dead_run_could_land(env):
    ids = env.fake.add_servers(2, hosts=["node2"])
    env.fake.kill_host("node2")
    lost_at = dt.datetime.now(dt.timezone.utc)
    # A run that died (here or on another controller: nothing of it is read) left the
    # incident EVACUATING; a request it sent may still be on its way to Nova.
    env.store.save(Incident(incident_id("node2", lost_at), "node2", lost_at,
                            lifecycle.EVACUATING), "node2")
    slept = []
    rep = env.run(["node2"], limits=Limits(poll_interval=0.05, settle_time=1.0),
                  sleep=slept.append)["node2"]
    assert slept == [1.0]
    assert {o.result for o in rep.outcomes} == {"evacuated"}
    assert env.evacuate_posts() == {i: 1 for i in ids}
    # A fresh incident does not wait.
    env.fake.add_servers(1, hosts=["node3"])
    env.fake.kill_host("node3")
    slept.clear()
    env.run(["node3"], limits=Limits(poll_interval=0.05, settle_time=1.0),
            sleep=slept.append)
    assert slept == []


def test_deleted_during_recovery_is_skipped(env):
    [sid] = env.fake.add_servers(1, hosts=["node2"])
    env.fake.kill_host("node2")
    env.fake.add_fault(route="servers.action.evacuate", status=404,
                       message="Instance could not be found")
    o = results(env.run(["node2"])["node2"])[sid]
    assert o.result == "skipped" and "deleted" in o.reason


def test_journal_has_the_timeline_with_request_ids(env):
    [sid] = env.fake.add_servers(1, hosts=["node2"])
    env.fake.kill_host("node2")
    rep = env.run(["node2"])["node2"]
    kinds = [e.event for e in env.journal.read(rep.incident.id)]
    for k in ("forced-down", "disabled", "state", "plan", "evacuate-requested",
              "evacuate-accepted", "migration", "result"):
        assert k in kinds, k
    accepted = next(e for e in env.journal.read() if e.event == "evacuate-accepted")
    assert accepted.request_id and accepted.request_id.startswith("req-")
    assert results(rep)[sid].request_ids == (accepted.request_id,)


def test_stopped_instance_retried_after_an_error_stays_stopped(env):
    # A failed attempt leaves it in ERROR; below 2.95 Nova would rebuild it running.
    [sid] = env.fake.add_servers(1, hosts=["node2"], status="SHUTOFF")
    env.fake.kill_host("node2")
    env.fake.set_evacuation_outcome(sid, "error")
    o = results(env.run(["node2"])["node2"])[sid]
    assert o.result == "evacuated" and env.fake.server(sid)["status"] == "SHUTOFF"
    assert [r.microversion for r in env.fake.requests(route="servers.action.evacuate")] == \
        ["2.95", "2.95"]


def test_delay_comes_after_force_down_and_before_evacuating(env):
    env.fake.add_servers(2, hosts=["node2"])
    env.fake.kill_host("node2")
    slept = []

    def sleep(seconds):
        slept.append((seconds, env.fake.host("node2")["forced_down"],
                      len(env.fake.requests(route="servers.action.evacuate"))))

    env.run(["node2"], delay=7.5, sleep=sleep)
    assert slept == [(7.5, True, 0)]
    assert len(env.fake.requests(route="servers.action.evacuate")) == 2
