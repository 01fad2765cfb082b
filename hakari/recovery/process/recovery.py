"""Process failure handling: the I/O around recovery.process.decision.

A failure signal (a failed nova-compute operation the engine found, or `hakari notify
process HOST`) opens or joins the host's process incident; the decision then disables,
re-enables or waits. The incident and its signals (their times, and keys so that one
failure is counted once) are kept in the CIB (records.failures), so counts and states
hold across restarts and engine failovers; who disabled the service is Nova's disabled
reason. Everything is journaled under the incident id, with Nova's request ids.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from hakari.recovery.process import decision as pd
from hakari.records.failures import PROCESS, Failure, FailureBook, failure_book, new_failure
from hakari.records.journal import Journal, utcnow
from hakari.nova.client import Nova
from hakari.nova.errors import NovaError
from hakari.records.store import HostLock

SIGNAL_EVENT = "failure-signal"


@dataclasses.dataclass
class ProcessReport:
    host: str
    action: str
    reason: str
    incident: str | None
    state: str | None
    service_status: str
    service_state: str
    disabled_reason: str | None

    def document(self) -> dict:
        return dataclasses.asdict(self)


class ProcessRecovery:
    """``book``: where the incidents are kept; by default the CIB's when this machine
    reaches a cluster, else ``journal`` alone (records.failures.failure_book)."""

    def __init__(self, nova: Nova, journal: Journal, limits: pd.Thresholds, *,
                 state_dir: str | None = None, book: FailureBook | None = None):
        self.nova = nova
        self.book = book if book is not None else failure_book(journal)
        self.limits = limits
        # One writer per host at a time (engine and CLI alike); None in pure tests.
        self._state_dir = state_dir

    def signal(self, host: str, trigger: str, *, source: str, immediate: bool = False,
               key: str | None = None, now: dt.datetime | None = None,
               **detail) -> ProcessReport:
        if self._state_dir is None:
            return self._signal(host, trigger, source, immediate, key, now, detail)
        with HostLock(self._state_dir, f"process-{host}"):
            return self._signal(host, trigger, source, immediate, key, now, detail)

    def check_open(self, now: dt.datetime | None = None) -> list[ProcessReport]:
        """Re-look at every open process incident (the engine's periodic re-enable)."""
        reports, errors = [], []
        for f in self.book.all_open(PROCESS):
            try:
                reports.append(self.signal(f.target, pd.CHECK, source="engine", now=now))
            except NovaError as err:
                # One host Nova cannot answer about must not hold up the others.
                errors.append(f"{f.target}: {err}")
        if errors and not reports:
            raise NovaError("; ".join(errors))
        return reports

    def _signal(self, host, trigger, source, immediate, key, now, detail) -> ProcessReport:
        now = now or utcnow()
        service = self.nova.compute_service(host)
        incident = self.book.current(PROCESS, host)
        if trigger == pd.FAILURE:
            if key and incident is not None and incident.counted(key):
                # The same failure signalled again (an engine restart or failover).
                return self._report(host, pd.NOTHING, "signal already counted", incident,
                                    service)
            if incident is None:
                incident = new_failure(PROCESS, host, host,
                                       f"nova-compute failing ({source})", now)
            # Kept before anything is done about it: one write for the incident and the
            # signal, which every controller then counts.
            incident = self.book.save(incident.with_signal(now, key))
            self.book.record(incident, SIGNAL_EVENT, source=source, key=key, ts=now,
                             **detail)
        failures = incident.signal_times() if incident else []
        step = pd.decide(trigger, service, incident.state if incident else None, failures,
                         now, self.limits, immediate=immediate)
        if incident is None:
            return self._report(host, step.action, step.reason, None, service)
        if step.action == pd.DISABLE:
            reason = f"{pd.REASON_PREFIX} {incident.id}: nova-compute keeps failing"
            service, rid = self.nova.disable(service, reason)
            self.book.record(incident, "disabled", request_id=rid, reason=reason)
        elif step.action == pd.ENABLE:
            service, rid = self.nova.enable(service)
            self.book.record(incident, "enabled", request_id=rid, why=step.reason)
        if step.state:
            incident = self.book.transition(incident, step.state, step.reason)
        return self._report(host, step.action, step.reason, incident, service)

    @staticmethod
    def _report(host, action, reason, incident: Failure | None, service) -> ProcessReport:
        return ProcessReport(host, action, reason, incident.id if incident else None,
                             incident.state if incident else None, service.status,
                             service.state, service.disabled_reason)
