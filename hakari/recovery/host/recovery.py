"""Recover fenced hosts: force down → disable → select → evacuate → verify → done.

The caller proves fencing (safety rule 1) and quorum (rule 2) first; this module takes
each incident from FENCE_CONFIRMED to EVACUATED (or FAILED), writing every transition
to the store, and can be re-run at any point, on any controller: each step looks at
Nova before acting, and what Nova cannot tell (the instances' statuses before the first
evacuation) is kept by the store, in the CIB. Used by `hakari evacuate` and, for several
hosts at once, by the engine.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from hakari import lifecycle
from hakari.errors import HakariError
from hakari.model import Incident
from hakari.recovery.host import capacity as capmod
from hakari.recovery.host import plan as planmod
from hakari.recovery.host.brake import BrakeVerdict, mass_failure
from hakari.recovery.host.evacuator import (EVACUATED, FAILED, SKIPPED, Evacuator, HostPlan,
                                       Limits, Outcome)
from hakari.records.journal import Journal
from hakari.nova.client import Nova
from hakari.nova.errors import NovaError
from hakari.nova.resources import Aggregate, ComputeService
from hakari.nova import fencing as nova_fencing
from hakari.recovery.host.plan import Decision
from hakari.recovery.policy import Policy, ReservedRotation, host_aggregates, reserved_pool
from hakari.records.store import LocalStore

# Finished migrations created up to this long before lost_at still count as attempts of
# the incident: Nova's and the cluster's clocks may differ a little. (In-flight ones
# always count, whatever their age: see plan.relevant.)
SINCE_MARGIN = dt.timedelta(seconds=5)


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    """One host to recover: its incident and its Nova compute host name."""

    incident: Incident
    host: str


@dataclasses.dataclass
class HostReport:
    host: str
    incident: Incident
    forced_down: bool = False
    disabled: bool = False
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    error: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error) or any(o.result == FAILED for o in self.outcomes)

    def counts(self) -> dict[str, int]:
        counts = {EVACUATED: 0, SKIPPED: 0, FAILED: 0}
        for o in self.outcomes:
            counts[o.result] += 1
        return counts

    def document(self) -> dict:
        """The `hakari evacuate --format json` document (docs/design.md contract)."""
        return {"host": self.host, "forced_down": self.forced_down, "disabled": self.disabled,
                "instances": [o.as_dict() for o in self.outcomes]}


def host_returned(nova: Nova, store, journal: Journal, incident: Incident, node: str,
                  host: str) -> tuple[Incident, str | None]:
    """A host whose incident is past its evacuations (or never started one) is back in
    the cluster (safety rule 5 is the caller's: detect only sends those here). Mark the
    incident HOST_RETURNED, undo hakari's fencing in Nova, and close it (ENABLED) once
    Nova sees the compute up. Returns the incident and, while that has to wait, what
    it waits for; call again at the next look."""
    if incident.state != lifecycle.HOST_RETURNED:
        # Its nova-compute may start now (compute-guard) and must, for Nova to let
        # hakari lift the force-down after any evacuation it made.
        incident = store.transition(incident, host, lifecycle.HOST_RETURNED,
                                    f"{node} is back online")
    service = nova_fencing.unfence(
        nova, host, lambda event, **d: journal.record(incident.id, host, event, **d))
    if service is None:
        return incident, "to start and clean up"
    if not service.up:
        return incident, "to report up"
    # Before closing it: should the CIB refuse, the next look tries again.
    store.forget_originals(incident)
    return store.transition(incident, host, lifecycle.ENABLED,
                            f"{node} back and enabled"), None


def gather(nova: Nova, job: Job, policy: Policy, *, aggregates: Sequence[Aggregate] = (),
           originals: Mapping[str, str] | None = None) -> list[Decision]:
    """Decisions for every instance of the host, from Nova's state now and the
    instances' statuses before the incident's first evacuation (``originals``).

    Migrations are read before servers: a migration that finished in between then shows
    its instance gone from the host, never on it with a finished migration.
    """
    # All of the host's evacuations, not only recent ones: one still in flight from
    # before the incident began must be waited for, never doubled.
    migrations = nova.evacuations(job.host)
    servers = nova.servers_on_host(job.host)
    decisions = planmod.plan_host(job.host, servers, migrations, policy,
                                  since=since_of(job),
                                  aggregates_of_host=host_aggregates(job.host, aggregates),
                                  original_status=originals,
                                  attempts_since=job.incident.retried_at)
    return [_named(nova, d) for d in decisions]


def _named(nova: Nova, decision: Decision) -> Decision:
    """An instance already gone from the host has no name in the plan (migrations carry
    none): Nova has it, for the report an operator reads."""
    if decision.name:
        return decision
    try:
        return dataclasses.replace(decision, name=nova.server(decision.id).name or "")
    except NovaError:
        return decision


def originals_of(decisions: Iterable[Decision]) -> dict[str, str]:
    """The statuses known to be the instances' own before any evacuation (plan_host)."""
    return {d.id: d.original_status for d in decisions if d.original_status}


def since_of(job: Job) -> dt.datetime:
    return job.incident.lost_at - SINCE_MARGIN


def poll_since(job: Job, decisions: Sequence[Decision]) -> dt.datetime:
    """How far back the evacuator's listings must reach: the incident, or the oldest
    in-flight migration found when planning."""
    since = since_of(job)
    for d in decisions:
        if d.action == planmod.WAIT and d.migration and d.migration.created_at:
            since = min(since, d.migration.created_at)
    return since


def usable_targets(policy: Policy, services: Sequence[ComputeService],
                   aggregates: Sequence[Aggregate], lost: Sequence[str]) -> set[str]:
    """Hosts evacuated instances may land on under ``policy``: enabled, up computes
    for the scheduler; the reserved hosts (enabled on use) for reserved_host."""
    alive = {s.host for s in services if s.up and not s.forced_down} - set(lost)
    reserved = set(reserved_pool(policy, aggregates, lost=lost)) & alive
    if policy.target == "reserved_host":
        return reserved
    scheduled = {s.host for s in services if s.enabled} & alive
    return scheduled | reserved if policy.uses_reserved_hosts else scheduled


def capacity_verdicts(nova: Nova, policy: Policy, decision_lists: Sequence[Sequence[Decision]],
                      lost: Sequence[str], aggregates: Sequence[Aggregate]
                      ) -> tuple[dict[str, str], int]:
    """(instance id -> why it cannot fit, number of usable targets) for the evacuations
    planned in ``decision_lists`` (one list per failed host), highest priority placed
    first. Raises NovaError when placement or Nova cannot be read."""
    free = nova.free_room()
    node_host = {h.name: h.host for h in nova.hypervisors() if h.name}
    targets = usable_targets(policy, nova.compute_services(), aggregates, lost)
    rooms = [capmod.Room(node_host.get(node, node), res.get("VCPU", 0.0),
                         res.get("MEMORY_MB", 0.0), res.get("DISK_GB", capmod.UNLIMITED))
             for node, res in free.items() if node_host.get(node, node) in targets]
    wanted = []
    for decisions in decision_lists:
        for d in decisions:
            demand = capmod.demand_of(d.server) if d.action == planmod.EVACUATE and \
                d.server is not None else None
            if demand is not None:
                wanted.append((-d.priority, len(wanted), demand))
    wanted.sort(key=lambda w: (w[0], w[1]))
    return capmod.unplaceable([w[2] for w in wanted], rooms), len(rooms)


def apply_unfit(decisions: Sequence[Decision], unfit: dict[str, str]) -> list[Decision]:
    return [dataclasses.replace(d, action=planmod.FAIL, reason=unfit[d.id])
            if d.action == planmod.EVACUATE and d.id in unfit else d for d in decisions]


def needs_aggregates(policy: Policy) -> bool:
    return (policy.selection == "tagged" and "aggregate" in policy.sources) or \
        bool(policy.reserved_aggregate)


def brake_check(lost: Iterable[str], services: Sequence[ComputeService], conf,
                aggregates: Sequence[Aggregate] = ()) -> BrakeVerdict:
    """Safety rule 4 for hosts lost at once, against Nova's list of computes."""
    r = conf.recovery
    return mass_failure(lost, [s.host for s in services], max_hosts=r.mass_failure_max_hosts,
                        max_percent=r.mass_failure_max_percent,
                        aggregates={a.name: a.hosts for a in aggregates},
                        per_aggregate=r.mass_failure_per_aggregate)


class HostRecovery:
    """Runs jobs through the state machine (hakari.lifecycle) as ``by`` (the engine or
    an operator); ``store`` keeps each incident's state. ``halt(host, why)`` (from
    another thread) stops a host's recovery: nothing more is sent for it, and it ends
    BLOCKED. ``mark_taken(host)``: marks a reserved host just enabled as taken into use
    (hakari.segments.mark_taken) and says what it marked."""

    def __init__(self, nova: Nova, store: LocalStore, journal: Journal, policy: Policy,
                 limits: Limits, *, delay: float = 0.0,
                 progress: Callable[[Outcome], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, capacity_check: bool = False,
                 by: str = lifecycle.ENGINE,
                 mark_taken: Callable[[str], str] | None = None):
        self.by = by
        self.mark_taken = mark_taken
        self._halted: dict[str, str] = {}
        self.nova = nova
        self.store = store
        self.journal = journal
        self.policy = policy
        self.limits = limits
        self.delay = delay
        self.progress = progress
        self._sleep = sleep
        self.capacity_check = capacity_check
        self.evacuator: Evacuator | None = None

    def halt(self, host: str, reason: str) -> None:
        """Stop recovering ``host`` (the brake tripped): evacuations already sent run
        to their end, no new one is sent, and the incident ends BLOCKED."""
        self._halted[host] = reason
        evacuator = self.evacuator
        if evacuator is not None:
            evacuator.halt(host, reason)

    def _move(self, incident: Incident, host: str, state: str, reason: str = "") -> Incident:
        return self.store.transition(incident, host, state, reason, by=self.by)

    def run(self, jobs: Sequence[Job], note: str = "evacuating") -> list[HostReport]:
        """Each job's incident must be FENCE_CONFIRMED or further along: the caller has
        proven the fencing (rule 1) and applied the brake (rule 4)."""
        reports = {j.host: HostReport(j.host, j.incident) for j in jobs}
        incidents = {j.host: j.incident for j in jobs}
        ready: list[Job] = []
        # Incidents already EVACUATING: a run that is gone (another process, perhaps on
        # another controller) may have sent requests Nova has not acted on yet.
        resumed = False
        for job in jobs:
            report = reports[job.host]
            if job.host in self._halted:
                incidents[job.host] = self._move(incidents[job.host], job.host,
                                                 lifecycle.BLOCKED, self._halted[job.host])
                report.incident, report.error = incidents[job.host], self._halted[job.host]
                continue
            try:
                inc = incidents[job.host]
                svc = nova_fencing.fence(
                    self.nova, job.host, nova_fencing.reason(note, inc.id),
                    lambda event, _job=dataclasses.replace(job, incident=inc), **d: _log(
                        self.journal, _job, event, **d))
                report.forced_down, report.disabled = svc.forced_down, not svc.enabled
                if inc.state == lifecycle.FENCE_CONFIRMED:
                    inc = self._move(inc, job.host, lifecycle.FORCED_DOWN)
                resumed = resumed or inc.state == lifecycle.EVACUATING
                inc = self._move(inc, job.host, lifecycle.EVACUATING)
                incidents[job.host] = inc
                ready.append(dataclasses.replace(job, incident=inc))
            except NovaError as err:
                report.error = str(err)
                self._fail(job, incidents, reports, f"Nova: {err}")
        if not ready:
            return [reports[j.host] for j in jobs]
        if self.delay > 0:
            _log(self.journal, ready[0], "delay", seconds=self.delay)
            self._sleep(self.delay)
        if resumed and self.limits.settle_time > self.delay:
            # What such a request did shows in Nova's migrations within settle_time (the
            # rule for a lost answer, evacuator): plan from a listing made after that,
            # never from a memory of what was sent, which died with its process.
            wait = self.limits.settle_time - self.delay
            _log(self.journal, ready[0], "resume-wait", seconds=wait)
            self._sleep(wait)

        aggregates: list[Aggregate] = []
        if needs_aggregates(self.policy):
            aggregates = self.nova.aggregates()
        plans = []
        for job in ready:
            try:
                kept = self.store.originals(job.incident)
            except HakariError as err:
                # Unknown, and nothing is written over what may be there.
                _log(self.journal, job, "originals-unreadable", error=str(err))
                kept = {}
            try:
                decisions = gather(self.nova, job, self.policy, aggregates=aggregates,
                                   originals=kept)
            except NovaError as err:
                reports[job.host].error = str(err)
                self._fail(job, incidents, reports, f"cannot list its instances: {err}")
                continue
            if kept is None:
                self._keep_originals(job, decisions)
            self._journal_plan(job, decisions)
            plans.append(HostPlan(job.host, job.incident.id, poll_since(job, decisions),
                                  decisions))

        if self.capacity_check and plans:
            self._check_capacity(plans, [j.host for j in jobs], aggregates)
        rotation, prepare = self._reserved([j.host for j in jobs], aggregates)
        self.evacuator = Evacuator(self.nova, self.journal, self.policy, self.limits,
                                   progress=self.progress, reserved=rotation,
                                   prepare_target=prepare)
        for host, reason in list(self._halted.items()):
            self.evacuator.halt(host, reason)
        outcomes = self.evacuator.run(plans)
        for p in plans:
            report = reports[p.host]
            report.outcomes = outcomes.get(p.host, [])
            c = report.counts()
            summary = (f"{c[EVACUATED]} evacuated, {c[SKIPPED]} skipped, "
                       f"{c[FAILED]} failed")
            if p.host in self._halted:
                state, summary = lifecycle.BLOCKED, f"{self._halted[p.host]} ({summary})"
                report.error = self._halted[p.host]
            else:
                state = lifecycle.FAILED if c[FAILED] else lifecycle.EVACUATED
            incidents[p.host] = self._move(incidents[p.host], p.host, state, summary)
            report.incident = incidents[p.host]
        return [reports[j.host] for j in jobs]

    def _fail(self, job, incidents, reports, reason: str) -> None:
        try:
            incidents[job.host] = self._move(incidents[job.host], job.host,
                                             lifecycle.FAILED, reason)
            reports[job.host].incident = incidents[job.host]
        except Exception as err:  # noqa: BLE001 - the first error is the one to report
            _log(self.journal, job, "store-error", error=str(err))

    def _keep_originals(self, job: Job, decisions: Sequence[Decision]) -> None:
        """Before the incident's first evacuate request: what its instances are now, for
        whichever process finishes the recovery (a retry after a failed attempt must
        still stop a SHUTOFF instance at its destination)."""
        try:
            self.store.keep_originals(job.incident, job.host, originals_of(decisions))
        except HakariError as err:
            # Not worth an outage: a successor then counts their arrival in either state.
            _log(self.journal, job, "originals-not-kept", error=str(err))

    def _journal_plan(self, job: Job, decisions: Sequence[Decision]) -> None:
        counts: dict[str, int] = {}
        for d in decisions:
            counts[d.action] = counts.get(d.action, 0) + 1
        _log(self.journal, job, "plan", **counts)

    def _check_capacity(self, plans: Sequence[HostPlan], lost: Sequence[str],
                        aggregates: Sequence[Aggregate]) -> None:
        first = plans[0]
        try:
            unfit, targets = capacity_verdicts(self.nova, self.policy,
                                               [p.decisions for p in plans], lost, aggregates)
        except NovaError as err:
            self.journal.record(first.incident, first.host, "capacity-unknown",
                                error=str(err))
            return
        for p in plans:
            p.decisions = apply_unfit(p.decisions, unfit)
        self.journal.record(first.incident, first.host, "capacity", targets=targets,
                            unfit=len(unfit))

    def _reserved(self, lost: Sequence[str], aggregates: Sequence[Aggregate]):
        if not self.policy.uses_reserved_hosts:
            return ReservedRotation(()), None
        services = {s.host: s for s in self.nova.compute_services()}
        unusable = [h for h, s in services.items() if s.forced_down or not s.up]
        unusable += [h for h in self.policy.reserved_hosts if h not in services]
        pool = reserved_pool(self.policy, aggregates, lost=lost, unusable=unusable)

        def prepare(host: str) -> str:
            svc = self.nova.compute_service(host)
            if not svc.enabled:
                self.nova.enable(svc)
            if self.mark_taken is None:
                return ""
            try:
                return self.mark_taken(host)
            except HakariError as err:
                # The instances may land there all the same: the mark is bookkeeping.
                return f"not marked as taken: {err}"

        return ReservedRotation(pool), prepare


def _log(journal: Journal | None, job: Job, event: str, request_id: str | None = None,
         **detail) -> None:
    if journal is not None:
        journal.record(job.incident.id, job.host, event, request_id=request_id, **detail)
