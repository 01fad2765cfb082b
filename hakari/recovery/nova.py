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

from hakari.errors import HakariError

# 2.53: services addressed by UUID; 2.68: evacuate without `force`, instance keeps its
# power state (2.95 would leave it stopped at the destination).
DEFAULT_MICROVERSION = "2.68"
STOP_AT_DESTINATION_MICROVERSION = "2.95"
COMPUTE_BINARY = "nova-compute"
PAGE_SIZE = 1000

# Migration statuses: done = rebuilt on the destination; completed = and the source
# cleaned up after it came back.
MIGRATION_SUCCESS = frozenset({"done", "completed"})
MIGRATION_FAILURE = frozenset({"failed", "error"})


class NovaError(HakariError):
    """A Nova call failed for good (after any retries)."""

    exit_code = 1

    def __init__(self, message, status=None, request_id=None):
        super().__init__(message)
        self.status = status
        self.request_id = request_id


class NovaNotFound(NovaError):
    pass


class NovaConflict(NovaError):
    """409, or the 400 Nova gives when the source compute is still considered up."""


@dataclasses.dataclass(frozen=True, slots=True)
class ComputeService:
    id: str
    host: str
    state: str
    status: str
    forced_down: bool
    disabled_reason: str | None
    zone: str | None = None

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


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    body: dict
    request_id: str | None
    status: int


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


def _service(d: dict) -> ComputeService:
    return ComputeService(
        id=str(d.get("id")), host=d.get("host") or "", state=d.get("state") or "unknown",
        status=d.get("status") or "unknown", forced_down=bool(d.get("forced_down")),
        disabled_reason=d.get("disabled_reason"), zone=d.get("zone"))


def _server(d: dict) -> Server:
    image = d.get("image")
    return Server(
        id=d["id"], name=d.get("name") or "", status=d.get("status") or "UNKNOWN",
        host=d.get("OS-EXT-SRV-ATTR:host"), project_id=d.get("tenant_id"),
        task_state=d.get("OS-EXT-STS:task_state"), vm_state=d.get("OS-EXT-STS:vm_state"),
        metadata=dict(d.get("metadata") or {}), flavor=dict(d.get("flavor") or {}),
        image_id=image.get("id") if isinstance(image, dict) else None,
        tags=tuple(d.get("tags") or ()))


def _migration(d: dict) -> Migration:
    return Migration(
        id=str(d.get("uuid") or d.get("id")), server_id=d.get("instance_uuid") or "",
        source_compute=d.get("source_compute"), dest_compute=d.get("dest_compute"),
        status=d.get("status") or "unknown", migration_type=d.get("migration_type"),
        created_at=parse_time(d.get("created_at")),
        updated_at=parse_time(d.get("updated_at")))


class Nova:
    """Verbs hakari needs from Nova. ``adapter`` is ``connection.compute``."""

    def __init__(self, adapter, *, timeout: float = 30.0, attempts: int = 4,
                 backoff: float = 0.5, microversion: str = DEFAULT_MICROVERSION,
                 sleep: Callable[[float], None] = time.sleep):
        self._adapter = adapter
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.microversion = microversion
        self._sleep = sleep

    @classmethod
    def connect(cls, conf) -> "Nova":
        """Connect with the clouds.yaml credentials named by ``[openstack] cloud``."""
        # Deferred: slow to import, and kept off the alert path.
        import openstack
        from keystoneauth1 import exceptions as ks_exc
        from openstack import config as os_config

        opts = conf.openstack
        if not opts.cloud:
            raise HakariError("no cloud configured: set [openstack] cloud or --os-cloud")
        kwargs = {"api_timeout": opts.api_timeout, "verify": opts.verify}
        if opts.cacert:
            kwargs["cacert"] = opts.cacert
        if opts.region_name:
            kwargs["region_name"] = opts.region_name
        try:
            loader = os_config.OpenStackConfig(
                config_files=[opts.clouds_file] if opts.clouds_file else None,
                load_envvars=False)
            region = loader.get_one(cloud=opts.cloud, **kwargs)
            conn = openstack.connection.Connection(config=region)
        except (openstack.exceptions.SDKException, ks_exc.ClientException,
                OSError) as err:
            raise HakariError(f"cloud {opts.cloud!r}: {_one_line(err)}") from None
        return cls(conn.compute, timeout=opts.api_timeout)

    # -- transport -------------------------------------------------------------------

    def _call(self, method: str, url: str, *, json=None, params=None,
              microversion: str | None = None, retry_ambiguous: bool = True,
              retry_conflict: bool = False) -> Answer:
        """One REST call with retries.

        ``retry_ambiguous`` covers failures after the request may have reached Nova
        (5xx, read timeouts): fine for reads and for writes that are idempotent, not
        for evacuate, whose caller must re-check Nova before trying again.
        """
        from keystoneauth1 import exceptions as ks_exc

        mv = microversion or self.microversion
        last: Exception | None = None
        for attempt in range(self.attempts):
            if attempt:
                self._sleep(self._delay(attempt))
            try:
                resp = self._adapter.request(
                    url, method, json=json, params=params, microversion=mv,
                    raise_exc=False, timeout=self.timeout, connect_retries=0)
            except (ks_exc.ConnectFailure, ks_exc.ConnectTimeout) as err:
                # Never reached Nova: always safe to retry.
                last = NovaError(f"{method} {url}: cannot connect: {_one_line(err)}")
                continue
            except (ks_exc.RetriableConnectionFailure, ks_exc.ClientException) as err:
                last = NovaError(f"{method} {url}: {_one_line(err)}")
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
            last = NovaError(message, resp.status_code, rid)
            if resp.status_code >= 500 and retry_ambiguous:
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
        return _service(services[0])

    def compute_services(self) -> list[ComputeService]:
        answer = self._call("GET", "/os-services", params={"binary": COMPUTE_BINARY})
        return [_service(s) for s in answer.body.get("services", [])]

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
        return _service(answer.body.get("service", {})), answer.request_id

    # -- servers --------------------------------------------------------------------

    def servers_on_host(self, host: str) -> list[Server]:
        """Every server Nova places on ``host``, across all projects, all pages."""
        return list(self._paged_servers({"all_tenants": "True", "host": host}))

    def _paged_servers(self, query: dict) -> Iterator[Server]:
        marker = None
        while True:
            params = dict(query, limit=PAGE_SIZE)
            if marker:
                params["marker"] = marker
            page = self._call("GET", "/servers/detail", params=params).body.get("servers", [])
            for d in page:
                yield _server(d)
            if len(page) < PAGE_SIZE:
                return
            marker = page[-1]["id"]

    def server(self, server_id: str) -> Server:
        return _server(self._call("GET", f"/servers/{server_id}").body["server"])

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

    def evacuations(self, source_host: str,
                    since: dt.datetime | None = None) -> list[Migration]:
        """Evacuation migrations away from ``source_host``, newest first."""
        params = {"migration_type": "evacuation", "source_compute": source_host}
        if since is not None:
            params["changes-since"] = since.astimezone(dt.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
        # changes-since needs 2.59; listing without a limit returns every match.
        answer = self._call("GET", "/os-migrations", params=params, microversion="2.80")
        found = [_migration(m) for m in answer.body.get("migrations", [])]
        if since is not None:
            found = [m for m in found if m.created_at is None or m.created_at >= since]
        return sorted(found, key=lambda m: m.created_at or dt.datetime.min.replace(
            tzinfo=dt.timezone.utc), reverse=True)

    # -- placement hints ------------------------------------------------------------

    def aggregates(self) -> list[dict]:
        return list(self._call("GET", "/os-aggregates").body.get("aggregates", []))


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
            return _one_line(value["message"])[:300]
    return _one_line(resp.text or resp.reason or "")[:300]


def _compute_in_use(resp) -> bool:
    return resp.status_code == 400 and "still in use" in (resp.text or "")


def _one_line(err) -> str:
    return " ".join(str(err).split())
