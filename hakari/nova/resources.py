"""What Nova answers, typed: compute services, servers, instance actions, migrations,
aggregates, hypervisors, and the parsing of Nova's JSON into them."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hakari.display import one_line

# Migration statuses: done = rebuilt on the destination; completed = and the source
# cleaned up after it came back.
MIGRATION_SUCCESS = frozenset({"done", "completed"})
MIGRATION_FAILURE = frozenset({"failed", "error"})


@dataclasses.dataclass(frozen=True, slots=True)
class ComputeService:
    id: str
    host: str
    state: str
    status: str
    forced_down: bool
    disabled_reason: str | None
    zone: str | None = None
    # Nova's last write of the service row: its last heartbeat, or hakari's last change.
    updated_at: dt.datetime | None = None

    @property
    def up(self) -> bool:
        return self.state == "up"

    @property
    def enabled(self) -> bool:
        return self.status == "enabled"


@dataclasses.dataclass(frozen=True, slots=True)
class Server:
    id: str
    name: str
    status: str
    host: str | None
    project_id: str | None
    task_state: str | None
    vm_state: str | None
    metadata: dict
    flavor: dict
    image_id: str | None
    tags: tuple[str, ...] = ()
    image_properties: dict = dataclasses.field(default_factory=dict)
    # Nova's fault message for a server in ERROR (why a rebuild failed).
    fault: str | None = None
    # Nova's last change of the server (what ``changes-since`` compares).
    updated_at: dt.datetime | None = None

    @property
    def flavor_extra_specs(self) -> dict:
        specs = self.flavor.get("extra_specs")
        return specs if isinstance(specs, dict) else {}


@dataclasses.dataclass(frozen=True, slots=True)
class Migration:
    id: str
    server_id: str
    source_compute: str | None
    dest_compute: str | None
    status: str
    migration_type: str | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None

    @property
    def succeeded(self) -> bool:
        return self.status in MIGRATION_SUCCESS

    @property
    def failed(self) -> bool:
        return self.status in MIGRATION_FAILURE

    @property
    def in_flight(self) -> bool:
        return not (self.succeeded or self.failed)


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceAction:
    """One request Nova recorded against a server (os-instance-actions)."""

    action: str
    request_id: str | None
    # None when Nova acted on its own (an admin context without a user: nova-compute's
    # power-state sync stopping an instance whose guest shut down).
    user_id: str | None
    project_id: str | None
    start_time: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class Aggregate:
    id: str
    name: str
    hosts: tuple[str, ...]
    metadata: dict


@dataclasses.dataclass(frozen=True, slots=True)
class Hypervisor:
    """Which service host runs a compute node: placement names its resource providers
    after the node, and the two names may differ."""

    host: str
    name: str


def parse_time(value: str | None) -> dt.datetime | None:
    """Nova prints naive UTC timestamps, with or without microseconds or a zone."""
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed


def service_from(d: dict) -> ComputeService:
    return ComputeService(
        id=str(d.get("id")), host=d.get("host") or "", state=d.get("state") or "unknown",
        status=d.get("status") or "unknown", forced_down=bool(d.get("forced_down")),
        disabled_reason=d.get("disabled_reason"), zone=d.get("zone"),
        updated_at=parse_time(d.get("updated_at")))


def server_from(d: dict) -> Server:
    image = d.get("image")
    image = image if isinstance(image, dict) else {}
    fault = d.get("fault")
    return Server(
        id=d["id"], name=d.get("name") or "", status=d.get("status") or "UNKNOWN",
        host=d.get("OS-EXT-SRV-ATTR:host"), project_id=d.get("tenant_id"),
        task_state=d.get("OS-EXT-STS:task_state"), vm_state=d.get("OS-EXT-STS:vm_state"),
        metadata=dict(d.get("metadata") or {}), flavor=dict(d.get("flavor") or {}),
        image_id=image.get("id"), tags=tuple(d.get("tags") or ()),
        image_properties=dict(image.get("properties") or {}),
        fault=one_line(fault["message"])[:300] if isinstance(fault, dict)
        and fault.get("message") else None, updated_at=parse_time(d.get("updated")))


def instance_action_from(d: dict) -> InstanceAction:
    return InstanceAction(action=d.get("action") or "", request_id=d.get("request_id"),
                          user_id=d.get("user_id") or None,
                          project_id=d.get("project_id") or None,
                          start_time=parse_time(d.get("start_time")))


def aggregate_from(d: dict) -> Aggregate:
    return Aggregate(id=str(d.get("id")), name=d.get("name") or "",
                     hosts=tuple(d.get("hosts") or ()), metadata=dict(d.get("metadata") or {}))


def hypervisor_from(d: dict) -> Hypervisor:
    service = d.get("service") or {}
    return Hypervisor(host=service.get("host") or d.get("hypervisor_hostname") or "",
                      name=d.get("hypervisor_hostname") or "")


def migration_from(d: dict) -> Migration:
    return Migration(
        id=str(d.get("uuid") or d.get("id")), server_id=d.get("instance_uuid") or "",
        source_compute=d.get("source_compute"), dest_compute=d.get("dest_compute"),
        status=d.get("status") or "unknown", migration_type=d.get("migration_type"),
        created_at=parse_time(d.get("created_at")),
        updated_at=parse_time(d.get("updated_at")))
