"""The Keystone v3 stand-in of the fake Nova (lab/fakenova).

Just enough of Keystone for keystoneauth and openstacksdk: discovery, password and token
authentication (unscoped or project-scoped), token validation and revocation, project
listing. Users, projects, role assignments and tokens live in memory. The fake puts
``Keystone.answer`` behind its HTTP plumbing and checks the tokens its API receives with
``Keystone.validate``.

Standard library only: lab/fakenova runs under hakari's own venv (the scale and fault
runs), where Keystone cannot be installed. The real Nova lab (lab/nova) has a real
Keystone instead (lab/nova/keystone_process.py).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from http import HTTPStatus

DOMAIN = {"id": "default", "name": "Default"}
REGION = "RegionOne"
# Real Keystone expands implied roles: admin implies member implies reader.
ROLES = ("admin", "member", "reader")
UNAUTHORIZED = "The request you have made requires authentication."
_NS = uuid.UUID("6f1c5a52-6b8e-4f43-9f0e-8a1d5b8e2b17")
_PROJECT = re.compile(r"^/v3/projects/([^/]+)$")

# (HTTP status, JSON body or None, headers)
Answer = tuple[int, "dict | None", list[tuple[str, str]]]


def stable_id(kind: str, name: str) -> str:
    # Stable IDs: tests may hard-code them, and a restarted lab keeps them.
    return uuid.uuid5(_NS, f"{kind}:{name}").hex


def error(code: int, message: str) -> dict:
    """Keystone's error body."""
    return {"error": {"code": code, "title": HTTPStatus(code).phrase, "message": message}}


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


class _Refused(Exception):
    def __init__(self, code: int, message: str, headers: list[tuple[str, str]] = ()):
        super().__init__(message)
        self.answer = (code, error(code, message), list(headers))


class Keystone:
    """Every user has ``password``; ``assignments`` maps (user, project) names to roles;
    ``services`` are the catalog's (type, name, path below the server's URL)."""

    def __init__(self, password: str, users: dict[str, str], projects: dict[str, str],
                 assignments: dict[tuple[str, str], tuple[str, ...]],
                 services: tuple[tuple[str, str, str], ...], ttl: float = 86400.0):
        self.password = password
        self.users = users            # name -> id
        self.projects = projects      # name -> id
        self.assignments = assignments
        self.services = services
        self.ttl = ttl
        self._tokens: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    # -- tokens -------------------------------------------------------------------------

    def issue(self, user: str, project: str | None, methods: list[str]) -> tuple[str, dict]:
        """(token id, token body) for user, scoped to project unless None; _Refused when
        the user has no role there."""
        now = time.time()
        token = {
            "methods": methods,
            "user": {"id": self.users[user], "name": user, "domain": dict(DOMAIN),
                     "password_expires_at": None},
            "audit_ids": [secrets.token_urlsafe(16)],
            "issued_at": _iso(now),
            "expires_at": _iso(now + self.ttl),
        }
        if project is not None:
            roles = self.assignments.get((user, project))
            if not roles:
                raise _Refused(401, UNAUTHORIZED)
            token["project"] = {"id": self.projects[project], "name": project,
                                "domain": dict(DOMAIN)}
            token["is_domain"] = False
            token["roles"] = [{"id": stable_id("role", r), "name": r} for r in roles]
        token_id = secrets.token_hex(16)
        with self._lock:
            self._tokens[token_id] = (now + self.ttl, token)
        return token_id, token

    def mint(self, user: str, project: str) -> str:
        """A project-scoped token for in-process callers."""
        return self.issue(user, project, ["token"])[0]

    def validate(self, token_id: str | None) -> dict | None:
        """The body of a valid token, or None."""
        with self._lock:
            expires, token = self._tokens.get(token_id or "", (0.0, None))
            if token is not None and expires < time.time():
                del self._tokens[token_id]
                return None
            return token

    def revoke_all(self) -> None:
        """Every issued token becomes invalid: clients see 401 and authenticate again."""
        with self._lock:
            self._tokens.clear()

    def catalog(self, base: str) -> list[dict]:
        return [{"type": kind, "name": name, "id": stable_id("service", kind),
                 "endpoints": [{"id": stable_id("endpoint", f"{kind}-{i}"), "interface": i,
                                "region": REGION, "region_id": REGION, "url": base + path}
                               for i in ("public", "internal", "admin")]}
                for kind, name, path in self.services]

    # -- HTTP ---------------------------------------------------------------------------

    def answer(self, method: str, path: str, *, root: str, base: str, body=None,
               query: dict[str, list[str]] | None = None, token: str | None = None,
               subject: str | None = None) -> Answer:
        """The answer to ``method`` on ``path`` below the identity root (``""``, ``/v3``,
        ``/v3/auth/tokens``...). ``root`` is that root's URL as the client reached it,
        ``base`` the server's (for the catalog); ``token`` and ``subject`` are the
        X-Auth-Token and X-Subject-Token headers, ``body`` the parsed JSON body."""
        path = path.rstrip("/")
        try:
            if path == "" and method == "GET":
                return 300, {"versions": {"values": [self._version(root)]}}, []
            if path == "/v3" and method == "GET":
                return 200, {"version": self._version(root)}, []
            if path == "/v3/auth/tokens":
                if method == "POST":
                    return self._authenticate(body, root, base)
                return self._token_op(method, token, subject, root, base)
            project = _PROJECT.match(path)
            if method != "GET" or not (project or path in (
                    "/v3/auth/projects", "/v3/users/me/projects", "/v3/projects")):
                return 404, error(404, "The resource could not be found."), []
            caller = self._caller(token, root)
            if project:
                name = self._project(project.group(1))
                if name is None:
                    return 404, error(404, f"Could not find project: {project.group(1)}."), []
                return 200, {"project": self._project_view(name, root)}, []
            if path == "/v3/projects":
                if not any(r["name"] == "admin" for r in caller.get("roles", [])):
                    return 403, error(403, "You are not authorized to perform the "
                                           "requested action."), []
                wanted = (query or {}).get("name")
                names = [n for n in self.projects if wanted is None or n in wanted]
            else:
                names = [p for (u, p) in self.assignments if u == caller["user"]["name"]]
            return 200, {"projects": [self._project_view(n, root) for n in names],
                         "links": {"self": root + path, "next": None, "previous": None}}, []
        except _Refused as refused:
            return refused.answer
        except (KeyError, TypeError, AttributeError):
            return 400, error(400, "Malformed request body."), []

    def _caller(self, token: str | None, root: str) -> dict:
        caller = self.validate(token)
        if caller is None:
            raise _Refused(401, UNAUTHORIZED, [("WWW-Authenticate", f'Keystone uri="{root}"')])
        return caller

    def _authenticate(self, body, root: str, base: str) -> Answer:
        auth = body["auth"]
        ident = auth["identity"]
        methods = list(ident["methods"])
        denied = _Refused(401, UNAUTHORIZED, [("WWW-Authenticate", f'Keystone uri="{root}"')])
        if "password" in methods:
            given = ident["password"]["user"]
            user = self._user(given)
            if user is None or given.get("password") != self.password:
                raise denied
        elif "token" in methods:
            old = self.validate(ident["token"]["id"])
            if old is None:
                raise denied
            user = old["user"]["name"]
        else:
            raise denied
        scope = auth.get("scope")
        project = None
        if scope:
            if "project" not in scope:
                raise _Refused(401, "The lab only supports project scope.")
            project = self._project(scope["project"].get("id"), scope["project"].get("name"))
            if project is None:
                raise denied
        token_id, token = self.issue(user, project, methods)
        if project is not None:
            token = dict(token, catalog=self.catalog(base))
        return 201, {"token": token}, [("X-Subject-Token", token_id)]

    def _token_op(self, method: str, token: str | None, subject_id: str | None, root: str,
                  base: str) -> Answer:
        self._caller(token, root)
        subject = self.validate(subject_id)
        if subject is None:
            return 404, error(404, "Could not find token."), []
        if method in ("GET", "HEAD"):
            body = dict(subject)
            if "project" in subject:
                body["catalog"] = self.catalog(base)
            return 200, {"token": body}, [("X-Subject-Token", subject_id)]
        if method == "DELETE":
            with self._lock:
                self._tokens.pop(subject_id, None)
            return 204, None, []
        return 405, error(405, "Method not allowed."), []

    def _user(self, ref: dict) -> str | None:
        if "id" in ref:
            return next((n for n, i in self.users.items() if i == ref["id"]), None)
        return ref.get("name") if ref.get("name") in self.users else None

    def _project(self, project_id: str | None, name: str | None = None) -> str | None:
        if project_id is not None:
            return next((n for n, i in self.projects.items() if i == project_id), None)
        return name if name in self.projects else None

    @staticmethod
    def _version(root: str) -> dict:
        return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": root + "/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.identity-v3+json"}]}

    def _project_view(self, name: str, root: str) -> dict:
        pid = self.projects[name]
        return {"id": pid, "name": name, "domain_id": DOMAIN["id"], "enabled": True,
                "description": f"lab project {name}", "is_domain": False,
                "parent_id": DOMAIN["id"], "tags": [],
                "links": {"self": f"{root}/v3/projects/{pid}"}}
