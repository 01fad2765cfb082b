"""The Nova adapter: the only module that talks to OpenStack.

One verb per method, typed results, an explicit microversion on every call (openstacksdk
would otherwise negotiate its maximum, and at >= 2.95 evacuated instances end stopped),
a timeout on every request, retries with backoff for transient failures, and Nova's
request id kept with every answer for the journal.

Requests go through openstacksdk's compute proxy (a keystoneauth adapter: auth, catalog,
TLS) as plain REST calls rather than its resource layer, because the resource layer
chooses microversions and hides request ids.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import time
from collections.abc import Callable, Iterator

import openstack
import requests
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1.session import TCPKeepAliveAdapter
from openstack import exceptions as os_exc
from urllib3 import exceptions as u3

from hakari.errors import HakariError
from hakari.nova.cloud import cloud_name, cloud_region
from hakari.display import one_line
from hakari.nova.errors import NovaConflict, NovaError, NovaNotFound
from hakari.nova.resources import (Aggregate, ComputeService, Hypervisor, InstanceAction,
                                   Migration, Server, aggregate_from, hypervisor_from,
                                   instance_action_from, migration_from, server_from,
                                   service_from)

# 2.53: services addressed by UUID; 2.68: evacuate without `force`, instance keeps its
# power state (2.95 would leave it stopped at the destination).
DEFAULT_MICROVERSION = "2.68"
STOP_AT_DESTINATION_MICROVERSION = "2.95"
# Server listings: 2.47 embeds the flavor with its extra specs, 2.98 the image properties,
# so one paginated call carries everything the selection policy reads.
LIST_MICROVERSION = (2, 98)
# Migrations: 2.59 adds uuid and marker pagination, 2.80 project/user.
MIGRATIONS_MICROVERSION = "2.80"
# Instance actions: 2.58 adds limit (the newest alone) and updated_at.
ACTIONS_MICROVERSION = "2.58"
COMPUTE_BINARY = "nova-compute"
PAGE_SIZE = 1000
# Parallel evacuations share one HTTP session; requests' default pool keeps only 10
# connections per endpoint and would reconnect for every call beyond that.
HTTP_POOL_SIZE = 128


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    body: dict
    request_id: str | None
    status: int


def _version(text: str) -> tuple[int, int]:
    major, _, minor = (text or "").partition(".")
    try:
        return int(major), int(minor)
    except ValueError:
        return (2, 1)


class Nova:
    """Verbs hakari needs from Nova. ``adapter`` is ``connection.compute``."""

    def __init__(self, adapter, *, timeout: float = 30.0, attempts: int = 4,
                 backoff: float = 0.5, microversion: str = DEFAULT_MICROVERSION,
                 sleep: Callable[[float], None] = time.sleep, placement=None):
        self._adapter = adapter
        # ``connection.placement``, for free capacity; None when not wanted.
        self._placement = placement
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.microversion = microversion
        self._sleep = sleep
        self._max_version: tuple[int, int] | None = None

    @classmethod
    def connect(cls, conf) -> "Nova":
        """Connect with the credentials :func:`cloud_region` finds."""
        opts = conf.openstack
        try:
            region = cloud_region(conf)
            conn = openstack.connection.Connection(config=region)
            _widen_pool(conn.session)
            # Building the proxies may already talk to Keystone (discovery).
            compute, placement = conn.compute, conn.placement
        except (openstack.exceptions.SDKException, ks_exc.ClientException,
                OSError) as err:
            raise HakariError(f"cloud {cloud_name(conf)!r}: {one_line(err)}") from None
        return cls(compute, timeout=opts.api_timeout, placement=placement)

    # -- transport -------------------------------------------------------------------

    def _call(self, method: str, url: str, *, json=None, params=None,
              microversion: str | None = None, retry_ambiguous: bool = True,
              retry_conflict: bool = False, adapter=None) -> Answer:
        """One REST call with retries.

        ``retry_ambiguous`` covers failures after the request may have reached Nova
        (5xx, read timeouts): fine for reads and for writes that are idempotent, not
        for evacuate, whose caller must re-check Nova before trying again.
        """
        mv = microversion or self.microversion
        last: Exception | None = None
        for attempt in range(self.attempts):
            if attempt:
                self._sleep(self._delay(attempt))
            try:
                resp = (adapter or self._adapter).request(
                    url, method, json=json, params=params, microversion=mv,
                    raise_exc=False, timeout=self.timeout, connect_retries=0)
            except (ks_exc.CatalogException, ks_exc.AuthorizationFailure,
                    ks_exc.MissingAuthPlugin, os_exc.ServiceDisabledException) as err:
                # Nothing was sent and nothing will change by trying again.
                raise NovaError(f"{method} {url}: {one_line(err)}") from None
            except ks_exc.ClientException as err:
                if not _may_have_reached(err):
                    # Connection refused or connect timeout: Nova never saw it.
                    last = NovaError(f"{method} {url}: cannot connect: {one_line(err)}")
                    continue
                last = NovaError(f"{method} {url}: {one_line(err)}", ambiguous=True)
                if retry_ambiguous:
                    continue
                raise last from None
            rid = resp.headers.get("x-openstack-request-id") or \
                resp.headers.get("x-compute-request-id")
            if resp.status_code < 400:
                return Answer(_json(resp), rid, resp.status_code)
            message = f"{method} {url}: HTTP {resp.status_code}: {_fault(resp)}"
            if resp.status_code == 404:
                raise NovaNotFound(message, resp.status_code, rid)
            if resp.status_code == 409 or _compute_in_use(resp):
                last = NovaConflict(message, resp.status_code, rid)
                if retry_conflict:
                    continue
                raise last
            ambiguous = resp.status_code >= 500
            last = NovaError(message, resp.status_code, rid, ambiguous=ambiguous)
            if ambiguous and retry_ambiguous:
                continue
            raise last
        assert last is not None
        raise last

    def _delay(self, attempt: int) -> float:
        # Exponential with jitter so parallel workers do not retry in lockstep.
        return min(10.0, self.backoff * (2 ** (attempt - 1))) * (0.5 + random.random())

    # -- compute services -----------------------------------------------------------

    def compute_service(self, host: str) -> ComputeService:
        answer = self._call("GET", "/os-services",
                            params={"binary": COMPUTE_BINARY, "host": host})
        services = [s for s in answer.body.get("services", []) if s.get("host") == host]
        if not services:
            raise NovaNotFound(f"no nova-compute service on host {host!r}", 404,
                               answer.request_id)
        return service_from(services[0])

    def compute_services(self) -> list[ComputeService]:
        answer = self._call("GET", "/os-services", params={"binary": COMPUTE_BINARY})
        return [service_from(s) for s in answer.body.get("services", [])]

    def force_down(self, service: ComputeService, forced: bool = True) -> tuple[ComputeService, str | None]:
        return self._update_service(service, {"forced_down": forced})

    def disable(self, service: ComputeService, reason: str) -> tuple[ComputeService, str | None]:
        # Nova caps the reason at 255 characters.
        return self._update_service(service, {"status": "disabled",
                                              "disabled_reason": reason[:255]})

    def enable(self, service: ComputeService) -> tuple[ComputeService, str | None]:
        return self._update_service(service, {"status": "enabled"})

    def _update_service(self, service, body) -> tuple[ComputeService, str | None]:
        # Setting a service attribute to the value it has is a no-op: safe to retry.
        answer = self._call("PUT", f"/os-services/{service.id}", json=body,
                            retry_conflict=True)
        return service_from(answer.body.get("service", {})), answer.request_id

    # -- servers --------------------------------------------------------------------

    def max_microversion(self) -> tuple[int, int]:
        """The highest compute microversion this Nova speaks (asked once)."""
        if self._max_version is None:
            body = self._call("GET", "/", microversion="2.1").body
            self._max_version = _version((body.get("version") or {}).get("version") or "2.1")
        return self._max_version

    def _list_microversion(self) -> str:
        major, minor = min(LIST_MICROVERSION, self.max_microversion())
        return f"{major}.{minor}"

    def servers_on_host(self, host: str) -> list[Server]:
        """Every server Nova places on ``host``, across all projects, all pages, with
        flavor extra specs and image properties when this Nova embeds them."""
        return list(self._paged_servers({"all_tenants": "True", "host": host}))

    def servers_changed_since(self, since: dt.datetime) -> list[Server]:
        """Every server Nova changed (``updated_at``) at or after ``since``, across all
        projects, all pages; deleted ones left out (``changes-since`` alone would list
        them)."""
        stamp = since.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return list(self._paged_servers({"all_tenants": "True", "deleted": "False",
                                         "changes-since": stamp}))

    def latest_action(self, server_id: str) -> InstanceAction | None:
        """The newest request Nova recorded against the server, or None."""
        actions = self._call("GET", f"/servers/{server_id}/os-instance-actions",
                             params={"limit": 1}, microversion=ACTIONS_MICROVERSION
                             ).body.get("instanceActions", [])
        return instance_action_from(actions[0]) if actions else None

    def _paged_servers(self, query: dict) -> Iterator[Server]:
        mv = self._list_microversion()
        marker = None
        while True:
            params = dict(query, limit=PAGE_SIZE)
            if marker:
                params["marker"] = marker
            page = self._call("GET", "/servers/detail", params=params,
                              microversion=mv).body.get("servers", [])
            for d in page:
                yield server_from(d)
            if len(page) < PAGE_SIZE:
                return
            marker = page[-1]["id"]

    def server(self, server_id: str) -> Server:
        return server_from(self._call("GET", f"/servers/{server_id}",
                                  microversion=self._list_microversion()).body["server"])

    def evacuate(self, server_id: str, *, host: str | None = None,
                 stop_at_destination: bool = False) -> str | None:
        """Ask Nova to rebuild ``server_id`` elsewhere; returns the request id.

        Not retried once the request may have reached Nova: a second evacuate of the
        same server must only follow a fresh look at its migrations.
        """
        body: dict = {}
        if host:
            body["host"] = host
        mv = STOP_AT_DESTINATION_MICROVERSION if stop_at_destination else self.microversion
        answer = self._call("POST", f"/servers/{server_id}/action", json={"evacuate": body},
                            microversion=mv, retry_ambiguous=False)
        return answer.request_id

    # Power actions for instance-failure recovery. Not retried once the request may have
    # reached Nova: a repeated start answers 409 (task in progress / already active), so
    # the caller looks at the server again instead. Each returns Nova's request id.

    def start_server(self, server_id: str) -> str | None:
        return self._action(server_id, {"os-start": None})

    def stop_server(self, server_id: str) -> str | None:
        return self._action(server_id, {"os-stop": None})

    def reboot_server(self, server_id: str, hard: bool = True) -> str | None:
        return self._action(server_id, {"reboot": {"type": "HARD" if hard else "SOFT"}})

    def _action(self, server_id: str, body: dict) -> str | None:
        return self._call("POST", f"/servers/{server_id}/action", json=body,
                          retry_ambiguous=False).request_id

    def evacuations(self, source_host: str,
                    since: dt.datetime | None = None) -> list[Migration]:
        """Evacuation migrations away from ``source_host`` created at or after ``since``,
        newest first, every page.

        Not Nova's ``changes-since``: it compares ``updated_at``, which stays NULL until
        the conductor first touches a migration, so a just-accepted evacuation would be
        missed and evacuated again.
        """
        params = {"migration_type": "evacuation", "source_compute": source_host,
                  "limit": PAGE_SIZE}
        found: list[Migration] = []
        marker = None
        while True:
            if marker:
                params["marker"] = marker
            page = self._call("GET", "/os-migrations", params=params,
                              microversion=MIGRATIONS_MICROVERSION).body.get("migrations", [])
            found.extend(migration_from(m) for m in page)
            # Newest first: once a page reaches before ``since`` the rest is older still.
            if len(page) < PAGE_SIZE or not page[-1].get("uuid") or (
                    since is not None and found[-1].created_at is not None
                    and found[-1].created_at < since):
                break
            marker = page[-1]["uuid"]
        if since is not None:
            found = [m for m in found if m.created_at is None or m.created_at >= since]
        return sorted(found, key=lambda m: m.created_at or dt.datetime.min.replace(
            tzinfo=dt.timezone.utc), reverse=True)

    # -- placement hints ------------------------------------------------------------

    def aggregates(self) -> list[Aggregate]:
        return [aggregate_from(a) for a in
                self._call("GET", "/os-aggregates").body.get("aggregates", [])]

    def free_room(self) -> dict[str, dict[str, float]]:
        """Free VCPU / MEMORY_MB / DISK_GB per compute node name, from placement: its
        capacity ((total - reserved) x allocation ratio) minus usage. Computes without
        room for even 1 vCPU and 1 MB are absent; a resource a compute does not track
        (disk on shared storage) is absent from its entry."""
        if self._placement is None:
            raise NovaError("placement is not available")
        names = self._call("GET", "/resource_providers", microversion="1.14",
                           adapter=self._placement).body.get("resource_providers", [])
        name_of = {p.get("uuid"): p.get("name") for p in names}
        body = self._call("GET", "/allocation_candidates",
                          params={"resources": "VCPU:1,MEMORY_MB:1"}, microversion="1.17",
                          adapter=self._placement).body
        room: dict[str, dict[str, float]] = {}
        for uuid, summary in (body.get("provider_summaries") or {}).items():
            name = name_of.get(uuid)
            if not name:
                continue
            free = {}
            for rc, usage in (summary.get("resources") or {}).items():
                try:
                    free[rc] = float(usage["capacity"]) - float(usage["used"])
                except (KeyError, TypeError, ValueError):
                    continue
            room[name] = free
        return room

    def hypervisors(self) -> list[Hypervisor]:
        """Every compute node and the service host that runs it."""
        answer = self._call("GET", "/os-hypervisors/detail")
        return [hypervisor_from(h) for h in answer.body.get("hypervisors", [])]


def _json(resp) -> dict:
    if not resp.content:
        return {}
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _fault(resp) -> str:
    body = _json(resp)
    for value in body.values():
        if isinstance(value, dict) and value.get("message"):
            return one_line(value["message"])[:300]
    return one_line(resp.text or resp.reason or "")[:300]


def _compute_in_use(resp) -> bool:
    return resp.status_code == 400 and "still in use" in (resp.text or "")


def _may_have_reached(err: BaseException) -> bool:
    """Whether a transport failure could have happened after Nova got the request.

    keystoneauth folds read timeouts into ConnectTimeout and lost connections into
    ConnectFailure, so its class says nothing; the requests/urllib3 exception it was
    raised from does. Only "could not connect at all" is safe to repeat blindly.
    """

    seen = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, requests.exceptions.ConnectTimeout):
            return False
        if isinstance(cause, (u3.NewConnectionError, u3.ConnectTimeoutError)):
            return False
        if isinstance(cause, u3.MaxRetryError) and isinstance(
                cause.reason, (u3.NewConnectionError, u3.ConnectTimeoutError)):
            return False
        if isinstance(cause, requests.exceptions.ConnectionError) and cause.args and \
                isinstance(cause.args[0], BaseException) and id(cause.args[0]) not in seen:
            cause = cause.args[0]
            continue
        cause = cause.__cause__ or cause.__context__
    return True


def _widen_pool(session) -> None:
    """Let every parallel worker keep its own connection to each endpoint."""

    inner = getattr(session, "session", None)
    if inner is None or not hasattr(inner, "mount"):
        return
    adapter = TCPKeepAliveAdapter(pool_connections=16, pool_maxsize=HTTP_POOL_SIZE)
    inner.mount("https://", adapter)
    inner.mount("http://", adapter)
