"""Compute API handlers, as a mixin over FakeNova's state (see server.py).

Each handler takes a Request and returns ``(status, body_or_None, headers_dict)`` or
raises ApiError. Handlers that change state hold ``self._lock``; none of them sleeps while
holding it.
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from urllib.parse import urlencode

from lab.fakenova import views
from lab.fakenova.model import (POWER, ApiError, Migration, Server, Service, parse_time,
                                query_bool, schema_bool, server_status)

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                     r"[0-9a-fA-F]{12}$")
TAG_RE = re.compile(r"^[^,/]{1,60}$")
_EVAC_OK_VM_STATES = ("active", "stopped", "error")
_METADATA_OK_VM_STATES = ("active", "paused", "suspended", "stopped")
_TAG_OK_VM_STATES = ("active", "paused", "suspended", "stopped", "shelved",
                     "shelved_offloaded")


def _ok(body=None, status=200, headers=None):
    return status, body, headers or {}


def _need_dict(body, key=None) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid input for field/attribute body. Value: "
                            f"{body!r}. {body!r} is not of type 'object'")
    if key is None:
        return body
    if key not in body:
        raise ApiError(400, f"Invalid input for field/attribute {key}. "
                            f"Value: {body!r}. '{key}' is a required property")
    if not isinstance(body[key], dict):
        raise ApiError(400, f"Invalid input for field/attribute {key}. Value: "
                            f"{body[key]!r}. {body[key]!r} is not of type 'object'")
    return body[key]


def _only(obj: dict, allowed: set, where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        listed = ", ".join(repr(e) for e in extra)
        raise ApiError(400, f"Invalid input for field/attribute {where}. Value: {obj!r}. "
                            f"Additional properties are not allowed ({listed} "
                            f"{'was' if len(extra) == 1 else 'were'} unexpected)")


def _bool_field(obj: dict, key: str):
    try:
        return schema_bool(obj[key])
    except ValueError:
        raise ApiError(400, f"Invalid input for field/attribute {key}. Value: {obj[key]!r}. "
                            f"{obj[key]!r} is not one of the allowed boolean values")


def _int_param(req, name):
    raw = req.q(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid input for query parameters {name}. Value: {raw}. "
                            f"'{raw}' does not match '^[0-9]*$'")
    if value < 0:
        raise ApiError(400, f"Invalid input for query parameters {name}. Value: {raw}.")
    return value


class ComputeApi:
    """Handlers; ``self`` is a FakeNova."""

    # -- versions ----------------------------------------------------------------

    def _version_doc(self, req) -> dict:
        return {"id": "v2.1", "status": "CURRENT",
                "version": self.max_microversion, "min_version": self.min_microversion,
                "updated": "2013-07-23T11:33:21Z",
                "links": [{"rel": "self", "href": f"{req.root}/v2.1/"},
                          {"rel": "describedby", "type": "text/html",
                           "href": "http://docs.openstack.org/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.compute+json;version=2.1"}]}

    def h_compute_versions(self, req):
        v2 = {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "",
              "updated": "2025-07-04T12:00:00Z",
              "links": [{"rel": "self", "href": f"{req.root}/v2/"}]}
        v21 = {k: v for k, v in self._version_doc(req).items()
               if k not in ("media-types",)}
        v21["links"] = v21["links"][:1]
        return _ok({"versions": [v2, v21]})

    def _check_query(self, req):
        """Nova's query schemas turn strict at some microversion: unknown keys get 400."""
        if req.method != "GET":
            return
        for since, allowed in QUERY_RULES.get(req.route, ()):
            if req.mv >= since:
                extra = sorted(k for k in req.query if k not in allowed(req.mv))
                if extra:
                    listed = ", ".join(repr(e) for e in extra)
                    one = len(extra) == 1
                    if req.route in ("servers.list", "servers.detail"):
                        # This schema also has patternProperties, which words it differently.
                        raise ApiError(400, f"{listed} {'does' if one else 'do'} not match "
                                            "any of the regexes: '^_'")
                    raise ApiError(400, f"Additional properties are not allowed ({listed} "
                                        f"{'was' if one else 'were'} unexpected)")
                return

    def h_compute_version(self, req):
        return _ok({"version": self._version_doc(req)})

    # -- services ----------------------------------------------------------------

    def _service_view(self, rec, mv) -> dict:
        if isinstance(rec, Service):
            return views.service(rec, mv, True, rec.zone)
        return views.service(rec, mv, self._is_up(rec), self._zone_of(rec.name))

    def h_services_list(self, req):
        binary, host = req.q("binary"), req.q("host")
        with self._lock:
            self._heartbeat()
            recs = sorted(list(self._hosts.values()) + self._services,
                          key=lambda r: r.service_id)
            out = []
            for r in recs:
                b = r.binary if isinstance(r, Service) else "nova-compute"
                h = r.host if isinstance(r, Service) else r.name
                if (binary and b != binary) or (host and h != host):
                    continue
                out.append(self._service_view(r, req.mv))
        return _ok({"services": out})

    def _find_service_by_id(self, ident: str, mv):
        for r in list(self._hosts.values()) + self._services:
            if mv >= (2, 53) and r.service_uuid == ident:
                return r
            if mv < (2, 53) and str(r.service_id) == ident:
                return r
        return None

    def _status_change_blocks(self, host) -> float:
        """Nova asks a compute it believes up to sync its disabled trait over RPC; a dead
        compute that is not yet reported down never answers, so the API call waits for the
        RPC timeout: why safety rule 3 forces down first (docs/design.md)."""
        if host.killed_at is not None and self._is_up(host):
            return self.dead_rpc_delay
        return 0.0

    def h_services_update(self, req):
        ident = req.params["id"]
        body = _need_dict(req.body)
        if req.mv < (2, 53):
            return self._services_legacy_action(req, ident, body)
        if not UUID_RE.match(ident):
            raise ApiError(400, f"Invalid uuid {ident}")
        _only(body, {"status", "disabled_reason", "forced_down"}, "body")
        if "status" in body and body["status"] not in ("enabled", "disabled"):
            raise ApiError(400, f"Invalid input for field/attribute status. Value: "
                                f"{body['status']}. {body['status']!r} is not one of "
                                "['enabled', 'disabled']")
        if "disabled_reason" in body:
            reason = body["disabled_reason"]
            if not isinstance(reason, str) or not 1 <= len(reason) <= 255:
                raise ApiError(400, "Invalid input for field/attribute disabled_reason. "
                                    f"Value: {reason!r}.")
            if body.get("status") != "disabled":
                raise ApiError(400, "Specifying 'disabled_reason' with status "
                                    f"'{body.get('status')}' is invalid.")
        forced = _bool_field(body, "forced_down") if "forced_down" in body else None
        with self._lock:
            rec = self._find_service_by_id(ident, req.mv)
            if rec is None:
                raise ApiError(404, f"Service {ident} not found.")
            if isinstance(rec, Service):
                raise ApiError(400, f"Updating a {rec.binary} service is not supported. "
                                    "Only nova-compute services can be updated.")
            if not body:
                raise ApiError(400, "No updates were requested. Fields 'status' or "
                                    "'forced_down' should be specified.")
            if forced is False and rec.forced_down and any(
                    m.source_compute == rec.name and m.migration_type == "evacuation"
                    and m.status == "done" for m in self._migrations.values()):
                # Nova 34: a host stays forced down until its restarted nova-compute has
                # cleaned up after the evacuations (done -> completed).
                raise ApiError(400, f"Unable to force up host {rec.name} as `done` "
                                    "evacuation migration records remain associated with "
                                    "the host. Ensure the compute service has been "
                                    "restarted, allowing these records to move to "
                                    "`completed` before retrying this request.")
            wait = self._status_change_blocks(rec) if "status" in body else 0.0
        if wait:
            self._stop_event.wait(wait)
        with self._lock:
            if "status" in body:
                rec.disabled = body["status"] == "disabled"
                rec.disabled_reason = body.get("disabled_reason") if rec.disabled else None
            if forced is not None:
                rec.forced_down = forced
            rec.updated = time.time()
            return _ok({"service": self._service_view(rec, req.mv)})

    def _services_legacy_action(self, req, action, body):
        actions = {"enable", "disable", "disable-log-reason"}
        if req.mv >= (2, 11):
            actions.add("force-down")
        if action not in actions:
            raise ApiError(404, "Unknown action")
        allowed = {"host", "binary"}
        if action == "disable-log-reason":
            allowed.add("disabled_reason")
        if action == "force-down":
            allowed.add("forced_down")
        _only(body, allowed, "body")
        for key in ("host", "binary"):
            if not isinstance(body.get(key), str):
                raise ApiError(400, f"Invalid input for field/attribute {key}. "
                                    f"Value: {body!r}. '{key}' is a required property")
        host, binary = body["host"], body["binary"]
        if action == "disable-log-reason" and "disabled_reason" not in body:
            raise ApiError(400, "Missing disabled reason field")
        if action == "force-down":
            if "forced_down" not in body:
                raise ApiError(400, "Missing forced_down field")
            forced = _bool_field(body, "forced_down")
        with self._lock:
            rec = self._hosts.get(host) if binary == "nova-compute" else None
            other = [s for s in self._services if s.host == host and s.binary == binary]
            if rec is None and not other:
                raise ApiError(404, f"Could not find binary {binary} on host {host}.")
            wait = (self._status_change_blocks(rec)
                    if rec is not None and action != "force-down" else 0.0)
        if wait:
            self._stop_event.wait(wait)
        out = {"host": host, "binary": binary}
        with self._lock:
            if action == "force-down":
                if rec is not None:
                    rec.forced_down = forced
                out["forced_down"] = forced
            else:
                disabled = action != "enable"
                reason = body.get("disabled_reason") if disabled else None
                if rec is not None:
                    rec.disabled, rec.disabled_reason = disabled, reason
                out["status"] = "disabled" if disabled else "enabled"
                if reason:
                    out["disabled_reason"] = reason
            if rec is not None:
                rec.updated = time.time()
        return _ok({"service": out})

    def h_services_delete(self, req):
        ident = req.params["id"]
        with self._lock:
            rec = self._find_service_by_id(ident, req.mv)
            if rec is None:
                raise ApiError(404, f"Service {ident} not found.")
            if isinstance(rec, Service):
                self._services.remove(rec)
            else:
                if self._by_host.get(rec.name):
                    raise ApiError(409, "Unable to delete compute service that is hosting "
                                        "instances. Migrate or delete the instances first.")
                del self._hosts[rec.name]
                self._by_host.pop(rec.name, None)
                for a in self._aggregates.values():
                    if rec.name in a.hosts:
                        a.hosts.remove(rec.name)
        return _ok(None, 204)

    # -- servers -----------------------------------------------------------------

    def _server(self, server_id) -> Server:
        s = self._servers.get(server_id)
        if s is None:
            raise ApiError(404, f"Instance {server_id} could not be found.")
        return s

    def _server_view(self, s, req) -> dict:
        return views.server(s, req.mv, req.root, self._host_status(s.host))

    def _filtered_servers(self, req) -> list[Server]:
        q = req.q
        all_tenants = False
        if "all_tenants" in req.query:
            raw = q("all_tenants")
            if raw and raw.strip().lower() not in ("1", "t", "true", "on", "y", "yes",
                                                   "0", "f", "false", "off", "n", "no"):
                raise ApiError(400, f"Unrecognized value '{raw}', acceptable values are: "
                                    "'0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', "
                                    "'true', 'y', 'yes'")
            all_tenants = query_bool(raw, default=True)
        project = q("project_id") or q("tenant_id")
        if not all_tenants:
            project = req.token.get("project_id") if req.token else self.project_id
        host = q("host") or q("node")
        status = (q("status") or "").upper() or None
        name_re = re.compile(q("name")) if q("name") else None
        uuid_f = q("uuid")
        since = parse_time(q("changes-since")) if q("changes-since") else None
        before = parse_time(q("changes-before")) if q("changes-before") else None
        tag_filters = {}
        if req.mv >= (2, 26):
            for key in ("tags", "tags-any", "not-tags", "not-tags-any"):
                if q(key):
                    tag_filters[key] = set(q(key).split(","))
        if host is not None:
            ids = self._by_host.get(host, ())
            cands = sorted((self._servers[i] for i in ids), key=lambda s: s.seq, reverse=True)
        else:
            cands = reversed(self._servers.values())
        out = []
        for s in cands:
            if project and s.project_id != project:
                continue
            if status and server_status(s) != status:
                continue
            if name_re and not name_re.search(s.name):
                continue
            if uuid_f and s.uuid != uuid_f:
                continue
            if since is not None and s.updated < since:
                continue
            if before is not None and s.updated > before:
                continue
            if tag_filters:
                tags = set(s.tags)
                if "tags" in tag_filters and not tag_filters["tags"] <= tags:
                    continue
                if "tags-any" in tag_filters and not tag_filters["tags-any"] & tags:
                    continue
                if "not-tags" in tag_filters and tag_filters["not-tags"] <= tags:
                    continue
                if "not-tags-any" in tag_filters and tag_filters["not-tags-any"] & tags:
                    continue
            out.append(s)
        return out

    def _page(self, req, items, key_of, marker_seq_of, collection: str):
        """Nova's limit/marker paging with a ``<collection>_links`` next link when full."""
        limit = _int_param(req, "limit")
        eff = self.max_limit if limit is None else min(limit, self.max_limit)
        marker = req.q("marker")
        if marker is not None:
            pos = marker_seq_of(marker)
            if pos is None:
                raise ApiError(400, f"marker [{marker}] not found")
            items = [i for i in items if pos(i)]
        page = items[:eff]
        links = None
        if eff and len(page) == eff:
            params = [(k, v) for k, vs in req.query.items() if k != "marker" for v in vs]
            params.append(("marker", key_of(page[-1])))
            links = [{"rel": "next",
                      "href": f"{req.root}/v2.1/{collection}?{urlencode(params)}"}]
        return page, links

    def _server_marker(self, marker):
        s = self._servers.get(marker)
        if s is None:
            return None
        seq = s.seq
        return lambda item: item.seq < seq

    def h_servers_list(self, req, detail=False):
        with self._lock:
            items = self._filtered_servers(req)
            page, links = self._page(req, items, lambda s: s.uuid, self._server_marker,
                                     "servers/detail" if detail else "servers")
            if detail:
                body = {"servers": [self._server_view(s, req) for s in page]}
            else:
                body = {"servers": [views.server_brief(s, req.root) for s in page]}
        if links:
            body["servers_links"] = links
        return _ok(body)

    def h_servers_detail(self, req):
        return self.h_servers_list(req, detail=True)

    def h_servers_show(self, req):
        with self._lock:
            return _ok({"server": self._server_view(self._server(req.params["id"]), req)})

    def h_servers_create(self, req):
        spec = _need_dict(req.body, "server")
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "Invalid input for field/attribute name.")
        if req.mv >= (2, 37) and "networks" not in spec:
            raise ApiError(400, "Invalid input for field/attribute server. "
                                "'networks' is a required property")
        with self._lock:
            ref = str(spec.get("flavorRef", "")).rstrip("/").rsplit("/", 1)[-1]
            flavor = self._flavors.get(ref)
            if flavor is None:
                raise ApiError(400, f"Flavor {ref} could not be found.")
            image = str(spec.get("imageRef") or "").rstrip("/").rsplit("/", 1)[-1]
            az, forced_host = None, None
            if spec.get("availability_zone"):
                az, _, forced_host = str(spec["availability_zone"]).partition(":")
                forced_host = forced_host.split(":")[0] or None
            tags = list(spec.get("tags") or []) if req.mv >= (2, 52) else []
            s = self._new_server(
                host=None, name=name, flavor=flavor, image_ref=image,
                project_id=req.token.get("project_id", self.project_id) if req.token
                else self.project_id,
                user_id=req.token.get("user_id", self.user_id) if req.token else self.user_id,
                vm_state="building", metadata=dict(spec.get("metadata") or {}), tags=tags,
                key_name=spec.get("key_name"), description=spec.get("description"))
            s.task_state = "scheduling"
            s.power_state = POWER["nostate"]
            s.pinned_az = az or None
            self._schedule(self.boot_time, self._finish_boot, s.uuid, forced_host)
            body = {"server": {"id": s.uuid, "links": views.server_brief(s, req.root)["links"],
                               "OS-DCF:diskConfig": "MANUAL",
                               "security_groups": [{"name": "default"}],
                               "adminPass": spec.get("adminPass") or uuid.uuid4().hex[:12]}}
        return _ok(body, 202, {"Location": f"{req.root}/v2.1/servers/{s.uuid}"})

    def _finish_boot(self, server_id, forced_host):
        s = self._servers.get(server_id)
        if s is None or s.vm_state != "building":
            return
        if forced_host:
            h = self._hosts.get(forced_host)
            dest = forced_host if h is not None and self._is_up(h) else None
        else:
            dest = self._pick_host(exclude=(), zone=s.pinned_az)
        now = time.time()
        s.task_state, s.updated = None, now
        if dest is None:
            s.vm_state = "error"
            s.fault = self._fault_record(500, "No valid host was found. ")
            return
        self._place(s, dest)
        s.vm_state, s.power_state, s.launched = "active", POWER["running"], now

    def h_servers_delete(self, req):
        with self._lock:
            s = self._server(req.params["id"])
            self._remove_server(s)
        return _ok(None, 204)

    # -- server actions ------------------------------------------------------------

    def h_servers_action(self, req):
        body = _need_dict(req.body)
        action = next(iter(body), None)
        if action == "evacuate":
            return self._evacuate(req, body)
        if action in ("os-stop", "os-start"):
            return self._power(req, action)
        if action == "reboot":
            return self._reboot(req, body)
        raise ApiError(400, f"There is no such action: {action}")

    def _power(self, req, action):
        with self._lock:
            s = self._server(req.params["id"])
            want = ("active", "error") if action == "os-stop" else ("stopped",)
            verb = "stop" if action == "os-stop" else "start"
            if s.task_state is not None:
                raise ApiError(409, f"Cannot '{verb}' instance {s.uuid} while it is in "
                                    f"task_state {s.task_state}")
            if s.vm_state not in want:
                raise ApiError(409, f"Cannot '{verb}' instance {s.uuid} while it is in "
                                    f"vm_state {s.vm_state}")
            h = self._hosts.get(s.host) if s.host else None
            s.updated = time.time()
            if h is None or not self._is_up(h):
                # Nova casts to the compute; a dead one never picks it up.
                s.task_state = "powering-off" if verb == "stop" else "powering-on"
                return _ok(None, 202)
            if verb == "stop":
                s.vm_state, s.power_state = "stopped", POWER["shutdown"]
            else:
                s.vm_state, s.power_state = "active", POWER["running"]
        return _ok(None, 202)

    def _reboot(self, req, body):
        """Nova's reboot: HARD from active/stopped/paused/suspended/error, SOFT from
        active only; the instance ends active (at once on a live compute)."""
        spec = _need_dict(body, "reboot")
        kind = spec.get("type")
        if kind not in ("HARD", "SOFT", "hard", "soft"):
            raise ApiError(400, f"Invalid input for field/attribute type. Value: {kind!r}.")
        hard = kind.upper() == "HARD"
        with self._lock:
            s = self._server(req.params["id"])
            want = ("active", "stopped", "paused", "suspended", "error") if hard \
                else ("active",)
            if s.task_state is not None:
                raise ApiError(409, f"Cannot 'reboot' instance {s.uuid} while it is in "
                                    f"task_state {s.task_state}")
            if s.vm_state not in want:
                raise ApiError(409, f"Cannot 'reboot' instance {s.uuid} while it is in "
                                    f"vm_state {s.vm_state}")
            h = self._hosts.get(s.host) if s.host else None
            s.updated = time.time()
            if h is None or not self._is_up(h):
                # Nova casts to the compute; a dead one never picks it up.
                s.task_state = "reboot_started_hard" if hard else "reboot_started"
                return _ok(None, 202)
            s.vm_state, s.power_state = "active", POWER["running"]
        return _ok(None, 202)

    def _evacuate_schema(self, req, ev: dict):
        mv = req.mv
        allowed = {"host", "adminPass"}
        if mv < (2, 14):
            allowed.add("onSharedStorage")
        if (2, 29) <= mv < (2, 68):
            allowed.add("force")
        _only(ev, allowed, "evacuate")
        if mv < (2, 14) and "onSharedStorage" not in ev:
            raise ApiError(400, f"Invalid input for field/attribute evacuate. Value: {ev!r}. "
                                "'onSharedStorage' is a required property")
        for key in ("host", "adminPass"):
            if key in ev and (not isinstance(ev[key], str) or not ev[key]):
                raise ApiError(400, f"Invalid input for field/attribute {key}. "
                                    f"Value: {ev[key]!r}.")
        shared = _bool_field(ev, "onSharedStorage") if "onSharedStorage" in ev else None
        force = _bool_field(ev, "force") if "force" in ev else False
        return shared, force

    def _evacuate(self, req, body):
        ev = _need_dict(body, "evacuate")
        shared, force = self._evacuate_schema(req, ev)
        host = ev.get("host")
        if force and not host:
            raise ApiError(400, "Can't force to a non-provided destination")
        password = None
        if req.mv < (2, 14):
            if "adminPass" in ev:
                if shared:
                    raise ApiError(400, "admin password can't be changed on existing disk")
                password = ev["adminPass"]
            elif not shared:
                password = uuid.uuid4().hex[:12]
        with self._lock:
            s = self._server(req.params["id"])
            if host is not None and host not in self._hosts:
                raise ApiError(404, f"Compute host {host} not found.")
            if s.host == host:
                raise ApiError(400, "The target host can't be the same one.")
            # Nova checks vm_state only (task_state=None): evacuating a server whose host
            # died mid-operation must work, and so does evacuating it twice.
            if s.vm_state not in _EVAC_OK_VM_STATES:
                raise ApiError(409, f"Cannot 'evacuate' instance {s.uuid} while it is in "
                                    f"vm_state {s.vm_state}")
            src = self._hosts.get(s.host) if s.host else None
            if src is None:
                raise ApiError(404, f"Compute host {s.host} could not be found.")
            if self._is_up(src):
                raise ApiError(400, f"Compute service of {src.name} is still in use.")
            now = time.time()
            s.task_state, s.updated = "rebuilding", now
            # A new migration has no updated_at yet (NULL in Nova's database).
            mig = Migration(
                id=self._next_migration_id, uuid=self._new_uuid(), instance_uuid=s.uuid,
                source_compute=src.name, source_node=src.name, status="accepted",
                migration_type="evacuation", created=now, updated=None, user_id=s.user_id,
                project_id=s.project_id, old_instance_type_id=None,
                new_instance_type_id=None, dest_compute=host)
            self._next_migration_id += 1
            self._migrations[mig.id] = mig
            active = self._active_evacuations.get(s.uuid)
            if active is not None:
                # What Nova 34 does (seen in the lab): the second migration stays
                # "accepted"; the first rebuild finishes, then is rebuilt again and fails,
                # leaving the server in ERROR.
                active.doubled.append(mig.id)
                self._gauges.inc("double_evacuations", s.uuid)
                if req.mv < (2, 14):
                    return _ok({"adminPass": password})
                return _ok(None)
            evac = _Evacuation(
                server_id=s.uuid, migration_id=mig.id, source=src.name, requested=host,
                # Before 2.29 a named host, and with force after, skips the scheduler.
                bypass_scheduler=bool(host) and (req.mv < (2, 29) or force),
                stop_at_destination=req.mv >= (2, 95),
                was_stopped=s.vm_state == "stopped", request_id=req.request_id)
            self._active_evacuations[s.uuid] = evac
            self._gauges.inc("rebuilds", src.name)
            self._schedule(self.evacuation.claim_delay, self._evac_claim, evac)
        if req.mv < (2, 14):
            return _ok({"adminPass": password})
        return _ok(None)

    # -- the evacuation engine (runs on the scheduler thread, under self._lock) ---------

    def _outcome_for(self, server_id: str) -> str:
        forced = self._forced_outcomes.pop(server_id, None)
        if forced is not None:
            return forced
        cfg = self.evacuation
        r = self._evac_rng.random()
        for outcome, rate in (("error", cfg.error_rate), ("failed", cfg.failure_rate),
                              ("hang", cfg.hang_rate)):
            if r < rate:
                return outcome
            r -= rate
        return "ok"

    def _evac_claim(self, ev):
        mig = self._migrations[ev.migration_id]
        s = self._servers.get(ev.server_id)
        outcome = self._outcome_for(ev.server_id)
        if s is None or outcome == "error":
            return self._evac_error(ev, s, "No valid host was found. ")
        if ev.bypass_scheduler:
            dest = ev.requested
            if not self._is_up(self._hosts[dest]):
                outcome = "hang"       # the RPC cast goes to a compute that never reads it
        else:
            candidates = [ev.requested] if ev.requested else None
            dest = self._pick_host(exclude=(ev.source,), zone=s.pinned_az, only=candidates)
            if dest is None:
                return self._evac_error(ev, s, "No valid host was found. There are not "
                                                "enough hosts available.")
        now = time.time()
        if mig.status != "completed":      # the source came back meanwhile and closed it
            mig.status = "pre-migrating"
        mig.updated = now
        mig.dest_compute, mig.dest_node = dest, dest
        mig.dest_host = self._hosts[dest].ip
        self._place(s, dest)
        s.updated = now
        ev.dest = dest
        self._gauges.inc("rebuilds_dest", dest)
        if outcome == "hang":
            self._hung.append(ev)
            return None
        cfg = self.evacuation
        delay = cfg.rebuild_time + (self._evac_rng.uniform(0, cfg.jitter) if cfg.jitter else 0)
        self._schedule(delay, self._evac_finish, ev, outcome)
        return None

    def _evac_error(self, ev, s, message):
        mig = self._migrations[ev.migration_id]
        now = time.time()
        if mig.status != "completed":
            mig.status = "error"
        mig.updated = now
        if s is not None:
            s.task_state, s.vm_state, s.updated = None, "error", now
            s.fault = self._fault_record(500, message)
        self._active_evacuations.pop(ev.server_id, None)
        self._gauges.dec("rebuilds", ev.source)

    def _evac_finish(self, ev, outcome):
        mig = self._migrations[ev.migration_id]
        s = self._servers.get(ev.server_id)
        now = time.time()
        if mig.status != "completed":      # the source came back meanwhile and closed it
            mig.status = "failed" if outcome == "failed" or s is None else "done"
        mig.updated = now
        if s is not None:
            s.task_state, s.updated = None, now
            if outcome == "failed":
                s.vm_state = "error"
                s.fault = self._fault_record(500, f"Rebuild of {s.uuid} on {ev.dest} failed")
            else:
                stopped = ev.stop_at_destination or ev.was_stopped
                s.vm_state = "stopped" if stopped else "active"
                s.power_state = POWER["shutdown"] if stopped else POWER["running"]
                s.fault, s.launched = None, now
        if ev.doubled and outcome != "failed" and s is not None:
            ev.doubled = []
            if self.evacuation.double_evacuation == "stuck":
                if mig.status != "completed":
                    mig.status = "failed"
                s.task_state = "rebuilding"
                self._hung.append(ev)
                return
            # The duplicate rebuild request now runs against the same migration.
            self._schedule(self.evacuation.claim_delay, self._evac_redo, ev)
            return
        self._active_evacuations.pop(ev.server_id, None)
        self._gauges.dec("rebuilds", ev.source)
        self._gauges.dec("rebuilds_dest", ev.dest)

    def _evac_redo(self, ev):
        mig = self._migrations[ev.migration_id]
        s = self._servers.get(ev.server_id)
        if mig.status != "completed":
            mig.status = "pre-migrating"
        mig.updated = time.time()
        if s is not None:
            s.task_state = "rebuilding"
        self._schedule(self.evacuation.rebuild_time, self._evac_finish, ev, "failed")

    # -- metadata and tags -------------------------------------------------------------

    def _check_writable(self, s, action, vm_states):
        if s.vm_state not in vm_states:
            raise ApiError(409, f"Cannot '{action}' instance {s.uuid} while it is in "
                                f"vm_state {s.vm_state}")

    @staticmethod
    def _check_meta(meta):
        if not isinstance(meta, dict):
            raise ApiError(400, "Invalid input for field/attribute metadata.")
        for k, v in meta.items():
            if not isinstance(k, str) or not 1 <= len(k) <= 255 or not isinstance(v, str) \
                    or len(v) > 255:
                raise ApiError(400, f"Invalid input for field/attribute metadata. "
                                    f"Value: {meta!r}.")

    def h_metadata(self, req):
        with self._lock:
            s = self._server(req.params["id"])
            if req.method == "GET":
                return _ok({"metadata": dict(s.metadata)})
            meta = _need_dict(req.body).get("metadata")
            self._check_meta(meta)
            self._check_writable(s, "update metadata", _METADATA_OK_VM_STATES)
            if req.method == "PUT":
                s.metadata = dict(meta)
            else:
                s.metadata.update(meta)
            s.updated = time.time()
            return _ok({"metadata": dict(s.metadata)})

    def h_metadata_item(self, req):
        key = req.params["key"]
        with self._lock:
            s = self._server(req.params["id"])
            if req.method == "GET":
                if key not in s.metadata:
                    raise ApiError(404, "Metadata item was not found")
                return _ok({"meta": {key: s.metadata[key]}})
            if req.method == "DELETE":
                if key not in s.metadata:
                    raise ApiError(404, "Metadata item was not found")
                self._check_writable(s, "delete metadata", _METADATA_OK_VM_STATES)
                del s.metadata[key]
                s.updated = time.time()
                return _ok(None, 204)
            meta = _need_dict(req.body).get("meta")
            self._check_meta(meta)
            if len(meta) != 1:
                raise ApiError(400, "Request body contains too many items")
            if key not in meta:
                raise ApiError(400, "Request body and URI mismatch")
            self._check_writable(s, "update metadata", _METADATA_OK_VM_STATES)
            s.metadata[key] = meta[key]
            s.updated = time.time()
            return _ok({"meta": {key: meta[key]}})

    def h_tags(self, req):
        with self._lock:
            s = self._server(req.params["id"])
            if req.method == "GET":
                return _ok({"tags": list(s.tags)})
            self._check_writable(s, "delete tags" if req.method == "DELETE" else "update tags",
                                 _TAG_OK_VM_STATES)
            if req.method == "DELETE":
                s.tags = []
                s.updated = time.time()
                return _ok(None, 204)
            tags = _need_dict(req.body).get("tags")
            if not isinstance(tags, list) or len(tags) > 50 or not all(
                    isinstance(t, str) and TAG_RE.match(t) for t in tags):
                raise ApiError(400, f"Invalid input for field/attribute tags. Value: {tags!r}.")
            s.tags = list(dict.fromkeys(tags))
            s.updated = time.time()
            return _ok({"tags": list(s.tags)})

    def h_tag(self, req):
        tag = req.params["tag"]
        with self._lock:
            s = self._server(req.params["id"])
            if req.method == "GET":
                if tag not in s.tags:
                    raise ApiError(404, f"Tag '{tag}' is not found")
                return _ok(None, 204)
            self._check_writable(s, "delete tag" if req.method == "DELETE" else "update tag",
                                 _TAG_OK_VM_STATES)
            if req.method == "DELETE":
                if tag not in s.tags:
                    raise ApiError(404, f"Tag '{tag}' is not found")
                s.tags.remove(tag)
                s.updated = time.time()
                return _ok(None, 204)
            if not TAG_RE.match(tag):
                raise ApiError(400, f"Invalid input for field/attribute tag. Value: {tag}.")
            loc = {"Location": f"{req.root}/v2.1/servers/{s.uuid}/tags/{tag}"}
            if tag in s.tags:
                return _ok(None, 204, loc)
            if len(s.tags) >= 50:
                raise ApiError(400, "The number of tags exceeded the per-server limit 50")
            s.tags.append(tag)
            s.updated = time.time()
            return _ok(None, 201, loc)

    # -- migrations --------------------------------------------------------------------

    def h_migrations_list(self, req):
        q, mv = req.q, req.mv
        filters = {k: q(k) for k in ("status", "migration_type", "source_compute",
                                     "instance_uuid") if q(k)}
        host = q("host")
        hidden = query_bool(q("hidden") or "0", default=False)
        since = before = None
        if mv >= (2, 59) and q("changes-since"):
            since = self._query_time(q("changes-since"), "changes-since")
        if mv >= (2, 66) and q("changes-before"):
            before = self._query_time(q("changes-before"), "changes-before")
        if since is not None and before is not None and since > before:
            raise ApiError(400, "The value of changes-since must be less than or equal to "
                                "changes-before.")
        if mv >= (2, 80):
            for k in ("user_id", "project_id"):
                if q(k):
                    filters[k] = q(k)
        with self._lock:
            items = []
            for m in self._migrations.values():
                if m.hidden != hidden:
                    continue
                if any(getattr(m, k) != v for k, v in filters.items()):
                    continue
                if host and host not in (m.source_compute, m.dest_compute):
                    continue
                # Nova compares updated_at in SQL: a NULL (never updated) never matches.
                if since is not None and (m.updated is None or m.updated < since):
                    continue
                if before is not None and (m.updated is None or m.updated > before):
                    continue
                items.append(m)
            if mv < (2, 59):
                return _ok({"migrations": [views.migration(m, mv) for m in items]})
            items.sort(key=lambda m: (m.created, m.id), reverse=True)
            by_uuid = {m.uuid: m for m in self._migrations.values()}

            def marker_of(marker):
                mk = by_uuid.get(marker)
                if mk is None:
                    return None
                key = (mk.created, mk.id)
                return lambda m: (m.created, m.id) < key

            try:
                page, links = self._page(req, items, lambda m: m.uuid, marker_of,
                                         "os-migrations")
            except ApiError as err:
                if err.status == 400 and err.message.startswith("marker"):
                    raise ApiError(400, f"Marker {q('marker')} could not be found.")
                raise
            body = {"migrations": [views.migration(m, mv) for m in page]}
        if links:
            body["migrations_links"] = links
        return _ok(body)

    @staticmethod
    def _query_time(raw, name):
        try:
            return parse_time(raw)
        except ValueError:
            raise ApiError(400, f"Invalid input for query parameters {name}. Value: {raw}. "
                                f"'{raw}' is not a 'date-time'")

    # -- flavors -----------------------------------------------------------------------

    def _flavor(self, ident):
        f = self._flavors.get(ident)
        if f is None:
            raise ApiError(404, f"Flavor {ident} could not be found.")
        return f

    def _flavor_list(self, req):
        is_public = req.q("is_public")
        out = []
        for f in sorted(self._flavors.values(), key=lambda f: f.flavorid):
            if is_public is None or is_public.lower() != "none":
                want = True if is_public is None else query_bool(is_public, True)
                if f.is_public != want:
                    continue
            out.append(f)
        return out

    def h_flavors_list(self, req):
        with self._lock:
            return _ok({"flavors": [views.flavor_brief(f, req.mv, req.root)
                                    for f in self._flavor_list(req)]})

    def h_flavors_detail(self, req):
        with self._lock:
            return _ok({"flavors": [views.flavor(f, req.mv, req.root)
                                    for f in self._flavor_list(req)]})

    def h_flavors_show(self, req):
        with self._lock:
            return _ok({"flavor": views.flavor(self._flavor(req.params["id"]), req.mv,
                                               req.root)})

    def h_flavor_extra_specs(self, req):
        with self._lock:
            return _ok({"extra_specs": dict(self._flavor(req.params["id"]).extra_specs)})

    def h_flavor_extra_spec(self, req):
        key = req.params["key"]
        with self._lock:
            specs = self._flavor(req.params["id"]).extra_specs
            if key not in specs:
                raise ApiError(404, f"Flavor {req.params['id']} has no extra specs with key "
                                    f"{key}.")
            return _ok({key: specs[key]})

    # -- aggregates --------------------------------------------------------------------

    def _aggregate(self, ident):
        try:
            a = self._aggregates.get(int(ident))
        except ValueError:
            a = None
        if a is None:
            raise ApiError(404, f"Aggregate {ident} could not be found.")
        return a

    def h_aggregates_list(self, req):
        with self._lock:
            return _ok({"aggregates": [views.aggregate(a, req.mv)
                                       for a in self._aggregates.values()]})

    def h_aggregates_show(self, req):
        with self._lock:
            return _ok({"aggregate": views.aggregate(self._aggregate(req.params["id"]),
                                                     req.mv)})

    def h_aggregates_create(self, req):
        spec = _need_dict(req.body, "aggregate")
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "Invalid input for field/attribute name.")
        with self._lock:
            if any(a.name == name for a in self._aggregates.values()):
                raise ApiError(409, f"Aggregate {name} already exists.")
            a = self._new_aggregate(name, (), {}, spec.get("availability_zone"))
            return _ok({"aggregate": views.aggregate(a, req.mv)})

    def h_aggregates_delete(self, req):
        with self._lock:
            a = self._aggregate(req.params["id"])
            if a.hosts:
                raise ApiError(400, f"Cannot delete aggregate {a.id}: it has hosts.")
            del self._aggregates[a.id]
        return _ok(None)

    def h_aggregates_action(self, req):
        body = _need_dict(req.body)
        action = next(iter(body), None)
        with self._lock:
            a = self._aggregate(req.params["id"])
            arg = _need_dict(body, action) if action else {}
            if action == "add_host":
                host = arg.get("host")
                if host not in self._hosts:
                    raise ApiError(404, f"Compute host {host} could not be found.")
                if host in a.hosts:
                    raise ApiError(409, f"Aggregate {a.id} already has host {host}.")
                a.hosts.append(host)
            elif action == "remove_host":
                host = arg.get("host")
                if host not in a.hosts:
                    raise ApiError(404, f"Cannot remove host {host} in aggregate {a.id}: "
                                        "not found")
                a.hosts.remove(host)
            elif action == "set_metadata":
                meta = arg.get("metadata")
                if not isinstance(meta, dict):
                    raise ApiError(400, "Invalid input for field/attribute metadata.")
                for k, v in meta.items():
                    if v is None:
                        a.metadata.pop(k, None)
                    else:
                        a.metadata[k] = str(v)
            else:
                raise ApiError(400, f"There is no such action: {action}")
            a.updated = time.time()
            return _ok({"aggregate": views.aggregate(a, req.mv)})

    # -- hypervisors -------------------------------------------------------------------

    def _hypervisors(self, req, detail):
        pattern = req.q("hypervisor_hostname_pattern")
        with_servers = req.mv >= (2, 53) and query_bool(req.q("with_servers") or "0", False)
        with self._lock:
            self._heartbeat()
            hosts = sorted(self._hosts.values(), key=lambda h: h.hypervisor_id)
            if pattern is not None:
                hosts = [h for h in hosts if pattern in h.name]
                if not hosts:
                    raise ApiError(404, f"No hypervisor matching '{pattern}' could be found.")
            out = []
            for h in hosts:
                servers = None
                if with_servers or (detail and req.mv < (2, 88)):
                    servers = sorted((self._servers[i] for i in self._by_host.get(h.name, ())),
                                     key=lambda s: s.seq)
                view = views.hypervisor(h, req.mv, self._is_up(h), detail,
                                        servers if with_servers else None)
                if detail and not with_servers and req.mv < (2, 88):
                    view["running_vms"] = view["vcpus_used"] = len(servers)
                out.append(view)
        return _ok({"hypervisors": out})

    def h_hypervisors_list(self, req):
        return self._hypervisors(req, detail=False)

    def h_hypervisors_detail(self, req):
        return self._hypervisors(req, detail=True)

    def h_hypervisors_show(self, req):
        ident = req.params["id"]
        with self._lock:
            self._heartbeat()
            for h in self._hosts.values():
                if ident in (h.hypervisor_uuid, str(h.hypervisor_id)):
                    servers = sorted((self._servers[i] for i in self._by_host.get(h.name, ())),
                                     key=lambda s: s.seq)
                    view = views.hypervisor(h, req.mv, self._is_up(h), True, None)
                    if req.mv < (2, 88):
                        view["running_vms"] = view["vcpus_used"] = len(servers)
                    if req.mv >= (2, 53) and query_bool(req.q("with_servers") or "0", False):
                        view["servers"] = [{"uuid": s.uuid, "name": s.name} for s in servers]
                    return _ok({"hypervisor": view})
        raise ApiError(404, f"Hypervisor with ID {ident} could not be found.")


@dataclasses.dataclass
class _Evacuation:
    server_id: str
    migration_id: int
    source: str
    requested: str | None
    bypass_scheduler: bool
    stop_at_destination: bool
    was_stopped: bool
    request_id: str
    dest: str | None = None
    doubled: list = dataclasses.field(default_factory=list)   # duplicate migration ids


# Routes below /compute/v2.1: (method, regex, route name, handler, min microversion).
ROUTES = [
    ("GET", r"/os-services", "services.list", "h_services_list", None),
    ("PUT", r"/os-services/(?P<id>[^/]+)", "services.update", "h_services_update", None),
    ("DELETE", r"/os-services/(?P<id>[^/]+)", "services.delete", "h_services_delete", None),
    ("GET", r"/servers", "servers.list", "h_servers_list", None),
    ("POST", r"/servers", "servers.create", "h_servers_create", None),
    ("GET", r"/servers/detail", "servers.detail", "h_servers_detail", None),
    ("GET", r"/servers/(?P<id>[^/]+)", "servers.show", "h_servers_show", None),
    ("DELETE", r"/servers/(?P<id>[^/]+)", "servers.delete", "h_servers_delete", None),
    ("POST", r"/servers/(?P<id>[^/]+)/action", "servers.action", "h_servers_action", None),
    ("GET|PUT|POST", r"/servers/(?P<id>[^/]+)/metadata", "servers.metadata",
     "h_metadata", None),
    ("GET|PUT|DELETE", r"/servers/(?P<id>[^/]+)/metadata/(?P<key>[^/]+)",
     "servers.metadata_item", "h_metadata_item", None),
    ("GET|PUT|DELETE", r"/servers/(?P<id>[^/]+)/tags", "servers.tags", "h_tags", (2, 26)),
    ("GET|PUT|DELETE", r"/servers/(?P<id>[^/]+)/tags/(?P<tag>[^/]+)", "servers.tag",
     "h_tag", (2, 26)),
    ("GET", r"/os-migrations", "migrations.list", "h_migrations_list", None),
    ("GET", r"/flavors", "flavors.list", "h_flavors_list", None),
    ("GET", r"/flavors/detail", "flavors.detail", "h_flavors_detail", None),
    ("GET", r"/flavors/(?P<id>[^/]+)", "flavors.show", "h_flavors_show", None),
    ("GET", r"/flavors/(?P<id>[^/]+)/os-extra_specs", "flavors.extra_specs",
     "h_flavor_extra_specs", None),
    ("GET", r"/flavors/(?P<id>[^/]+)/os-extra_specs/(?P<key>[^/]+)", "flavors.extra_spec",
     "h_flavor_extra_spec", None),
    ("GET", r"/os-aggregates", "aggregates.list", "h_aggregates_list", None),
    ("POST", r"/os-aggregates", "aggregates.create", "h_aggregates_create", None),
    ("GET", r"/os-aggregates/(?P<id>[^/]+)", "aggregates.show", "h_aggregates_show", None),
    ("DELETE", r"/os-aggregates/(?P<id>[^/]+)", "aggregates.delete", "h_aggregates_delete",
     None),
    ("POST", r"/os-aggregates/(?P<id>[^/]+)/action", "aggregates.action",
     "h_aggregates_action", None),
    ("GET", r"/os-hypervisors", "hypervisors.list", "h_hypervisors_list", None),
    ("GET", r"/os-hypervisors/detail", "hypervisors.detail", "h_hypervisors_detail", None),
    ("GET", r"/os-hypervisors/(?P<id>[^/]+)", "hypervisors.show", "h_hypervisors_show", None),
]
COMPILED = [(frozenset(m.split("|")), re.compile(p + r"/?\Z"), name, fn, minv)
            for m, p, name, fn, minv in ROUTES]


_SERVERS_Q = frozenset("""user_id project_id tenant_id launch_index image_ref image kernel_id
    ramdisk_id hostname key_name power_state vm_state task_state host node flavor
    reservation_id launched_at terminated_at availability_zone name display_name description
    display_description locked_by uuid root_device_name config_drive access_ip_v4
    access_ip_v6 auto_disk_config progress sort_key sort_dir all_tenants soft_deleted deleted
    status changes-since ip ip6 created_at block_device_mapping services metadata
    system_metadata info_cache security_groups pci_devices limit marker tags tags-any
    not-tags not-tags-any changes-before locked""".split())
_MIGRATIONS_Q = frozenset("hidden host instance_uuid source_compute status migration_type "
                          "limit marker changes-since".split())
_FLAVORS_Q = frozenset("limit marker is_public minRam minDisk sort_key sort_dir".split())
_NONE = frozenset()


def _fixed(keys):
    return lambda mv: keys


def _migrations_q(mv):
    keys = set(_MIGRATIONS_Q)
    if mv >= (2, 66):
        keys.add("changes-before")
    if mv >= (2, 80):
        keys |= {"user_id", "project_id"}
    return keys


# route -> [(first strict microversion, allowed keys by microversion)], newest first.
QUERY_RULES = {
    "services.list": [((2, 75), _fixed({"host", "binary"}))],
    "servers.list": [((2, 75), _fixed(_SERVERS_Q))],
    "servers.detail": [((2, 75), _fixed(_SERVERS_Q))],
    "servers.show": [((2, 102), _fixed(_NONE))],
    "servers.metadata": [((2, 102), _fixed(_NONE))],
    "servers.metadata_item": [((2, 102), _fixed(_NONE))],
    "servers.tags": [((2, 102), _fixed(_NONE))],
    "servers.tag": [((2, 102), _fixed(_NONE))],
    "migrations.list": [((2, 59), _migrations_q)],
    "flavors.list": [((2, 102), _fixed(_FLAVORS_Q | {"name"})), ((2, 75), _fixed(_FLAVORS_Q))],
    "flavors.detail": [((2, 102), _fixed(_FLAVORS_Q | {"name"})), ((2, 75), _fixed(_FLAVORS_Q))],
    "flavors.show": [((2, 102), _fixed(_NONE))],
    "flavors.extra_specs": [((2, 102), _fixed(_NONE))],
    "flavors.extra_spec": [((2, 102), _fixed(_NONE))],
    "aggregates.list": [((2, 102), _fixed(_NONE))],
    "aggregates.show": [((2, 102), _fixed(_NONE))],
    "hypervisors.list": [((2, 53), _fixed({"limit", "marker", "hypervisor_hostname_pattern",
                                           "with_servers"}))],
    "hypervisors.detail": [((2, 53), _fixed({"limit", "marker", "hypervisor_hostname_pattern",
                                             "with_servers"}))],
    "hypervisors.show": [((2, 53), _fixed({"with_servers"}))],
}
