"""The engine's loop: look at the cluster, decide (hakari.engine.detect), act.

Alerts wake it early; a full look at crm_mon, the fence history and hakari's CIB records
every ``[cluster] reconcile_interval`` is the truth, so a lost alert costs at most one
interval and a duplicated one nothing. Recovery of fenced hosts runs in one worker thread
so the loop keeps looking (and keeps its heartbeat) while evacuations are in flight.
Stopping (SIGTERM) leaves every incident resumable: its state is in the CIB and each step
re-reads Nova before acting.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable

from hakari import paths
from hakari.cluster import attributes
from hakari.engine import detect
from hakari.errors import HakariError
from hakari.hostnames import HostNameMap
from hakari.model import FENCED_ATTRIBUTE, INCIDENT_ATTRIBUTE, ClusterSnapshot, Incident
from hakari.recovery.journal import Journal, ensure_state_dir, utcnow
from hakari.recovery.store import ClusterStore, from_record, incident_id

LOG = logging.getLogger("hakari.engine")
# Acknowledged alerts are forgotten after a day; this often is enough to sweep them.
PRUNE_INTERVAL = 600.0
# Looks an alert can trigger are at least this far apart: a burst of alerts (or anyone in
# group haclient writing to the wake socket) cannot keep the engine looking back to back.
# Small against the 1 s alert-to-evacuation budget.
MIN_WAKE_GAP = 0.25


@dataclasses.dataclass
class Records:
    incidents: dict[str, Incident]
    fenced: dict[str, dt.datetime]


def parse_records(raw: dict[str, dict[str, str]]) -> Records:
    """hakari's CIB attributes per node; unreadable ones are logged and skipped."""
    incidents: dict[str, Incident] = {}
    fenced: dict[str, dt.datetime] = {}
    for node, attrs in raw.items():
        if INCIDENT_ATTRIBUTE in attrs:
            incident = from_record(node, attrs[INCIDENT_ATTRIBUTE])
            if incident is None:
                LOG.error("%s: unreadable %s attribute in the CIB; ignoring it", node,
                          INCIDENT_ATTRIBUTE)
            else:
                incidents[node] = incident
        if FENCED_ATTRIBUTE in attrs:
            try:
                when = dt.datetime.fromisoformat(attrs[FENCED_ATTRIBUTE])
            except ValueError:
                continue
            if when.tzinfo is not None:
                fenced[node] = when
    return Records(incidents, fenced)


class Engine:
    def __init__(self, conf, *, read_cluster: Callable[[object], ClusterSnapshot] | None = None,
                 read_records: Callable[[], dict] | None = None, nova=None):
        from hakari.alerts.spool import Spool

        self.conf = conf
        self.names = HostNameMap.from_config(conf)
        if os.geteuid() == 0:
            # The installer's owners and modes: the alert agent (user hacluster) must be
            # able to write the spool, and nobody else.
            from hakari.install import make_state_dirs
            make_state_dirs(conf.state_dir)
        ensure_state_dir(conf.state_dir)
        self.journal = Journal.open(conf.state_dir)
        self.store = ClusterStore(self.journal, conf.cluster.tool_timeout)
        self.memory = detect.Memory()
        self.stop = threading.Event()
        self.wake = threading.Event()
        self._read_cluster = read_cluster
        self._read_records = read_records or (
            lambda: attributes.read_all(timeout=conf.cluster.tool_timeout))
        self._nova = nova
        self.spool = Spool(conf.state_dir)
        self._pruned = 0.0
        self._worker: threading.Thread | None = None
        self._recovering: set[str] = set()
        self._said: dict[str, str] = {}
        # Failed nova-compute operations from the spool, until handed to process recovery.
        self._process_alerts: list = []
        self._process_checked = 0.0

    @property
    def nova(self):
        if self._nova is None:
            from hakari.recovery.nova import Nova
            self._nova = Nova.connect(self.conf)
        return self._nova

    # -- the loop -------------------------------------------------------------------

    def run(self) -> None:
        from hakari.alerts.spool import WakeSocket

        LOG.info("engine started (state in %s)", self.conf.state_dir)
        # Bound before the first spool scan: an alert spooled after that scan always
        # wakes the loop.
        sock = listener = None
        try:
            sock = WakeSocket(self.conf.state_dir).open()
            listener = threading.Thread(target=self._listen, args=(sock,),
                                        name="hakari-wake", daemon=True)
            listener.start()
        except OSError as err:
            LOG.warning("no wake socket (%s): alerts are read every %gs", err,
                        self.conf.cluster.reconcile_interval)
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                self.look()
                self.wake.wait(self.conf.cluster.reconcile_interval)
                self.wake.clear()
                self.stop.wait(max(0.0, started + MIN_WAKE_GAP - time.monotonic()))
        finally:
            self.stop.set()
            if listener is not None:
                listener.join(5.0)  # it polls stop every second; then the socket can go
            if sock is not None:
                sock.close()
        LOG.info("engine stopping; open incidents resume at the next start")

    def look(self) -> None:
        """One beat and one reconcile. Nothing here may end the engine: whatever a look
        trips over is logged and the next look tries again."""
        try:
            self.beat()
            self.reconcile()
            self._said.pop("reconcile", None)
        except HakariError as err:
            self._say("reconcile", f"cannot reconcile: {err}", logging.ERROR)
        except Exception as err:  # noqa: BLE001 - an engine that exits is HA lost for good
            if self._said.get("reconcile") != repr(err):
                LOG.exception("reconcile failed; trying again at the next look")
            self._said["reconcile"] = repr(err)

    def _listen(self, sock) -> None:
        while not self.stop.is_set():
            try:
                names = sock.wait(1.0)
            except OSError:
                return
            # Only a nudge naming a file that is in the spool wakes the loop: hacluster
            # alone writes there, while any member of haclient can send datagrams.
            if any(os.path.lexists(os.path.join(self.spool.dir, n)) for n in names):
                self.wake.set()

    def beat(self) -> None:
        with open(paths.heartbeat_file(self.conf.state_dir), "w") as f:
            f.write(f"{os.getpid()} {utcnow().isoformat()}\n")

    def drain_alerts(self) -> None:
        """Alerts date losses (node lost/member); the cluster's state stays the truth."""
        for item in self.spool.pending():
            event = item.event
            if event.kind == "node" and event.desc in ("member", "lost"):
                self.memory.node_alert(event.node, event.desc == "member", event.timestamp)
            elif event.kind == "resource" and event.resource is not None:
                from hakari.recovery.process_decision import is_process_failure
                r = event.resource
                if is_process_failure(event.kind, r.rsc, r.status, r.rc, r.target_rc,
                                      self.conf.process_failure.resources):
                    self._process_alerts.append(event)
            self.spool.ack(item.name)
        for bad in self.spool.quarantined:
            LOG.warning("alert spool: %s quarantined: %s", bad.name, bad.reason)
        for name, why in self.spool.stuck.items():
            self._say(f"stuck-{name}", f"alert spool: {name} skipped: {why}", logging.ERROR)
        if time.monotonic() - self._pruned > PRUNE_INTERVAL:
            self._pruned = time.monotonic()
            self.spool.prune()

    def reconcile(self) -> detect.Decision:
        self.drain_alerts()
        now = utcnow()
        snapshot = self._snapshot()
        self.memory.observe(snapshot, now)
        records = parse_records(self._read_records())
        computes = detect.compute_nodes(snapshot, self.conf.cluster.compute_nodes)
        decision = detect.decide(snapshot, records.incidents, self.memory, records.fenced,
                                 computes, now, clock_skew=self.conf.fencing.clock_skew,
                                 confirm_timeout=self.conf.fencing.confirm_timeout)
        if decision.blocked:
            self._say("quorum", decision.blocked, logging.WARNING)
            return decision
        self._said.pop("quorum", None)
        self._process_failures(records)
        jobs = []
        for step in decision.steps:
            incident = records.incidents.get(step.node)
            try:
                job = self._apply(step, incident)
            except HakariError as err:
                LOG.error("%s: %s failed: %s", step.node, step.action, err)
                continue
            if job is not None:
                jobs.append(job)
        if jobs:
            self._recover(jobs)
        return decision

    def _process_failures(self, records: Records) -> None:
        """Feed failed nova-compute operations to process-failure recovery, and now and
        then let it re-enable what it disabled. A host with an open host incident is
        left to host recovery; alerts not handled (Nova unreachable) wait for the next
        look. Nova is only contacted when there is something to do."""
        from hakari.recovery.failures import PROCESS, FailureBook
        from hakari.recovery.process_decision import CHECK_INTERVAL, FAILURE
        from hakari.recovery.store import CLOSED_STATES

        pending, self._process_alerts = self._process_alerts, []
        for event in pending:
            incident = records.incidents.get(event.node)
            if incident is not None and incident.state not in CLOSED_STATES:
                continue
            r = event.resource
            try:
                report = self._process_recovery().signal(
                    self.names.to_nova(event.node), FAILURE, source="pacemaker alert",
                    key=event.key, resource=r.rsc, task=r.task, rc=r.rc, status=r.status)
            except HakariError as err:
                LOG.error("%s: process failure not handled yet: %s", event.node, err)
                self._process_alerts.append(event)
                continue
            if report.action not in ("wait", "nothing"):
                LOG.warning("%s: nova-compute failing: %s (%s)", report.host,
                            report.action, report.reason)
        if time.monotonic() - self._process_checked < CHECK_INTERVAL:
            return
        self._process_checked = time.monotonic()
        try:
            if not FailureBook(self.journal).all_open(PROCESS):
                return
            for report in self._process_recovery().check_open():
                if report.action not in ("wait", "nothing"):
                    LOG.warning("%s: process failure %s: %s (%s)", report.host,
                                report.incident, report.action, report.reason)
        except HakariError as err:
            self._say("process-check", f"process failures not checked: {err}",
                      logging.ERROR)

    def _process_recovery(self):
        from hakari.recovery.process_decision import Thresholds
        from hakari.recovery.process_recovery import ProcessRecovery
        return ProcessRecovery(self.nova, self.journal, Thresholds.from_config(self.conf),
                               state_dir=self.conf.state_dir)

    def _snapshot(self) -> ClusterSnapshot:
        if self._read_cluster is not None:
            return self._read_cluster(self.conf)
        from hakari.cluster.live import read_cluster
        return read_cluster(self.conf)

    # -- acting on one step ---------------------------------------------------------

    def _apply(self, step: detect.Step, incident: Incident | None):
        from hakari.recovery.host_recovery import Job

        host = self.names.to_nova(step.node)
        if step.action == detect.OPEN:
            incident = Incident(incident_id(step.node, step.lost_at), step.node, step.lost_at,
                                "DETECTED", reason=step.reason)
            self.store.save(incident, host)
            LOG.warning("%s lost (since %s, %s): incident %s opened", step.node,
                        step.lost_at.isoformat(), step.reason, incident.id)
        elif step.action == detect.UNDATED:
            self._say(f"undated-{step.node}", step.reason, logging.WARNING)
        elif step.action == detect.FENCE_FAILED:
            self.store.transition(incident, host, "FENCE_FAILED", step.reason)
            LOG.error("%s: FENCING NOT CONFIRMED, nothing will be evacuated: %s", step.node,
                      step.reason)
        elif step.action in (detect.CONFIRM, detect.RECOVER):
            if step.node in self._recovering:
                return None
            if self._excluded(step.node, host):
                self.store.transition(incident, host, "BLOCKED",
                                      "host is in [recovery] excluded_hosts")
                return None
            if step.action == detect.CONFIRM:
                LOG.warning("%s: fencing confirmed (%s)", step.node, step.reason)
            return Job(incident, host)
        elif step.action == detect.RETURNED:
            self._returned(step.node, host, incident)
        return None

    def _excluded(self, node: str, host: str) -> bool:
        excluded = set(self.conf.recovery.excluded_hosts)
        return node in excluded or host in excluded

    def _returned(self, node: str, host: str, incident: Incident) -> None:
        """Safety rule 5: only incidents past their evacuations (or that never started
        one) get here; undo hakari's force-down, then re-enable once Nova sees the
        compute up again."""
        from hakari.recovery.host_recovery import REASON_PREFIX

        if incident.state == "EVACUATED":
            incident = self.store.transition(incident, host, "HOST_RETURNED",
                                             f"{node} is back online")
        from hakari.recovery.nova import NovaError

        service = self.nova.compute_service(host)
        if service.forced_down:
            try:
                service, _ = self.nova.force_down(service, False)
            except NovaError as err:
                if err.status != 400:
                    raise
                # Nova keeps it forced down until the host's nova-compute has restarted
                # and cleaned up after the evacuations (migrations done -> completed).
                self._say(f"return-{node}", f"{node}: back, waiting for its nova-compute "
                          f"to start and clean up ({err})", logging.INFO)
                return
            self.journal.record(incident.id, host, "unforced-down")
        if not service.up:
            self._say(f"return-{node}", f"{node}: back, waiting for its nova-compute to "
                      "report up", logging.INFO)
            return
        if not service.enabled and (service.disabled_reason or "").startswith(REASON_PREFIX):
            service, rid = self.nova.enable(service)
            self.journal.record(incident.id, host, "enabled", request_id=rid)
        self.store.transition(incident, host, "ENABLED", f"{node} back and enabled")
        self._said.pop(f"return-{node}", None)
        LOG.warning("%s: back online; incident %s closed", node, incident.id)

    # -- recovery in the background -------------------------------------------------

    def _recover(self, jobs) -> None:
        if self._worker is not None and self._worker.is_alive():
            return  # the next look hands these to the next batch
        self._recovering = {j.incident.node for j in jobs}
        self._worker = threading.Thread(target=self._recover_batch, args=(jobs,),
                                        name="hakari-recovery", daemon=True)
        self._worker.start()

    def _recover_batch(self, jobs) -> None:
        from contextlib import ExitStack

        from hakari.recovery.evacuator import Limits
        from hakari.recovery.host_recovery import HostRecovery
        from hakari.recovery.policy import Policy
        from hakari.recovery.store import HostLock

        try:
            with ExitStack() as locks:
                for job in jobs:
                    locks.enter_context(HostLock(self.conf.state_dir, job.host))
                recovery = HostRecovery(
                    self.nova, self.store, self.journal, Policy.from_config(self.conf),
                    Limits.from_config(self.conf), delay=self.conf.recovery.delay,
                    capacity_check=self.conf.recovery.capacity_check)
                for report in recovery.run_braked(jobs, self.conf, note="evacuating"):
                    c = report.counts()
                    LOG.warning("%s: incident %s %s: %d evacuated, %d skipped, %d failed%s",
                                report.host, report.incident.id, report.incident.state,
                                c["evacuated"], c["skipped"], c["failed"],
                                f" ({report.error})" if report.error else "")
        except HakariError as err:
            LOG.error("recovery of %s stopped: %s", ", ".join(j.host for j in jobs), err)
        except Exception:  # noqa: BLE001 - keep the engine alive; the next look retries
            LOG.exception("recovery of %s crashed", ", ".join(j.host for j in jobs))
        finally:
            self._recovering = set()
            self.wake.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            return not worker.is_alive()
        return True

    def _say(self, key: str, message: str, level: int) -> None:
        """Log a standing condition once, not every few seconds."""
        if self._said.get(key) != message:
            self._said[key] = message
            LOG.log(level, "%s", message)
