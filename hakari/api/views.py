"""Response bodies, field for field as Masakari writes them. Pure.

Times are naive UTC with microseconds (``2017-04-24T06:37:37.396994``), as Masakari's
clients parse them. Nothing is soft-deleted here, so ``deleted`` is always false and
``deleted_at`` null; both are kept because clients read them.
"""

from __future__ import annotations

import datetime as dt

from hakari.api import statuses
from hakari.api.records import Host, Notification, Segment
from hakari.api.vmoves import VMove
from hakari.records.journal import Event


def timestamp(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _kept(created_at: dt.datetime | None, updated_at: dt.datetime | None) -> dict:
    return {"created_at": timestamp(created_at), "updated_at": timestamp(updated_at),
            "deleted_at": None, "deleted": False}


def segment(s: Segment) -> dict:
    return {"id": s.id, "uuid": s.uuid, "name": s.name, "description": s.description,
            "recovery_method": s.recovery_method, "service_type": s.service_type,
            "enabled": s.enabled, **_kept(s.created_at, s.updated_at)}


def host(h: Host) -> dict:
    return {"id": h.id, "uuid": h.uuid, "name": h.name,
            "failover_segment_id": h.segment.uuid, "failover_segment": segment(h.segment),
            "type": h.type, "reserved": h.reserved,
            "control_attributes": h.control_attributes,
            "on_maintenance": h.on_maintenance, **_kept(h.created_at, h.updated_at)}


def notification(n: Notification, workflow: list[dict] | None = None) -> dict:
    """``workflow``: the recovery workflow details (microversion 1.1 and later, show)."""
    doc = {"id": n.id, "notification_uuid": n.notification_uuid, "type": n.type,
           "status": n.status, "generated_time": timestamp(n.generated_time),
           "source_host_uuid": n.source_host_uuid,
           "failover_segment_uuid": n.failover_segment_uuid, "payload": n.payload,
           "message": n.message, **_kept(n.created_at, n.updated_at)}
    if workflow is not None:
        doc["recovery_workflow_details"] = workflow
    return doc


def vmove(v: VMove) -> dict:
    return {"id": v.id, "uuid": v.uuid, "notification_uuid": v.notification_uuid,
            "instance_uuid": v.instance_uuid, "instance_name": v.instance_name,
            "source_host": v.source_host, "dest_host": v.dest_host,
            "start_time": timestamp(v.start_time), "end_time": timestamp(v.end_time),
            "status": v.status, "type": v.type, "message": v.message,
            **_kept(v.created_at, v.updated_at)}


# What a journal event's detail says, in this order, when it says it.
_TOLD = ("state", "reason", "verb", "result", "status", "message", "source")
_STATE = {"new": "PENDING", "running": "RUNNING", "finished": "SUCCESS",
          "failed": "FAILURE", "ignored": "SKIPPED"}


def workflow(n: Notification, events: list[Event]) -> list[dict]:
    """The recovery workflow details of microversion 1.1: one task, hakari's recovery
    of the incident the notification is attached to, its steps from the journal of the
    machine answering (another controller's steps are in that controller's journal)."""
    if n.status == statuses.NEW:
        return []
    steps = [{"timestamp": e.ts.astimezone(dt.timezone.utc).isoformat(sep=" "),
              "message": e.event + "".join(f"; {k}: {e.detail[k]}" for k in _TOLD
                                           if e.detail.get(k) not in (None, "")),
              "progress": "1.0" if i == len(events) - 1 and n.status in statuses.FINAL
              else "0.0"} for i, e in enumerate(events)]
    return [{"name": f"hakari {n.type} recovery", "state": _STATE[n.status],
             "progress": 1.0 if n.status in statuses.FINAL else 0.0,
             "progress_details": steps}]
