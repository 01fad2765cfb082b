"""Fencing and unfencing a compute host in Nova: the one implementation the engine's
host recovery and fence_hakari share.

Fencing in Nova is safety rule 3 (docs/design.md): force the nova-compute service down
first, so Nova allows evacuation and never calls the dead host, then disable it with a
reason naming hakari. Unfencing undoes exactly that and no more: a host someone else
disabled (maintenance) stays disabled, whatever happened in between.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hakari.nova.errors import NovaError
from hakari.nova.resources import ComputeService

if TYPE_CHECKING:  # annotations only: the client's import costs 0.3 s (openstacksdk)
    from hakari.nova.client import Nova

# Every disabled reason hakari writes starts with this; unfencing re-enables a service
# only when its reason does, so an operator's own disable is never undone.
REASON_PREFIX = "hakari:"

Record = Callable[..., None]


def _ignore(event: str, **detail) -> None:
    """The default ``record``: callers that keep no journal."""


def reason(note: str, incident_id: str | None = None) -> str:
    """The disabled reason hakari writes: its prefix, the incident when there is one."""
    where = f" incident {incident_id}:" if incident_id else ""
    return f"{REASON_PREFIX}{where} {note}"


def disabled_by_hakari(service: ComputeService) -> bool:
    return not service.enabled and (service.disabled_reason or "").startswith(REASON_PREFIX)


def fence(nova: Nova, host: str, why: str, record: Record = _ignore) -> ComputeService:
    """Force the host's nova-compute down, then disable it with ``why`` (see
    :func:`reason`); safety rule 3: in that order, since disabling a dead compute that
    is not forced down makes Nova call it and hang. Each change is passed to ``record``
    (event, request_id=..., detail) as it is made; a service already in that state is
    left alone, so fencing twice changes nothing."""
    service = nova.compute_service(host)
    if not service.forced_down:
        service, rid = nova.force_down(service)
        record("forced-down", request_id=rid)
    if service.enabled:
        service, rid = nova.disable(service, why)
        record("disabled", request_id=rid, reason=why)
    elif not disabled_by_hakari(service):
        # Disabled by someone else (maintenance?): keep their reason, so that a returning
        # host is not re-enabled behind their back.
        record("already-disabled", reason=service.disabled_reason or "")
    return service


def unfence(nova: Nova, host: str, record: Record = _ignore) -> ComputeService | None:
    """Undo :func:`fence` for a host that is back; the caller has made sure its
    evacuations are over (safety rule 5): re-enable it if hakari disabled it (a host
    someone else disabled stays disabled), then un-force it.

    Safety rule 3 in reverse: enabling a service Nova believes up makes Nova call its
    nova-compute over RPC, and a returning host's nova-compute is not running yet
    (compute-guard holds it until the host is unfenced) while its last heartbeat may
    still be fresh (a quick reboot): Nova would wait for the RPC timeout (60 s), longer
    than the fence agent may take. While forced down it is down to Nova, so the enable
    makes no call; the scheduler does not use it until the force-down is lifted. The
    compute then drops Placement's COMPUTE_STATUS_DISABLED trait itself: when its
    nova-compute starts (compute-guard starts it once the host is unfenced) or at its
    next resource update (every 60 s by default).

    Returns the service, or None while Nova refuses (400) to un-force it: it does so as
    long as ``done`` evacuation migrations remain, i.e. until the host's nova-compute has
    restarted and cleaned them up. That is waiting, not an error; call it again later."""
    service = nova.compute_service(host)
    if disabled_by_hakari(service):
        service, rid = nova.enable(service)
        record("enabled", request_id=rid)
    if service.forced_down:
        try:
            service, rid = nova.force_down(service, False)
        except NovaError as err:
            if err.status != 400:
                raise
            return None
        record("unforced-down", request_id=rid)
    return service
