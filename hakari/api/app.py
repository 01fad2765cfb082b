"""The WSGI application: request ids, the versions document, size limits, then (behind
keystonemiddleware) routing, policy, body decoding and the handlers.

Order of refusals, outermost first, as in Masakari's pipeline: a body over [api]
max_request_body_size (413), no valid token (401, keystonemiddleware), a bad
microversion (400/406), an unknown path or method (404/405), a policy that does not
allow the caller (403), a body that is not JSON (400/415) or not what the resource takes
(400, hakari.api.validation), then what the records refuse (404/409). Every response
carries ``x-openstack-request-id``; ``GET /`` is the only one served without a token.
"""

from __future__ import annotations

import json
import logging
import uuid

import webob

from hakari.api import faults, policy, routes, versions
from hakari.api.faults import ApiError
from hakari.api.resources import Call, Resources

LOG = logging.getLogger("hakari.api")
REQUEST_ID_HEADER = "x-openstack-request-id"
REQUEST_ID_KEY = "openstack.request_id"
JSON_TYPES = ("application/json", "application/vnd.openstack.masakari+json")


def _response(code: int, doc: dict | None, headers: dict | None = None) -> webob.Response:
    resp = webob.Response(status=faults.status_line(code), headerlist=[])
    if doc is not None:
        resp.content_type = "application/json"
        resp.charset = "UTF-8"
        resp.body = json.dumps(doc).encode()
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _fault(err: ApiError) -> webob.Response:
    return _response(err.code, faults.body(err.code, str(err)))


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request is too large: at most {limit} bytes.")


class Root:
    """What every request passes: a request id, the body size limit, ``GET /``."""

    def __init__(self, v1, max_body: int):
        self.v1 = v1
        self.max_body = max_body

    def __call__(self, environ, start_response):
        request_id = f"req-{uuid.uuid4()}"
        environ[REQUEST_ID_KEY] = request_id

        def start(status, headers, exc_info=None):
            headers = [(k, v) for k, v in headers if k.lower() != REQUEST_ID_HEADER]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        req = webob.Request(environ)
        if req.path_info in ("", "/"):
            if req.method not in ("GET", "HEAD"):
                resp = _fault(ApiError(405, "Only GET is allowed on /."))
            else:
                resp = _response(200, versions.versions_document(req.application_url))
            return resp(environ, start)
        if req.content_length is not None and req.content_length > self.max_body:
            return _fault(too_large(self.max_body))(environ, start)
        return self.v1(environ, start)


def caller_of(environ) -> policy.Caller:
    """The caller keystonemiddleware confirmed (it removes any X-Roles a client sent);
    401 when it did not confirm one."""
    if environ.get("HTTP_X_IDENTITY_STATUS") != "Confirmed":
        raise ApiError(401, "The request you have made requires authentication.")
    roles = tuple(r.strip() for r in environ.get("HTTP_X_ROLES", "").split(",") if r.strip())
    return policy.Caller(environ.get("HTTP_X_USER_ID", ""),
                         environ.get("HTTP_X_PROJECT_ID", ""), roles)


class V1:
    """Masakari's API v1, for callers keystonemiddleware authenticated."""

    def __init__(self, resources: Resources, enforcer, max_body: int):
        self.resources = resources
        self.enforcer = enforcer
        self.max_body = max_body

    def __call__(self, environ, start_response):
        req = webob.Request(environ)
        version = versions.MIN_VERSION
        try:
            version = versions.requested(req.headers.get(versions.HEADER))
            code, doc = self._handle(req, version)
            resp = _response(code, doc)
        except ApiError as err:
            resp = _fault(err)
        except Exception as err:  # noqa: BLE001 - a bug must cost one request, not the server
            LOG.exception("%s %s", req.method, req.path_info)
            resp = _fault(ApiError(500, f"Unexpected error: {type(err).__name__} (request "
                                        f"{environ.get(REQUEST_ID_KEY)}); see hakari api's "
                                        "log"))
        resp.headers[versions.HEADER] = f"{versions.SERVICE_TYPE} {versions.text(version)}"
        resp.headers["Vary"] = versions.HEADER
        return resp(environ, start_response)

    def _handle(self, req: webob.Request, version: tuple[int, int]):
        caller = caller_of(req.environ)
        route = routes.route(req.method, req.path_info)
        if route.project is not None and route.project != caller.project_id:
            raise ApiError(400, f"Malformed request URL: the URL's project_id "
                                f"'{route.project}' is not the token's "
                                f"'{caller.project_id}'.")
        policy.authorize(self.enforcer, route.rule, caller)
        body = self._body(req) if req.method in ("POST", "PUT") else None
        call = Call(route.args, list(req.GET.items()), body, version,
                    req.environ.get(REQUEST_ID_KEY, ""), req.application_url)
        return getattr(self.resources, route.handler)(call)

    def _body(self, req: webob.Request):
        raw = req.body_file.read(self.max_body + 1)
        if len(raw) > self.max_body:
            raise too_large(self.max_body)
        if req.content_type and req.content_type not in JSON_TYPES:
            raise ApiError(415, f"Unsupported Content-Type {req.content_type}: send JSON.")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "Malformed request body: not JSON.") from None
