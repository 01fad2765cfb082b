"""Process and instance failures: the pure decisions, the records (journal alone, or the
CIB through the real crm_attribute on an offline CIB), the history view, and the I/O
loops against an in-memory Nova double."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from hakari.recovery.instance import decision as idec
from hakari.recovery.process import decision as pd
from hakari.records.failures import (INSTANCE, MAX_SIGNALS, PROCESS, ClusterFailureBook,
                                      FailureBook, failure_book, failures_from_events,
                                      new_failure, open_failure)
from hakari.records.history import render_text, summarize
from hakari.recovery.instance.recovery import InstanceRecovery, Settings
from hakari.records.journal import Journal
from hakari.nova.errors import NovaError
from hakari.nova.resources import ComputeService, Server
from hakari.recovery.policy import Policy
from hakari.recovery.process.recovery import ProcessRecovery

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


def server(status="SHUTOFF", task=None, metadata=None, sid="s1", fault=None):
    return Server(id=sid, name=f"n-{sid}", status=status, host="node1", project_id="p",
                  task_state=task, vm_state=status.lower(), metadata=dict(metadata or {}),
                  flavor={}, image_id="img", fault=fault)


def service(status="enabled", state="up", reason=None, forced=False):
    return ComputeService(id="svc1", host="node1", state=state, status=status,
                          forced_down=forced, disabled_reason=reason)


# -- instance decisions -------------------------------------------------------------------

@pytest.mark.parametrize("status,method,verbs", [
    ("SHUTOFF", "auto", ("start",)), ("ERROR", "auto", ("hard_reboot",)),
    ("SHUTOFF", "stop_start", ("start",)), ("ERROR", "stop_start", ("stop", "start")),
    ("SHUTOFF", "hard_reboot", ("hard_reboot",)), ("ERROR", "hard_reboot", ("hard_reboot",))])
def test_instance_recover_verbs(status, method, verbs):
    step = idec.decide(server(status), Policy(), attempts=0, max_attempts=3, method=method)
    assert step.action == idec.RECOVER and step.verbs == verbs


def test_instance_healthy_waits_skips_and_limit():
    p = Policy()
    assert idec.decide(server("ACTIVE"), p, attempts=0, max_attempts=3).action == idec.HEALTHY
    assert idec.decide(server("SHUTOFF", task="powering-on"), p, attempts=0,
                       max_attempts=3).action == idec.WAIT
    assert idec.decide(server("PAUSED"), p, attempts=0, max_attempts=3).action == idec.SKIP
    down = idec.decide(server("SHUTOFF"), p, attempts=0, max_attempts=3, host_up=False)
    assert down.action == idec.SKIP and "host recovery" in down.reason
    limit = idec.decide(server("ERROR", fault="boom"), p, attempts=3, max_attempts=3)
    assert limit.action == idec.FAIL and "retry limit" in limit.reason and "boom" in limit.reason
    # A healthy instance is healthy whatever the attempt count.
    assert idec.decide(server("ACTIVE"), p, attempts=9, max_attempts=3).action == idec.HEALTHY


def test_instance_ha_notion_is_the_selection_policy():
    tagged = Policy(selection="tagged")
    step = idec.decide(server("SHUTOFF"), tagged, attempts=0, max_attempts=3)
    assert step.action == idec.SKIP and "not an HA instance" in step.reason
    ok = idec.decide(server("SHUTOFF", metadata={"evacuable": "true"}), tagged, attempts=0,
                     max_attempts=3)
    assert ok.action == idec.RECOVER
    excluded = Policy(excluded_instances=frozenset({"s1"}))
    assert idec.decide(server("SHUTOFF"), excluded, attempts=0,
                       max_attempts=3).action == idec.SKIP


# -- process decisions --------------------------------------------------------------------

LIMITS = pd.Thresholds(failure_threshold=3, failure_window=600, enable_after=300)


def ago(seconds):
    return T0 - dt.timedelta(seconds=seconds)


def test_process_threshold_and_window():
    s = service()
    step = pd.decide(pd.FAILURE, s, None, [T0], T0, LIMITS)
    assert step.action == pd.WAIT and step.state == "DETECTED"
    # Old failures fall out of the window.
    step = pd.decide(pd.FAILURE, s, "DETECTED", [ago(900), ago(700), T0], T0, LIMITS)
    assert step.action == pd.WAIT
    step = pd.decide(pd.FAILURE, s, "DETECTED", [ago(100), ago(50), T0], T0, LIMITS)
    assert step.action == pd.DISABLE and step.state == "DISABLED"
    # A monitor's report disables at once.
    assert pd.decide(pd.FAILURE, s, None, [T0], T0, LIMITS, immediate=True).action == \
        pd.DISABLE


def test_process_never_touches_other_disables_or_lost_hosts():
    other = service("disabled", reason="maintenance by bob")
    step = pd.decide(pd.FAILURE, other, None, [T0], T0, LIMITS, immediate=True)
    assert step.action == pd.CLOSE and step.state == "IGNORED"
    assert pd.decide(pd.CHECK, other, "DISABLED", [ago(1000)], T0, LIMITS).action == pd.CLOSE
    forced = service("disabled", state="down", reason="hakari: incident x", forced=True)
    assert pd.decide(pd.FAILURE, forced, None, [T0], T0, LIMITS).action == pd.IGNORE


def test_process_reenable_only_hakaris_disable_when_up_and_quiet():
    ours = service("disabled", reason=f"{pd.REASON_PREFIX} process-node1-x: failing")
    down = dataclasses.replace(ours, state="down")
    assert pd.decide(pd.CHECK, down, "DISABLED", [ago(1000)], T0, LIMITS).action == pd.WAIT
    assert pd.decide(pd.CHECK, ours, "DISABLED", [ago(100)], T0, LIMITS).action == pd.WAIT
    step = pd.decide(pd.CHECK, ours, "DISABLED", [ago(400)], T0, LIMITS)
    assert step.action == pd.ENABLE and step.state == "ENABLED"
    # A monitor saying healthy skips the quiet period, not Nova's "up".
    assert pd.decide(pd.HEALTHY, ours, "DISABLED", [ago(1)], T0, LIMITS).action == pd.ENABLE
    assert pd.decide(pd.HEALTHY, down, "DISABLED", [ago(1)], T0, LIMITS).action == pd.WAIT
    # A failure while disabled keeps it disabled.
    assert pd.decide(pd.FAILURE, ours, "DISABLED", [T0], T0, LIMITS).action == pd.WAIT
    # Disabled by hakari though the record missed it (Nova's reason says whose it is).
    step = pd.decide(pd.CHECK, ours, "DETECTED", [ago(400)], T0, LIMITS)
    assert step.action == pd.ENABLE and step.state == "ENABLED"
    # Someone enabled it: close without touching Nova.
    assert pd.decide(pd.CHECK, service(), "DISABLED", [ago(1)], T0, LIMITS).action == pd.CLOSE
    assert pd.decide(pd.CHECK, service(), None, [], T0, LIMITS).action == pd.NOTHING
    # Below the threshold and quiet for a window: cleared.
    step = pd.decide(pd.CHECK, service(), "DETECTED", [ago(700)], T0, LIMITS)
    assert step.action == pd.CLOSE and step.state == "CLEARED"


@pytest.mark.parametrize("rsc,status,rc,target,expected", [
    ("hakari-nova-compute", 0, 7, 0, True),      # monitor found it not running
    ("hakari-nova-compute:1", 2, 1, 0, True),    # clone instance, timeout
    ("hakari-nova-compute", 0, 0, 0, False),     # success
    ("hakari-nova-compute", 0, 7, 7, False),     # probe: expected not running
    ("hakari-nova-compute", 1, 0, 0, False),     # cancelled
    ("some-other-rsc", 0, 1, 0, False)])
def test_process_failure_alert_filter(rsc, status, rc, target, expected):
    assert pd.is_process_failure("resource", rsc, status, rc, target,
                                 ["hakari-nova-compute", "nova-compute"]) is expected
    assert pd.is_process_failure("node", rsc, status, rc, target, [rsc]) is False


# -- journal records and history ----------------------------------------------------------

def test_failure_incidents_in_journal_and_incidents_view(tmp_path):
    journal = Journal.open(str(tmp_path))
    book = FailureBook(journal)
    f = book.save(new_failure(INSTANCE, "s1", "node1", "reported SHUTOFF", T0))
    assert f.id == "instance-s1-20260101T120000Z"
    book.record(f, "attempt", number=1)
    f = book.transition(f, "RECOVERED", "ACTIVE after attempt 1")
    book.record(f, "result", result="recovered", name="n-s1", reason="ok")
    p = book.save(new_failure(PROCESS, "node1", "node1", "failing", T0))
    p = book.transition(p, "DISABLED", "reported failing")
    events = list(journal.read())
    found = failures_from_events(events)
    assert found[f.id].state == "RECOVERED" and not found[f.id].open
    assert open_failure(found.values(), PROCESS, "node1").state == "DISABLED"
    assert open_failure(found.values(), INSTANCE, "s1") is None
    # The host incident store does not see them.
    from hakari.records.store import LocalStore
    assert LocalStore(journal).current("node1") is None
    docs = {s.incident.id: s.document() for s in summarize(events)}
    assert docs[f.id]["kind"] == "instance" and docs[f.id]["state"] == "RECOVERED"
    assert docs[f.id]["instances"][0]["result"] == "recovered"
    assert docs[p.id]["kind"] == "process" and docs[p.id]["host"] == "node1"
    text = render_text(summarize(events))
    assert "process" in text and "DISABLED" in text and "RECOVERED" in text


# -- the I/O loops against an in-memory Nova ------------------------------------------------

class NovaDouble:
    """Servers and one service in memory; power actions take effect at once unless told
    to fail."""

    def __init__(self, srv: Server, svc: ComputeService | None = None):
        self.srv = srv
        self.svc = svc or service()
        self.calls: list[str] = []
        self.fail_actions = False

    def server(self, sid):
        return self.srv

    def compute_service(self, host):
        return self.svc

    def aggregates(self):
        return []

    def _act(self, verb, status):
        self.calls.append(verb)
        if self.fail_actions:
            raise NovaError(f"{verb}: HTTP 500", 500, f"req-{len(self.calls)}", True)
        self.srv = dataclasses.replace(self.srv, status=status)
        return f"req-{len(self.calls)}"

    def start_server(self, sid):
        return self._act("start", "ACTIVE")

    def stop_server(self, sid):
        return self._act("stop", "SHUTOFF")

    def reboot_server(self, sid, hard=True):
        return self._act("hard_reboot", "ACTIVE")

    def disable(self, svc, reason):
        self.calls.append("disable")
        self.svc = dataclasses.replace(svc, status="disabled", disabled_reason=reason)
        return self.svc, "req-d"

    def enable(self, svc):
        self.calls.append("enable")
        self.svc = dataclasses.replace(svc, status="enabled", disabled_reason=None)
        return self.svc, "req-e"


@pytest.fixture(params=["journal", "cib"])
def books(request, tmp_path):
    """books(controller) -> a failure book with that controller's own journal: the
    journal alone (every controller then shares one, as on a single machine), or the
    CIB, an offline one the real Pacemaker tools write."""
    if request.param == "cib":
        request.getfixturevalue("offline_cib")()

    def make(controller="ctl1"):
        if request.param == "journal":
            return FailureBook(Journal.open(str(tmp_path / "state")))
        return ClusterFailureBook(Journal.open(str(tmp_path / controller)))

    return make


def recovery(nova, book, **kw):
    settings = Settings(**dict(dict(max_attempts=2, verify_timeout=1, poll_interval=0.01), **kw))
    return InstanceRecovery(nova, book.journal, Policy(), settings, sleep=lambda s: None,
                            book=book)


def test_instance_recovery_starts_and_is_idempotent(books):
    nova = NovaDouble(server("SHUTOFF"))
    rep = recovery(nova, books()).run("s1")
    assert rep.result == "recovered" and rep.attempts == 1 and nova.calls == ["start"]
    again = recovery(nova, books()).run("s1")
    assert again.result == "healthy" and again.incident is None and nova.calls == ["start"]


def test_instance_retry_limit_holds_across_runs_and_controllers(books):
    nova = NovaDouble(server("ERROR"))
    nova.fail_actions = True
    rep = recovery(nova, books()).run("s1")
    assert rep.result == "failed" and rep.attempts == 2 and len(nova.calls) == 2
    assert "retry limit" in rep.reason
    # Another controller, its journal empty: the limit holds all the same.
    again = recovery(nova, books("ctl2")).run("s1")
    assert again.result == "failed" and len(nova.calls) == 2 and again.incident == rep.incident
    # Fixed by someone else: the incident closes; a later failure starts a fresh count.
    nova.srv = dataclasses.replace(nova.srv, status="ACTIVE")
    closed = recovery(nova, books()).run("s1")
    assert closed.result == "recovered" and closed.incident == rep.incident
    assert books("ctl3").current(INSTANCE, "s1") is None


def test_an_attempt_is_counted_before_it_is_made(books):
    nova = NovaDouble(server("SHUTOFF"))
    book = books()

    def dies(sid):
        raise KeyboardInterrupt  # the process dies while Nova is being asked
    nova.start_server = dies
    with pytest.raises(KeyboardInterrupt):
        recovery(nova, book).run("s1")
    f = books("ctl2").current(INSTANCE, "s1")
    assert f.state == "RECOVERING" and f.attempts == 1


def test_process_recovery_disables_then_reenables_its_own(books):
    nova = NovaDouble(server(), service())
    rec = ProcessRecovery(nova, None, LIMITS, book=books())
    first = rec.signal("node1", pd.FAILURE, source="test", key="k1", now=T0)
    assert first.action == pd.WAIT and nova.calls == []
    dup = rec.signal("node1", pd.FAILURE, source="test", key="k1", now=T0)
    assert dup.action == pd.NOTHING
    # The engine failed over: its successor counts the same failure once, too.
    other = ProcessRecovery(nova, None, LIMITS, book=books("ctl2"))
    assert other.signal("node1", pd.FAILURE, source="test", key="k1", now=T0).action == \
        pd.NOTHING
    rec.signal("node1", pd.FAILURE, source="test", key="k2", now=T0)
    third = rec.signal("node1", pd.FAILURE, source="test", key="k3", now=T0)
    assert third.action == pd.DISABLE and nova.calls == ["disable"]
    assert nova.svc.disabled_reason.startswith(pd.REASON_PREFIX)
    # Quiet long enough: the engine's check re-enables it.
    [done] = rec.check_open(now=T0 + dt.timedelta(seconds=3600))
    assert done.action == pd.ENABLE and nova.calls == ["disable", "enable"]
    assert rec.check_open(now=T0 + dt.timedelta(seconds=4000)) == []


def test_signals_are_bounded_and_records_round_trip(books):
    book = books()
    f = new_failure(PROCESS, "node1", "node1", "failing", T0)
    for i in range(MAX_SIGNALS + 5):
        f = f.with_signal(T0 + dt.timedelta(seconds=i), f"k{i}")
    f = book.save(f)
    back = books("ctl2").current(PROCESS, "node1")
    assert back == f and len(back.signals) == MAX_SIGNALS
    assert back.counted(f"k{MAX_SIGNALS + 4}") and not back.counted("k0")
    assert [x.id for x in books("ctl2").all_open(PROCESS)] == [f.id]


def test_closed_records_leave_the_cib_when_a_later_incident_opens(offline_cib, tmp_path,
                                                                   monkeypatch):
    from hakari.records import failures

    offline_cib()
    book = ClusterFailureBook(Journal.open(str(tmp_path / "state")))
    old = book.transition(book.save(new_failure(INSTANCE, "s1", "node1", "x", T0)),
                          "RECOVERED", "ok")
    later = old.updated_at + failures.CLOSED_RETENTION + dt.timedelta(seconds=1)
    monkeypatch.setattr(failures, "utcnow", lambda: later)
    book.save(new_failure(INSTANCE, "s2", "node1", "y", later))
    assert [f.target for f in book.all().values()] == ["s2"]
    # The journal still has the closed one.
    assert old.id in failures_from_events(book.journal.read())


def test_the_book_is_the_journal_without_a_cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))     # no Pacemaker tools here
    assert not failure_book(Journal.open(str(tmp_path / "state"))).cluster


def test_the_book_is_the_cibs_with_one(offline_cib, tmp_path):
    offline_cib()
    assert failure_book(Journal.open(str(tmp_path / "state"))).cluster
