"""The fake cloud's state: plain records, no HTTP.

Timestamps are kept as epoch floats and formatted only when rendered, because Nova prints
different formats for different resources (servers end in ``Z``, services and migrations
carry microseconds and no zone).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re

MIN_VERSION = (2, 1)


class ApiError(Exception):
    """An error answer in Nova's shape: ``{"<kind>": {"code": N, "message": "..."}}``."""

    KINDS = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
             405: "badMethod", 409: "conflictingRequest", 413: "overLimit",
             415: "badMediaType", 429: "overLimit", 501: "notImplemented",
             503: "serviceUnavailable"}

    def __init__(self, status: int, message: str, headers: dict | None = None,
                 payload: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.payload = payload

    def body(self) -> dict:
        if self.payload is not None:
            return self.payload
        kind = self.KINDS.get(self.status, "computeFault")
        return {kind: {"code": self.status, "message": self.message}}


def parse_version(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", text or "")
    if not m:
        raise ValueError(f"not a microversion: {text!r}")
    return int(m.group(1)), int(m.group(2))


def version_str(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


def iso_z(t: float | None) -> str | None:
    if t is None:
        return None
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_us(t: float | None) -> str | None:
    if t is None:
        return None
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def parse_time(text: str) -> float:
    """ISO 8601 as Nova accepts it in changes-since/changes-before (naive means UTC)."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "+"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.timestamp()


_TRUE = {"1", "t", "true", "on", "y", "yes"}
_FALSE = {"0", "f", "false", "off", "n", "no"}


def schema_bool(value) -> bool:
    """Nova's parameter_types.boolean: JSON booleans or the usual strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ValueError(value)


def query_bool(value: str, default: bool = True) -> bool:
    """oslo strutils.bool_from_string(value, default=...) as Nova uses it for all_tenants."""
    v = (value or "").strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    return default


@dataclasses.dataclass
class Host:
    name: str
    service_id: int
    service_uuid: str
    hypervisor_id: int
    hypervisor_uuid: str
    ip: str
    created: float
    capacity: int | None = None          # max instances; None: unlimited (FakeDriver)
    disabled: bool = False
    disabled_reason: str | None = None
    forced_down: bool = False
    killed_at: float | None = None        # monotonic time the service stopped reporting
    down_after: float = 0.0               # seconds without heartbeat before Nova says "down"
    updated: float = 0.0                  # wall time of last heartbeat or update
    vcpus: int = 64
    memory_mb: int = 262144
    local_gb: int = 4096


@dataclasses.dataclass
class Service:
    """Non-compute services (scheduler, conductor): listed, never updatable at >= 2.53."""
    binary: str
    host: str
    service_id: int
    service_uuid: str
    zone: str
    created: float
    updated: float


@dataclasses.dataclass
class Flavor:
    internal_id: int
    flavorid: str
    name: str
    vcpus: int
    ram: int
    disk: int
    ephemeral: int = 0
    swap: int = 0
    extra_specs: dict = dataclasses.field(default_factory=dict)
    is_public: bool = True
    description: str | None = None
    rxtx_factor: float = 1.0


@dataclasses.dataclass
class Server:
    uuid: str
    seq: int                               # creation order, Nova's internal id
    name: str
    project_id: str
    user_id: str
    host: str | None
    flavor: Flavor
    image_ref: str
    vm_state: str = "active"
    task_state: str | None = None
    power_state: int = 1
    created: float = 0.0
    updated: float = 0.0
    launched: float | None = None
    metadata: dict = dataclasses.field(default_factory=dict)
    tags: list = dataclasses.field(default_factory=list)
    addresses: dict = dataclasses.field(default_factory=dict)
    key_name: str | None = None
    availability_zone: str | None = None
    pinned_az: str | None = None           # AZ asked for at boot; evacuation stays inside it
    locked: bool = False
    description: str | None = None
    fault: dict | None = None
    reservation_id: str = ""


@dataclasses.dataclass
class Aggregate:
    id: int
    uuid: str
    name: str
    hosts: list
    metadata: dict
    created: float
    updated: float | None = None

    @property
    def availability_zone(self) -> str | None:
        return self.metadata.get("availability_zone")


@dataclasses.dataclass
class Migration:
    id: int
    uuid: str
    instance_uuid: str
    source_compute: str
    source_node: str
    status: str
    migration_type: str
    created: float
    updated: float
    user_id: str
    project_id: str
    old_instance_type_id: int
    new_instance_type_id: int
    dest_compute: str | None = None
    dest_node: str | None = None
    dest_host: str | None = None
    hidden: bool = False


# Nova's vm_state -> API status; any rebuild task shows REBUILD whatever the vm_state.
VM_STATUS = {"active": "ACTIVE", "building": "BUILD", "stopped": "SHUTOFF", "error": "ERROR",
             "deleted": "DELETED", "paused": "PAUSED", "suspended": "SUSPENDED",
             "rescued": "RESCUE", "resized": "VERIFY_RESIZE", "soft-delete": "SOFT_DELETED",
             "shelved": "SHELVED", "shelved_offloaded": "SHELVED_OFFLOADED"}
REBUILD_TASKS = {"rebuilding", "rebuild_block_device_mapping", "rebuild_spawning"}
POWER = {"running": 1, "shutdown": 4, "nostate": 0}


def server_status(s: Server) -> str:
    if s.task_state in REBUILD_TASKS:
        return "REBUILD"
    return VM_STATUS.get(s.vm_state, "UNKNOWN")


def host_id(project_id: str, host: str | None) -> str:
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode()).hexdigest()
