"""The Nova lab server's side of its Keystone (lab/nova/keystone_process.py).

Start the Keystone process on a loopback socket bound here (its URL is known at once, so
Nova and Placement can be set up while Keystone starts), forward the lab's ``/identity``
to it, configure keystonemiddleware's ``[keystone_authtoken]`` for Nova and Placement, get
tokens for the server's own calls to its API, and stop it.

Runs inside the lab server, under eventlet; it imports no Keystone (see the process's
docstring for why).
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import socket
import subprocess
import sys
import time
from urllib.parse import quote
from wsgiref import util as wsgiutil

from keystoneauth1 import loading
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from keystonemiddleware import auth_token

from lab.nova.keystone_process import DOMAIN

PROCESS = pathlib.Path(__file__).resolve().with_name("keystone_process.py")
GROUP = "keystone_authtoken"
PROXY_TIMEOUT = 60.0


class KeystoneError(RuntimeError):
    """The lab's Keystone did not start."""


class Keystone:
    """The running Keystone process. users/projects (name -> id) once ready()."""

    def __init__(self, proc: subprocess.Popen, directory: str, address: tuple[str, int],
                 password: str):
        self._proc = proc
        self.pid = proc.pid
        self.directory = directory
        self.address = address
        self.url = f"http://{address[0]}:{address[1]}"
        self.password = password
        self.users: dict[str, str] = {}
        self.projects: dict[str, str] = {}
        self.seconds: float | None = None
        self._sessions: dict[str, ks_session.Session] = {}

    def ready(self, timeout: float = 120.0) -> None:
        """Until Keystone answers; KeystoneError if it exits or takes longer."""
        path = os.path.join(self.directory, "ready.json")
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise KeystoneError(f"the lab's Keystone exited with {self._proc.returncode} "
                                    "(its log is the lab server's)")
            try:
                ready = json.loads(pathlib.Path(path).read_text())
                if ready.get("pid") == self._proc.pid:
                    break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise KeystoneError(f"the lab's Keystone not ready in {timeout:g} s")
            time.sleep(0.05)
        self.users, self.projects = ready["users"], ready["projects"]
        self.seconds = ready["seconds"]

    def token(self, project: str) -> str:
        """A token of the admin user scoped to project (renewed when it expires)."""
        session = self._sessions.get(project)
        if session is None:
            auth = v3.Password(auth_url=f"{self.url}/identity/v3", username="admin",
                               password=self.password, project_name=project,
                               user_domain_name=DOMAIN, project_domain_name=DOMAIN)
            session = self._sessions[project] = ks_session.Session(auth=auth, timeout=30)
        return session.get_token()

    def authtoken(self, www_authenticate_uri: str) -> dict[str, str]:
        """keystonemiddleware's [keystone_authtoken], as nova.conf and placement.conf have
        it: tokens checked as the admin user, at the identity service's admin endpoint
        (this process's loopback address)."""
        return {"auth_type": "password", "auth_url": f"{self.url}/identity",
                "username": "admin", "password": self.password, "project_name": "admin",
                "user_domain_name": DOMAIN, "project_domain_name": DOMAIN,
                "interface": "admin", "www_authenticate_uri": www_authenticate_uri}

    def stop(self, timeout: float = 10.0) -> None:
        if self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(10)


def start(directory: str, *, public: str, internal: str | None, password: str,
          log_level: str) -> Keystone:
    """Start Keystone in directory (made from the template) with this start's endpoints;
    it exits with this process. Its output goes to this process's."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        argv = [sys.executable, str(PROCESS), "--dir", directory, "--fd", str(sock.fileno()),
                "--public", public, "--password", password, "--log-level", log_level,
                "--parent-pid", str(os.getpid())]
        if internal:
            argv += ["--internal", internal]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, pass_fds=[sock.fileno()])
        return Keystone(proc, directory, sock.getsockname()[:2], password)
    finally:
        sock.close()  # Keystone has its own copy


def register_authtoken(conf, settings: dict[str, str]) -> None:
    """settings as conf's [keystone_authtoken], registered as keystonemiddleware registers
    them when it loads (it registers the auth plugin's options only then)."""
    for group, opts in auth_token.list_opts():
        conf.register_opts(opts, group=group)
    loading.register_auth_conf_options(conf, GROUP)
    plugin = loading.get_plugin_loader(settings["auth_type"])
    conf.register_opts(loading.get_auth_plugin_conf_options(plugin), group=GROUP)
    for name, value in settings.items():
        conf.set_override(name, value, group=GROUP)


def proxy(address: tuple[str, int]):
    """A WSGI application forwarding every request to address as it came (its Host
    header too, so Keystone's links name the address the client used)."""

    def app(environ, start_response):
        path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items()
                   if k.startswith("HTTP_") and not wsgiutil.is_hop_by_hop(k[5:].replace(
                       "_", "-"))}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").title()] = environ[key]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        conn = http.client.HTTPConnection(*address, timeout=PROXY_TIMEOUT)
        try:
            conn.putrequest(environ["REQUEST_METHOD"], path, skip_host=True,
                            skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            data = json.dumps({"error": {"code": 502, "title": "Bad Gateway",
                                         "message": f"the lab's Keystone: {e}"}}).encode()
            start_response("502 Bad Gateway", [("Content-Type", "application/json"),
                                               ("Content-Length", str(len(data)))])
            return [data]
        finally:
            conn.close()
        start_response(f"{resp.status} {resp.reason}",
                       [(k, v) for k, v in resp.getheaders() if not wsgiutil.is_hop_by_hop(k)])
        return [data]

    return app
