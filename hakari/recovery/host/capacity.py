"""Will the instances fit? A pure estimate from free room per compute and flavor sizes.

Instances are placed in evacuation order (priority first), each on the compute it fits
most tightly (best fit, which packs the most under a greedy pass), so what is reported
as not fitting is what would be left over even with good packing: the low-priority tail.
Nova's scheduler decides the real placement; this only keeps hakari from sending
evacuations that cannot succeed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

from hakari.nova.resources import Server

UNLIMITED = math.inf


@dataclasses.dataclass(frozen=True, slots=True)
class Room:
    """Free resources on one compute; UNLIMITED when it does not track a resource (e.g.
    disk on shared storage)."""

    host: str
    vcpus: float
    ram_mb: float
    disk_gb: float = UNLIMITED


@dataclasses.dataclass(frozen=True, slots=True)
class Demand:
    id: str
    vcpus: int
    ram_mb: int
    disk_gb: int

    def fits(self, room: Room) -> bool:
        return self.vcpus <= room.vcpus and self.ram_mb <= room.ram_mb and \
            self.disk_gb <= room.disk_gb

    def describe(self) -> str:
        return f"{self.vcpus} vCPU, {self.ram_mb} MB RAM, {self.disk_gb} GB disk"


def demand_of(server: Server) -> Demand | None:
    """What placement would claim for ``server`` (None when its flavor is not embedded,
    i.e. Nova older than 2.47)."""
    f = server.flavor
    try:
        vcpus, ram = int(f["vcpus"]), int(f["ram"])
    except (KeyError, TypeError, ValueError):
        return None
    # A volume-backed instance (no image) takes no local root disk.
    root = int(f.get("disk") or 0) if server.image_id else 0
    swap = int(f.get("swap") or 0)
    disk = root + int(f.get("ephemeral") or 0) + math.ceil(swap / 1024)
    return Demand(server.id, vcpus, ram, disk)


def unplaceable(demands: Iterable[Demand], rooms: Sequence[Room]) -> dict[str, str]:
    """Instance id -> why it does not fit, for demands taken in the given order."""
    free = {r.host: [r.vcpus, r.ram_mb, r.disk_gb] for r in rooms}
    left: dict[str, str] = {}
    for d in demands:
        best = None
        for host, (cpu, ram, disk) in free.items():
            if d.vcpus <= cpu and d.ram_mb <= ram and d.disk_gb <= disk:
                # Tightest fit by RAM, the usual limit; ties by name for determinism.
                key = (ram - d.ram_mb, cpu - d.vcpus, host)
                if best is None or key < best[0]:
                    best = (key, host)
        if best is None:
            left[d.id] = _why(d, free)
            continue
        f = free[best[1]]
        f[0] -= d.vcpus
        f[1] -= d.ram_mb
        f[2] -= d.disk_gb
    return left


def _why(d: Demand, free: dict) -> str:
    if not free:
        return f"no usable compute has room for it ({d.describe()})"
    most_ram = max(v[1] for v in free.values())
    most_cpu = max(v[0] for v in free.values())
    return (f"not enough free capacity for {d.describe()} (most free on any usable "
            f"compute: {_num(most_cpu)} vCPU, {_num(most_ram)} MB RAM)")


def _num(value: float) -> str:
    return "unlimited" if value == UNLIMITED else f"{value:g}"
