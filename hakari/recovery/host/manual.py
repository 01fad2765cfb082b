"""The operator's `hakari evacuate HOST`: proof, preview, then the same HostRecovery the
engine uses. See hakari/commands/evacuate.py for the loss-time rule.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import Callable

from hakari import holds, lifecycle, segments
from hakari.cluster import live, ownership
from hakari.cluster.live import Look
from hakari.errors import ClusterNotConnected, HakariError, ToolNotFound
from hakari.fencing.proof import fencing_proof
from hakari.hostnames import HostNameMap
from hakari.model import Incident
from hakari.operator import who
from hakari.recovery.host import brake
from hakari.recovery.host import plan as planmod
from hakari.recovery.host.evacuator import Limits
from hakari.recovery.host.recovery import (HostRecovery, HostReport, Job, apply_unfit,
                                           brake_check, capacity_verdicts, gather,
                                           needs_aggregates)
from hakari.records.journal import JOURNAL_NAME, Journal, ensure_state_dir, utcnow
from hakari.nova.client import Nova
from hakari.nova.errors import NovaError, NovaNotFound
from hakari.nova.resources import ComputeService
from hakari.recovery.host.plan import Decision
from hakari.recovery.policy import Policy, for_segment
from hakari.records.store import (ClusterStore, HostLock, LocalStore, incident_id,
                                   parse_records)

# Plan actions as the dry run shows them.
_VERBS = {planmod.EVACUATE: "would evacuate", planmod.WAIT: "in flight",
          planmod.CHECK: "would check", planmod.SKIP: "would skip",
          planmod.FAIL: "would fail"}


@dataclasses.dataclass
class Preview:
    host: str
    node: str
    incident: Incident
    new_incident: bool
    service: ComputeService
    decisions: list[Decision]
    fencing: str
    assumed: bool
    superseded: Incident | None = None
    # Why the mass-failure brake would stop this recovery ("" when it would not); only
    # set in a preview made with --force (without it, prepare() refuses).
    brake: str = ""

    def to_evacuate(self) -> int:
        return sum(d.action == planmod.EVACUATE for d in self.decisions)

    def document(self) -> dict:
        """`--dry-run --format json`: the evacuate document with the planned action as
        ``result`` (evacuate|wait|check|skip|fail) and ``"dry_run": true``."""
        return {"host": self.host, "dry_run": True,
                "forced_down": self.service.forced_down,
                "disabled": not self.service.enabled,
                "incident": self.incident.id, "fencing": self.fencing,
                "instances": [{"id": d.id, "name": d.name, "result": d.action,
                               "dest_host": d.dest_host, "reason": d.reason}
                              for d in self.decisions]}

    def render_text(self) -> str:
        svc = self.service
        steps = []
        if not svc.forced_down:
            steps.append("force it down")
        if svc.enabled:
            steps.append("disable it")
        lines = [f"Host {self.host} (node {self.node}), incident {self.incident.id}"
                 f"{' (new)' if self.new_incident else f' ({self.incident.state})'}",
                 f"Fencing: {self.fencing}",
                 f"nova-compute: {svc.state}, {svc.status}"
                 f"{', forced down' if svc.forced_down else ''}"
                 + (f"; would {' and '.join(steps)}" if steps else "")]
        for d in self.decisions:
            lines.append(f"  {_VERBS[d.action]:<14}  {d.id}  {d.name or '-'}"
                         f"{('  ' + d.reason) if d.reason else ''}")
        if not self.decisions:
            lines.append("  (no instances on the host)")
        return "\n".join(lines) + "\n"

    def headline(self) -> str:
        return (f"Evacuating {self.host} (incident {self.incident.id}; "
                f"fencing: {self.fencing})")

    def question(self) -> str:
        return (f"Force down and disable nova-compute on {self.host} and evacuate "
                f"{self.to_evacuate()} instance(s)?")


class ManualEvacuation:
    def __init__(self, conf, host: str, *, assume_fenced: bool = False, force: bool = False,
                 warn: Callable[[str], None] = lambda message: None, nova: Nova | None = None,
                 look: Callable[[object], Look] = live.look):
        self.conf = conf
        self.host_arg = host
        self.assume_fenced = assume_fenced
        self.force = force
        self.warn = warn
        self._nova = nova
        # The cluster and hakari's records, one read (live.look), or a test's stand-in.
        self._look = look
        self.policy = Policy.from_config(conf)
        self.names = HostNameMap.from_config(conf)
        self.journal = Journal(os.path.join(conf.state_dir, JOURNAL_NAME))
        self.store: LocalStore | None = None

    @property
    def nova(self) -> Nova:
        if self._nova is None:
            self._nova = Nova.connect(self.conf)
        return self._nova

    # -- look ---------------------------------------------------------------------------

    def prepare(self) -> Preview:
        """Everything that can be known without changing anything; refuses (HakariError)
        when hakari must not act."""
        host, service = self._resolve()
        node = self.names.to_node(host)
        seen, cluster_error = self._cluster()
        snapshot = seen.snapshot if seen is not None else None
        in_cluster = snapshot is not None and snapshot.node(node) is not None
        records = parse_records(seen.attributes) if in_cluster else None
        raw = records.raw if records else {}
        every = holds.current(raw, self.conf.recovery.excluded_hosts, self.names)
        held = every.get(node)
        if held is not None:
            raise HakariError(f"{host} is {held.describe()}; hakari does not act on it "
                              f"({held.lifted_by()} first)")
        # As the engine would recover it: by its segment's policy (the configuration's
        # for a host in no segment).
        self.policy = for_segment(Policy.from_config(self.conf), node,
                                  segments.current(raw), self.names.to_nova, held=every)
        self.store = ClusterStore(self.journal, self.conf.cluster.tool_timeout) \
            if in_cluster else LocalStore(self.journal)
        existing = self.store.current(node)
        superseded = None
        if existing is not None and _host_came_back(existing, service):
            superseded, existing = existing, None
        lost_at = existing.lost_at if existing else service.updated_at

        if self.assume_fenced:
            if snapshot is not None and snapshot.quorate is False:
                raise HakariError("this node's cluster partition has no quorum; hakari "
                                  "never acts from a partition without quorum, even with "
                                  "--assume-fenced (run it from a quorate node)")
            fencing = "ASSUMED by the operator (--assume-fenced), not proven"
            self.warn(f"--assume-fenced: evacuating {host} without proof that it is "
                      "fenced; if it is still running, its instances will run twice and "
                      "their disks may be corrupted")
            lost_at = lost_at or utcnow()
        else:
            if snapshot is None:
                raise HakariError(
                    f"refusing to evacuate {host}: no fencing proof, the cluster cannot be "
                    f"read here ({cluster_error}); if you have made sure {host} is powered "
                    "off, rerun with --assume-fenced")
            proof = fencing_proof(snapshot, node, lost_at,
                                  clock_skew=self.conf.fencing.clock_skew)
            if not proof.ok:
                raise HakariError(f"refusing to evacuate {host}: {proof.reason}")
            fencing = proof.reason
        incident = existing or Incident(id=incident_id(node, lost_at), node=node,
                                        lost_at=lost_at, state=lifecycle.DETECTED,
                                        reason="hakari evacuate")
        braked = self._brake(node, incident, records)
        if braked and not self.force:
            raise HakariError(
                f"refusing to evacuate {host}: mass-failure brake (safety rule 4): "
                f"{braked}. If you have checked these hosts really are down, `hakari "
                f"release {node}` lets the engine recover it, or rerun with --force")
        aggregates = self.nova.aggregates() if needs_aggregates(self.policy) else []
        decisions = gather(self.nova, Job(incident, host), self.policy,
                           aggregates=aggregates, originals=self.store.originals(incident))
        if self.conf.recovery.capacity_check:
            try:
                unfit, _ = capacity_verdicts(self.nova, self.policy, [decisions], [host],
                                             aggregates)
                decisions = apply_unfit(decisions, unfit)
            except NovaError as err:
                self.warn(f"capacity not checked: {err}")
        return Preview(host, node, incident, existing is None, service, decisions, fencing,
                       self.assume_fenced, superseded, braked)

    def _brake(self, node: str, incident: Incident, records) -> str:
        """Safety rule 4 as the engine applies it: this host and every compute lost
        within mass_failure_window. Why it trips, or ""."""
        if incident.released_by:
            return ""  # an operator released it from the brake already
        incidents = dict(records.incidents) if records else {}
        incidents[node] = incident
        lost = brake.lost_within(incidents, utcnow(), self.conf.recovery.mass_failure_window)
        lost.add(node)
        aggregates = self.nova.aggregates() \
            if self.conf.recovery.mass_failure_per_aggregate else []
        verdict = brake_check([self.names.to_nova(n) for n in lost],
                              self.nova.compute_services(), self.conf, aggregates)
        return verdict.reason if verdict.blocked else ""

    def _resolve(self) -> tuple[str, ComputeService]:
        """HOST as a Nova host, else as a Pacemaker node name mapped to Nova."""
        candidates = [self.host_arg]
        mapped = self.names.to_nova(self.host_arg)
        if mapped != self.host_arg:
            candidates.append(mapped)
        for host in candidates:
            try:
                return host, self.nova.compute_service(host)
            except NovaNotFound:
                continue
        raise HakariError(f"Nova has no nova-compute service on host {self.host_arg!r}"
                          + (f" (nor {mapped!r})" if mapped != self.host_arg else ""))

    def _cluster(self) -> tuple[Look | None, str]:
        try:
            return self._look(self.conf), ""
        except (ToolNotFound, ClusterNotConnected) as err:
            return None, str(err)

    # -- act ----------------------------------------------------------------------------

    def execute(self, preview: Preview, progress=None) -> HostReport:
        ensure_state_dir(self.conf.state_dir)
        store = self.store
        assert store is not None, "prepare() first"
        operator = who()
        owner = ownership.Owner.start("operator", operator)
        # Cluster-wide, one recovery of a host at a time: the engine, on whichever
        # controller it runs, and every other operator are refused while this runs.
        owning = ownership.owning(preview.node, owner, timeout=self.conf.cluster.tool_timeout,
                                  stale_after=ownership.STALE_AFTER) \
            if store.cluster else contextlib.nullcontext()
        with owning, HostLock(self.conf.state_dir, preview.host):
            if preview.superseded is not None:
                store.transition(preview.superseded, preview.host, lifecycle.HOST_RETURNED,
                                 f"nova-compute was no longer forced down; superseded by "
                                 f"incident {preview.incident.id}", by=lifecycle.OPERATOR)
            incident = preview.incident
            if preview.new_incident:
                incident = store.save(incident, preview.host)
            if preview.assumed:
                self.journal.record(incident.id, preview.host, "fencing-assumed",
                                    operator=operator,
                                    note="hakari evacuate --assume-fenced: fencing NOT "
                                    "proven; the operator asserts the host is off")
            else:
                self.journal.record(incident.id, preview.host, "fencing-proven",
                                    proof=preview.fencing, operator=operator)
            released = None
            if preview.brake:
                released = operator
                self.journal.record(incident.id, preview.host, "brake-overridden",
                                    operator=operator, brake=preview.brake,
                                    note="hakari evacuate --force: the mass-failure brake "
                                    "was overridden by the operator")
                self.warn(f"--force: overriding the mass-failure brake ({preview.brake})")
            if incident.state in lifecycle.PARKED:
                released = operator
                self.journal.record(incident.id, preview.host, "released",
                                    operator=operator, reason=incident.reason)
            if incident.state in lifecycle.AWAITING_FENCE | lifecycle.PARKED:
                incident = store.transition(
                    incident, preview.host, lifecycle.FENCE_CONFIRMED,
                    "assumed fenced by the operator" if preview.assumed else preview.fencing,
                    by=lifecycle.OPERATOR, released_by=released)
            note = "assumed fenced by operator" if preview.assumed else "fenced"
            recovery = HostRecovery(self.nova, store, self.journal, self.policy,
                                    Limits.from_config(self.conf),
                                    delay=self.conf.recovery.delay, progress=progress,
                                    capacity_check=self.conf.recovery.capacity_check,
                                    by=lifecycle.OPERATOR,
                                    mark_taken=functools.partial(
                                        segments.mark_taken, names=self.names,
                                        timeout=self.conf.cluster.tool_timeout)
                                    if store.cluster else None)
            if self.conf.recovery.delay > 0:
                self.warn(f"waiting {self.conf.recovery.delay:g}s before evacuating "
                          "([recovery] delay)")
            report = recovery.run([Job(incident, preview.host)], note=f"evacuating, {note}")[0]
        return report

    @staticmethod
    def summary(report: HostReport) -> str:
        c = report.counts()
        svc = ["forced down" if report.forced_down else "NOT forced down",
               "disabled" if report.disabled else "NOT disabled"]
        text = (f"{report.host}: {c['evacuated']} evacuated, {c['skipped']} skipped, "
                f"{c['failed']} failed (incident {report.incident.id}: "
                f"{report.incident.state}); nova-compute {', '.join(svc)}")
        if report.error:
            text += f"\nerror: {report.error}"
        return text


def _host_came_back(incident: Incident, service: ComputeService) -> bool:
    """hakari forced the host down in this incident, yet Nova no longer has it forced
    down: someone (fence_hakari's unfencing, an operator) declared it back. A new loss
    is a new incident, with its own loss time."""
    return incident.state in (lifecycle.FORCED_DOWN, lifecycle.EVACUATING,
                              lifecycle.EVACUATED, lifecycle.FAILED) and \
        not service.forced_down
