"""The Nova lab's Keystone: a real Keystone 30 in a process of its own.

Started by the lab server (lab/nova/identity.py), never by hand. Keystone and Nova both
configure oslo.config's global CONF (its [database] group among others), so they cannot
share a process. It runs under .venv-nova's Python, where Keystone is installed.

* Storage: SQLite and fernet keys in a directory of the lab's run directory, copied from a
  template made once per Keystone version and lab identity (``--make-template``, which
  `make .venv-nova` runs; a lab start makes it when missing). The template is what
  ``keystone-manage db_sync``, ``fernet_setup``, ``credential_setup`` and ``bootstrap`` make,
  plus the lab's users, projects, role assignments and services: about 12 s of work that a
  lab start, which happens several times per test run, copies instead in milliseconds.
* Catalog: each start writes the endpoints, since the lab's port is chosen at start. The
  public interface is the lab server's first address (loopback when the lab listens there),
  the internal one its address inside the lab's network namespace (where the cluster's
  nodes are), and the identity service's admin endpoint is this process's own loopback
  address, which the lab server's token checks use (it may not listen on loopback itself).
* HTTP: a threaded wsgiref server on a socket the lab server bound and passed down (so its
  port is known before this process has started), Keystone mounted at ``/identity`` as the
  lab server's reverse proxy forwards it.
* Life cycle: SIGTERM, or the lab server gone (``--parent-pid``), ends it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from wsgiref import simple_server

DOMAIN = "Default"
REGION = "RegionOne"
PREFIX = "/identity"
# Users admin, demo and alt, each with a project of its name; admin is admin everywhere
# (Keystone's implied roles make that manager, member and reader too), demo and alt are
# members of their own project.
LAB_NAMES = ("admin", "demo", "alt")
ASSIGNMENTS = tuple(("admin", p, "admin") for p in LAB_NAMES) + (
    ("demo", "demo", "member"), ("alt", "alt", "member"))
SERVICES = (("identity", "keystone", "/identity"), ("compute", "nova", "/compute/v2.1"),
            ("placement", "placement", "/placement"))
# bcrypt's fewest rounds: every password authentication hashes once, and tests authenticate
# often. The lab's passwords are not secrets.
HASH_ROUNDS = 4
MANAGE_TIMEOUT = 120.0


def keystone_conf(directory: str, log_level: str = "INFO") -> str:
    return (f"[DEFAULT]\nuse_stderr = true\ndebug = {log_level.upper() == 'DEBUG'}\n"
            f"[database]\nconnection = sqlite:///{directory}/keystone.db\n"
            f"[fernet_tokens]\nkey_repository = {directory}/fernet-keys\n"
            # fernet_setup also sets up the receipts' keys: the same directory, not /etc.
            f"[fernet_receipts]\nkey_repository = {directory}/fernet-keys\n"
            f"[credential]\nkey_repository = {directory}/credential-keys\n"
            # bcrypt's longest; more makes Keystone warn on every password check.
            f"[identity]\npassword_hash_rounds = {HASH_ROUNDS}\nmax_password_length = 72\n"
            "[token]\nexpiration = 86400\n")


def template_key(password: str) -> str:
    """Names the template: what it was made from."""
    spec = json.dumps([importlib.metadata.version("keystone"), LAB_NAMES, ASSIGNMENTS,
                       SERVICES, HASH_ROUNDS, password, keystone_conf("")])
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def template_dir(password: str) -> str:
    return os.path.join(sys.prefix, "keystone-template", template_key(password))


def make_template(password: str) -> str:
    """The template directory for password, made if missing (atomically: concurrent lab
    starts may race to make it)."""
    final = template_dir(password)
    if os.path.isdir(final):
        return final
    root = os.path.dirname(final)
    os.makedirs(root, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".new-", dir=root)
    try:
        conf = os.path.join(work, "keystone.conf")
        with open(conf, "w") as f:
            f.write(keystone_conf(work))
        manage = os.path.join(sys.prefix, "bin", "keystone-manage")
        ids = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
        for step in (["db_sync"], ["fernet_setup", *ids], ["credential_setup", *ids],
                     ["bootstrap", "--bootstrap-password", password,
                      "--bootstrap-username", "admin", "--bootstrap-project-name", "admin",
                      "--bootstrap-role-name", "admin", "--bootstrap-region-id", REGION]):
            _step([manage, "--config-file", conf, *step])
        # In a process of its own: this one may go on to configure Keystone on a copy.
        _step([sys.executable, os.path.abspath(__file__), "--provision", work,
               "--password", password])
        os.unlink(conf)  # names the work directory; each copy writes its own
        try:
            os.rename(work, final)
        except OSError:
            if not os.path.isdir(final):
                raise
        else:
            for old in os.listdir(root):  # templates of other versions or passwords
                if old != os.path.basename(final) and not old.startswith("."):
                    shutil.rmtree(os.path.join(root, old), ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def _step(argv: list[str]) -> None:
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=MANAGE_TIMEOUT)
    if done.returncode:
        tail = "\n".join(done.stderr.splitlines()[-20:])
        raise RuntimeError(f"{' '.join(argv[:3])}... exited {done.returncode}:\n{tail}")


# --- in Keystone: configured on one directory, backends loaded -------------------------------
# Keystone is imported in these functions only: the lab server imports this module's
# constants, and Keystone must never load into Nova's process.

def _configure(directory: str, log_level: str):
    """Keystone's WSGI application on directory's database and keys."""
    conf = os.path.join(directory, "keystone.conf")
    with open(conf, "w") as f:
        f.write(keystone_conf(directory, log_level))
    sys.argv = sys.argv[:1]  # Keystone's CONF parses the command line
    from keystone.server.flask import core
    return core.initialize_application("public", config_files=[conf])


def _providers():
    from keystone.common import provider_api
    return provider_api.ProviderAPIs


def provision(directory: str, password: str) -> None:
    """The lab's users, projects, role assignments and services (bootstrap made admin)."""
    _configure(directory, "WARNING")
    from keystone.common import driver_hints
    p = _providers()
    users = {"admin": p.identity_api.get_user_by_name("admin", "default")["id"]}
    projects = {"admin": p.resource_api.get_project_by_name("admin", "default")["id"]}
    for name in LAB_NAMES[1:]:
        project_id = os.urandom(16).hex()
        projects[name] = p.resource_api.create_project(project_id, {
            "id": project_id, "name": name, "domain_id": "default", "enabled": True,
            "description": f"lab project {name}"})["id"]
        users[name] = p.identity_api.create_user({
            "name": name, "domain_id": "default", "enabled": True,
            "password": password})["id"]
    roles = {}
    for role in {r for (_u, _p, r) in ASSIGNMENTS}:
        hints = driver_hints.Hints()
        hints.add_filter("name", role)
        roles[role] = p.role_api.list_roles(hints)[0]["id"]
    for user, project, role in ASSIGNMENTS:
        if (user, project) != ("admin", "admin"):  # bootstrap's
            p.assignment_api.add_role_to_user_and_project(users[user], projects[project],
                                                          roles[role])
    for kind, name, _path in SERVICES:
        service_id = os.urandom(16).hex()
        p.catalog_api.create_service(service_id, {"id": service_id, "type": kind,
                                                  "name": name, "enabled": True})


def write_endpoints(public: str, internal: str, own: str) -> None:
    """This start's endpoints of every service (see the module's docstring)."""
    p = _providers()
    for endpoint in p.catalog_api.list_endpoints():
        p.catalog_api.delete_endpoint(endpoint["id"])
    for service in p.catalog_api.list_services():
        path = next(path for (kind, _n, path) in SERVICES if kind == service["type"])
        admin = own if service["type"] == "identity" else public
        for interface, base in (("public", public), ("internal", internal), ("admin", admin)):
            endpoint_id = os.urandom(16).hex()
            p.catalog_api.create_endpoint(endpoint_id, {
                "id": endpoint_id, "interface": interface, "url": base + path,
                "service_id": service["id"], "region_id": REGION, "enabled": True})


def names_to_ids() -> dict:
    p = _providers()
    return {"users": {n: p.identity_api.get_user_by_name(n, "default")["id"]
                      for n in LAB_NAMES},
            "projects": {n: p.resource_api.get_project_by_name(n, "default")["id"]
                         for n in LAB_NAMES}}


# --- HTTP ------------------------------------------------------------------------------------

def mounted(app, prefix: str = PREFIX):
    """app below prefix, as the lab server's /identity forwards it."""

    def wrapper(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path != prefix and not path.startswith(prefix + "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain"),
                                             ("Content-Length", "0")])
            return [b""]
        environ["SCRIPT_NAME"] = prefix
        environ["PATH_INFO"] = path[len(prefix):]
        return app(environ, start_response)

    return wrapper


class _Handler(simple_server.WSGIRequestHandler):
    def log_message(self, fmt, *args):
        pass  # a line per request would drown the lab server's log


class _Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True

    def server_bind(self):
        # The socket came bound and listening; skip HTTPServer's getfqdn().
        host, port = self.socket.getsockname()[:2]
        self.server_address = (host, port)
        self.server_name, self.server_port = host, port
        self.setup_environ()


def serve(sock: socket.socket, app) -> _Server:
    server = _Server(sock.getsockname()[:2], _Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.server_bind()
    server.set_app(app)
    return server


# --- main ------------------------------------------------------------------------------------

def _parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--password", default="hakari-lab", help="password of every lab user")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--make-template", action="store_true",
                      help="make the template for --password, print its directory, exit")
    mode.add_argument("--provision", metavar="DIR", help=argparse.SUPPRESS)
    mode.add_argument("--dir", help="this lab's Keystone directory (made from the template)")
    p.add_argument("--fd", type=int, help="listening socket passed by the lab server")
    p.add_argument("--public", help="the lab's public base URL")
    p.add_argument("--internal", help="the lab's base URL inside its network namespace")
    p.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    if args.dir and not (args.fd is not None and args.public):
        p.error("--dir needs --fd and --public")
    return args


def _atomic_write(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def run(args) -> int:
    t0 = time.monotonic()
    sock = socket.socket(fileno=args.fd)
    template = make_template(args.password)
    shutil.copytree(template, args.dir, dirs_exist_ok=True)
    app = _configure(args.dir, args.log_level)
    host, port = sock.getsockname()[:2]
    write_endpoints(args.public, args.internal or args.public, f"http://{host}:{port}")
    server = serve(sock, mounted(app))

    stopping = []
    signal.signal(signal.SIGTERM, lambda *a: stopping.append("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *a: stopping.append("SIGINT"))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                     daemon=True, name="keystone-http").start()
    _atomic_write(os.path.join(args.dir, "ready.json"), json.dumps(
        {"pid": os.getpid(), "seconds": round(time.monotonic() - t0, 2), **names_to_ids()}))
    while not stopping:
        time.sleep(0.2)
        if args.parent_pid is not None and os.getppid() != args.parent_pid:
            stopping.append(f"parent {args.parent_pid} gone")
    server.socket.close()
    return 0


def main(argv=None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    if args.make_template:
        try:
            print(make_template(args.password))
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"keystone_process.py: cannot make the template: {e}", file=sys.stderr)
            return 1
        return 0
    if args.provision:
        provision(args.provision, args.password)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
