"""Recovery policies as pure functions: which instances, in what order, to where, and what
state counts as "arrived". No I/O: callers pass what Nova and the CIB said.

The configuration's policy is the default segment's; a host the Masakari-compatible API
put in a segment (hakari.segments) recovers by that segment's method, to that segment's
reserved hosts (``for_segment``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from hakari.model import RECOVERY_METHODS, SegmentMembership
from hakari.nova.resources import Aggregate, Server

TRUE_WORDS = frozenset({"true", "yes", "1", "on", "y", "t"})
SELECTIONS = ("all", "tagged")
TARGETS = RECOVERY_METHODS
SOURCES = ("server", "flavor", "image", "aggregate")
# Nova evacuates instances in these vm_states only (compute API check_instance_state).
EVACUABLE_VM_STATES = frozenset({"active", "stopped", "error"})


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    selection: str = "all"
    tag: str = "evacuable"
    sources: frozenset[str] = frozenset(SOURCES)
    evacuate_error: bool = False
    excluded_instances: frozenset[str] = frozenset()
    priority_key: str = "hakari:priority"
    target: str = "auto"
    reserved_hosts: tuple[str, ...] = ()
    reserved_aggregate: str = ""
    stop_at_destination: bool = False
    max_attempts: int = 3

    def __post_init__(self):
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")

    @classmethod
    def from_config(cls, conf) -> "Policy":
        r = conf.recovery
        return cls(selection=r.instance_selection, tag=r.evacuable_tag,
                   sources=frozenset(r.evacuable_sources),
                   evacuate_error=r.evacuate_error_instances,
                   excluded_instances=frozenset(i.strip() for i in r.excluded_instances
                                                if i.strip()),
                   priority_key=r.priority_key, target=r.target,
                   reserved_hosts=tuple(h.strip() for h in r.reserved_hosts if h.strip()),
                   reserved_aggregate=r.reserved_hosts_aggregate.strip(),
                   stop_at_destination=r.stop_at_destination,
                   max_attempts=r.max_attempts)

    @property
    def uses_reserved_hosts(self) -> bool:
        return self.target != "auto"


def for_segment(base: Policy, node: str, memberships: Mapping[str, SegmentMembership],
                to_nova: Callable[[str], str], held: Collection[str] = ()) -> Policy:
    """The policy lost node ``node`` recovers by: its segment's method, and as reserved
    hosts the Nova hosts of the other nodes of its segment marked reserved and not held
    (Masakari takes its segment's reserved hosts not on maintenance), in name order;
    ``base`` (the configuration: the default segment) for a node in no segment.
    ``memberships``: node -> membership (hakari.segments.current)."""
    mine = memberships.get(node)
    if mine is None:
        return base
    reserved = sorted(to_nova(n) for n, m in memberships.items()
                      if m.segment == mine.segment and m.reserved and n != node
                      and n not in held)
    return dataclasses.replace(base, target=mine.method, reserved_hosts=tuple(reserved),
                               reserved_aggregate="")


def truthy(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_WORDS


def host_aggregates(host: str, aggregates: Iterable[Aggregate]) -> list[Aggregate]:
    return [a for a in aggregates if host in a.hosts]


def tagged_by(server: Server, policy: Policy,
              aggregates_of_host: Sequence[Aggregate] = ()) -> str | None:
    """Where the evacuable tag was found for ``server`` (for the journal), or None."""
    key = policy.tag
    if "server" in policy.sources and truthy(server.metadata.get(key, "")):
        return "server metadata"
    if "flavor" in policy.sources and truthy(server.flavor_extra_specs.get(key, "")):
        return "flavor extra spec"
    if "image" in policy.sources and truthy(server.image_properties.get(key, "")):
        return "image property"
    if "aggregate" in policy.sources:
        for agg in aggregates_of_host:
            if truthy(agg.metadata.get(key, "")):
                return f"aggregate {agg.name}"
    return None


def skip_reason(server: Server, policy: Policy, *, prior_attempts: int = 0,
                aggregates_of_host: Sequence[Aggregate] = ()) -> str | None:
    """Why ``server`` is not to be evacuated, or None when it is.

    ``prior_attempts``: evacuations of it already tried in this incident. An instance in
    ERROR because hakari's own attempt failed is retried; one that was in ERROR before
    the host was lost is left alone unless the policy says otherwise.
    """
    if server.id in policy.excluded_instances:
        return "excluded by [recovery] excluded_instances"
    if policy.selection == "tagged" and tagged_by(server, policy, aggregates_of_host) is None:
        return f"not tagged {policy.tag} (instance_selection = tagged)"
    if server.status == "ERROR" and prior_attempts == 0 and not policy.evacuate_error:
        return "in ERROR before the host was lost (evacuate_error_instances = false)"
    return None


def priority(server: Server, key: str) -> int:
    try:
        return int(str(server.metadata.get(key, "0")).strip())
    except ValueError:
        return 0


def ordered(servers: Iterable[Server], key: str) -> list[Server]:
    """Highest priority first; equal priorities keep their order (sorted() is stable)."""
    return sorted(servers, key=lambda s: -priority(s, key))


def expected_statuses(original_status: str | None, stop_at_destination: bool) -> frozenset[str]:
    """Statuses that count as "arrived" for an instance evacuated from ``original_status``.

    Below 2.95 Nova keeps the power state: SHUTOFF stays SHUTOFF, ACTIVE stays ACTIVE and
    an instance in ERROR is rebuilt to ACTIVE. With 2.95 every instance ends SHUTOFF.
    Unknown original state (journal lost): either is accepted.
    """
    if stop_at_destination:
        return frozenset({"SHUTOFF"})
    if original_status == "SHUTOFF":
        return frozenset({"SHUTOFF"})
    if original_status in ("ACTIVE", "ERROR"):
        return frozenset({"ACTIVE"})
    return frozenset({"ACTIVE", "SHUTOFF"})


def uses_reserved(method: str, attempt: int) -> bool:
    """Whether attempt number ``attempt`` (0-based) of an instance goes to a reserved host.

    The *_priority methods switch to the other choice for every retry after the first
    attempt, so a full reserved host or a scheduler without room is worked around.
    """
    if method == "auto":
        return False
    if method == "reserved_host":
        return True
    if method == "rh_priority":
        return attempt == 0
    if method == "auto_priority":
        return attempt > 0
    raise ValueError(f"unknown target method {method}")


def reserved_pool(policy: Policy, aggregates: Iterable[Aggregate], *,
                  lost: Iterable[str] = (), unusable: Iterable[str] = ()) -> list[str]:
    """Reserved hosts usable now, in order of preference, never a lost one."""
    names = list(policy.reserved_hosts)
    if policy.reserved_aggregate:
        for agg in aggregates:
            if agg.name == policy.reserved_aggregate:
                names += [h for h in agg.hosts if h not in names]
    bad = set(lost) | set(unusable)
    return [h for h in names if h not in bad]


class ReservedRotation:
    """Hands out reserved hosts round-robin so one failed host does not fill one target.

    Nova's scheduler still checks each named host's room; an instance that does not fit
    fails that attempt and its retry takes the next host.
    """

    def __init__(self, hosts: Sequence[str]):
        self.hosts = list(hosts)
        self._next = 0

    def take(self, avoid: str | None = None) -> str | None:
        if not self.hosts:
            return None
        for _ in range(len(self.hosts)):
            host = self.hosts[self._next % len(self.hosts)]
            self._next += 1
            if host != avoid or len(self.hosts) == 1:
                return host
        return None
