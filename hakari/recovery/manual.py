"""The operator's `hakari evacuate HOST`: proof, preview, then the same HostRecovery the
engine uses. See hakari/commands/evacuate.py for the loss-time rule.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from hakari.errors import ClusterNotConnected, HakariError, ToolNotFound
from hakari.hostnames import HostNameMap
from hakari.model import ClusterSnapshot, Incident
from hakari.recovery import plan as planmod
from hakari.recovery.evacuator import Limits
from hakari.recovery.host_recovery import (HostRecovery, HostReport, Job, apply_unfit,
                                           capacity_verdicts, gather, needs_aggregates,
                                           remember)
from hakari.recovery.journal import JOURNAL_NAME, Journal, utcnow
from hakari.recovery.nova import ComputeService, Nova, NovaError, NovaNotFound
from hakari.recovery.plan import Decision
from hakari.recovery.policy import Policy
from hakari.recovery.store import ClusterStore, HostLock, LocalStore, incident_id

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
    def __init__(self, conf, host: str, *, assume_fenced: bool = False,
                 warn: Callable[[str], None] = lambda message: None, nova: Nova | None = None,
                 read_cluster: Callable[[object], ClusterSnapshot] | None = None):
        self.conf = conf
        self.host_arg = host
        self.assume_fenced = assume_fenced
        self.warn = warn
        self._nova = nova
        self._read_cluster = read_cluster
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
        if host in self.policy.excluded_hosts or node in self.policy.excluded_hosts:
            raise HakariError(f"{host} is in [recovery] excluded_hosts; hakari does not "
                              "recover it")
        snapshot, cluster_error = self._cluster()
        in_cluster = snapshot is not None and snapshot.node(node) is not None
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
            from hakari.fencing.proof import fencing_proof
            proof = fencing_proof(snapshot, node, lost_at,
                                  clock_skew=self.conf.fencing.clock_skew)
            if not proof.ok:
                raise HakariError(f"refusing to evacuate {host}: {proof.reason}")
            fencing = proof.reason
        incident = existing or Incident(id=incident_id(node, lost_at), node=node,
                                        lost_at=lost_at, state="DETECTED",
                                        reason="hakari evacuate")
        aggregates = self.nova.aggregates() if needs_aggregates(self.policy) else []
        memory = remember(self.journal.read(incident.id))
        decisions = gather(self.nova, Job(incident, host), self.policy,
                           aggregates=aggregates, memory=memory)
        if self.conf.recovery.capacity_check:
            try:
                unfit, _ = capacity_verdicts(self.nova, self.policy, [decisions], [host],
                                             aggregates)
                decisions = apply_unfit(decisions, unfit)
            except NovaError as err:
                self.warn(f"capacity not checked: {err}")
        return Preview(host, node, incident, existing is None, service, decisions, fencing,
                       self.assume_fenced, superseded)

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

    def _cluster(self) -> tuple[ClusterSnapshot | None, str]:
        read = self._read_cluster
        if read is None:
            from hakari.cluster.live import read_cluster as read
        try:
            return read(self.conf), ""
        except (ToolNotFound, ClusterNotConnected) as err:
            return None, str(err)

    # -- act ----------------------------------------------------------------------------

    def execute(self, preview: Preview, progress=None) -> HostReport:
        from hakari.recovery.journal import ensure_state_dir

        ensure_state_dir(self.conf.state_dir)
        store = self.store
        assert store is not None, "prepare() first"
        with HostLock(self.conf.state_dir, preview.host):
            if preview.superseded is not None:
                store.transition(preview.superseded, preview.host, "HOST_RETURNED",
                                 f"nova-compute was no longer forced down; superseded by "
                                 f"incident {preview.incident.id}")
            incident = preview.incident
            if preview.new_incident:
                incident = store.save(incident, preview.host)
            if preview.assumed:
                self.journal.record(incident.id, preview.host, "fencing-assumed",
                                    operator=_operator(),
                                    note="hakari evacuate --assume-fenced: fencing NOT "
                                    "proven; the operator asserts the host is off")
            else:
                self.journal.record(incident.id, preview.host, "fencing-proven",
                                    proof=preview.fencing, operator=_operator())
            if incident.state == "BLOCKED":
                self.journal.record(incident.id, preview.host, "released",
                                    operator=_operator(), reason=incident.reason)
            if incident.state in ("DETECTED", "FENCE_FAILED", "BLOCKED"):
                incident = store.transition(
                    incident, preview.host, "FENCE_CONFIRMED",
                    "assumed fenced by the operator" if preview.assumed else preview.fencing)
            note = "assumed fenced by operator" if preview.assumed else "fenced"
            recovery = HostRecovery(self.nova, store, self.journal, self.policy,
                                    Limits.from_config(self.conf),
                                    delay=self.conf.recovery.delay, progress=progress,
                                    capacity_check=self.conf.recovery.capacity_check)
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
    return incident.state in ("FORCED_DOWN", "EVACUATING", "EVACUATED", "FAILED") and \
        not service.forced_down


def _operator() -> str:
    for var in ("SUDO_USER", "LOGNAME", "USER"):
        if os.environ.get(var):
            return os.environ[var]
    return str(os.getuid())
