"""hakari.nova.fencing against a recording stand-in for Nova: the order of the calls
(safety rule 3) and what unfencing leaves alone (safety rule 12)."""

from __future__ import annotations

import dataclasses

from hakari.nova import fencing
from hakari.nova.errors import NovaError
from hakari.nova.resources import ComputeService


class RecordingNova:
    """The four service calls fencing makes, each recorded, on one compute service."""

    def __init__(self, service: ComputeService):
        self.service = service
        self.calls: list[tuple] = []

    def compute_service(self, host: str) -> ComputeService:
        assert host == self.service.host
        return self.service

    def force_down(self, service, forced=True):
        self.calls.append(("force_down", forced))
        self.service = dataclasses.replace(service, forced_down=forced,
                                           state="down" if forced else "up")
        return self.service, f"req-{len(self.calls)}"

    def disable(self, service, reason):
        self.calls.append(("disable", reason))
        self.service = dataclasses.replace(service, status="disabled", disabled_reason=reason)
        return self.service, f"req-{len(self.calls)}"

    def enable(self, service):
        self.calls.append(("enable",))
        self.service = dataclasses.replace(service, status="enabled", disabled_reason=None)
        return self.service, f"req-{len(self.calls)}"


def service(**kw) -> ComputeService:
    base = dict(id="svc-1", host="cmp1", state="up", status="enabled", forced_down=False,
                disabled_reason=None)
    return ComputeService(**(base | kw))


def test_fence_forces_down_before_disabling():
    nova = RecordingNova(service())
    recorded = []
    why = fencing.reason("fenced", "cmp1-20261125T080000Z")
    svc = fencing.fence(nova, "cmp1", why, lambda event, **d: recorded.append(event))
    assert nova.calls == [("force_down", True), ("disable", why)]
    assert recorded == ["forced-down", "disabled"]
    assert svc.forced_down and not svc.enabled and svc.disabled_reason == why
    assert why.startswith(fencing.REASON_PREFIX)


def test_fencing_twice_changes_nothing():
    nova = RecordingNova(service())
    fencing.fence(nova, "cmp1", fencing.reason("fenced"))
    nova.calls.clear()
    fencing.fence(nova, "cmp1", fencing.reason("fenced again"))
    assert nova.calls == []


def test_fence_keeps_another_partys_disable_and_unfence_leaves_it():
    nova = RecordingNova(service(status="disabled", disabled_reason="maintenance"))
    recorded = []
    fencing.fence(nova, "cmp1", fencing.reason("fenced"),
                  lambda event, **d: recorded.append((event, d.get("reason"))))
    assert nova.calls == [("force_down", True)]
    assert recorded[-1] == ("already-disabled", "maintenance")
    fencing.unfence(nova, "cmp1")
    assert nova.calls[-1] == ("force_down", False)
    assert nova.service.status == "disabled" and nova.service.disabled_reason == "maintenance"


def test_unfence_leaves_a_service_someone_else_disabled():
    nova = RecordingNova(service(status="disabled", disabled_reason="maintenance window"))
    fencing.unfence(nova, "cmp1")
    assert nova.calls == []
    nova.service = dataclasses.replace(nova.service,
                                       disabled_reason=fencing.reason("fenced"))
    fencing.unfence(nova, "cmp1")
    assert nova.calls == [("enable",)]


def test_unfence_waits_while_nova_refuses_to_lift_the_force_down():
    nova = RecordingNova(service(state="down", status="disabled", forced_down=True,
                                 disabled_reason=fencing.reason("fenced")))

    def refuse(service, forced=True):
        raise NovaError("evacuation migrations not yet cleaned up", 400)

    nova.force_down = refuse
    assert fencing.unfence(nova, "cmp1") is None
    # Enabled, but still down to Nova and its scheduler until the force-down is lifted.
    assert nova.calls == [("enable",)] and nova.service.forced_down


def test_unfence_enables_before_lifting_the_force_down():
    nova = RecordingNova(service())
    fencing.fence(nova, "cmp1", fencing.reason("fenced"))
    nova.calls.clear()
    recorded = []
    svc = fencing.unfence(nova, "cmp1", lambda event, **d: recorded.append(event))
    assert nova.calls == [("enable",), ("force_down", False)]
    assert recorded == ["enabled", "unforced-down"]
    assert svc.enabled and not svc.forced_down
