"""Notifications handled off the request thread: what each one does, and its outcome.

A POST answers at once with the notification stored as ``new``; a thread of this
process then claims it (``running``: exactly one `hakari api` process wins, however many
share the database) and runs what hakari.api.decide says it means, through the same
entry points as `hakari notify process` (ProcessRecovery.signal) and `hakari
recover-instance` (InstanceRecovery.run), or follows the host's incident in the CIB for
a COMPUTE_HOST one. The outcome (finished, failed or ignored, with the message) goes to
the database and, with the request id of the POST, to the journal.

A ticker refreshes the claims this process holds every HEARTBEAT seconds and takes over
notifications nobody runs: new ones left by a process that died before claiming them,
and running ones whose worker's heartbeat stopped STALE seconds ago. Running them again
is safe: a process failure is counted once per notification (its key), an instance is
re-read before anything is done to it, and following an incident changes nothing.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from hakari.api import decide, statuses
from hakari.api.compute import nova_host
from hakari.api.decide import Outcome
from hakari.api.records import Host, Notification, Records
from hakari.cluster import live
from hakari.cluster.live import Look
from hakari.errors import HakariError, ParseError, ToolError, ToolNotFound
from hakari.hostnames import HostNameMap
from hakari.nova.client import Nova
from hakari.records.failures import failure_book
from hakari.records.journal import Journal, utcnow
from hakari.records.store import HostLock
from hakari.recovery.instance.recovery import InstanceRecovery, Settings
from hakari.recovery.policy import Policy
from hakari.recovery.process import decision as pd
from hakari.recovery.process.recovery import ProcessRecovery

LOG = logging.getLogger("hakari.api")
HEARTBEAT = 30.0
# A running notification whose worker has been silent this long is taken over.
STALE = 10 * HEARTBEAT
# A new notification nobody claimed within this long is taken by any process.
UNCLAIMED = HEARTBEAT
JOURNAL_EVENT = "api-notification"


@dataclasses.dataclass
class Parts:
    """What a notification's handling talks to; tests give their own."""

    nova: Callable[[], Nova]
    look: Callable[[], Look]
    process: Callable[[Nova], ProcessRecovery]
    instance: Callable[[Nova], InstanceRecovery]
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def real(cls, conf, journal: Journal, nova: Callable[[], Nova]) -> "Parts":
        # As `hakari notify process` and `hakari recover-instance` make them: the
        # failure incidents in the CIB when this machine reaches the cluster.
        def book():
            return failure_book(journal, conf.cluster.tool_timeout)

        return cls(
            nova=nova,
            look=lambda: live.look_in(live.read_cib(conf)),
            process=lambda n: ProcessRecovery(n, journal, pd.Thresholds.from_config(conf),
                                              state_dir=conf.state_dir, book=book()),
            instance=lambda n: InstanceRecovery(n, journal, Policy.from_config(conf),
                                                Settings.from_config(conf), book=book()))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Recoveries:
    def __init__(self, conf, records: Records, journal: Journal, parts: Parts, *,
                 worker: str | None = None):
        self.conf = conf
        self.records = records
        self.journal = journal
        self.parts = parts
        self.worker = worker or worker_name()
        self.names = HostNameMap.from_config(conf)
        self.stopping = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            conf.api.recovery_workers, thread_name_prefix="hakari-api-recovery")
        self._lock = threading.Lock()
        self._mine: set[str] = set()       # submitted here, not yet over
        self._running: set[str] = set()    # claimed here, being handled
        self._ticker: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._ticker = threading.Thread(target=self._tick, name="hakari-api-ticker",
                                        daemon=True)
        self._ticker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking work; notifications still running stay running, for the next
        process to take over once their heartbeat is STALE."""
        self.stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._ticker is not None:
            self._ticker.join(timeout)

    def submit(self, notification_uuid: str, stale: bool = False) -> None:
        with self._lock:
            if notification_uuid in self._mine or self.stopping.is_set():
                return
            self._mine.add(notification_uuid)
        try:
            self._pool.submit(self.run, notification_uuid, stale)
        except RuntimeError:            # shut down meanwhile
            with self._lock:
                self._mine.discard(notification_uuid)

    def _tick(self) -> None:
        while True:
            try:
                self.sweep()
            except HakariError as err:
                LOG.error("notifications: %s", err)
            except Exception:  # noqa: BLE001 - the ticker must outlive a bad database moment
                LOG.exception("notifications: sweep failed")
            if self.stopping.wait(HEARTBEAT):
                return

    def sweep(self, now: dt.datetime | None = None) -> None:
        """Refresh this process's claims, and take what nobody runs."""
        now = now or utcnow()
        with self._lock:
            running = set(self._running)
        self.records.touch(running, self.worker)
        for notification_uuid, stale in self.records.unclaimed(
                now - dt.timedelta(seconds=UNCLAIMED), now - dt.timedelta(seconds=STALE)):
            if notification_uuid not in running:
                self.submit(notification_uuid, stale)

    # -- one notification -----------------------------------------------------------------

    def run(self, notification_uuid: str, stale: bool = False) -> str | None:
        """Claim and handle one notification; its final status, or None when another
        process has it or this one is stopping."""
        try:
            cutoff = utcnow() - dt.timedelta(seconds=STALE) if stale else None
            if not self.records.claim(notification_uuid, self.worker, stale_before=cutoff):
                return None
            with self._lock:
                self._running.add(notification_uuid)
            n = self.records.notification(notification_uuid)
            host = self.records.host_by_uuid(n.source_host_uuid)
            try:
                outcome = self._handle(n, host)
            except HakariError as err:
                outcome = Outcome(statuses.FAILED, str(err))
            except Exception as err:  # noqa: BLE001 - recorded, never lost in a thread
                LOG.exception("notification %s", notification_uuid)
                outcome = Outcome(statuses.FAILED, f"internal error: {type(err).__name__}: "
                                                   f"{err} (a bug in hakari)")
            if outcome is None:
                return None
            self.records.finish(notification_uuid, self.worker, outcome.status,
                                outcome.message, outcome.incident)
            self._journal(n, host, outcome.status, outcome.message, outcome.incident)
            LOG.info("notification %s (%s %s): %s: %s", notification_uuid, n.type,
                     n.hostname, outcome.status, outcome.message)
            return outcome.status
        except Exception:  # noqa: BLE001 - e.g. the database went away: the sweep retries
            LOG.exception("notification %s: not recorded", notification_uuid)
            return None
        finally:
            with self._lock:
                self._running.discard(notification_uuid)
                self._mine.discard(notification_uuid)

    def _journal(self, n: Notification, host: Host | None, status: str, message: str,
                 incident: str | None) -> None:
        self.journal.record(incident or n.notification_uuid,
                            host.name if host else n.hostname, JOURNAL_EVENT,
                            request_id=n.request_id, notification=n.notification_uuid,
                            type=n.type, payload=n.payload, status=status, message=message)

    def _handle(self, n: Notification, host: Host | None) -> Outcome | None:
        if host is None:
            return Outcome(statuses.IGNORED, f"host {n.hostname} is in no segment any more")
        if not host.segment.enabled:
            return Outcome(statuses.IGNORED, f"segment {host.segment.name} is disabled: "
                                             "notifications of its hosts are not acted on")
        plan = decide.plan(n.type, n.payload)
        if plan.action == decide.IGNORE:
            return Outcome(statuses.IGNORED, plan.reason)
        self._journal(n, host, statuses.RUNNING, plan.action, None)
        if plan.action in (decide.PROCESS_FAILURE, decide.PROCESS_HEALTHY):
            return self._process(n, host, plan.action == decide.PROCESS_FAILURE)
        if plan.action == decide.INSTANCE:
            return self._instance(n)
        return self._host(n, host)

    def _process(self, n: Notification, host: Host, failed: bool) -> Outcome:
        nova = self.parts.nova()
        target = nova_host(nova, self.names, host.name)
        if target is None:
            return Outcome(statuses.FAILED,
                           f"Nova has no nova-compute service on host {host.name}")
        recovery = self.parts.process(nova)
        source = f"masakari notification {n.notification_uuid}"
        if failed:
            # Keyed by the notification: taken over after a crash, it counts once.
            report = recovery.signal(target, pd.FAILURE, source=source, immediate=True,
                                     key=f"notification-{n.notification_uuid}",
                                     request_id=n.request_id,
                                     process=n.payload.get("process_name"))
        else:
            report = recovery.signal(target, pd.HEALTHY, source=source)
        outcome = decide.process_outcome(report.action, report.reason,
                                         report.service_status, report.service_state)
        return dataclasses.replace(outcome, incident=report.incident)

    def _instance(self, n: Notification) -> Outcome:
        server = n.payload["instance_uuid"]
        recovery = self.parts.instance(self.parts.nova())
        # One recovery of an instance at a time on this machine, as recover-instance.
        with HostLock(self.conf.state_dir, f"instance-{server}"):
            report = recovery.run(server, source=f"masakari notification "
                                                 f"{n.notification_uuid} ({n.request_id})")
        outcome = decide.instance_outcome(report.result, report.reason, report.status,
                                          report.attempts)
        return dataclasses.replace(outcome, incident=report.incident)

    def _host(self, n: Notification, host: Host) -> Outcome | None:
        node = self.names.to_node(host.name)
        timeout = self.conf.api.host_follow_timeout
        deadline = self.parts.clock() + timeout
        told = attached = None
        while True:
            try:
                outcome = decide.host_outcome(self.parts.look(), node,
                                              self.conf.cluster.compute_nodes)
            except ToolNotFound as err:
                return Outcome(statuses.FAILED, f"cannot read the cluster: {err}")
            except (ToolError, ParseError) as err:
                outcome = Outcome(None, f"cannot read the cluster: {err}")
            if outcome.status is not None:
                return outcome
            if outcome.incident and outcome.incident != attached:
                attached = outcome.incident
                self._journal(n, host, statuses.RUNNING, outcome.message, attached)
            if outcome.message != told:
                told = outcome.message
                self.records.progress(n.notification_uuid, self.worker,
                                      message=outcome.message, incident=outcome.incident)
            if self.parts.clock() >= deadline:
                return Outcome(statuses.FAILED, f"{outcome.message}, still after "
                                                f"{timeout:g} s", outcome.incident)
            if self.stopping.wait(self.conf.api.host_follow_interval):
                return None
