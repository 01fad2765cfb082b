"""FakeNova: a Keystone v3 + Nova compute API stand-in on 127.0.0.1, programmable from Python.

Layout of URLs (one port):
  /identity, /identity/v3, /identity/v3/auth/tokens   Keystone (also served under /v3)
  /compute, /compute/v2.1/...                         Nova compute API
  /_fake/call, /_fake/info                            control API for subprocess use

Threads: one HTTP listener, one thread per connection (ThreadingHTTPServer) and one scheduler
thread that moves evacuations and boots forward in time. ``stop()`` ends all of them.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import os
import random
import socket
import struct
import threading
import time
import traceback
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from lab import keystone
from lab.fakenova import compute
from lab.fakenova.faults import FaultPlan, route_matches
from lab.fakenova.model import (POWER, Aggregate, ApiError, Flavor, Host, Server, Service,
                                iso_z, parse_version, server_status, version_str)

BIND = "127.0.0.1"
DEFAULT_IMAGE = "155d900f-4e14-4e4c-a73d-069cbf4541e6"
_STATUS_TO_VM = {"ACTIVE": ("active", POWER["running"]),
                 "SHUTOFF": ("stopped", POWER["shutdown"]),
                 "ERROR": ("error", POWER["nostate"])}
OUTCOMES = ("ok", "failed", "error", "hang")


@dataclasses.dataclass
class EvacuationConfig:
    """How evacuations play out. Rates are probabilities drawn from the seeded RNG, in
    this order: error (scheduler/conductor: migration ``error``, server stays on the
    source), failed (compute rebuild error: migration ``failed``, server ERROR on the
    destination), hang (stays rebuilding / ``pre-migrating`` forever).

    ``double_evacuation``: how a server evacuated again while its rebuild runs ends. Real
    Nova 34 answers 200 to both calls, the second migration stays ``accepted``, and a race
    decides the rest (both seen in the lab): "error" (first migration done, then redone
    and ``failed``; server ERROR) or "stuck" (first migration ``failed``, server left in
    REBUILD/rebuilding for good)."""
    rebuild_time: float = 0.2
    jitter: float = 0.0
    claim_delay: float = 0.01
    failure_rate: float = 0.0
    error_rate: float = 0.0
    hang_rate: float = 0.0
    double_evacuation: str = "error"


@dataclasses.dataclass
class RequestRecord:
    seq: int
    method: str
    path: str
    route: str
    query: dict
    body: object
    microversion: str | None
    request_id: str
    time: float                       # wall clock at arrival
    started: float                    # monotonic at arrival
    client: str
    headers: dict
    status: int | None = None         # None: still running, or no answer (dropped)
    duration: float | None = None
    fault: str | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class Gauges:
    """Current/peak/total counters keyed by (kind, sub); sub=None is the kind's total."""

    def __init__(self):
        self._lock = threading.Lock()
        self._g: dict[tuple, list[int]] = {}

    def inc(self, kind: str, sub: str | None = None) -> None:
        with self._lock:
            for key in ((kind, None), (kind, sub)) if sub is not None else ((kind, None),):
                g = self._g.setdefault(key, [0, 0, 0])
                g[0] += 1
                g[2] += 1
                g[1] = max(g[1], g[0])

    def dec(self, kind: str, sub: str | None = None) -> None:
        with self._lock:
            for key in ((kind, None), (kind, sub)) if sub is not None else ((kind, None),):
                if key in self._g:
                    self._g[key][0] -= 1

    def reset(self) -> None:
        """Peaks and totals restart from the current values."""
        with self._lock:
            for g in self._g.values():
                g[1], g[2] = g[0], 0

    def snapshot(self) -> dict:
        def one(g):
            return {"current": g[0], "peak": g[1], "total": g[2]}
        with self._lock:
            out: dict = {}
            for (kind, sub), g in self._g.items():
                entry = out.setdefault(kind, {"current": 0, "peak": 0, "total": 0, "by": {}})
                if sub is None:
                    entry.update(one(g))
                else:
                    entry["by"][sub] = one(g)
            return out


class Request:
    __slots__ = ("method", "path", "raw_path", "query", "body", "bad_json", "headers", "mv",
                 "request_id", "root", "prefix", "host_url", "route", "params", "token")

    def q(self, name, default=None):
        values = self.query.get(name)
        return values[-1] if values else default


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive: clients reuse connections as with Nova
    server_version = "fakenova/1"
    sys_version = ""
    timeout = 120                      # idle keep-alive connections end by themselves
    # Headers and body leave in one segment: separate small writes on a keep-alive
    # connection meet Nagle + delayed ACK and cost ~40 ms per request.
    wbufsize = 1 << 16

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self, True)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._track(self, False)

    def do_GET(self):
        self.server.fake._serve(self)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def log_message(self, *args):
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False             # FakeNova joins its own handler threads, bounded
    request_queue_size = 256           # bursts of parallel clients must not hit SYN retries
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass


class _Closed(Exception):
    """The connection was dropped on purpose; nothing more to send."""


class FakeNova(compute.ComputeApi):
    """See the module docstring and lab/fakenova/README.md."""

    def __init__(self, *, port: int = 0, seed: int = 0, max_microversion: str = "2.104",
                 min_microversion: str = "2.1", max_limit: int = 1000,
                 username: str = "admin", password: str = "secret",
                 project_name: str = "admin", require_auth: bool = True,
                 token_ttl: float = 3600.0, controller_host: str = "controller",
                 default_zone: str = "nova", dead_rpc_delay: float = 60.0,
                 max_hang: float = 60.0, boot_time: float = 0.05,
                 evacuation: EvacuationConfig | None = None, record_bodies: bool = True):
        self.port = port
        self.seed = seed
        self.max_microversion, self.min_microversion = max_microversion, min_microversion
        self._max_v, self._min_v = parse_version(max_microversion), parse_version(min_microversion)
        self.max_limit = max_limit
        self.username, self.password, self.project_name = username, password, project_name
        self.require_auth = require_auth
        self.default_zone = default_zone
        self.dead_rpc_delay = dead_rpc_delay
        self.max_hang = max_hang
        self.boot_time = boot_time
        self.evacuation = evacuation or EvacuationConfig()
        self.record_bodies = record_bodies

        self._ids = random.Random(seed)
        self._evac_rng = random.Random(seed + 1)
        self._plan = FaultPlan(seed + 2)
        self.project_id = self._new_hex()
        self.user_id = self._new_hex()
        self.admin_token = "fakenova-admin-token"
        self.keystone = keystone.Keystone(
            password, users={username: self.user_id},
            projects={project_name: self.project_id},
            assignments={(username, project_name): keystone.ROLES},
            services=(("compute", "nova", "/compute/v2.1"),
                      ("identity", "keystone", "/identity")), ttl=token_ttl)

        self._lock = threading.RLock()
        self._hosts: dict[str, Host] = {}
        self._services: list[Service] = []
        self._servers: dict[str, Server] = {}
        self._by_host: dict[str, set[str]] = {}
        self._flavors: dict[str, Flavor] = {}
        self._aggregates: dict[int, Aggregate] = {}
        self._migrations: dict = {}
        self._next_migration_id = 1
        self._forced_outcomes: dict[str, str] = {}
        self._active_evacuations: dict = {}   # server id -> the evacuation in progress
        self._hung: list = []
        self._seq = itertools.count(1)
        self._service_seq = itertools.count(1)
        self._flavor_seq = itertools.count(1)
        self._aggregate_seq = itertools.count(1)

        self._records: list[RequestRecord] = []
        self._records_lock = threading.Lock()
        self._record_seq = itertools.count(1)
        self._gauges = Gauges()
        self.errors: list[str] = []    # unexpected exceptions inside the fake (a test bug)

        self._heap: list = []
        self._heap_seq = itertools.count()
        self._pending = 0
        self._sched_cond = threading.Condition()
        self._stop_event = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._conns: set = set()
        self._handler_threads: set[threading.Thread] = set()
        self._conns_lock = threading.Lock()

        now = time.time()
        for binary in ("nova-scheduler", "nova-conductor"):
            sid = next(self._service_seq)
            self._services.append(Service(binary, controller_host, sid, self._new_uuid(),
                                          "internal", now, now))
        for fid, name, vcpus, ram, disk in (("1", "m1.tiny", 1, 512, 1),
                                            ("2", "m1.small", 1, 2048, 20),
                                            ("3", "m1.medium", 2, 4096, 40)):
            self.add_flavor(name, vcpus=vcpus, ram=ram, disk=disk, flavor_id=fid)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "FakeNova":
        if self._httpd is not None:
            return self
        self._stop_event.clear()
        self._httpd = _HTTPServer((BIND, self.port), _Handler)
        self._httpd.fake = self
        self.port = self._httpd.server_address[1]
        serve = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                 name=f"fakenova-http-{self.port}", daemon=True)
        sched = threading.Thread(target=self._run_scheduler, name=f"fakenova-sched-{self.port}",
                                 daemon=True)
        self._threads = [serve, sched]
        serve.start()
        sched.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and end every thread this server started (bounded by ``timeout``)."""
        if self._httpd is None:
            return
        deadline = time.monotonic() + timeout
        self._stop_event.set()
        with self._sched_cond:
            self._sched_cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        # Idle keep-alive connections block in readline: shutting their sockets ends them.
        # Loop because a connection accepted just before shutdown registers a bit later.
        while time.monotonic() < deadline:
            with self._conns_lock:
                conns = list(self._conns)
                threads = [t for t in self._handler_threads if t.is_alive()]
            if not threads:
                break
            for handler in conns:
                try:
                    handler.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            for t in threads:
                t.join(min(0.2, max(0.0, deadline - time.monotonic())))
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with self._conns_lock:
            alive = [t.name for t in self._handler_threads if t.is_alive()]
            self._handler_threads = set()
        alive += [t.name for t in self._threads if t.is_alive()]
        self._httpd = None
        self._threads = []
        if alive:
            raise RuntimeError(f"fakenova threads still alive after stop: {alive}")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _track(self, handler, opened: bool) -> None:
        with self._conns_lock:
            if opened:
                self._conns.add(handler)
                self._handler_threads = {t for t in self._handler_threads if t.is_alive()}
                self._handler_threads.add(threading.current_thread())
                if self._stop_event.is_set():
                    try:
                        handler.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            else:
                self._conns.discard(handler)

    @property
    def url(self) -> str:
        return f"http://{BIND}:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/identity/v3"

    @property
    def compute_url(self) -> str:
        return f"{self.url}/compute/v2.1"

    def info(self) -> dict:
        return {"url": self.url, "auth_url": self.auth_url, "compute_url": self.compute_url,
                "control_url": f"{self.url}/_fake", "port": self.port, "pid": os.getpid(),
                "username": self.username, "password": self.password,
                "project_name": self.project_name, "project_id": self.project_id,
                "user_domain_name": "Default", "project_domain_name": "Default",
                "region_name": "RegionOne", "admin_token": self.admin_token,
                "min_microversion": self.min_microversion,
                "max_microversion": self.max_microversion, "seed": self.seed}

    def connect(self, microversion: str | None = None, **kwargs):
        """An openstacksdk Connection to this server (see lab.fakenova.sdk.connect)."""
        from lab.fakenova import sdk
        return sdk.connect(self.info(), microversion=microversion, **kwargs)

    # ------------------------------------------------------------------ scheduler thread

    def _schedule(self, delay: float, fn, *args) -> None:
        with self._sched_cond:
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay),
                                        next(self._heap_seq), fn, args))
            self._pending += 1
            self._sched_cond.notify()

    def _run_scheduler(self) -> None:
        while True:
            with self._sched_cond:
                while not self._stop_event.is_set():
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    self._sched_cond.wait(self._heap[0][0] - now if self._heap else None)
                if self._stop_event.is_set():
                    return
                _, _, fn, args = heapq.heappop(self._heap)
            try:
                with self._lock:
                    fn(*args)
            except Exception:
                self.errors.append(traceback.format_exc())
            finally:
                with self._sched_cond:
                    self._pending -= 1
                    self._sched_cond.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no scheduled work is left (hung evacuations never count)."""
        deadline = time.monotonic() + timeout
        with self._sched_cond:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._sched_cond.wait(left)
        return True

    # ------------------------------------------------------------------ HTTP plumbing

    def _route(self, method: str, path: str):
        """(route name, handler name, params, kind, min microversion, URL prefix) or None."""
        for prefix in ("/identity", ""):
            if path in (f"{prefix}/v3", f"{prefix}/v3/"):
                return "identity.version", "h_identity", {}, "identity", None, prefix
            if path == f"{prefix}/v3/auth/tokens":
                return "identity.tokens", "h_identity", {}, "identity", None, prefix
        if path in ("/identity", "/identity/"):
            return "identity.versions", "h_identity", {}, "identity", None, "/identity"
        if path in ("/compute", "/compute/"):
            return "compute.versions", "h_compute_versions", {}, "version", None, "/compute"
        if path in ("/compute/v2.1", "/compute/v2.1/"):
            return "compute.version", "h_compute_version", {}, "version", None, "/compute"
        if path.startswith("/compute/v2.1/"):
            sub = path[len("/compute/v2.1"):]
            for methods, rx, name, fn, minv in compute.COMPILED:
                if method in methods:
                    m = rx.match(sub)
                    if m:
                        return name, fn, m.groupdict(), "compute", minv, "/compute"
        return None

    def _serve(self, h: _Handler) -> None:
        started, wall = time.monotonic(), time.time()
        split = urlsplit(h.path)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        try:
            length = int(h.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        raw = h.rfile.read(length) if length > 0 else b""
        if path.startswith("/_fake/"):
            return self._serve_control(h, path, raw)

        req = Request()
        req.method, req.raw_path, req.query, req.headers = h.command, path, query, h.headers
        req.request_id = f"req-{uuid.uuid4()}"
        req.body, req.bad_json = None, False
        if raw:
            try:
                req.body = json.loads(raw)
            except ValueError:
                req.bad_json = True
        host_hdr = h.headers.get("Host") or f"{BIND}:{self.port}"
        req.host_url = f"http://{host_hdr}"
        req.mv, req.token = None, None
        found = self._route(h.command, path)
        if found is None:
            name, fn, params, kind, minv, prefix = "unknown", None, {}, "unknown", None, ""
        else:
            name, fn, params, kind, minv, prefix = found
        if name == "servers.action" and isinstance(req.body, dict) and req.body:
            name = f"servers.action.{next(iter(req.body))}"
        req.route, req.params = name, params
        req.root, req.prefix = f"{req.host_url}{prefix}", prefix
        req.path = path[len("/compute/v2.1"):] if kind == "compute" else path
        if kind == "compute":
            # Known before latency and faults apply, so records and fault predicates see
            # it; a bad header is answered later, in order (auth first, as Nova).
            try:
                req.mv = self._negotiate(req)
            except ApiError:
                req.mv = None

        rec = RequestRecord(
            seq=next(self._record_seq), method=h.command, path=path, route=name,
            query={k: list(v) for k, v in query.items()},
            body=req.body if self.record_bodies else None,
            microversion=version_str(req.mv) if req.mv else None,
            request_id=req.request_id, time=wall, started=started,
            client=f"{h.client_address[0]}:{h.client_address[1]}",
            headers={k.lower(): v for k, v in h.headers.items()
                     if k.lower() in ("openstack-api-version", "x-openstack-nova-api-version",
                                      "user-agent", "x-openstack-request-id")})
        with self._records_lock:
            self._records.append(rec)
        evac_source = None
        if name == "servers.action.evacuate":
            with self._lock:
                s = self._servers.get(params.get("id", ""))
                evac_source = s.host if s is not None else None
            if evac_source:
                self._gauges.inc("evacuate_calls", evac_source)
        self._gauges.inc("http", name)
        try:
            self._serve_api(h, req, rec, fn, kind, minv)
        except _Closed:
            h.close_connection = True
        finally:
            rec.duration = time.monotonic() - started
            self._gauges.dec("http", name)
            if evac_source:
                self._gauges.dec("evacuate_calls", evac_source)

    def _serve_api(self, h, req, rec, fn, kind, minv) -> None:
        delay = self._plan.latency_for(req.route)
        if delay and self._stop_event.wait(delay):
            self._close(h, rec, "drop", "server stopping")
        answer = None
        fault = self._plan.pick("before", req.route, req.method, req.path, req)
        if fault is not None:
            answer = self._apply_fault(h, req, rec, fault)
        if answer is None:
            answer = self._dispatch(req, fn, kind, minv)
            fault = self._plan.pick("after", req.route, req.method, req.path, req)
            if fault is not None:
                answer = self._apply_fault(h, req, rec, fault) or answer
        status, payload, headers = answer
        self._send(h, req, status, payload, headers, kind)
        rec.status = status

    def _apply_fault(self, h, req, rec, fault):
        """A response tuple to send instead, None to carry on, or raises _Closed."""
        rec.fault = f"#{fault.id} {fault.action}"
        if fault.action in ("drop", "reset"):
            self._close(h, rec, fault.action, None)
        if fault.action == "hang":
            waited = min(max(0.0, fault.hang), self.max_hang)
            if self._stop_event.wait(waited):
                self._close(h, rec, "drop", "server stopping")
            rec.fault += f" {waited:g}s then {fault.then}"
            if fault.then in ("drop", "reset"):
                self._close(h, rec, fault.then, None)
            if fault.then == "respond":
                return None
        message = fault.message or f"Injected fault #{fault.id} ({fault.status})"
        return fault.status, ApiError(fault.status, message).body(), {}

    def _close(self, h, rec, how, why):
        sock = h.connection
        try:
            if how == "reset":
                # linger 0 makes close() send RST instead of FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                os.close(sock.detach())
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if why and not rec.fault:
            rec.fault = why
        raise _Closed()

    def _dispatch(self, req, fn, kind, minv):
        try:
            if req.bad_json:
                raise ApiError(400, "Malformed request body")
            if fn is None:
                raise ApiError(404, "The resource could not be found.")
            if kind == "compute":
                self._authenticate(req)
                req.mv = self._negotiate(req)
                if minv and req.mv < minv:
                    raise ApiError(404, "The resource could not be found.")
                self._check_query(req)
            return getattr(self, fn)(req)
        except ApiError as err:
            return err.status, err.body(), err.headers
        except Exception:
            self.errors.append(traceback.format_exc())
            return 500, ApiError(500, "Unexpected API Error. fakenova bug.").body(), {}

    def _send(self, h, req, status, payload, headers, kind) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("x-openstack-request-id", req.request_id)
            h.send_header("x-compute-request-id", req.request_id)
            if data:
                h.send_header("Content-Type", "application/json")
            if kind == "compute" and req.mv:
                v = version_str(req.mv)
                h.send_header("OpenStack-API-Version", f"compute {v}")
                h.send_header("X-OpenStack-Nova-API-Version", v)
                h.send_header("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            if h.command != "HEAD" and data:
                h.wfile.write(data)
        except OSError:
            h.close_connection = True

    def _negotiate(self, req):
        value = None
        for part in (req.headers.get("OpenStack-API-Version") or "").split(","):
            bits = part.strip().split(None, 1)
            if len(bits) == 2 and bits[0].lower() == "compute":
                value = bits[1].strip()
        if value is None:
            value = req.headers.get("X-OpenStack-Nova-API-Version")
        if value is None:
            return self._min_v
        if value.strip().lower() == "latest":
            return self._max_v
        try:
            v = parse_version(value)
        except ValueError:
            raise ApiError(400, f"API Version String {value} is of invalid format. Must be of "
                                "format MajorNum.MinorNum.")
        if not self._min_v <= v <= self._max_v:
            raise ApiError(406, f"Version {value} is not supported by the API. Minimum is "
                                f"{self.min_microversion} and maximum is "
                                f"{self.max_microversion}.")
        return v

    # ------------------------------------------------------------------ identity

    def _authenticate(self, req) -> None:
        token = req.headers.get("X-Auth-Token")
        if token == self.admin_token or not self.require_auth:
            req.token = {"project_id": self.project_id, "user_id": self.user_id}
            return
        info = self.keystone.validate(token)
        if info is None or "project" not in info:
            raise ApiError(401, keystone.UNAUTHORIZED,
                           {"WWW-Authenticate": f'Keystone uri="{req.host_url}/identity"'},
                           payload=keystone.error(401, keystone.UNAUTHORIZED))
        req.token = {"project_id": info["project"]["id"], "user_id": info["user"]["id"]}

    def h_identity(self, req):
        status, payload, headers = self.keystone.answer(
            req.method, req.raw_path[len(req.prefix):], root=req.root, base=req.host_url,
            body=req.body, query=req.query, token=req.headers.get("X-Auth-Token"),
            subject=req.headers.get("X-Subject-Token"))
        return status, payload, dict(headers)

    def revoke_tokens(self) -> None:
        """Every issued token becomes invalid: clients see 401 and must re-authenticate."""
        self.keystone.revoke_all()

    # ------------------------------------------------------------------ state helpers

    def _new_uuid(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _new_hex(self) -> str:
        return uuid.UUID(int=self._ids.getrandbits(128), version=4).hex

    def _is_up(self, h: Host) -> bool:
        if h.forced_down:
            return False
        return h.killed_at is None or time.monotonic() - h.killed_at < h.down_after

    def _heartbeat(self) -> None:
        now = time.time()
        for h in self._hosts.values():
            if h.killed_at is None:
                h.updated = now

    def _zone_of(self, host: str) -> str:
        for a in self._aggregates.values():
            if a.availability_zone and host in a.hosts:
                return a.availability_zone
        return self.default_zone

    def _host_status(self, host: str | None) -> str:
        h = self._hosts.get(host) if host else None
        if h is None:
            return ""
        if self._is_up(h):
            return "MAINTENANCE" if h.disabled else "UP"
        return "DOWN" if h.forced_down else "UNKNOWN"

    def _fault_record(self, code: int, message: str) -> dict:
        return {"code": code, "created": iso_z(time.time()), "message": message,
                "details": message}

    def _pick_host(self, exclude: Iterable[str], zone: str | None,
                   only: list | None = None) -> str | None:
        """The scheduler: enabled, up, with room, in the zone; least loaded first."""
        best = None
        for name in (only if only is not None else self._hosts):
            h = self._hosts.get(name)
            if h is None or name in exclude or h.disabled or not self._is_up(h):
                continue
            if zone and self._zone_of(name) != zone:
                continue
            load = len(self._by_host.get(name, ()))
            if h.capacity is not None and load >= h.capacity:
                continue
            if best is None or (load, name) < best:
                best = (load, name)
        return best[1] if best else None

    def _place(self, s: Server, dest: str | None) -> None:
        if s.host:
            self._by_host.get(s.host, set()).discard(s.uuid)
        s.host = dest
        if dest:
            self._by_host.setdefault(dest, set()).add(s.uuid)
            s.availability_zone = self._zone_of(dest)

    def _remove_server(self, s: Server) -> None:
        self._place(s, None)
        self._servers.pop(s.uuid, None)
        self._forced_outcomes.pop(s.uuid, None)
        self._active_evacuations.pop(s.uuid, None)

    def _new_server(self, *, host, name, flavor, image_ref, project_id, user_id, vm_state,
                    metadata=None, tags=None, key_name=None, description=None,
                    server_id=None, now=None) -> Server:
        now = time.time() if now is None else now
        seq = next(self._seq)
        vm, power = _STATUS_TO_VM.get(vm_state.upper(), (vm_state, POWER["running"]))
        s = Server(uuid=server_id or self._new_uuid(), seq=seq, name=name or f"vm-{seq}",
                   project_id=project_id, user_id=user_id, host=None, flavor=flavor,
                   image_ref=image_ref, vm_state=vm, power_state=power, created=now,
                   updated=now, launched=now if vm != "building" else None,
                   metadata=dict(metadata or {}), tags=list(tags or []), key_name=key_name,
                   description=description, reservation_id=f"r-{seq:08x}")
        if s.uuid in self._servers:
            raise ValueError(f"server {s.uuid} exists")
        self._servers[s.uuid] = s
        self._place(s, host)
        return s

    def _new_aggregate(self, name, hosts, metadata, availability_zone) -> Aggregate:
        meta = dict(metadata or {})
        if availability_zone:
            meta["availability_zone"] = availability_zone
        a = Aggregate(id=next(self._aggregate_seq), uuid=self._new_uuid(), name=name,
                      hosts=list(hosts), metadata=meta, created=time.time())
        self._aggregates[a.id] = a
        return a

    # ------------------------------------------------------------------ Python API: inventory

    def add_host(self, name: str, *, capacity: int | None = None, ip: str | None = None,
                 zone: str | None = None) -> dict:
        """A compute host with its nova-compute service (up, enabled) and hypervisor."""
        with self._lock:
            if name in self._hosts:
                raise ValueError(f"host {name} exists")
            sid = next(self._service_seq)
            n = len(self._hosts) + 1
            now = time.time()
            self._hosts[name] = Host(
                name=name, service_id=sid, service_uuid=self._new_uuid(), hypervisor_id=n,
                hypervisor_uuid=self._new_uuid(), ip=ip or f"192.168.{n // 250}.{n % 250 + 1}",
                created=now, capacity=capacity, updated=now)
            self._by_host.setdefault(name, set())
            if zone:
                agg = next((a for a in self._aggregates.values()
                            if a.availability_zone == zone), None)
                if agg is None:
                    agg = self._new_aggregate(f"az-{zone}", (), {}, zone)
                agg.hosts.append(name)
            return self.host(name)

    def add_hosts(self, names: int | Iterable[str], **kw) -> list[str]:
        """``add_hosts(3)`` adds node1..node3 (after any existing nodeN); or give names."""
        if isinstance(names, int):
            with self._lock:
                start = len(self._hosts) + 1
                names = [f"node{i}" for i in range(start, start + names)]
        names = list(names)
        for n in names:
            self.add_host(n, **kw)
        return names

    def add_flavor(self, name: str, *, vcpus: int = 1, ram: int = 512, disk: int = 1,
                   ephemeral: int = 0, swap: int = 0, extra_specs: dict | None = None,
                   flavor_id: str | None = None, is_public: bool = True,
                   description: str | None = None) -> dict:
        with self._lock:
            internal = next(self._flavor_seq)
            fid = str(flavor_id) if flavor_id is not None else self._new_uuid()
            if fid in self._flavors:
                raise ValueError(f"flavor {fid} exists")
            self._flavors[fid] = Flavor(internal, fid, name, vcpus, ram, disk, ephemeral, swap,
                                        dict(extra_specs or {}), is_public, description)
            return {"id": fid, "name": name, "internal_id": internal}

    def add_aggregate(self, name: str, *, hosts: Iterable[str] = (), metadata: dict | None = None,
                      availability_zone: str | None = None) -> dict:
        with self._lock:
            missing = [h for h in hosts if h not in self._hosts]
            if missing:
                raise ValueError(f"unknown hosts {missing}")
            a = self._new_aggregate(name, hosts, metadata, availability_zone)
            for s in self._servers.values():
                if s.host in a.hosts:
                    s.availability_zone = self._zone_of(s.host)
            return {"id": a.id, "uuid": a.uuid, "name": a.name, "hosts": list(a.hosts),
                    "metadata": dict(a.metadata)}

    def _flavor_ref(self, flavor) -> Flavor:
        if flavor is None:
            return self._flavors.get("1") or next(iter(self._flavors.values()))
        f = self._flavors.get(str(flavor)) or next(
            (f for f in self._flavors.values() if f.name == flavor), None)
        if f is None:
            raise ValueError(f"unknown flavor {flavor}")
        return f

    def add_server(self, host: str | None, *, name: str | None = None, flavor=None,
                   status: str = "ACTIVE", project_id: str | None = None,
                   user_id: str | None = None, metadata: dict | None = None,
                   tags: Iterable[str] | None = None, image: str = DEFAULT_IMAGE,
                   server_id: str | None = None, pinned_az: str | None = None) -> str:
        """A server already running (or SHUTOFF/ERROR) on ``host``; returns its id."""
        with self._lock:
            if host is not None and host not in self._hosts:
                raise ValueError(f"unknown host {host}")
            s = self._new_server(host=host, name=name, flavor=self._flavor_ref(flavor),
                                 image_ref=image, project_id=project_id or self.project_id,
                                 user_id=user_id or self.user_id, vm_state=status,
                                 metadata=metadata, tags=tags, server_id=server_id)
            s.pinned_az = pinned_az
            return s.uuid

    def add_servers(self, count: int, *, hosts: Iterable[str] | None = None,
                    name_prefix: str = "vm", flavor=None, status: str = "ACTIVE",
                    project_id: str | None = None, metadata: dict | None = None,
                    tags: Iterable[str] | None = None) -> list[str]:
        """``count`` servers spread round-robin over ``hosts`` (default: every host)."""
        with self._lock:
            hosts = list(hosts) if hosts is not None else list(self._hosts)
            if not hosts:
                raise ValueError("no hosts")
            missing = [h for h in hosts if h not in self._hosts]
            if missing:
                raise ValueError(f"unknown hosts {missing}")
            f = self._flavor_ref(flavor)
            now = time.time()
            ids = []
            for i in range(count):
                s = self._new_server(host=hosts[i % len(hosts)], name=None, flavor=f,
                                     image_ref=DEFAULT_IMAGE,
                                     project_id=project_id or self.project_id,
                                     user_id=self.user_id, vm_state=status,
                                     metadata=metadata, tags=tags, now=now)
                s.name = f"{name_prefix}-{s.seq}"
                ids.append(s.uuid)
            return ids

    def populate(self, hosts: int | Iterable[str] = 3, servers_per_host: int = 0,
                 **kw) -> dict:
        names = self.add_hosts(hosts)
        servers = self.add_servers(servers_per_host * len(names), hosts=names, **kw) \
            if servers_per_host else []
        return {"hosts": names, "servers": servers}

    # ------------------------------------------------------------------ Python API: reads

    def host(self, name: str) -> dict:
        with self._lock:
            h = self._hosts[name]
            return {"name": h.name, "service_id": h.service_uuid, "service_int_id": h.service_id,
                    "state": "up" if self._is_up(h) else "down",
                    "status": "disabled" if h.disabled else "enabled",
                    "disabled_reason": h.disabled_reason, "forced_down": h.forced_down,
                    "killed": h.killed_at is not None, "zone": self._zone_of(h.name),
                    "ip": h.ip, "capacity": h.capacity,
                    "servers": len(self._by_host.get(name, ()))}

    def hosts(self) -> list[str]:
        with self._lock:
            return list(self._hosts)

    def server(self, server_id: str) -> dict:
        with self._lock:
            s = self._servers[server_id]
            return {"id": s.uuid, "name": s.name, "host": s.host, "status":
                    server_status(s), "vm_state": s.vm_state, "task_state":
                    s.task_state, "power_state": s.power_state, "metadata": dict(s.metadata),
                    "tags": list(s.tags), "project_id": s.project_id,
                    "flavor": s.flavor.flavorid, "zone": s.availability_zone,
                    "fault": dict(s.fault) if s.fault else None}

    def servers_on(self, host: str) -> list[str]:
        with self._lock:
            return sorted(self._by_host.get(host, ()),
                          key=lambda i: self._servers[i].seq)

    def server_count(self) -> int:
        with self._lock:
            return len(self._servers)

    def migrations(self, *, source: str | None = None, server_id: str | None = None,
                   status: str | None = None) -> list[dict]:
        from lab.fakenova import views
        with self._lock:
            out = []
            for m in self._migrations.values():
                if (source and m.source_compute != source) or \
                        (server_id and m.instance_uuid != server_id) or \
                        (status and m.status != status):
                    continue
                out.append(views.migration(m, self._max_v))
            return out

    # ------------------------------------------------------------------ Python API: failures

    def kill_host(self, host: str, *, down_after: float = 0.0) -> None:
        """nova-compute on ``host`` stops heartbeating; Nova reports it down after
        ``down_after`` seconds (Nova's service_down_time; 0: at once)."""
        with self._lock:
            h = self._hosts[host]
            h.killed_at = time.monotonic()
            h.down_after = float(down_after)

    def revive_host(self, host: str) -> None:
        """nova-compute starts again: heartbeats resume and, like Nova's start-up cleanup,
        evacuation migrations from this host still open are marked ``completed``."""
        with self._lock:
            h = self._hosts[host]
            h.killed_at = None
            h.updated = time.time()
            for m in self._migrations.values():
                if m.source_compute == host and m.migration_type == "evacuation" and \
                        m.status in ("accepted", "pre-migrating", "done"):
                    m.status, m.updated = "completed", time.time()

    def set_service(self, host: str, *, forced_down: bool | None = None,
                    disabled: bool | None = None, disabled_reason: str | None = None) -> dict:
        """Change a compute service behind the API's back (set-up for tests)."""
        with self._lock:
            h = self._hosts[host]
            if forced_down is not None:
                h.forced_down = forced_down
            if disabled is not None:
                h.disabled = disabled
                h.disabled_reason = disabled_reason if disabled else None
            h.updated = time.time()
            return self.host(host)

    def configure_evacuation(self, **changes) -> dict:
        """Update EvacuationConfig fields (rebuild_time, jitter, claim_delay, failure_rate,
        error_rate, hang_rate, double_evacuation); returns the whole config."""
        with self._lock:
            for k, v in changes.items():
                if not hasattr(self.evacuation, k):
                    raise ValueError(f"unknown evacuation setting {k}")
                if k == "double_evacuation":
                    if v not in ("error", "stuck"):
                        raise ValueError("double_evacuation must be 'error' or 'stuck'")
                else:
                    v = float(v)
                setattr(self.evacuation, k, v)
            return dataclasses.asdict(self.evacuation)

    def set_evacuation_outcome(self, server_id: str, outcome: str) -> None:
        """Fix how the next evacuation of ``server_id`` ends: ok, failed, error or hang."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")
        with self._lock:
            self._forced_outcomes[server_id] = outcome

    def release_hung(self, outcome: str = "ok") -> int:
        """Let every hung evacuation finish now with ``outcome`` (ok or failed)."""
        with self._lock:
            hung, self._hung = self._hung, []
            for ev in hung:
                self._schedule(0.0, self._evac_finish, ev, outcome)
            return len(hung)

    # ------------------------------------------------------------------ Python API: network

    def set_latency(self, seconds: float, *, route="*", jitter: float = 0.0) -> None:
        """Delay each matching API call by ``seconds`` + uniform(0, jitter). Rules add up;
        setting a route pattern again replaces its rule, 0 removes it."""
        self._plan.set_latency(seconds, route=route, jitter=jitter)

    def clear_latency(self) -> None:
        self._plan.clear_latency()

    def add_fault(self, *, route="*", method: str | None = None, path: str | None = None,
                  action: str = "error", status: int = 500, message: str | None = None,
                  probability: float = 1.0, count: int | None = None, skip: int = 0,
                  phase: str = "before", hang: float = 5.0, then: str = "drop",
                  match=None) -> int:
        """Misbehave on matching calls; returns the rule id. See faults.FaultRule."""
        return self._plan.add_fault(route=route, method=method, path=path, action=action,
                                    status=int(status), message=message,
                                    probability=float(probability), count=count, skip=skip,
                                    phase=phase, hang=float(hang), then=then, match=match)

    def remove_fault(self, fault_id: int) -> None:
        self._plan.remove_fault(fault_id)

    def clear_faults(self) -> None:
        self._plan.clear_faults()

    def faults(self) -> list[dict]:
        return self._plan.faults()

    def latency_rules(self) -> list[dict]:
        return self._plan.latency_rules()

    # ------------------------------------------------------------------ Python API: records

    def requests(self, *, route=None, method: str | None = None,
                 since_seq: int = 0) -> list[RequestRecord]:
        """Recorded API calls (control calls excluded), oldest first; ``route`` is a glob
        or list of globs such as ``"servers.action.evacuate"`` or ``"services.*"``."""
        pats = None if route is None else ((route,) if isinstance(route, str) else tuple(route))
        with self._records_lock:
            recs = list(self._records)
        return [r for r in recs if r.seq > since_seq and
                (pats is None or route_matches(pats, r.route)) and
                (method is None or r.method == method.upper())]

    def clear_requests(self) -> None:
        with self._records_lock:
            self._records = []

    def stats(self) -> dict:
        """In-flight gauges: ``http`` (by route), ``evacuate_calls`` (by source host, while
        the HTTP call runs), ``rebuilds`` (by source host, accepted until done/failed/error),
        ``rebuilds_dest`` (by destination host), ``double_evacuations`` (total: evacuate
        calls accepted for a server already being evacuated, by server); each with current,
        peak, total."""
        snap = self._gauges.snapshot()
        for kind in ("http", "evacuate_calls", "rebuilds", "rebuilds_dest",
                     "double_evacuations"):
            snap.setdefault(kind, {"current": 0, "peak": 0, "total": 0, "by": {}})
        with self._lock:
            snap["hung_evacuations"] = len(self._hung)
        with self._sched_cond:
            snap["scheduled"] = self._pending
        snap["errors"] = len(self.errors)
        return snap

    def reset_stats(self) -> None:
        self._gauges.reset()

    # ------------------------------------------------------------------ control over HTTP

    CONTROL = frozenset({
        "info", "add_host", "add_hosts", "add_flavor", "add_aggregate", "add_server",
        "add_servers", "populate", "host", "hosts", "server", "servers_on", "server_count",
        "migrations", "kill_host", "revive_host", "set_service", "configure_evacuation",
        "set_evacuation_outcome", "release_hung", "set_latency", "clear_latency", "add_fault",
        "remove_fault", "clear_faults", "faults", "latency_rules", "requests",
        "clear_requests", "stats", "reset_stats", "revoke_tokens", "wait_idle"})

    def _serve_control(self, h, path, raw) -> None:
        status, result = 200, None
        try:
            if path == "/_fake/info":
                result = self.info()
            elif path == "/_fake/call" and h.command == "POST":
                call = json.loads(raw or b"{}")
                method = call.get("method")
                if method not in self.CONTROL:
                    raise ValueError(f"not a control method: {method!r}")
                result = getattr(self, method)(*call.get("args", []), **call.get("kwargs", {}))
                if method == "requests":
                    result = [r.as_dict() for r in result]
            else:
                status, result = 404, {"error": f"no control endpoint {path}"}
        except Exception as err:
            status, result = 400, {"error": f"{type(err).__name__}: {err}"}
        data = json.dumps({"result": result} if status == 200 else result).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            h.close_connection = True
