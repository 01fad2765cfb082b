"""The engine's loop: look at the cluster, decide (hakari.engine.detect), act.

Alerts wake it early; a full look at the CIB (node states and hakari's records) and the
fence history every ``[cluster] reconcile_interval`` is the truth, so a lost alert costs
at most one interval and a duplicated one nothing. Between full looks, alerts about a few
nodes get a narrow look at just those nodes (hakari.cluster.live.look_narrow, when
hakari.engine.detect.narrow_scope allows it), laid over the last full one. Recovery of
fenced hosts runs in one worker thread so the loop keeps looking (and keeps its
heartbeat) while evacuations are in flight. The watch for crashed instances
(hakari.recovery.instance.watcher) runs in a thread of its own, acting only within what
the last quorate look allows. Stopping (SIGTERM) leaves every incident resumable: its
state is in the CIB and each step re-reads Nova before acting.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack

from hakari import config, holds, lifecycle, paths, segments
from hakari.alerts.spool import Spool, WakeSocket
from hakari.cluster import ownership
from hakari.cluster.failed_ops import ProcessFailure
from hakari.cluster.live import Look
from hakari.engine import detect
from hakari.engine.process_watch import ProcessWatch
from hakari.errors import HakariError
from hakari.hostnames import HostNameMap
from hakari.model import Incident
from hakari.nova.client import Nova
from hakari.records.failures import PROCESS
from hakari.records.journal import Journal, utcnow
from hakari.records.store import ClusterStore, HostLock, Records, incident_id, parse_records
from hakari.recovery.host import brake
from hakari.recovery.host.evacuator import Limits, Slots
from hakari.recovery.host.recovery import HostRecovery, Job, brake_check, host_returned
from hakari.recovery.instance.watcher import InstanceWatcher
from hakari.recovery.policy import Policy, for_segment
from hakari.recovery.process.decision import (CHECK_INTERVAL, FAILURE, Thresholds,
                                              is_process_failure)
from hakari.recovery.process.recovery import ProcessRecovery

LOG = logging.getLogger("hakari.engine")
# Acknowledged alerts are forgotten after a day; this often is enough to sweep them.
PRUNE_INTERVAL = 600.0
# Looks an alert can trigger are at least this far apart: a burst of alerts (or anyone in
# group haclient writing to the wake socket) cannot keep the engine looking back to back.
# Small against the 1 s alert-to-evacuation budget.
MIN_WAKE_GAP = 0.25
# Nova's list of computes (the brake's denominator) changes rarely: read it this often.
COMPUTES_MAX_AGE = 60.0


@dataclasses.dataclass(frozen=True)
class Parts:
    """What the engine works with. hakari.engine.wiring assembles the real ones; tests
    give fakes for the outside world (the cluster, the CIB's records, Nova)."""
    look: Callable[[object], Look]      # conf -> the cluster and hakari's records now
    # conf -> Nova; called at the first need, so the engine runs while Nova is away.
    connect_nova: Callable[[object], Nova]
    journal: Journal
    store: ClusterStore
    spool: Spool
    # (conf, nodes, the last full look's snapshot) -> a look at those nodes only
    # (live.look_narrow); None: every look is full.
    look_narrow: Callable[[object, frozenset, object], Look] | None = None


class Engine:
    def __init__(self, conf, parts: Parts, *, config_files: list[str] | None = None,
                 os_cloud: str | None = None):
        self.conf = conf
        # What SIGHUP re-reads, as the command line named it (None: the default file).
        self.config_files = config_files
        self.os_cloud = os_cloud
        self.reload = threading.Event()
        self.names = HostNameMap.from_config(conf)
        self.journal = parts.journal
        self.store = parts.store
        self.memory = detect.Memory()
        self.stop = threading.Event()
        self.wake = threading.Event()
        self._look = parts.look
        self._look_narrow = parts.look_narrow
        # The whole cluster as the engine last saw it: the last full look with the
        # narrow ones since laid over it; when that full look started (monotonic).
        self._view: Look | None = None
        self._view_at = 0.0
        # (kind, node) of the alerts drained since the last look.
        self._alerted: list[tuple[str, str]] = []
        self._connect_nova = parts.connect_nova
        self._nova = None
        self.spool = parts.spool
        self._pruned = 0.0
        # One worker thread per batch of hosts recovered together; batches started at
        # different times run side by side within one shared max_parallel.
        self._workers: list[threading.Thread] = []
        self._running: dict[str, HostRecovery] = {}   # node -> its running recovery
        self._slots = Slots(conf.recovery.max_parallel)
        self._computes: tuple[float, list, list] | None = None
        self._said: dict[str, str] = {}
        # nova-compute failures from the CIB: which are new, and those not handed to
        # process recovery yet (by key).
        self._process_watch = ProcessWatch()
        self._process_pending: dict[str, ProcessFailure] = {}
        self._process_checked = 0.0
        # The instance watch, in its own thread; what it must keep out of, from the last
        # quorate look: (when, Nova host -> why).
        self._instance_guard: tuple[float, dict[str, str]] | None = None
        self.instances = InstanceWatcher(lambda: self.conf, lambda: self.nova, self.journal,
                                         self.store.failures, self._keep_out)

    @property
    def nova(self):
        if self._nova is None:
            self._nova = self._connect_nova(self.conf)
        return self._nova

    # -- the loop -------------------------------------------------------------------

    def run(self) -> None:
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
        # Off the look's path: a slow Nova delays no host recovery.
        threading.Thread(target=self.instances.run, args=(self.stop,),
                         name="hakari-instance-watch", daemon=True).start()
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
            if self.reload.is_set():
                self.reload.clear()
                self.reload_config()
                self._view = None   # what is watched may have changed: a full look
            self.beat()
            self._follow_up(self.reconcile())
            self._said.pop("reconcile", None)
        except HakariError as err:
            self._say("reconcile", f"cannot reconcile: {err}", logging.ERROR)
        except Exception as err:  # noqa: BLE001 - an engine that exits is HA lost for good
            if self._said.get("reconcile") != repr(err):
                LOG.exception("reconcile failed; trying again at the next look")
            self._said["reconcile"] = repr(err)

    def _follow_up(self, decision: detect.Decision) -> None:
        """A narrow look that opened or confirmed an incident is followed by a full look
        as soon as the loop may look again: a recovery may have started, and the brake
        (rule 4) then counts every node's state of now, not of the last full look."""
        if self._view is not None and self._view.fresh is not None and any(
                s.action in (detect.OPEN, detect.CONFIRM) for s in decision.steps):
            self._view_at = -float("inf")
            self.wake.set()

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

    def reload_config(self) -> None:
        """SIGHUP: read the configuration files again. A broken file is reported and
        the running configuration kept. The state directory and the cloud connection
        are those of the start: changing them needs a restart."""
        try:
            conf = config.load(self.config_files, self.os_cloud)
        except HakariError as err:
            LOG.error("SIGHUP: configuration not reloaded, keeping the running one: %s",
                      err)
            return
        if conf.state_dir != self.conf.state_dir:
            LOG.warning("SIGHUP: state_dir changed to %s; that takes a restart, keeping %s",
                        conf.state_dir, self.conf.state_dir)
            conf.set_override("state_dir", self.conf.state_dir)
        self.conf = conf
        self.names = HostNameMap.from_config(conf)
        self._slots.limit = conf.recovery.max_parallel
        self._computes = None
        LOG.warning("SIGHUP: configuration re-read from %s (excluded_hosts: %s)",
                    ", ".join(self.config_files or [config.DEFAULT_CONFIG_FILE]),
                    ", ".join(conf.recovery.excluded_hosts) or "none")

    def beat(self) -> None:
        with open(paths.heartbeat_file(self.conf.state_dir), "w") as f:
            f.write(f"{os.getpid()} {utcnow().isoformat()}\n")

    def drain_alerts(self) -> None:
        """Alerts date losses (node lost/member); the cluster's state stays the truth."""
        for item in self.spool.pending():
            event = item.event
            self._alerted.append((event.kind, event.node))
            if event.kind == "node" and event.desc in ("member", "lost"):
                self.memory.node_alert(event.node, event.desc == "member", event.timestamp)
            elif event.kind == "resource" and event.resource is not None:
                r = event.resource
                if is_process_failure(event.kind, r.rsc, r.status, r.rc, r.target_rc,
                                      self.conf.process_failure.resources):
                    # A hint: the failure itself is read from the CIB, which shows every
                    # node's, where this spool has only this node's.
                    self._process_watch.hint(event.node, r.rsc, event.epoch,
                                             time.monotonic())
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
        seen = self._observe()
        snapshot = seen.snapshot
        self.memory.observe(snapshot, now, seen.fresh)
        records = parse_records(seen.attributes)
        held = holds.current(records.raw, self.conf.recovery.excluded_hosts, self.names)
        computes = detect.compute_nodes(snapshot, self.conf.cluster.compute_nodes)
        decision = detect.decide(snapshot, records.incidents, self.memory, records.fenced,
                                 computes, now, clock_skew=self.conf.fencing.clock_skew,
                                 confirm_timeout=self.conf.fencing.confirm_timeout,
                                 held={n: h.describe() for n, h in held.items()})
        if decision.blocked:
            self._say("quorum", decision.blocked, logging.WARNING)
            return decision
        self._said.pop("quorum", None)
        self._guard_instances(snapshot, records, held)
        self._process_failures(records, seen.process_failures, snapshot)
        steps, counted = detect.acted_on(decision, seen.fresh)
        braked = self._brake(counted, records.incidents, now)
        jobs = []
        for step in steps:
            incident = records.incidents.get(step.node)
            try:
                job = self._apply(step, incident, braked.get(step.node))
            except HakariError as err:
                LOG.error("%s: %s failed: %s", step.node, step.action, err)
                continue
            if job is not None:
                jobs.append(job)
        stepped = {s.node for s in steps}
        for node, reason in braked.items():
            incident = records.incidents.get(node)
            if node not in stepped and incident is not None:
                try:
                    self._block(incident, reason)
                except HakariError as err:
                    LOG.error("%s: cannot block: %s", node, err)
        if jobs:
            self._recover(jobs, records.raw, held)
        return dataclasses.replace(decision, steps=steps)

    def _observe(self) -> Look:
        """The cluster now: after alerts about a few nodes, a narrow look at them laid
        over the last full look (detect.narrow_scope says when that is enough);
        otherwise a full look, which becomes the view narrow looks are laid over."""
        alerted, self._alerted = self._alerted, []
        view, started = self._view, time.monotonic()
        if self._look_narrow is not None and view is not None:
            nodes = detect.narrow_scope(alerted, view.snapshot, self.memory.lost_alert,
                                        started - self._view_at,
                                        self.conf.cluster.reconcile_interval)
            if nodes is not None:
                try:
                    seen = self._look_narrow(self.conf, nodes, view.snapshot)
                except HakariError as err:
                    # What a narrow read trips over, a full look may not.
                    self._say("narrow", f"narrow look failed, looking at everything: "
                              f"{err}", logging.WARNING)
                else:
                    self._said.pop("narrow", None)
                    if seen.fresh is not None:
                        self._view = seen.over(view)
                        return self._view
                    self._view, self._view_at = seen, started   # it looked at everything
                    return seen
        seen = self._view = self._look(self.conf)
        self._view_at = started
        return seen

    # -- safety rule 4 ----------------------------------------------------------------

    def _brake(self, steps, incidents: dict[str, Incident], now: dt.datetime
               ) -> dict[str, str]:
        """Node -> why, for every recovery the mass-failure brake stops in this look.

        Counted over the cluster, not the look: every compute lost within
        mass_failure_window whose incident is not over, plus those being opened now.
        Only evaluated when a recovery would start or is under way."""
        opening = {s.node for s in steps if s.action == detect.OPEN}
        starting = {s.node for s in steps if s.action in (detect.CONFIRM, detect.RECOVER)}
        if not opening and not starting:
            return {}
        lost = brake.lost_within(incidents, now, self.conf.recovery.mass_failure_window)
        lost |= opening
        services, aggregates = self._nova_computes()
        verdict = brake_check([self.names.to_nova(n) for n in lost], services, self.conf,
                              aggregates)
        if not verdict.blocked:
            return {}
        return {n: verdict.reason for n in brake.to_block(incidents, lost)}

    def _nova_computes(self) -> tuple[list, list]:
        cached = self._computes
        if cached is None or time.monotonic() - cached[0] > COMPUTES_MAX_AGE:
            services = self.nova.compute_services()
            aggregates = self.nova.aggregates() \
                if self.conf.recovery.mass_failure_per_aggregate else []
            cached = self._computes = (time.monotonic(), services, aggregates)
        return cached[1], cached[2]

    def _block(self, incident: Incident, reason: str) -> None:
        """Stop the incident's recovery: the running one is told to halt (it writes
        BLOCKED itself, being the host's one writer); otherwise BLOCKED now."""
        running = self._running.get(incident.node)
        if running is not None:
            running.halt(self.names.to_nova(incident.node), reason)
            self._say(f"halt-{incident.node}", f"{incident.node}: mass-failure brake: "
                      f"recovery stopping ({reason})", logging.ERROR)
            return
        if incident.state == lifecycle.BLOCKED:
            return
        host = self.names.to_nova(incident.node)
        self.journal.record(incident.id, host, "brake", reason=reason)
        self.store.transition(incident, host, lifecycle.BLOCKED, reason)
        LOG.error("%s: MASS FAILURE, recovery BLOCKED until an operator runs `hakari "
                  "release`: %s", incident.node, reason)

    # -- acting on one step ---------------------------------------------------------

    def _apply(self, step: detect.Step, incident: Incident | None, braked: str | None):
        host = self.names.to_nova(step.node)
        if step.action == detect.OPEN:
            incident = Incident(incident_id(step.node, step.lost_at), step.node, step.lost_at,
                                lifecycle.DETECTED, reason=step.reason)
            incident = self.store.save(incident, host)
            LOG.warning("%s lost (since %s, %s): incident %s opened", step.node,
                        step.lost_at.isoformat(), step.reason, incident.id)
            if braked:
                self._block(incident, braked)
            elif step.fenced:
                return self._confirmed(step.node, host, incident, step.fenced)
        elif step.action in (detect.UNDATED, detect.HELD):
            self._say(f"{step.action}-{step.node}", step.reason, logging.WARNING)
        elif step.action == detect.FENCE_FAILED:
            self.store.transition(incident, host, lifecycle.FENCE_FAILED, step.reason)
            LOG.error("%s: FENCING NOT CONFIRMED, nothing will be evacuated: %s", step.node,
                      step.reason)
        elif step.action in (detect.CONFIRM, detect.RECOVER):
            if braked:
                self._block(incident, braked)
                return None
            if step.node in self._running:
                return None
            if step.action == detect.CONFIRM:
                return self._confirmed(step.node, host, incident, step.reason)
            return Job(incident, host)
        elif step.action == detect.RETURNED:
            self._returned(step.node, host, incident)
        return None

    def _confirmed(self, node: str, host: str, incident: Incident, why: str) -> Job:
        LOG.warning("%s: fencing confirmed (%s)", node, why)
        incident = self.store.transition(incident, host, lifecycle.FENCE_CONFIRMED, why)
        return Job(incident, host)

    def _returned(self, node: str, host: str, incident: Incident) -> None:
        incident, waiting = host_returned(self.nova, self.store, self.journal, incident,
                                          node, host)
        if waiting:
            self._say(f"return-{node}", f"{node}: back, waiting for its nova-compute "
                      f"{waiting}", logging.INFO)
            return
        self._said.pop(f"return-{node}", None)
        LOG.warning("%s: back online; incident %s closed", node, incident.id)

    # -- recovery in the background -------------------------------------------------

    def _recover(self, jobs, raw, held) -> None:
        """Start the jobs' recovery now, beside any already running (safety rule 4 was
        applied to them all in this look): one batch per policy, each host's that of its
        segment (``raw``: the look's node attributes; ``held``: nodes no reserved host
        is taken from)."""
        jobs = [j for j in jobs if j.incident.node not in self._running]
        if not jobs:
            return
        base, memberships = Policy.from_config(self.conf), segments.current(raw)
        batches: dict[Policy, list[Job]] = {}
        for job in jobs:
            policy = for_segment(base, job.incident.node, memberships, self.names.to_nova,
                                 held)
            batches.setdefault(policy, []).append(job)
        mark = functools.partial(segments.mark_taken, names=self.names,
                                 timeout=self.conf.cluster.tool_timeout)
        for policy, batch in batches.items():
            limits = Limits.from_config(self.conf)
            limits.slots = self._slots
            recovery = HostRecovery(
                self.nova, self.store, self.journal, policy, limits,
                delay=self.conf.recovery.delay,
                capacity_check=self.conf.recovery.capacity_check, mark_taken=mark)
            for job in batch:
                self._running[job.incident.node] = recovery
            worker = threading.Thread(target=self._recover_batch, args=(batch, recovery),
                                      name="hakari-recovery", daemon=True)
            self._workers = [w for w in self._workers if w.is_alive()] + [worker]
            worker.start()

    def _recover_batch(self, jobs, recovery: HostRecovery) -> None:
        try:
            with ExitStack() as held:
                owned = []
                for job in jobs:
                    try:
                        held.enter_context(ownership.owning(
                            job.incident.node, self._owner(),
                            timeout=self.conf.cluster.tool_timeout,
                            stale_after=ownership.STALE_AFTER))
                    except ownership.OwnershipError as err:
                        # An operator's `hakari evacuate` has it: theirs to finish. The
                        # next look sees the incident it leaves and goes on from there.
                        self._say(f"owner-{job.incident.node}", f"{job.incident.node}: "
                                  f"not recovering it now: {err}", logging.WARNING)
                        continue
                    self._said.pop(f"owner-{job.incident.node}", None)
                    held.enter_context(HostLock(self.conf.state_dir, job.host))
                    owned.append(job)
                if not owned:
                    return
                for report in recovery.run(owned, note="evacuating"):
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
            for job in jobs:
                self._running.pop(job.incident.node, None)
            self.wake.set()

    @staticmethod
    def _owner() -> ownership.Owner:
        # Every engine is the same owner (ownership.Owner.same_owner): the one that
        # takes over after a failover continues its predecessor's recoveries.
        return ownership.Owner.start("engine", os.uname().nodename)

    def wait_idle(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for worker in list(self._workers):
            worker.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(w.is_alive() for w in self._workers)

    def _process_failures(self, records: Records, failures: tuple[ProcessFailure, ...],
                          snapshot) -> None:
        """Feed each new nova-compute failure the CIB shows, on any node, once to
        process-failure recovery, and now and then let it re-enable what it disabled. A
        host with an open host incident is left to host recovery; failures not handled
        (Nova unreachable) wait for the next look. Nova is only contacted when there is
        something to do."""
        # A node that is lost has no process failure, it has a host failure: when a
        # remote compute loses power its nova-compute's monitor is recorded failed (the
        # executor could not reach it) before hakari opens the host incident. Counted,
        # it would disable a dead compute that is not forced down yet, and Nova then
        # waits on that compute (50 s in the lab) while the host loss waits on hakari.
        lost = {n.name for n in snapshot.nodes if detect.is_lost(n)}
        for failure in self._process_watch.new(failures, time.time(),
                                               self.conf.process_failure.failure_window):
            if failure.node in lost:
                LOG.info("%s: %s %s failed while the node is lost: left to host recovery",
                         failure.node, failure.rsc, failure.task)
                continue
            self._process_pending[failure.key] = failure
        if self._process_watch.awaited(time.monotonic()):
            self.wake.set()     # an alert's failure is not in the CIB yet: look again soon
        for key, f in list(self._process_pending.items()):
            incident = records.incidents.get(f.node)
            if incident is None or incident.state in lifecycle.HOST_BACK:
                try:
                    report = self._process_recovery().signal(
                        self.names.to_nova(f.node), FAILURE, source="pacemaker", key=key,
                        resource=f.rsc, task=f.task, interval_ms=f.interval, rc=f.rc,
                        status=f.status, fail_count=f.fail_count, failed_at=f.at)
                except HakariError as err:
                    LOG.error("%s: process failure not handled yet: %s", f.node, err)
                    continue
                if report.action not in ("wait", "nothing"):
                    LOG.warning("%s: nova-compute failing: %s (%s)", report.host,
                                report.action, report.reason)
            del self._process_pending[key]
        if time.monotonic() - self._process_checked < CHECK_INTERVAL:
            return
        self._process_checked = time.monotonic()
        try:
            if not self.store.failures().all_open(PROCESS):
                return
            for report in self._process_recovery().check_open():
                if report.action not in ("wait", "nothing"):
                    LOG.warning("%s: process failure %s: %s (%s)", report.host,
                                report.incident, report.action, report.reason)
        except HakariError as err:
            self._say("process-check", f"process failures not checked: {err}",
                      logging.ERROR)

    def _guard_instances(self, snapshot, records: Records, held) -> None:
        """What the instance watch keeps out of, as this quorate look shows it (safety
        rule 13): hosts with an open incident, held, or lost; their instances are host
        recovery's to evacuate, never to start or reboot where they are."""
        keep_out = {}
        for node in snapshot.nodes:
            if detect.is_lost(node):
                keep_out[self.names.to_nova(node.name)] = "lost in the cluster"
        for node, hold in held.items():
            keep_out[self.names.to_nova(node)] = f"held ({hold.describe()})"
        for node, incident in records.incidents.items():
            if incident.state not in lifecycle.TERMINAL:
                keep_out[self.names.to_nova(node)] = \
                    f"host incident {incident.id} {incident.state}"
        self._instance_guard = (time.monotonic(), keep_out)

    def _keep_out(self) -> dict[str, str] | None:
        """None when no quorate look is recent enough to act on (safety rule 2)."""
        guard = self._instance_guard
        if guard is None or time.monotonic() - guard[0] > \
                3 * self.conf.cluster.reconcile_interval:
            return None
        return guard[1]

    def _process_recovery(self):
        return ProcessRecovery(self.nova, self.journal, Thresholds.from_config(self.conf),
                               state_dir=self.conf.state_dir, book=self.store.failures())

    def _say(self, key: str, message: str, level: int) -> None:
        """Log a standing condition once, not every few seconds."""
        if self._said.get(key) != message:
            self._said[key] = message
            LOG.log(level, "%s", message)
