"""The handlers of Masakari's API v1: segments, hosts, notifications, vm moves.

Each takes a checked Call (route arguments, query, decoded body, microversion) and
returns (status, body). Bodies are checked (hakari.api.validation) before anything is
stored; the records refuse what Masakari refuses (hakari.api.records). What drives
recovery goes to the CIB in the same step (hakari.api.membership), and hosts'
``reserved`` and ``on_maintenance`` are shown as the CIB has them. The vm moves of a host
notification are read from Nova on each request (hakari.api.vmoves).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from hakari.api import validation, versions, views, vmoves
from hakari.api.faults import ApiError
from hakari.api.membership import Cluster
from hakari.api.records import HOST_KEYS, NOTIFICATION_KEYS, SEGMENT_KEYS, Records
from hakari.api.worker import Recoveries
from hakari.errors import HakariError
from hakari.hostnames import HostNameMap
from hakari.nova.client import Nova
from hakari.records.history import INSTANCE_EVENTS
from hakari.records.journal import Journal


@dataclasses.dataclass(frozen=True)
class Call:
    args: dict
    params: list[tuple[str, str]]
    body: object
    version: tuple[int, int]
    request_id: str
    root_url: str

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)


class Resources:
    """``compute_host(name)``: whether Nova has a nova-compute service for that host
    name (hakari.api.compute.nova_host); Masakari refuses hosts Nova does not know.
    ``nova()``: the Nova connection the vm moves are read from. ``cluster``: the CIB's
    side of segments and hosts (by default the real one)."""

    def __init__(self, conf, records: Records, recoveries: Recoveries, journal: Journal,
                 compute_host: Callable[[str], bool], nova: Callable[[], Nova],
                 cluster: Cluster | None = None):
        self.conf = conf
        self.records = records
        self.recoveries = recoveries
        self.journal = journal
        self.compute_host = compute_host
        self.cluster = cluster or Cluster(conf)
        self.nova = nova
        self.names = HostNameMap.from_config(conf)

    def _refresh(self, *, strict: bool) -> None:
        """The records' copy of what the CIB says of each host (reserved, on
        maintenance). Not ``strict``: a CIB that cannot be read leaves the copy as it
        was (a read shows the last known values)."""
        try:
            flags = self.cluster.flags(self.records.host_names())
        except ApiError:
            if strict:
                raise
            return
        self.records.refresh_flags(flags)

    def _one_node(self, name: str, was: str | None = None) -> None:
        """Two hosts on one Pacemaker node would overwrite each other's segment."""
        node = self.cluster.node(name)
        for other in self.records.host_names():
            if other not in (name, was) and self.cluster.node(other) == node:
                raise ApiError(409, f"Host {name} is Pacemaker node {node}, as host "
                                    f"{other} already is.")

    def _write(self, maintenance: bool | None = None, request_id: str = ""):
        return lambda changes: self.cluster.write(changes, maintenance=maintenance,
                                                  by=f"hakari api {request_id}".strip())

    def _page(self, call: Call, keys) -> dict:
        limit, marker = validation.pagination(call.params, self.conf.api.max_limit)
        return {"order": validation.sorting(call.params, keys), "limit": limit,
                "marker": marker}

    def _filters(self, call: Call, plain: tuple[str, ...], booleans: tuple[str, ...] = ()
                 ) -> dict:
        found = {k: call.param(k) for k in plain if call.param(k) is not None}
        found.update({k: validation.boolean(call.param(k), k) for k in booleans
                      if call.param(k) is not None})
        return found

    # -- versions -------------------------------------------------------------------------

    def version(self, call: Call):
        return 200, versions.version_document(call.root_url)

    # -- segments -------------------------------------------------------------------------

    def segments_index(self, call: Call):
        found = self.records.segments(
            self._filters(call, ("recovery_method", "service_type"), ("enabled",)),
            **self._page(call, SEGMENT_KEYS))
        return 200, {"segments": [views.segment(s) for s in found]}

    def segments_show(self, call: Call):
        return 200, {"segment": views.segment(self.records.segment(call.args["id"]))}

    def segments_create(self, call: Call):
        values = validation.segment_create(call.body, call.version)
        return 201, {"segment": views.segment(self.records.create_segment(values))}

    def segments_update(self, call: Call):
        values = validation.segment_update(call.body, call.version)
        self._refresh(strict=True)
        segment = self.records.update_segment(call.args["id"], values, self._write())
        return 200, {"segment": views.segment(segment)}

    def segments_delete(self, call: Call):
        self.records.delete_segment(call.args["id"], self._write())
        return 204, None

    # -- hosts ----------------------------------------------------------------------------

    def _known_to_nova(self, name: str) -> None:
        if not self.compute_host(name):
            raise ApiError(400, f"Compute service of host {name} could not be found "
                                "in Nova.")

    def hosts_index(self, call: Call):
        self._refresh(strict=False)
        found = self.records.hosts(
            call.args["segment_id"],
            self._filters(call, ("name", "type", "control_attributes"),
                          ("on_maintenance", "reserved")),
            **self._page(call, HOST_KEYS))
        return 200, {"hosts": [views.host(h) for h in found]}

    def hosts_show(self, call: Call):
        self._refresh(strict=False)
        host = self.records.host(call.args["segment_id"], call.args["id"])
        return 200, {"host": views.host(host)}

    def hosts_create(self, call: Call):
        values = validation.host_create(call.body)
        segment_uuid = call.args["segment_id"]
        self.records.segment(segment_uuid)
        self._known_to_nova(values["name"])
        self._one_node(values["name"])
        # false leaves a hold placed otherwise (`hakari hold`) alone.
        host = self.records.create_host(segment_uuid, values, self._write(
            values["on_maintenance"] or None, call.request_id))
        self._refresh(strict=False)
        return 201, {"host": views.host(self.records.host(segment_uuid, host.uuid))}

    def hosts_update(self, call: Call):
        values = validation.host_update(call.body)
        segment_uuid = call.args["segment_id"]
        before = self.records.host(segment_uuid, call.args["id"])
        if "name" in values:
            self._known_to_nova(values["name"])
            self._one_node(values["name"], was=before.name)
        # What the CIB says now, so that a change of another field keeps it.
        self._refresh(strict=True)
        host = self.records.update_host(segment_uuid, call.args["id"], values, self._write(
            values.get("on_maintenance"), call.request_id))
        self._refresh(strict=False)
        return 200, {"host": views.host(self.records.host(segment_uuid, host.uuid))}

    def hosts_delete(self, call: Call):
        self.records.delete_host(call.args["segment_id"], call.args["id"], self._write())
        return 204, None

    # -- notifications --------------------------------------------------------------------

    def notifications_create(self, call: Call):
        values = validation.notification_create(call.body)
        self._refresh(strict=False)     # a host held since is on maintenance
        n = self.records.create_notification(
            values, request_id=call.request_id,
            duplicate_interval=self.conf.api.duplicate_notification_detection_interval)
        self.recoveries.submit(n.notification_uuid)
        return 202, {"notification": views.notification(n)}

    def notifications_index(self, call: Call):
        since = call.param("generated-since")
        found = self.records.notifications(
            self._filters(call, ("status", "source_host_uuid", "type")),
            generated_since=validation.since(since) if since is not None else None,
            **self._page(call, NOTIFICATION_KEYS))
        return 200, {"notifications": [views.notification(n) for n in found]}

    def notifications_show(self, call: Call):
        n = self.records.notification(call.args["id"])
        workflow = None
        if call.version >= (1, 1):
            keys = {n.notification_uuid, n.incident}
            # A host recovery journals every instance's steps: thousands, left out.
            skip = INSTANCE_EVENTS if n.type == validation.COMPUTE_HOST else ()
            events = [e for e in self.journal.read() if e.incident in keys
                      and e.event not in skip]
            workflow = views.workflow(n, events)
        return 200, {"notification": views.notification(n, workflow)}

    # -- vm moves (microversion 1.3) ------------------------------------------------------

    def _vmoves(self, notification_uuid: str) -> list[vmoves.VMove]:
        n = self.records.notification(notification_uuid)
        if n.type != validation.COMPUTE_HOST:
            raise ApiError(400, f"Notification {notification_uuid} is of type {n.type}: "
                                f"only {validation.COMPUTE_HOST} notifications have vm "
                                "moves.")
        if n.incident is None:      # not attached (yet, or ignored): nothing moved for it
            return []
        span = vmoves.window(n.incident,
                             self.records.incidents_of(n.hostname, validation.COMPUTE_HOST))
        if span is None:
            return []
        host = self.names.to_nova(self.names.to_node(n.hostname))
        try:
            return vmoves.read(self.nova(), n.notification_uuid, host, *span)
        except HakariError as err:
            raise ApiError(503, f"Nova cannot list the evacuations from {host}: "
                                f"{err}") from None

    def vmoves_index(self, call: Call):
        page = self._page(call, vmoves.KEYS)
        found = self._vmoves(call.args["notification_id"])
        chosen = vmoves.select(found, self._filters(call, vmoves.FILTERS), **page)
        return 200, {"vmoves": [views.vmove(v) for v in chosen]}

    def vmoves_show(self, call: Call):
        found = self._vmoves(call.args["notification_id"])
        move = vmoves.find(found, call.args["notification_id"], call.args["id"])
        return 200, {"vmove": views.vmove(move)}
