"""The handlers of Masakari's API v1: segments, hosts, notifications.

Each takes a checked Call (route arguments, query, decoded body, microversion) and
returns (status, body). Bodies are checked (hakari.api.validation) before anything is
stored; the records refuse what Masakari refuses (hakari.api.records).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from hakari.api import validation, versions, views
from hakari.api.faults import ApiError
from hakari.api.records import HOST_KEYS, NOTIFICATION_KEYS, SEGMENT_KEYS, Records
from hakari.api.worker import Recoveries
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
    name (hakari.api.compute.nova_host); Masakari refuses hosts Nova does not know."""

    def __init__(self, conf, records: Records, recoveries: Recoveries, journal: Journal,
                 compute_host: Callable[[str], bool]):
        self.conf = conf
        self.records = records
        self.recoveries = recoveries
        self.journal = journal
        self.compute_host = compute_host

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
        segment = self.records.update_segment(call.args["id"], values)
        return 200, {"segment": views.segment(segment)}

    def segments_delete(self, call: Call):
        self.records.delete_segment(call.args["id"])
        return 204, None

    # -- hosts ----------------------------------------------------------------------------

    def _known_to_nova(self, name: str) -> None:
        if not self.compute_host(name):
            raise ApiError(400, f"Compute service of host {name} could not be found "
                                "in Nova.")

    def hosts_index(self, call: Call):
        found = self.records.hosts(
            call.args["segment_id"],
            self._filters(call, ("name", "type", "control_attributes"),
                          ("on_maintenance", "reserved")),
            **self._page(call, HOST_KEYS))
        return 200, {"hosts": [views.host(h) for h in found]}

    def hosts_show(self, call: Call):
        host = self.records.host(call.args["segment_id"], call.args["id"])
        return 200, {"host": views.host(host)}

    def hosts_create(self, call: Call):
        values = validation.host_create(call.body)
        self.records.segment(call.args["segment_id"])
        self._known_to_nova(values["name"])
        return 201, {"host": views.host(self.records.create_host(call.args["segment_id"],
                                                                  values))}

    def hosts_update(self, call: Call):
        values = validation.host_update(call.body)
        self.records.host(call.args["segment_id"], call.args["id"])
        if "name" in values:
            self._known_to_nova(values["name"])
        host = self.records.update_host(call.args["segment_id"], call.args["id"], values)
        return 200, {"host": views.host(host)}

    def hosts_delete(self, call: Call):
        self.records.delete_host(call.args["segment_id"], call.args["id"])
        return 204, None

    # -- notifications --------------------------------------------------------------------

    def notifications_create(self, call: Call):
        values = validation.notification_create(call.body)
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
