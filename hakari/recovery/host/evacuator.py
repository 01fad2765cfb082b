"""Evacuate, verify and retry, in parallel, within limits, never twice.

One coordinator thread owns every decision and all bookkeeping; a thread pool only runs
Nova calls (evacuate, one migration listing per host per poll, one server read per
finished migration) and hands results back through a queue. So limits are counted in
one place and there are no races between deciding and counting.

An evacuation is *in flight* from the moment its request is sent until hakari has
verified its outcome; ``max_parallel`` and ``max_parallel_per_host`` bound that number
(including evacuations found in flight from an earlier run).

Never twice: a new evacuate for an instance is sent only when its previous attempt is
known to be over, i.e. Nova lists that attempt's migration as failed/error, or the
request was refused, or its answer was lost and, after ``settle_time``, a migration
listing *started after* that still shows nothing new for the instance.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterable

from hakari.recovery.host import plan as planmod
from hakari.records.journal import Event, Journal, utcnow
from hakari.nova.client import Nova
from hakari.nova.errors import NovaConflict, NovaError, NovaNotFound
from hakari.nova.resources import Migration, Server
from hakari.recovery.host.plan import Decision
from hakari.recovery.policy import Policy, ReservedRotation, expected_statuses, uses_reserved

EVACUATED = "evacuated"
SKIPPED = "skipped"
FAILED = "failed"

# Phases of one instance inside the coordinator.
_PENDING, _POSTING, _FLYING, _VERIFYING, _FINAL = range(5)


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """The final word on one instance."""

    id: str
    name: str
    host: str
    result: str
    dest_host: str | None
    reason: str
    attempts: int = 0
    request_ids: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "result": self.result,
                "dest_host": self.dest_host, "reason": self.reason}


@dataclasses.dataclass
class HostPlan:
    """One failed host's share of a run."""

    host: str
    incident: str
    since: dt.datetime
    decisions: list[Decision]


class Slots:
    """The ``max_parallel`` budget of evacuations in flight, shared by every Evacuator
    running at once in this process (the engine recovers hosts lost at different times
    side by side). Each coordinator still counts its own; this only keeps the sum in
    bounds, and wakes the others when a slot frees up."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._listeners: list[queue.Queue] = []

    def try_take(self) -> bool:
        with self._lock:
            if self.used >= self.limit:
                return False
            self._take()
            return True

    def force_take(self) -> None:
        """For an evacuation found already in flight: it counts, whatever the limit."""
        with self._lock:
            self._take()

    def _take(self) -> None:
        self.used += 1
        self.peak = max(self.peak, self.used)

    def give(self) -> None:
        with self._lock:
            self.used -= 1
            listeners = list(self._listeners)
        for q in listeners:
            q.put(("slot", None, None))

    def listen(self, q: queue.Queue) -> None:
        with self._lock:
            self._listeners.append(q)

    def unlisten(self, q: queue.Queue) -> None:
        with self._lock:
            if q in self._listeners:
                self._listeners.remove(q)


@dataclasses.dataclass
class Limits:
    max_parallel: int = 32
    max_parallel_per_host: int = 16
    poll_interval: float = 0.5
    verify_timeout: float = 600.0
    settle_time: float = 10.0
    # Shared with other evacuators running at once; None: this run's own budget.
    slots: Slots | None = dataclasses.field(default=None, compare=False, repr=False)

    @classmethod
    def from_config(cls, conf) -> "Limits":
        r = conf.recovery
        return cls(max_parallel=r.max_parallel, max_parallel_per_host=r.max_parallel_per_host,
                   poll_interval=r.poll_interval, verify_timeout=r.verify_timeout,
                   settle_time=r.request_settle_time)


@dataclasses.dataclass(eq=False)
class _Track:
    id: str
    name: str
    host: str
    priority: int
    seq: int
    original_status: str | None
    attempts: int
    phase: int = _PENDING
    migration: Migration | None = None
    known: frozenset = frozenset()
    target: str | None = None
    started: float = 0.0
    settle_until: float | None = None
    not_before: float = 0.0
    verify_reason: str = ""         # "", "timeout" or "check": why the server is read
    holds_slot: bool = False
    request_ids: list = dataclasses.field(default_factory=list)
    last_error: str = ""
    # Started by this run's own request, so ``started`` is when the evacuation began.
    timed: bool = False


class _Host:
    def __init__(self, plan: HostPlan):
        self.name = plan.host
        self.incident = plan.incident
        self.since = plan.since
        self.pending: list = []
        self.inflight = 0
        self.polling = False
        self.last_poll_start = -1.0e9
        self.poll_now = True            # poll at the first chance, not after an interval
        self.migrations: dict[str, list[Migration]] = {}
        self.tracks: dict[str, _Track] = {}
        # Tracks posting or flying: what a migration listing can move forward.
        self.active: set[_Track] = set()


ProgressFn = Callable[[Outcome], None]


class Evacuator:
    def __init__(self, nova: Nova, journal: Journal | None, policy: Policy,
                 limits: Limits, *, progress: ProgressFn | None = None,
                 reserved: ReservedRotation | None = None,
                 prepare_target: Callable[[str], str] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], dt.datetime] = utcnow, max_workers: int | None = None):
        self.nova = nova
        self.journal = journal
        self.policy = policy
        self.limits = limits
        self.progress = progress
        self.reserved = reserved or ReservedRotation(())
        self._prepare_target = prepare_target
        self._prepared: dict[str, str | None] = {}
        self._clock = clock
        self._wall = wall
        self._max_workers = max_workers
        self._events: queue.Queue = queue.Queue()
        self._hosts: dict[str, _Host] = {}
        self._inflight = 0
        self._slots = limits.slots or Slots(limits.max_parallel)
        self._open = 0
        self._seq = itertools.count()
        self._outcomes: dict[str, list[Outcome]] = {}
        self._to_verify: list[_Track] = []
        self._has_2_95: bool | None = None
        # Shortest time seen from sending an evacuation to a listing showing it finished:
        # an upper bound of how long they take, used to poll when the next ones are due.
        self._duration_hint: float | None = None
        self._next_timeout_check = 0.0
        # host -> why: set from other threads by halt(); read by the coordinator only.
        self._halting: dict[str, str] = {}
        self.peak_inflight = 0
        self.peak_inflight_per_host: dict[str, int] = {}

    # -- public -----------------------------------------------------------------------

    def run(self, plans: Iterable[HostPlan]) -> dict[str, list[Outcome]]:
        """Carry every plan to a final outcome per instance; returns outcomes per host."""
        plans = list(plans)
        workers = self._max_workers or min(512, 2 * self.limits.max_parallel + len(plans) + 4)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="hakari-nova")
        self._slots.listen(self._events)
        try:
            for p in plans:
                self._admit(p)
            while self._open:
                self._issue()
                self._start_polls()
                self._start_verifies()
                self._wait_and_handle(self._next_wakeup())
                self._check_timeouts()
        finally:
            self._slots.unlisten(self._events)
            self._pool.shutdown(wait=True, cancel_futures=True)
        return self._outcomes

    def halt(self, host: str, reason: str) -> None:
        """Send nothing more for ``host`` (any thread). Evacuations already sent are
        followed to their end; the others end SKIPPED with ``reason``."""
        self._halting[host] = reason
        self._events.put(("halt", host, None))  # wake the coordinator

    # -- admission --------------------------------------------------------------------

    def _admit(self, plan: HostPlan) -> None:
        host = _Host(plan)
        self._hosts[plan.host] = host
        self._outcomes.setdefault(plan.host, [])
        self.peak_inflight_per_host.setdefault(plan.host, 0)
        now = self._clock()
        for d in plan.decisions:
            # What a request sent now may not take for its own migration: every one
            # listed so far (until the first poll lists them again).
            host.migrations[d.id] = list(d.listed)
            t = _Track(id=d.id, name=d.name, host=plan.host, priority=d.priority,
                       seq=next(self._seq), original_status=d.original_status,
                       attempts=d.attempts, migration=None)
            host.tracks[d.id] = t
            self._open += 1
            if d.action == planmod.SKIP:
                self._final(t, SKIPPED, d.reason, d.dest_host,
                            evacuated_before=d.evacuated_before)
            elif d.action == planmod.FAIL:
                self._final(t, FAILED, d.reason, d.dest_host)
            elif d.action == planmod.WAIT:
                t.migration = d.migration
                t.started = now
                self._set_phase(t, _FLYING)
                self._take_slot(t)
            elif d.action == planmod.CHECK:
                t.migration = d.migration
                t.started = now
                self._verify(t, "check")
            else:
                heapq.heappush(host.pending, (-t.priority, t.seq, t))

    # -- issuing ----------------------------------------------------------------------

    def _issue(self) -> None:
        for name, reason in list(self._halting.items()):
            host = self._hosts.get(name)
            while host is not None and host.pending:
                self._final(heapq.heappop(host.pending)[2], SKIPPED,
                            f"not evacuated: {reason}")
        now = self._clock()
        batch: list[_Track] = []
        while self._slots.try_take():
            best = None
            for host in self._hosts.values():
                if not host.pending or host.inflight >= self.limits.max_parallel_per_host:
                    continue
                top = host.pending[0][2]
                if top.not_before > now:
                    continue
                key = (top.priority, -host.inflight, -top.seq)
                if best is None or key > best[0]:
                    best = (key, host)
            if best is None:
                self._slots.give()
                break
            host = best[1]
            t = heapq.heappop(host.pending)[2]
            target = self._target_for(t)
            if target is False:
                self._slots.give()
                self._final(t, FAILED, "no usable reserved host for target = "
                                       f"{self.policy.target}")
                continue
            t.target = target or None
            t.known = frozenset(m.id for m in host.migrations.get(t.id, ()))
            t.started, t.settle_until = now, None
            t.migration = None
            t.timed = True
            self._set_phase(t, _POSTING)
            self._take_slot(t, reserved=True)
            batch.append(t)
        if not batch:
            return
        # Write-ahead: a crash between here and Nova's answer leaves a trace that makes
        # the next run wait before deciding the request had no effect.
        self._journal(*[self._event(t, "evacuate-requested", attempt=t.attempts + 1,
                                    target=t.target or "scheduler",
                                    original_status=t.original_status, name=t.name)
                        for t in batch])
        for t in batch:
            fut = self._pool.submit(self.nova.evacuate, t.id, host=t.target,
                                    stop_at_destination=self._stop_at_destination(t))
            fut.add_done_callback(lambda f, t=t: self._events.put(("post", t, f)))

    def _stop_at_destination(self, t: _Track) -> bool:
        """2.95 for the policy, and for any instance that was SHUTOFF: below 2.95 Nova
        restores the power state from the vm_state at rebuild time, and after a failed
        attempt that is ERROR, so a retried stopped instance would come back running."""
        if self.policy.stop_at_destination:
            return True
        return t.original_status == "SHUTOFF" and self._speaks_2_95()

    def _speaks_2_95(self) -> bool:
        if self._has_2_95 is None:
            try:
                self._has_2_95 = self.nova.max_microversion() >= (2, 95)
            except NovaError:
                return False
        return self._has_2_95

    def _target_for(self, t: _Track):
        """A reserved host, None for the scheduler, or False when none is usable."""
        if not uses_reserved(self.policy.target, t.attempts):
            return None
        for _ in range(max(1, len(self.reserved.hosts))):
            host = self.reserved.take(avoid=t.host)
            if host is None or host == t.host:
                break
            if self._ready(host, t):
                return host
        return None if self.policy.target in ("auto_priority", "rh_priority") else False

    def _ready(self, target: str, t: _Track) -> bool:
        """Prepare a reserved host once (enable it in Nova, and whatever else
        ``prepare_target`` says it did: ``marked``); False if that failed."""
        if target not in self._prepared:
            error = marked = None
            if self._prepare_target is not None:
                try:
                    marked = self._prepare_target(target) or None
                except NovaError as err:
                    error = str(err)
            self._prepared[target] = error
            self._journal(self._event(t, "reserved-host", target=target, error=error,
                                      marked=marked))
        return self._prepared[target] is None

    def _take_slot(self, t: _Track, reserved: bool = False) -> None:
        """``reserved``: the shared slot was already taken (by _issue's try_take)."""
        if t.holds_slot:
            if reserved:
                self._slots.give()
            return
        if not reserved:
            self._slots.force_take()
        t.holds_slot = True
        host = self._hosts[t.host]
        host.inflight += 1
        self._inflight += 1
        self.peak_inflight = max(self.peak_inflight, self._inflight)
        self.peak_inflight_per_host[t.host] = max(self.peak_inflight_per_host[t.host],
                                                  host.inflight)

    def _free_slot(self, t: _Track) -> None:
        if not t.holds_slot:
            return
        t.holds_slot = False
        self._hosts[t.host].inflight -= 1
        self._inflight -= 1
        self._slots.give()

    # -- polling and verifying --------------------------------------------------------

    def _set_phase(self, t: _Track, phase: int) -> None:
        t.phase = phase
        active = self._hosts[t.host].active
        if phase in (_POSTING, _FLYING):
            active.add(t)
        else:
            active.discard(t)

    def _poll_due(self, host: _Host) -> float:
        """When ``host``'s migrations should next be listed.

        Every ``poll_interval`` at least; faster (a quarter of it) once the oldest
        evacuation in flight has run about as long as the quickest ones took so far, so
        a wave of rebuilds is seen finishing soon after it does, without listing the
        host at the fast rate all the time.
        """
        if host.poll_now:
            return host.last_poll_start
        due = host.last_poll_start + self.limits.poll_interval
        if self._duration_hint is not None and host.active:
            expected = min(t.started for t in host.active) + 0.8 * self._duration_hint
            fast = max(0.05, self.limits.poll_interval / 4)
            due = min(due, max(expected, host.last_poll_start + fast))
        return due

    def _start_polls(self) -> None:
        now = self._clock()
        for host in self._hosts.values():
            if host.polling or not host.active or now < self._poll_due(host):
                continue
            host.polling = True
            host.poll_now = False
            host.last_poll_start = now
            fut = self._pool.submit(self.nova.evacuations, host.name, since=host.since)
            fut.add_done_callback(
                lambda f, h=host, s=now: self._events.put(("poll", (h, s), f)))

    def _start_verifies(self) -> None:
        now = self._clock()
        due, self._to_verify = self._to_verify, []
        for t in due:
            if t.phase != _VERIFYING:
                continue
            if t.not_before > now:
                self._to_verify.append(t)
                continue
            fut = self._pool.submit(self.nova.server, t.id)
            fut.add_done_callback(lambda f, t=t: self._events.put(("verify", t, f)))

    def _next_wakeup(self) -> float:
        now = self._clock()
        soon = min(now + 1.0, self._next_timeout_check)
        for t in self._to_verify:
            soon = min(soon, t.not_before)
        for host in self._hosts.values():
            if not host.polling and host.active:
                soon = min(soon, self._poll_due(host))
            if host.pending and host.inflight < self.limits.max_parallel_per_host:
                soon = min(soon, host.pending[0][2].not_before)
        return max(0.005, soon - now)

    def _wait_and_handle(self, timeout: float) -> None:
        try:
            item = self._events.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            kind, ctx, fut = item
            getattr(self, f"_on_{kind}")(ctx, fut)
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                return

    def _on_halt(self, host: str, _fut) -> None:
        pass  # the wake-up was the point: the loop's next _issue drops the host's work

    def _on_slot(self, _ctx, _fut) -> None:
        pass  # another evacuator freed a shared slot: the loop's next _issue may use it

    def _on_post(self, t: _Track, fut) -> None:
        err = fut.exception()
        if t.phase not in (_POSTING, _FLYING):
            # A listing already showed this request's migration finished: only keep the
            # request id for the record.
            rid = fut.result() if err is None else getattr(err, "request_id", None)
            if rid:
                t.request_ids.append(rid)
                self._journal(self._event(t, "evacuate-accepted", request_id=rid,
                                          target=t.target or "scheduler"))
            return
        if err is None:
            rid = fut.result()
            if rid:
                t.request_ids.append(rid)
            self._set_phase(t, _FLYING)
            self._journal(self._event(t, "evacuate-accepted", request_id=rid,
                                      target=t.target or "scheduler"))
            return
        rid = getattr(err, "request_id", None)
        if rid:
            t.request_ids.append(rid)
        if isinstance(err, NovaNotFound):
            self._journal(self._event(t, "evacuate-rejected", request_id=rid, error=str(err)))
            return self._final(t, SKIPPED, "deleted from Nova during recovery")
        if not isinstance(err, NovaError) or err.ambiguous:
            # Nova may have acted. If it answered (5xx) its work is over and the next
            # listing tells; if the connection died, give it settle_time first.
            self._set_phase(t, _FLYING)
            t.last_error = _reason(err)
            answered = isinstance(err, NovaError) and err.status is not None
            wait = 0.0 if answered else self.limits.settle_time
            t.settle_until = self._clock() + wait
            self._journal(self._event(t, "evacuate-unknown", request_id=rid, error=str(err),
                                      settle=wait))
            return
        # Refused (4xx), or never reached Nova: this attempt is over, no migration exists.
        t.last_error = _reason(err)
        self._journal(self._event(t, "evacuate-rejected", request_id=rid, error=str(err)))
        t.attempts += 1
        never_reached = err.status is None
        transient = isinstance(err, NovaConflict) and "vm_state" not in str(err)
        self._retry_or_fail(t, f"evacuate refused: {t.last_error}", never_reached or transient)

    def _on_poll(self, ctx, fut) -> None:
        host, started = ctx
        host.polling = False
        err = fut.exception()
        if err is not None:
            # Try again at the next interval; stuck instances end by verify_timeout.
            self._journal(Event(self._wall(), host.incident, host.name, "poll-error",
                                detail={"error": str(err)}))
            return
        host.migrations = planmod.by_server(fut.result())
        for t in list(host.active):
            ms = host.migrations.get(t.id, [])
            if t.migration is None:
                new = [m for m in ms if m.id not in t.known]
                if new:
                    t.migration = new[0]
                    t.settle_until = None
                    self._journal(self._event(t, "migration", migration=new[0].id,
                                              status=new[0].status))
            else:
                t.migration = next((m for m in ms if m.id == t.migration.id), t.migration)
            if t.migration is not None:
                if not t.migration.in_flight:
                    took = started - t.started
                    if t.timed and took > 0 and (
                            self._duration_hint is None or took < self._duration_hint):
                        self._duration_hint = took
                    self._verify(t, "")
            elif t.phase == _FLYING and t.settle_until is not None and \
                    started >= t.settle_until:
                # The lost request left no migration: it had no effect.
                t.attempts += 1
                self._retry_or_fail(t, f"evacuate request lost: {t.last_error}", True)

    def _verify(self, t: _Track, why: str) -> None:
        self._set_phase(t, _VERIFYING)
        t.verify_reason = why
        self._to_verify.append(t)

    def _on_verify(self, t: _Track, fut) -> None:
        if t.phase != _VERIFYING:
            return
        err = fut.exception()
        if isinstance(err, NovaNotFound):
            return self._final(t, SKIPPED, "deleted from Nova during recovery")
        if err is not None:
            t.last_error = str(err)
            if t.verify_reason == "check":
                if self._clock() - t.started > self.limits.verify_timeout:
                    return self._final(t, FAILED, f"cannot read it from Nova: {err}")
                t.not_before = self._clock() + self.limits.poll_interval
                self._to_verify.append(t)
                return
            if self._clock() - t.started > 2 * self.limits.verify_timeout:
                return self._final(t, FAILED, f"cannot verify: {err}")
            # Read again after the next listing.
            self._set_phase(t, _FLYING)
            return
        server: Server = fut.result()
        # One that left the host before this run is known by its id alone until now.
        t.name = t.name or server.name
        m = t.migration
        if t.verify_reason == "check":
            return self._judge_departed(t, server)
        expected = expected_statuses(t.original_status, self.policy.stop_at_destination)
        on_source = server.host == t.host
        if m is not None and m.succeeded:
            if server.task_state is not None and not on_source:
                self._set_phase(t, _FLYING)     # Nova is finishing up; look again shortly
                return
            if not on_source and server.status in expected:
                return self._final(t, EVACUATED, "", server.host)
            if not on_source:
                return self._final(t, FAILED, f"arrived on {server.host} as {server.status}"
                                   f", expected {'/'.join(sorted(expected))}"
                                   + (f": {server.fault}" if server.fault else ""),
                                   server.host)
            t.attempts += 1
            return self._retry_or_fail(
                t, f"migration {m.id} {m.status} but Nova still places it here",
                server.task_state is None)
        if m is not None and m.failed:
            t.attempts += 1
            reason = planmod.failure_reason(m, server)
            if on_source:
                return self._retry_or_fail(t, reason, server.task_state is None)
            return self._final(t, FAILED, f"{reason} (now {server.status} on "
                                          f"{server.host}; not retried off a live host)",
                               server.host)
        if t.verify_reason == "timeout":
            t.attempts += 1
            state = m.status if m is not None else "no migration"
            reason = f"no result within {self.limits.verify_timeout:g}s ({state})"
            safe = on_source and server.task_state is None
            if not safe:
                return self._final(t, FAILED, reason + f"; Nova shows {server.status}"
                                   f"{'/' + server.task_state if server.task_state else ''}"
                                   f" on {server.host}", server.host)
            return self._retry_or_fail(t, reason, True)
        self._set_phase(t, _FLYING)

    def _judge_departed(self, t: _Track, server: Server) -> None:
        """An instance that left the host after a failed evacuation (earlier run)."""
        if server.host == t.host:
            return self._final(t, FAILED, "back on the failed host after a failed "
                                          "evacuation; run the recovery again", None)
        if server.status in ("ACTIVE", "SHUTOFF") and server.task_state is None:
            return self._final(t, SKIPPED, f"no longer on this host ({server.status} on "
                                           f"{server.host})", server.host)
        m = t.migration
        return self._final(t, FAILED, f"{planmod.failure_reason(m, server)} (now "
                                      f"{server.status} on {server.host})", server.host)

    def _check_timeouts(self) -> None:
        now = self._clock()
        if now < self._next_timeout_check:
            return
        self._next_timeout_check = now + 1.0
        for host in self._hosts.values():
            for t in list(host.active):
                # A request still being sent is bounded by the HTTP timeout instead.
                if t.phase == _FLYING and now - t.started > self.limits.verify_timeout:
                    self._verify(t, "timeout")

    def _retry_or_fail(self, t: _Track, reason: str, retryable: bool) -> None:
        self._free_slot(t)
        if retryable and t.attempts < self.policy.max_attempts:
            self._set_phase(t, _PENDING)
            t.migration = None
            t.settle_until = None
            t.last_error = reason
            # Back off a little: what failed may need a moment (a conflict, a scheduler).
            t.not_before = self._clock() + min(5.0, self.limits.poll_interval * t.attempts)
            self._journal(self._event(t, "retry", attempts=t.attempts, reason=reason))
            heapq.heappush(self._hosts[t.host].pending, (-t.priority, t.seq, t))
            return
        if retryable:
            reason = f"{t.attempts} attempts, last: {reason}"
        self._final(t, FAILED, reason)

    # -- results ----------------------------------------------------------------------

    def _final(self, t: _Track, result: str, reason: str, dest: str | None = None,
               evacuated_before: bool = False) -> None:
        if t.phase == _FINAL:
            return
        self._free_slot(t)
        self._set_phase(t, _FINAL)
        self._open -= 1
        outcome = Outcome(t.id, t.name, t.host, result, dest, reason, t.attempts,
                          tuple(t.request_ids))
        self._outcomes[t.host].append(outcome)
        extra = {"evacuated_before": True} if evacuated_before else {}
        self._journal(self._event(t, "result", result=result, dest_host=dest, reason=reason,
                                  attempts=t.attempts, name=t.name, **extra))
        if self.progress is not None:
            self.progress(outcome)

    def _event(self, t: _Track, kind: str, request_id: str | None = None, **detail) -> Event:
        host = self._hosts[t.host]
        return Event(self._wall(), host.incident, t.host, kind, t.id, request_id, detail)

    def _journal(self, *events: Event) -> None:
        if self.journal is not None:
            self.journal.append(*events)


def _reason(err: BaseException) -> str:
    text = str(err)
    # "POST /servers/<id>/action: HTTP 409: <Nova's message>" -> Nova's message.
    return text.split(": ", 2)[-1] if text.count(": ") >= 2 else text
