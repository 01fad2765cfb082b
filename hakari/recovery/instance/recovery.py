"""Instance failure recovery: the I/O around recovery.instance.decision.

One incident per failure of one instance, kept in the CIB (records.failures) with the
attempts made, counted before each is made: the retry limit holds across runs and on
every controller. Its timeline is journaled (``attempt``, ``action-accepted``/
``action-rejected`` with Nova's request ids, ``attempt-failed``, ``result``). Every step
re-reads the server first, so a rerun never acts on a healthy one.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from hakari.errors import HakariError
from hakari.recovery.instance import decision as decision
from hakari.records.failures import INSTANCE, Failure, FailureBook, failure_book, new_failure
from hakari.records.journal import Journal
from hakari.nova.client import Nova
from hakari.nova.errors import NovaError, NovaNotFound
from hakari.nova.resources import Server
from hakari.recovery.policy import Policy, host_aggregates

RECOVERED, HEALTHY, SKIPPED, FAILED = "recovered", "healthy", "skipped", "failed"


@dataclasses.dataclass
class InstanceReport:
    id: str
    name: str
    result: str
    reason: str
    status: str
    host: str | None
    incident: str | None
    attempts: int

    def document(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def failed(self) -> bool:
        return self.result == FAILED


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    method: str = "auto"
    max_attempts: int = 3
    verify_timeout: float = 300.0
    poll_interval: float = 2.0

    @classmethod
    def from_config(cls, conf) -> "Settings":
        f = conf.instance_failure
        return cls(f.method, f.max_attempts, f.verify_timeout, f.poll_interval)


class InstanceRecovery:
    """``book``: where the incidents are kept; by default the CIB's when this machine
    reaches a cluster, else ``journal`` alone (records.failures.failure_book)."""

    def __init__(self, nova: Nova, journal: Journal, policy: Policy, settings: Settings, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 progress: Callable[[str], None] | None = None,
                 book: FailureBook | None = None):
        self.nova = nova
        self.book = book if book is not None else failure_book(journal)
        self.policy = policy
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        self._progress = progress or (lambda message: None)

    def run(self, server_id: str, source: str = "cli",
            cause: str | None = None) -> InstanceReport:
        """``cause``: why the reporter took it for a failure, for the journal."""
        try:
            server = self.nova.server(server_id)
        except NovaNotFound:
            raise HakariError(f"Nova has no server {server_id!r}") from None
        incident = self.book.current(INSTANCE, server.id)
        attempts = incident.attempts if incident else 0
        acted = False
        while True:
            step = decision.decide(
                server, self.policy, attempts=attempts,
                max_attempts=self.settings.max_attempts, method=self.settings.method,
                host_up=self._host_up(server), aggregates_of_host=self._aggregates(server))
            if step.action == decision.WAIT:
                server = self._settle(server.id)
                if server.task_state:
                    incident = incident or self._open(server, source, cause)
                    return self._finish(incident, server, FAILED, attempts,
                                        f"task {server.task_state} still in progress after "
                                        f"{self.settings.verify_timeout:g}s", keep=True)
                continue
            if step.action == decision.HEALTHY:
                if incident is None:
                    return self._report(server, HEALTHY, "ACTIVE: nothing to recover",
                                        None, attempts)
                why = (f"ACTIVE after attempt {attempts}" if acted else
                       "found ACTIVE (recovered outside this run)")
                return self._finish(incident, server, RECOVERED, attempts, why)
            incident = incident or self._open(server, source, cause)
            if step.action == decision.SKIP:
                return self._finish(incident, server, SKIPPED, attempts, step.reason)
            if step.action == decision.FAIL:
                return self._finish(incident, server, FAILED, attempts, step.reason)
            attempts += 1
            acted = True
            # Counted before it is made: a run that dies mid-attempt has spent it.
            incident = self.book.transition(incident, "RECOVERING",
                                            f"attempt {attempts}: {step.reason}",
                                            attempts=attempts)
            self.book.record(incident, "attempt", number=attempts, verbs=list(step.verbs),
                             status=server.status)
            self._progress(f"attempt {attempts}: {' + '.join(step.verbs)}")
            server, failure = self._attempt(incident, server, step.verbs)
            if failure:
                self.book.record(incident, "attempt-failed", number=attempts,
                                 reason=failure, status=server.status)
                self._progress(f"attempt {attempts} failed: {failure}")

    def _open(self, server: Server, source: str, cause: str | None) -> Failure:
        incident = self.book.save(new_failure(INSTANCE, server.id, server.host or "",
                                              f"reported {server.status} ({source})"))
        self.book.record(incident, "reported", source=source, status=server.status,
                         name=server.name, fault=server.fault,
                         **({"cause": cause} if cause else {}))
        return incident

    # -- one attempt ------------------------------------------------------------------

    def _attempt(self, incident: Failure, server: Server,
                 verbs: tuple[str, ...]) -> tuple[Server, str]:
        """Issue ``verbs`` in order, each verified; (server now, why it failed or "")."""
        for verb in verbs:
            try:
                rid = self._issue(verb, server.id)
            except NovaError as err:
                self.book.record(incident, "action-rejected", verb=verb, reason=str(err),
                                 request_id=err.request_id, status=err.status)
                # A lost answer (or a 409 because someone else acted) may still have
                # left the instance where we wanted it: look before judging.
                server = self._settle(server.id)
                want = "SHUTOFF" if verb == decision.STOP else "ACTIVE"
                if server.status == want and not server.task_state:
                    continue
                return server, f"{verb}: {err}"
            self.book.record(incident, "action-accepted", verb=verb, request_id=rid)
            want = "SHUTOFF" if verb == decision.STOP else "ACTIVE"
            server = self._settle(server.id, want)
            if server.task_state:
                return server, (f"{verb}: task {server.task_state} still in progress after "
                                f"{self.settings.verify_timeout:g}s")
            if server.status != want:
                return server, (f"{verb}: ended {server.status}, not {want}"
                                + (f" (Nova: {server.fault})" if server.fault else ""))
        return server, ""

    def _issue(self, verb: str, server_id: str) -> str | None:
        if verb == decision.START:
            return self.nova.start_server(server_id)
        if verb == decision.STOP:
            return self.nova.stop_server(server_id)
        return self.nova.reboot_server(server_id, hard=True)

    def _settle(self, server_id: str, want: str | None = None) -> Server:
        """Poll until no task is in progress and (when ``want``) the status is reached or
        two looks in a row agree it is not coming; at most verify_timeout."""
        deadline = self._clock() + self.settings.verify_timeout
        idle_other = 0
        while True:
            server = self.nova.server(server_id)
            if not server.task_state:
                if want is None or server.status == want:
                    return server
                # Nova sets the task state before it answers 202, so an idle server in
                # the wrong state is a failed action; one more look rules out a race with
                # a compute that has not picked the request up yet.
                idle_other += 1
                if idle_other >= 2:
                    return server
            else:
                idle_other = 0
            if self._clock() >= deadline:
                return server
            self._sleep(self.settings.poll_interval)

    # -- context ----------------------------------------------------------------------

    def _host_up(self, server: Server) -> bool | None:
        if not server.host:
            return None
        try:
            svc = self.nova.compute_service(server.host)
        except NovaNotFound:
            return None
        return svc.up and not svc.forced_down

    def _aggregates(self, server: Server):
        if self.policy.selection != "tagged" or "aggregate" not in self.policy.sources \
                or not server.host:
            return ()
        return host_aggregates(server.host, self.nova.aggregates())

    # -- endings ----------------------------------------------------------------------

    def _finish(self, incident: Failure, server: Server, result: str, attempts: int,
                reason: str, keep: bool = False) -> InstanceReport:
        state = {RECOVERED: "RECOVERED", SKIPPED: "SKIPPED", FAILED: "FAILED"}[result]
        if not keep:
            incident = self.book.transition(incident, state, reason)
        self.book.record(incident, "result", result=result, reason=reason,
                         name=server.name, attempts=attempts, status=server.status)
        return self._report(server, result, reason, incident.id, attempts)

    @staticmethod
    def _report(server: Server, result: str, reason: str, incident: str | None,
                attempts: int) -> InstanceReport:
        return InstanceReport(server.id, server.name, result, reason, server.status,
                              server.host, incident, attempts)
