"""JSON views of the records, per microversion, with Nova's field names.

Field names and which microversion adds or drops them follow Nova's API reference and
api-samples (see shared/reference/corpus/nova_api_samples).
"""

from __future__ import annotations

from lab.fakenova.model import (Aggregate, Flavor, Host, Migration, Server, Service,
                                host_id, iso_us, iso_z, server_status)

_PROGRESS_STATUSES = {"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"}


def _links(base: str, kind: str, ident) -> list[dict]:
    return [{"rel": "self", "href": f"{base}/v2.1/{kind}/{ident}"},
            {"rel": "bookmark", "href": f"{base}/{kind}/{ident}"}]


def service(h: Host | Service, mv, up: bool, zone: str) -> dict:
    is_compute = isinstance(h, Host)
    d = {
        "id": h.service_uuid if mv >= (2, 53) else h.service_id,
        "binary": "nova-compute" if is_compute else h.binary,
        "disabled_reason": h.disabled_reason if is_compute else None,
        "host": h.name if is_compute else h.host,
        "state": "up" if up else "down",
        "status": "disabled" if is_compute and h.disabled else "enabled",
        "updated_at": iso_us(h.updated),
        "zone": zone,
    }
    if mv >= (2, 11):
        d["forced_down"] = bool(is_compute and h.forced_down)
    return d


def flavor_brief(f: Flavor, mv, base: str) -> dict:
    d = {"id": f.flavorid, "name": f.name, "links": _links(base, "flavors", f.flavorid)}
    if mv >= (2, 55):
        d["description"] = f.description
    return d


def flavor(f: Flavor, mv, base: str) -> dict:
    d = flavor_brief(f, mv, base)
    d.update({
        "ram": f.ram, "vcpus": f.vcpus, "disk": f.disk,
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral,
        # Before 2.75 a zero swap was printed as an empty string.
        "swap": f.swap if (f.swap or mv >= (2, 75)) else "",
        "os-flavor-access:is_public": f.is_public,
    })
    if mv < (2, 102):
        d["OS-FLV-DISABLED:disabled"] = False
        d["rxtx_factor"] = f.rxtx_factor
    if mv >= (2, 61):
        d["extra_specs"] = dict(f.extra_specs)
    return d


def server_brief(s: Server, base: str) -> dict:
    return {"id": s.uuid, "name": s.name, "links": _links(base, "servers", s.uuid)}


def server(s: Server, mv, base: str, host_status: str | None) -> dict:
    status = server_status(s)
    f = s.flavor
    if mv >= (2, 47):
        flav = {"vcpus": f.vcpus, "ram": f.ram, "disk": f.disk, "ephemeral": f.ephemeral,
                "swap": f.swap, "original_name": f.name, "extra_specs": dict(f.extra_specs)}
    else:
        flav = {"id": f.flavorid, "links": [{"rel": "bookmark",
                                             "href": f"{base}/flavors/{f.flavorid}"}]}
    image = ({"id": s.image_ref, "links": [{"rel": "bookmark",
                                            "href": f"{base}/images/{s.image_ref}"}]}
             if s.image_ref else "")
    if image and mv >= (2, 98):
        image["properties"] = {}
    d = {
        "id": s.uuid, "name": s.name, "status": status,
        "tenant_id": s.project_id, "user_id": s.user_id,
        "metadata": dict(s.metadata), "hostId": host_id(s.project_id, s.host),
        "image": image, "flavor": flav,
        "created": iso_z(s.created), "updated": iso_z(s.updated),
        "addresses": {k: list(v) for k, v in s.addresses.items()},
        "accessIPv4": "", "accessIPv6": "",
        "links": _links(base, "servers", s.uuid),
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": s.availability_zone or "",
        "config_drive": "", "key_name": s.key_name,
        "OS-SRV-USG:launched_at": iso_us(s.launched), "OS-SRV-USG:terminated_at": None,
        "OS-EXT-SRV-ATTR:host": s.host,
        "OS-EXT-SRV-ATTR:instance_name": f"instance-{s.seq:08x}",
        "OS-EXT-SRV-ATTR:hypervisor_hostname": s.host,
        "OS-EXT-STS:task_state": s.task_state,
        "OS-EXT-STS:vm_state": s.vm_state,
        "OS-EXT-STS:power_state": s.power_state,
        "os-extended-volumes:volumes_attached": [],
    }
    if s.addresses:
        # Security groups come from the ports; a server without networks has none.
        d["security_groups"] = [{"name": "default"}]
    if status in _PROGRESS_STATUSES:
        d["progress"] = 0
    if mv >= (2, 3):
        d.update({"OS-EXT-SRV-ATTR:reservation_id": s.reservation_id,
                  "OS-EXT-SRV-ATTR:launch_index": 0,
                  "OS-EXT-SRV-ATTR:hostname": s.name.lower().replace("_", "-"),
                  "OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:ramdisk_id": "",
                  "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                  "OS-EXT-SRV-ATTR:user_data": None})
    if mv >= (2, 9):
        d["locked"] = s.locked
    if mv >= (2, 16) and host_status is not None:
        d["host_status"] = host_status
    if mv >= (2, 19):
        d["description"] = s.description
    if mv >= (2, 26):
        d["tags"] = list(s.tags)
    if mv >= (2, 63):
        d["trusted_image_certificates"] = None
    if mv >= (2, 71):
        d["server_groups"] = []
    if mv >= (2, 73):
        d["locked_reason"] = None
    if mv >= (2, 96):
        d["pinned_availability_zone"] = s.pinned_az
    if mv >= (2, 100):
        d["scheduler_hints"] = {}
    if s.fault and status in ("ERROR", "DELETED"):
        d["fault"] = dict(s.fault)
    return d


def migration(m: Migration, mv) -> dict:
    d = {
        "id": m.id, "instance_uuid": m.instance_uuid,
        "source_compute": m.source_compute, "source_node": m.source_node,
        "dest_compute": m.dest_compute, "dest_node": m.dest_node, "dest_host": m.dest_host,
        "status": m.status,
        "old_instance_type_id": m.old_instance_type_id,
        "new_instance_type_id": m.new_instance_type_id,
        "created_at": iso_us(m.created), "updated_at": iso_us(m.updated),
    }
    if mv >= (2, 23):
        d["migration_type"] = m.migration_type
    if mv >= (2, 59):
        d["uuid"] = m.uuid
    if mv >= (2, 80):
        d["user_id"] = m.user_id
        d["project_id"] = m.project_id
    return d


def aggregate(a: Aggregate, mv) -> dict:
    d = {"id": a.id, "name": a.name, "availability_zone": a.availability_zone,
         "hosts": list(a.hosts), "metadata": dict(a.metadata),
         "created_at": iso_us(a.created), "updated_at": iso_us(a.updated),
         "deleted": False, "deleted_at": None}
    if mv >= (2, 41):
        d["uuid"] = a.uuid
    return d


def hypervisor(h: Host, mv, up: bool, detail: bool, servers: list | None) -> dict:
    d = {"id": h.hypervisor_uuid if mv >= (2, 53) else h.hypervisor_id,
         "hypervisor_hostname": h.name,
         "state": "up" if up else "down",
         "status": "disabled" if h.disabled else "enabled"}
    if detail:
        d.update({"host_ip": h.ip, "hypervisor_type": "fake", "hypervisor_version": 1000,
                  "service": {"host": h.name,
                              "id": h.service_uuid if mv >= (2, 53) else h.service_id,
                              "disabled_reason": h.disabled_reason}})
        if mv >= (2, 88):
            d["uptime"] = None
        else:
            used = len(servers or [])
            d.update({"vcpus": h.vcpus, "memory_mb": h.memory_mb, "local_gb": h.local_gb,
                      "vcpus_used": used, "memory_mb_used": 0, "local_gb_used": 0,
                      "free_ram_mb": h.memory_mb, "free_disk_gb": h.local_gb,
                      "current_workload": 0, "running_vms": used,
                      "disk_available_least": h.local_gb,
                      "cpu_info": {"arch": "x86_64", "model": "Nehalem", "vendor": "Intel",
                                   "features": [], "topology": {"cores": 1, "threads": 1,
                                                                "sockets": 4}}})
    if servers is not None and (servers or mv >= (2, 75)):
        d["servers"] = [{"uuid": s.uuid, "name": f"instance-{s.seq:08x}"} for s in servers]
    return d
