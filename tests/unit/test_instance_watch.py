"""The engine's instance watch: which servers Nova changed are crashes to recover
(recovery.instance.watch, pure), and one watch end to end against an in-memory Nova
(recovery.instance.watcher) with the failure records of the journal."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
import time
import types

import pytest

from hakari import config
from hakari.nova.client import Nova
from hakari.nova.errors import NovaError
from hakari.nova.resources import ComputeService, InstanceAction, Server
from hakari.records.failures import INSTANCE, FailureBook, new_failure
from hakari.records.journal import Journal
from hakari.recovery.instance import watch
from hakari.recovery.instance.watcher import InstanceWatcher
from hakari.recovery.policy import Policy

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
USER = "9035a4039651582c8ac1d43332c40a29"


def server(status="SHUTOFF", sid="s1", host="node1", task=None, metadata=None):
    return Server(id=sid, name=f"vm-{sid}", status=status, host=host, project_id="p",
                  task_state=task, vm_state=status.lower(), metadata=dict(metadata or {}),
                  flavor={}, image_id="img", updated_at=NOW)


def action(name="stop", user=None, at=NOW - dt.timedelta(seconds=5)):
    """As Nova records it; user None: Nova's own request (admin context, no user)."""
    return InstanceAction(action=name, request_id="req-1", user_id=user,
                          project_id="p" if user else None, start_time=at)


def service(host="node1", state="up", status="enabled", forced=False, reason=None):
    return ComputeService(id=f"svc-{host}", host=host, state=state, status=status,
                          forced_down=forced, disabled_reason=reason)


def ctx(policy=Policy(), keep_out=None, services=None, incidents=None, running=()):
    return watch.Context(policy=policy, now=NOW, not_before=NOW - dt.timedelta(minutes=10),
                         services={"node1": service()} if services is None else services,
                         keep_out=keep_out or {}, incidents=incidents or {},
                         running=frozenset(running),
                         stale_after=dt.timedelta(minutes=11))


def verdict(srv=None, act=None, **kw):
    return watch.judge(srv or server(), act, ctx(**kw))


# -- the decider ------------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["SHUTOFF", "ERROR"])
def test_nova_stopping_an_instance_itself_is_a_crash(status):
    v = verdict(server(status), action())
    assert v.action == watch.RECOVER and "by Nova itself (req-1)" in v.reason


@pytest.mark.parametrize("name", ["stop", "resetState", "resize"])
def test_a_users_own_request_is_left_alone(name):
    for status in ("SHUTOFF", "ERROR"):
        v = verdict(server(status), action(name, user=USER))
        assert v.action == watch.LEAVE and f"{name} requested by user {USER}" in v.reason


def test_no_action_explaining_it_is_left_alone():
    assert verdict(server(), None).action == watch.LEAVE


def test_only_shutoff_or_error_with_no_task_in_progress():
    for status in ("ACTIVE", "PAUSED", "SHELVED_OFFLOADED", "SUSPENDED"):
        v = verdict(server(status), action())
        assert v.action == watch.LEAVE and v.reason == f"status {status}"
    v = verdict(server(task="powering-on"), action())
    assert v.action == watch.LEAVE and "task powering-on" in v.reason


def test_only_ha_instances_by_the_evacuation_selection():
    tagged = Policy(selection="tagged")
    v = verdict(server(), action(), policy=tagged)
    assert v.action == watch.LEAVE and "not an HA instance" in v.reason
    ha = server(metadata={"evacuable": "true"})
    assert verdict(ha, action(), policy=tagged).action == watch.RECOVER
    excluded = Policy(excluded_instances=frozenset({"s1"}))
    assert verdict(server(), action(), policy=excluded).action == watch.LEAVE


def test_a_crash_from_before_the_engine_watched_is_left_alone():
    old = action(at=NOW - dt.timedelta(minutes=11))
    v = verdict(server(), old)
    assert v.action == watch.LEAVE and "before this engine watched" in v.reason


@pytest.mark.parametrize("kw,why", [
    ({"keep_out": {"node1": "host incident i1 EVACUATING"}}, "host incident"),
    ({"keep_out": {"node1": "held (ops)"}}, "held"),
    ({"keep_out": {"node1": "lost in the cluster"}}, "lost"),
    ({"services": {"node1": service(state="down")}}, "nova-compute is down"),
    ({"services": {"node1": service(forced=True)}}, "forced down"),
    ({"services": {"node1": service(status="disabled", reason="maint")}}, "disabled (maint)"),
    ({"services": {}}, "no nova-compute"),
])
def test_never_on_a_host_that_is_not_a_healthy_compute(kw, why):
    v = verdict(server(), action(), **kw)
    assert v.action == watch.WAIT and why in v.reason


def test_a_crash_on_no_host_is_left_alone():
    assert verdict(server(host=None), action()).action == watch.LEAVE


def test_a_recovery_under_way_or_failed_is_not_started_twice():
    assert verdict(server(), action(), running={"s1"}).action == watch.WAIT
    fresh = dataclasses.replace(new_failure(INSTANCE, "s1", "node1", "r", NOW),
                                state="RECOVERING", updated_at=NOW - dt.timedelta(minutes=2))
    v = verdict(server(), action(), incidents={"s1": fresh})
    assert v.action == watch.WAIT and "under way" in v.reason
    # Its recovery died (no update for longer than any attempt): resumed, whatever the
    # newest action (hakari's own start, by hakari's user) says.
    stale = dataclasses.replace(fresh, updated_at=NOW - dt.timedelta(minutes=12))
    c = ctx(incidents={"s1": stale})
    assert not watch.needs_action(server(), c)
    assert watch.judge(server(), action("start", user=USER), c).action == watch.RECOVER
    failed = dataclasses.replace(fresh, state=watch.GAVE_UP)
    v = verdict(server(), action(), incidents={"s1": failed})
    assert v.action == watch.LEAVE and "retry limit" in v.reason
    # Started again by someone: the recovery closes the incident, so that the next
    # crash gets a fresh count.
    v = verdict(server("ACTIVE"), None, incidents={"s1": failed})
    assert v.action == watch.CLOSE


def test_the_window_starts_before_the_engine_and_never_goes_back():
    w = watch.Watch(NOW)
    assert w.since == w.not_before == NOW - watch.START_LOOKBACK
    w.looked(NOW + dt.timedelta(minutes=5), ["a"])
    assert w.since == NOW + dt.timedelta(minutes=5) - watch.OVERLAP and w.pending == {"a"}
    w.looked(NOW, [])
    assert w.since == NOW + dt.timedelta(minutes=5) - watch.OVERLAP and w.pending == set()


# -- one watch against an in-memory Nova -----------------------------------------------------

class NovaDouble:
    """Servers, their newest actions and the computes; starts take effect at once unless
    told to fail."""

    def __init__(self, *servers: Server):
        self.servers = {s.id: s for s in servers}
        self.actions: dict[str, InstanceAction] = {}
        self.services = [service("node1"), service("node2")]
        self.calls: list[tuple[str, str]] = []
        self.fail_starts = False

    def servers_changed_since(self, since):
        self.calls.append(("changed", since.isoformat()))
        return list(self.servers.values())

    def server(self, sid):
        return self.servers[sid]

    def compute_services(self):
        return self.services

    def compute_service(self, host):
        return next(s for s in self.services if s.host == host)

    def latest_action(self, sid):
        self.calls.append(("actions", sid))
        return self.actions.get(sid)

    def aggregates(self):
        return []

    def start_server(self, sid):
        self.calls.append(("start", sid))
        if self.fail_starts:
            raise NovaError("os-start: HTTP 500", 500, "req-x", True)
        self.servers[sid] = dataclasses.replace(self.servers[sid], status="ACTIVE")
        self.actions[sid] = action("start", user=USER)
        return "req-s"


@pytest.fixture
def make_watcher(tmp_path):
    path = tmp_path / "hakari.conf"
    path.write_text(f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n"
                    "[instance_failure]\nmax_attempts = 2\nverify_timeout = 1\n"
                    "poll_interval = 0.05\n")
    conf = config.load([str(path)])
    journal = Journal.open(conf.state_dir)
    book = FailureBook(journal)

    def make(nova, keep_out=lambda: {}):
        return InstanceWatcher(lambda: conf, lambda: nova, journal, lambda: book, keep_out,
                               started=dt.datetime.now(dt.timezone.utc))

    make.book = book
    return make


def starts(nova):
    return [sid for verb, sid in nova.calls if verb == "start"]


def test_one_watch_recovers_the_crash_once_and_leaves_the_users_stop(make_watcher):
    nova = NovaDouble(server("SHUTOFF", "crashed"), server("SHUTOFF", "stopped"),
                      server("ACTIVE", "fine"))
    recent = dt.datetime.now(dt.timezone.utc)
    nova.actions = {"crashed": action(at=recent), "stopped": action(user=USER, at=recent)}
    w = make_watcher(nova)
    judged = {s.id: v.action for s, v in w.once()}
    assert judged == {"crashed": watch.RECOVER, "stopped": watch.LEAVE, "fine": watch.LEAVE}
    assert w.wait_idle(10)
    assert starts(nova) == ["crashed"] and nova.servers["crashed"].status == "ACTIVE"
    # The ACTIVE server's actions were never read.
    assert ("actions", "fine") not in nova.calls
    [incident] = make_watcher.book.all().values()
    assert incident.state == "RECOVERED" and incident.target == "crashed"
    [reported] = [e for e in make_watcher.book.journal.read() if e.event == "reported"]
    assert reported.detail["source"] == "engine instance watch"
    assert "by Nova itself" in reported.detail["cause"]
    # Seen again (the window overlaps): nothing twice.
    w.once()
    assert w.wait_idle(10) and starts(nova) == ["crashed"]


def test_a_crash_that_failed_its_retries_is_not_recovered_again(make_watcher):
    nova = NovaDouble(server("SHUTOFF", "crashed"))
    nova.actions = {"crashed": action(at=dt.datetime.now(dt.timezone.utc))}
    nova.fail_starts = True
    w = make_watcher(nova)
    w.once()
    assert w.wait_idle(30) and starts(nova) == ["crashed", "crashed"]   # max_attempts 2
    [incident] = make_watcher.book.all().values()
    assert incident.state == watch.GAVE_UP
    assert {s.id: v.action for s, v in w.once()} == {"crashed": watch.LEAVE}
    assert w.wait_idle(10) and len(starts(nova)) == 2


def test_nothing_without_a_recent_quorate_look(make_watcher):
    nova = NovaDouble(server("SHUTOFF", "crashed"))
    nova.actions = {"crashed": action(at=dt.datetime.now(dt.timezone.utc))}
    w = make_watcher(nova, keep_out=lambda: None)
    assert w.once() == [] and nova.calls == []


def test_a_nova_error_is_one_line_and_the_watch_goes_on(tmp_path, caplog):
    path = tmp_path / "hakari.conf"
    path.write_text(f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n"
                    "[instance_failure]\nwatch_interval = 0.02\n")
    conf = config.load([str(path)])
    calls = []

    class Down:
        def servers_changed_since(self, since):
            calls.append(since)
            raise NovaError("GET /servers/detail: HTTP 503: Service Unavailable", 503)

    journal = Journal.open(conf.state_dir)
    w = InstanceWatcher(lambda: conf, Down, journal, lambda: FailureBook(journal),
                        lambda: {})
    since = w.watch.since
    stop = threading.Event()
    runner = threading.Thread(target=w.run, args=(stop,))
    with caplog.at_level(logging.ERROR, logger="hakari.engine.instances"):
        runner.start()
        deadline = time.monotonic() + 10
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        runner.join(5)
    assert len(calls) >= 3 and not runner.is_alive()
    # Said once, on one line, with no traceback; the next watch asks from the same time.
    assert [(r.getMessage(), r.exc_info) for r in caplog.records] == [
        ("instance watch: GET /servers/detail: HTTP 503: Service Unavailable", None)]
    assert w.watch.since == since and set(calls) == {since}


class Adapter:
    """keystoneauth's adapter as the Nova client uses it: records each request."""

    def __init__(self, body):
        self.body = body
        self.requests = []

    def request(self, url, method, **kw):
        self.requests.append((method, url, kw["params"], kw["microversion"], kw["timeout"]))
        body = json.dumps(self.body).encode()
        return types.SimpleNamespace(status_code=200, headers={}, content=body,
                                     json=lambda: json.loads(body))


def test_the_client_asks_for_changed_servers_and_the_newest_action():
    adapter = Adapter({"servers": [{"id": "s1", "status": "SHUTOFF",
                                    "updated": "2026-01-01T11:59:58Z"}],
                       "instanceActions": [{"action": "stop", "request_id": "req-1",
                                            "user_id": None, "project_id": None,
                                            "start_time": "2026-01-01T11:59:57.5"}],
                       "version": {"version": "2.98"}})
    nova = Nova(adapter, timeout=7.0)
    since = dt.datetime(2026, 1, 1, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    [s] = nova.servers_changed_since(since)
    assert s.updated_at == dt.datetime(2026, 1, 1, 11, 59, 58, tzinfo=dt.timezone.utc)
    method, url, params, mv, timeout = adapter.requests[-1]
    assert (method, url, mv, timeout) == ("GET", "/servers/detail", "2.98", 7.0)
    assert params["changes-since"] == "2026-01-01T12:00:00Z"
    assert params["all_tenants"] == "True" and params["deleted"] == "False"
    act = nova.latest_action("s1")
    assert act.user_id is None and act.project_id is None and act.action == "stop"
    assert act.start_time == dt.datetime(2026, 1, 1, 11, 59, 57, 500000,
                                         tzinfo=dt.timezone.utc)
    assert adapter.requests[-1][1:4] == ("/servers/s1/os-instance-actions", {"limit": 1},
                                         "2.58")
