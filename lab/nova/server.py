"""The Nova lab server: a real Nova 34 (API, conductor, scheduler, N computes) in one process.

Run it with ``.venv-nova/bin/python lab/nova/server.py --run-dir DIR`` (lab/nova/__init__.py
does that for you). It is lab code, not hakari code, and it never runs in hakari's own venv.

How it is put together, and why:

* Nova ships its functional-test machinery in the wheel (``nova.test.TestCase`` and
  ``nova.tests.fixtures``). A subclass of TestCase, set up once and never torn down, gives us
  what Nova's own functional tests run against: in-memory sqlite API/cell0/cell1 databases
  with cell and host mappings, ``fake://`` oslo.messaging (casts and calls between services go
  through real RPC code paths, in-process), placement (the real openstack-placement app on its
  own in-memory database), and Python stubs of Glance, Neutron and Cinder. Services are real
  ``nova.service.Service`` objects: one conductor, one scheduler and one nova-compute per host,
  each with ``fake.FakeDriver`` (big enough that capacity never gets in the way). Reusing the
  fixtures as a library keeps us on whatever Nova does; we write none of Nova's logic.
* Process model: the functional tests' default, eventlet. Every "thread" (HTTP requests,
  RPC servers, heartbeats, periodic tasks) is a green thread on one OS thread, which is why
  a single in-memory sqlite connection per database is safe and why the harness is CPU-bound.
* A few of the test fixtures are wrong for a long-running server and are swapped before
  setUp: the log capture (it keeps every log line in memory; we log to stderr instead) and
  the warnings fixture (it turns some library deprecation warnings into exceptions, which
  showed up as HTTP 500s on evacuate; a real deployment only logs them). Quotas are lifted,
  API response validation is left at the production default, and periodic tasks are turned
  back on (tests disable them), with update_available_resource every ~10 s, so that a compute
  re-enabled while Nova still saw it down loses the COMPUTE_STATUS_DISABLED trait in placement
  soon, as in a real cloud (else the scheduler keeps answering NoValidHost for it).
* HTTP: stdlib wsgiref, one green thread per request, devstack-like paths on one port:
  ``/identity``, ``/compute`` (Nova's own paste pipeline, ``api-paste.ini`` from the venv) and
  ``/placement``. ``/identity`` is forwarded to a real Keystone 30 in a process of its own
  (lab/nova/keystone_process.py, started and stopped by this server through
  lab/nova/identity.py: Keystone and Nova cannot share oslo.config's global CONF), and Nova's
  and Placement's pipelines check tokens with keystonemiddleware's real ``authtoken``
  against it. Its catalog's public endpoints are the server's first address, its internal
  ones the address inside ``--netns``: clouds.yaml says public, clouds-netns.yaml internal.
* Listening addresses are restricted to loopback (127.0.0.0/8) in the server's own network
  namespace, plus, with ``--netns NAME``, private addresses inside that named namespace (the
  socket is created there via setns(2), then the thread returns to its own namespace). This
  keeps the lab off every real network while nodes in other namespaces on the lab bridge can
  still reach it.
* Control: a small JSON API on a Unix socket in the run directory (filesystem-scoped, so the
  host can reach it even when the API only listens inside a namespace, and nothing on a network
  can): list hosts, stop a compute ("kill": stop the service in-process, so no heartbeat and no
  RPC consumer, like a powered-off host), start it again (a new service and manager, like a
  real restart, so evacuation clean-up runs), run periodic tasks now, boot servers quickly,
  stop a guest behind Nova's back (as if it crashed).
* Life cycle: the caller owns the process by PID. SIGTERM/SIGINT (or the parent dying, with
  ``--parent-pid``) ends it promptly with ``os._exit`` rather than unwinding every fixture,
  since nothing persists (temporary files, Keystone's database among them, live under the
  run directory). Its Keystone is stopped first, and exits by itself if this process dies.
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import json
import os
import re
import sys
import time

# --- options: parsed before anything imports eventlet or Nova --------------------------------

HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DEFAULT_HOSTS = ("node1", "node2", "node3")


def _parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", required=True,
                   help="directory for the ready file, clouds.yaml, control socket, tmp")
    p.add_argument("--hosts", default=",".join(DEFAULT_HOSTS),
                   help="comma-separated compute host names (default: %(default)s)")
    p.add_argument("--listen", action="append", default=None,
                   help="loopback address to listen on in this namespace (repeatable; "
                        "default 127.0.0.1 unless only --netns-listen is given)")
    p.add_argument("--netns", default=None, help="named network namespace for --netns-listen")
    p.add_argument("--netns-listen", action="append", default=[],
                   help="private address to listen on inside --netns (repeatable)")
    p.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    p.add_argument("--cloud", default="hakari-lab", help="cloud name in clouds.yaml")
    p.add_argument("--password", default="hakari-lab", help="password of every lab user")
    p.add_argument("--periodic-interval", type=int, default=10,
                   help="seconds between compute periodic tasks (default: %(default)s)")
    p.add_argument("--report-interval", type=int, default=10,
                   help="service heartbeat seconds (Nova default: %(default)s)")
    p.add_argument("--service-down-time", type=int, default=60,
                   help="seconds without heartbeat before a service is down "
                        "(Nova default: %(default)s)")
    p.add_argument("--parent-pid", type=int, default=None,
                   help="exit when this process is gone")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)

    args.hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    if not args.hosts or len(set(args.hosts)) != len(args.hosts):
        p.error("--hosts needs distinct names")
    for h in args.hosts:
        if not HOST_RE.match(h) or h == "controller":
            p.error(f"bad compute host name {h!r}")
    if args.listen is None:
        args.listen = [] if args.netns_listen else ["127.0.0.1"]
    def ipv4(a):
        try:
            ip = ipaddress.ip_address(a)
        except ValueError:
            p.error(f"not an IP address: {a!r}")
        if ip.version != 4 or ip.is_unspecified:
            p.error(f"{a}: only a specific IPv4 address")
        return ip

    for a in args.listen:
        if not ipv4(a).is_loopback:
            p.error(f"--listen {a}: only loopback addresses (127.0.0.0/8) outside --netns")
    if args.netns_listen and not args.netns:
        p.error("--netns-listen needs --netns")
    for a in args.netns_listen:
        ip = ipv4(a)
        if not (ip.is_private or ip.is_loopback):
            p.error(f"--netns-listen {a}: only private addresses inside the namespace")
    if args.netns and not re.match(r"^[A-Za-z0-9_.-]{1,64}$", args.netns):
        p.error("bad --netns name")
    if not args.listen and not args.netns_listen:
        p.error("nothing to listen on")
    return args


ARGS = _parse_args(sys.argv[1:]) if __name__ == "__main__" else None

if ARGS is not None:
    # Settle the environment before Nova and oslotest read it: oslotest would otherwise arm a
    # SIGALRM test timeout or capture stdout if the caller's environment says so, and the
    # fixtures' temporary directories must land in our run directory so nothing outlives it.
    _tmp = os.path.join(os.path.abspath(ARGS.run_dir), "tmp")
    os.makedirs(_tmp, exist_ok=True)
    os.environ.update({"TMPDIR": _tmp, "OS_TEST_TIMEOUT": "0", "OS_STDOUT_CAPTURE": "0",
                       "OS_STDERR_CAPTURE": "0", "OS_LOG_CAPTURE": "0", "OS_DEBUG": "0"})
    os.environ.pop("OS_NOVA_DISABLE_EVENTLET_PATCHING", None)
    for _v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
               "ALL_PROXY"):
        os.environ.pop(_v, None)
    sys.argv = sys.argv[:1]  # nova.monkey_patch peeks at sys.argv for --config-file
    # Must come before anything imports urllib3, threading users or oslo.
    from nova import monkey_patch
    monkey_patch.patch()

import ctypes  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import socketserver  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402
from wsgiref import simple_server, util as wsgiutil  # noqa: E402

# This file runs as a script under Nova's Python: the repository is not on its path.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from lab.nova import identity  # noqa: E402
from lab.nova.keystone_process import DOMAIN, REGION  # noqa: E402

LOG = logging.getLogger("hakari.lab.nova")

IMAGE_ID = "155d900f-4e14-4e4c-a73d-069cbf4541e6"  # first image of nova's GlanceFixture
FLAVOR_ID = "1"  # m1.tiny from DefaultFlavorsFixture


def _json_response(start_response, status, body, headers=()):
    data = b"" if body is None else json.dumps(body).encode()
    hdrs = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    hdrs.extend(headers)
    start_response(status, hdrs)
    return [data]


def _read_json(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(length) if length else b""
    return json.loads(raw) if raw else {}


def _base_url(environ) -> str:
    # The address of the socket that accepted the request.
    return f"http://{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"


def dispatcher(routes: dict):
    """Path-prefix routing, like a devstack web server in front of the API services."""

    def app(environ, start_response):
        environ.setdefault("SCRIPT_NAME", "")
        first = wsgiutil.shift_path_info(environ)
        target = routes.get(first or "")
        if target is None:
            environ["PATH_INFO"] = "/" + (first or "") + environ.get("PATH_INFO", "")
            environ["SCRIPT_NAME"] = ""
            if environ["PATH_INFO"] == "/":
                base = _base_url(environ)
                return _json_response(start_response, "200 OK", {
                    "hakari-nova-lab": True,
                    "identity": base + "/identity/v3",
                    "compute": base + "/compute/v2.1",
                    "placement": base + "/placement"})
            return _json_response(start_response, "404 Not Found", {"error": "not found"})
        if environ.get("PATH_INFO", "") == "" and first == "compute":
            environ["PATH_INFO"] = "/"
        return target(environ, start_response)

    return app


# --- HTTP servers ----------------------------------------------------------------------------

class _Handler(simple_server.WSGIRequestHandler):
    def log_message(self, fmt, *args):
        LOG.debug("%s %s", self.address_string(), fmt % args)

    def address_string(self):
        return self.client_address[0] if self.client_address else "unix"


class _UnixHandler(_Handler):
    def setup(self):
        self.client_address = ("unix", 0)  # AF_UNIX peers have no address; wsgiref wants one
        super().setup()


class _TCPServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self):
        # The socket is bound already (maybe in another namespace); skip HTTPServer's
        # getfqdn(), which may wait on DNS for a namespace address.
        host, port = self.socket.getsockname()[:2]
        self.server_address = (host, port)
        self.server_name, self.server_port = host, port
        self.setup_environ()


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path, app):
        super().__init__(path, _UnixHandler)
        self.server_name, self.server_port = "localhost", 0
        self.base_environ = {}
        simple_server.WSGIServer.setup_environ(self)
        self.application = app

    get_app = simple_server.WSGIServer.get_app


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _bound_socket(address: str, port: int, netns: str | None) -> socket.socket:
    if netns is None:
        return _plain_bound_socket(address, port)
    clone_newnet = 0x40000000
    libc = _libc()
    with open("/proc/thread-self/ns/net", "rb") as home, \
            open(f"/run/netns/{netns}", "rb") as there:
        if libc.setns(there.fileno(), clone_newnet) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into netns {netns}: {os.strerror(err)}")
        try:
            return _plain_bound_socket(address, port)
        finally:
            if libc.setns(home.fileno(), clone_newnet) != 0:
                # Never keep running in the wrong namespace.
                os._exit(70)


def _plain_bound_socket(address: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address, port))
    s.listen(128)
    return s


def serve_tcp(sock: socket.socket, app) -> _TCPServer:
    server = _TCPServer(sock.getsockname()[:2], _Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.server_bind()
    server.set_app(app)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                     daemon=True, name="http").start()
    return server


# --- the Nova harness ------------------------------------------------------------------------

def _build_harness_class(keystone: identity.Keystone, www_authenticate_uri: str):
    # Imported here: nova must come after monkey patching, and the module stays importable
    # (for its helpers) without nova.
    import fixtures
    import nova.conf as nova_conf
    from nova import context as nova_context
    from nova import objects
    from nova import test
    from nova.tests import fixtures as nova_fixtures
    from nova.tests.functional import fixtures as func_fixtures

    class _LabLogging(fixtures.Fixture):
        """Replaces StandardLogging: log to stderr instead of keeping it all in memory."""

        def setUp(self):
            super().setUp()
            root = logging.getLogger()
            for h in list(root.handlers):
                root.removeHandler(h)
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(
                "%(asctime)s %(levelname)s [%(name)s] %(message)s"))
            root.addHandler(handler)
            root.setLevel(getattr(logging, ARGS.log_level.upper(), logging.INFO))
            for noisy in ("migrate.versioning.api", "alembic", "oslo_db.sqlalchemy",
                          "oslo_policy", "stevedore", "urllib3", "keystoneauth",
                          "oslo.messaging", "oslo_messaging"):
                logging.getLogger(noisy).setLevel(logging.WARNING)
            # Nova code calling logging.setup() again must not undo this.
            self.useFixture(fixtures.MonkeyPatch("oslo_log.log.setup", lambda *a, **k: None))
            self.logger = self  # TestCase code reads self.stdlog.logger.output
            self.output = ""

        def delete_stored_logs(self):
            pass

    class _LabWarnings(fixtures.Fixture):
        """Replaces WarningsFixture: warnings are logged once, never raised."""

        def setUp(self):
            super().setUp()
            import warnings
            warnings.simplefilter("once")
            logging.captureWarnings(True)

    nova_fixtures.StandardLogging = _LabLogging
    nova_fixtures.WarningsFixture = _LabWarnings

    class Harness(test.TestCase):
        REQUIRES_LOCKING = True
        # The cast-as-call fixture is *not* used: casts stay asynchronous as in a cloud.

        def runTest(self):  # testtools wants a test method to name the case
            pass

        def setUp(self):
            super().setUp()
            self.lock = threading.Lock()
            self.flags(compute_driver="fake.FakeDriver", host="controller",
                       periodic_enable=True, periodic_fuzzy_delay=0,
                       report_interval=ARGS.report_interval,
                       service_down_time=ARGS.service_down_time)
            # The decorator read [DEFAULT]update_resources_interval at import time (0, which
            # oslo.service turns into 60 s): set the spacing the scheduler of periodics uses.
            from nova.compute import manager as compute_manager
            spacing = dict(compute_manager.ComputeManager._periodic_spacing)
            spacing["update_available_resource"] = ARGS.periodic_interval
            self.useFixture(fixtures.MonkeyPatch(
                "nova.compute.manager.ComputeManager._periodic_spacing", spacing))
            self.flags(response_validation="warn", group="api")
            # pip puts data_files under the venv prefix, not next to the package.
            self.flags(api_paste_config=os.path.join(sys.prefix, "etc", "nova",
                                                     "api-paste.ini"), group="wsgi")
            for quota in ("instances", "cores", "ram", "metadata_items", "key_pairs",
                          "server_groups", "server_group_members", "injected_files",
                          "injected_file_content_bytes", "injected_file_path_length"):
                self.flags(**{quota: -1, "group": "quota"})
            self.flags(transport_url=self.cell_mappings["cell1"].transport_url)

            self.placement_fixture = self.useFixture(func_fixtures.PlacementFixture())
            self.neutron = self.useFixture(nova_fixtures.NeutronFixture(self))
            self.cinder = self.useFixture(nova_fixtures.CinderFixture(self))
            self.glance = self.useFixture(nova_fixtures.GlanceFixture(self))
            self.policy = self.useFixture(nova_fixtures.RealPolicyFixture())

            self.conductor = self.start_service("conductor", host="controller")
            self.scheduler = self.start_service("scheduler", host="controller")

            # Tokens are checked by keystonemiddleware against the lab's Keystone: Nova's
            # paste pipeline has its authtoken filter; Placement gets it with the keystone
            # strategy, for the public app only (Nova's own calls stay on the fixture's
            # in-process noauth2 app, built already).
            self.keystone = keystone
            authtoken = keystone.authtoken(www_authenticate_uri)
            identity.register_authtoken(nova_conf.CONF, authtoken)
            from placement import deploy as placement_deploy
            placement_conf = self.placement_fixture.conf_fixture
            identity.register_authtoken(placement_conf.conf, authtoken)
            placement_conf.config(group="api", auth_strategy="keystone")
            self.placement_app = placement_deploy.loadapp(placement_conf.conf)
            placement_conf.config(group="api", auth_strategy="noauth2")

            self.useFixture(nova_fixtures.ConfPatcher(host="controller"))
            api = self.useFixture(nova_fixtures.OSAPIFixture(
                api_version="v2.1", stub_keystone=False))
            self.compute_app = api.app()

            self.compute_hosts = list(ARGS.hosts)
            self.running: dict[str, object] = {}
            self.drivers: dict[str, object] = {}
            for host in self.compute_hosts:
                self.start_compute(host)

        def _start_service_periodic(self, host):
            from unittest import mock
            driver = self.drivers.get(host)
            kwargs = {"periodic_interval_max": ARGS.periodic_interval}
            if driver is None:
                svc = self.start_service("compute", host=host, **kwargs)
            else:
                # A restart keeps the hypervisor (the FakeDriver and its instances), so the
                # new manager's init_host sees what was running, as on a real host.
                with mock.patch("nova.virt.driver.load_compute_driver", return_value=driver):
                    svc = self.start_service("compute", host=host, **kwargs)
            return svc

        def start_compute(self, host, rebooted=False):
            with self.lock:
                if host not in self.compute_hosts:
                    raise KeyError(host)
                if host in self.running:
                    return False
                if rebooted:
                    # A power cycle: the hypervisor comes back empty.
                    self.drivers.pop(host, None)
                svc = self._start_service_periodic(host)
                self.running[host] = svc
                self.drivers[host] = svc.manager.driver
                self.computes[host] = svc
                return True

        def stop_compute(self, host):
            with self.lock:
                if host not in self.compute_hosts:
                    raise KeyError(host)
                svc = self.running.pop(host, None)
                if svc is None:
                    return False
                svc.stop()
                self.computes.pop(host, None)
                return True

        def run_periodics(self):
            ctx = nova_context.get_admin_context()
            with self.lock:
                items = list(self.running.items())
            for host, svc in items:
                with nova_context.target_cell(
                        ctx, self.host_mappings[host].cell_mapping) as cctxt:
                    svc.manager.update_available_resource(cctxt)

        def crash_server(self, server_id, sync):
            """The guest stops behind Nova's back (as if it crashed): the hypervisor reports
            it shut down. With ``sync``, its compute's power-state sync looks at it at once,
            as its periodic task or a libvirt lifecycle event would, with their admin
            context: Nova then stops the instance itself. Returns the host."""
            from nova.compute import power_state
            with self.lock:
                found = [(h, svc) for h, svc in self.running.items()
                         if server_id in svc.manager.driver.instances]
            if not found:
                raise KeyError(f"no running compute has server {server_id}")
            host, svc = found[0]
            svc.manager.driver.instances[server_id].state = power_state.SHUTDOWN
            if sync:
                ctx = nova_context.get_admin_context()
                with nova_context.target_cell(
                        ctx, self.host_mappings[host].cell_mapping) as cctxt:
                    instance = objects.Instance.get_by_uuid(cctxt, server_id)
                    svc.manager._query_driver_power_state_and_sync(cctxt, instance)
            return host

        def host_view(self, host):
            ctx = nova_context.get_admin_context()
            view = {"host": host, "running": host in self.running}
            with nova_context.target_cell(
                    ctx, self.host_mappings[host].cell_mapping) as cctxt:
                svc = objects.Service.get_by_compute_host(cctxt, host)
                view.update({"disabled": svc.disabled, "forced_down": svc.forced_down,
                             "up": self.servicegroup_up(svc),
                             "instances": len(objects.InstanceList.get_by_host(
                                 cctxt, host))})
            driver = self.drivers.get(host)
            view["hypervisor_instances"] = len(driver.list_instances()) if driver else 0
            return view

        @staticmethod
        def servicegroup_up(svc):
            from nova import servicegroup
            return servicegroup.API().service_is_up(svc)

    return Harness


# --- control API (Unix socket) ---------------------------------------------------------------

class Control:
    def __init__(self, harness, app, started):
        self.h = harness
        self.app = app  # the public dispatcher, called in-process
        self.started = started

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"]
        try:
            if path == "/v1/status" and method == "GET":
                return _json_response(start_response, "200 OK", {
                    "pid": os.getpid(), "uptime": round(time.monotonic() - self.started, 1),
                    "hosts": self.h.compute_hosts, "running": sorted(self.h.running)})
            if path == "/v1/hosts" and method == "GET":
                return _json_response(start_response, "200 OK", {
                    "hosts": [self.h.host_view(h) for h in self.h.compute_hosts]})
            m = re.match(r"^/v1/hosts/([^/]+)/(stop|start)$", path)
            if m and method == "POST":
                host, action = m.groups()
                if host not in self.h.compute_hosts:
                    return _json_response(start_response, "404 Not Found",
                                          {"error": f"no compute host {host}"})
                body = _read_json(environ)
                t0 = time.monotonic()
                if action == "stop":
                    changed = self.h.stop_compute(host)
                else:
                    changed = self.h.start_compute(host, rebooted=bool(body.get("rebooted")))
                LOG.info("control: %s compute %s (changed=%s) in %.2fs", action, host,
                         changed, time.monotonic() - t0)
                return _json_response(start_response, "200 OK",
                                      dict(self.h.host_view(host), changed=changed))
            m = re.match(r"^/v1/servers/([0-9a-f-]+)/crash$", path)
            if m and method == "POST":
                host = self.h.crash_server(m.group(1), bool(_read_json(environ).get("sync")))
                return _json_response(start_response, "200 OK", {"host": host})
            if path == "/v1/periodics" and method == "POST":
                self.h.run_periodics()
                return _json_response(start_response, "200 OK", {"ok": True})
            if path == "/v1/servers" and method == "POST":
                return _json_response(start_response, "201 Created",
                                      {"servers": self.boot(_read_json(environ))})
            return _json_response(start_response, "404 Not Found", {"error": "not found"})
        except (ValueError, KeyError, TypeError) as e:
            return _json_response(start_response, "400 Bad Request", {"error": repr(e)})
        except Exception as e:  # report, don't kill the lab
            LOG.exception("control request %s %s failed", method, path)
            return _json_response(start_response, "500 Internal Server Error",
                                  {"error": repr(e), "trace": traceback.format_exc()})

    # In-process calls to the public API as a given project, through the whole stack.
    def _api(self, token, method, path, body=None, microversion="2.74"):
        data = json.dumps(body).encode() if body is not None else b""
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "",
                   "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
                   "CONTENT_LENGTH": str(len(data)), "CONTENT_TYPE": "application/json",
                   "HTTP_X_AUTH_TOKEN": token, "HTTP_ACCEPT": "application/json",
                   "HTTP_OPENSTACK_API_VERSION": f"compute {microversion}"}
        if "?" in path:
            environ["PATH_INFO"], environ["QUERY_STRING"] = path.split("?", 1)
        wsgiutil.setup_testing_defaults(environ)
        environ["wsgi.input"] = io.BytesIO(data)
        status = {}

        def start_response(s, headers, exc_info=None):
            status["code"] = int(s.split()[0])

        out = b"".join(self.app(environ, start_response))
        result = json.loads(out) if out.strip() else None
        if status["code"] >= 400:
            raise RuntimeError(f"{method} {path} -> {status['code']}: {result}")
        return result

    def _wait(self, token, server_id, want, timeout=60.0):
        deadline = time.monotonic() + timeout
        while True:
            s = self._api(token, "GET", f"/compute/v2.1/servers/{server_id}")["server"]
            if s["status"] == want and not s.get("OS-EXT-STS:task_state"):
                return s
            if s["status"] == "ERROR" or time.monotonic() > deadline:
                raise RuntimeError(f"server {server_id} is {s['status']}, wanted {want}")
            time.sleep(0.1)

    def boot(self, req):
        """{"host": H, "project": "demo", "count": 1, "name": "vm", "stopped": false}"""
        host = req["host"]
        if host not in self.h.compute_hosts:
            raise ValueError(f"no compute host {host}")
        project = req.get("project", "demo")
        if project not in self.h.keystone.projects:
            raise ValueError(f"no project {project}")
        count = int(req.get("count", 1))
        if not 1 <= count <= 500:
            raise ValueError("count must be 1..500")
        token = self.h.keystone.token(project)
        prefix = req.get("name") or f"{project}-{host}"
        ids = []
        for i in range(count):
            body = {"server": {"name": f"{prefix}-{i + 1}", "imageRef": IMAGE_ID,
                               "flavorRef": str(req.get("flavor", FLAVOR_ID)),
                               "networks": "none", "host": host}}
            if req.get("metadata"):
                body["server"]["metadata"] = req["metadata"]
            ids.append(self._api(token, "POST", "/compute/v2.1/servers", body)["server"]["id"])
        out = []
        for sid in ids:
            s = self._wait(token, sid, "ACTIVE")
            if req.get("stopped"):
                self._api(token, "POST", f"/compute/v2.1/servers/{sid}/action",
                          {"os-stop": None})
                s = self._wait(token, sid, "SHUTOFF")
            out.append({"id": s["id"], "name": s["name"], "status": s["status"],
                        "host": s.get("OS-EXT-SRV-ATTR:host"), "project": project,
                        "project_id": s["tenant_id"]})
        return out


# --- files -----------------------------------------------------------------------------------

def _atomic_write(path, text, mode=0o644):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def clouds_yaml(cloud: str, base: str, password: str, interface: str) -> str:
    # JSON is valid YAML; keeps this free of a YAML dependency. interface: the catalog's
    # endpoints on base's side (see the module's docstring).
    def entry(user, project):
        return {"auth": {"auth_url": f"{base}/identity/v3", "username": user,
                         "password": password, "project_name": project,
                         "user_domain_name": DOMAIN, "project_domain_name": DOMAIN},
                "region_name": REGION, "interface": interface, "identity_api_version": 3,
                "auth_type": "password"}
    clouds = {cloud: entry("admin", "admin"),
              f"{cloud}-demo": entry("demo", "demo"),
              f"{cloud}-alt": entry("alt", "alt")}
    return json.dumps({"clouds": clouds}, indent=2) + "\n"


# --- main ------------------------------------------------------------------------------------

def main() -> int:
    args = ARGS
    t0 = time.monotonic()
    run_dir = os.path.abspath(args.run_dir)
    os.makedirs(run_dir, exist_ok=True)
    ready_path = os.path.join(run_dir, "ready.json")
    sock_path = os.path.join(run_dir, "control.sock")
    for stale in (ready_path, sock_path):
        if os.path.lexists(stale):
            os.unlink(stale)
    _atomic_write(os.path.join(run_dir, "server.pid"), f"{os.getpid()}\n")

    stopping = {"why": None}

    def on_signal(signum, frame):
        stopping["why"] = signal.Signals(signum).name

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # Bind first: a taken port or a missing namespace should fail before the slow part.
    sockets = []
    port = args.port
    for addr in args.listen:
        s = _bound_socket(addr, port, None)
        port = port or s.getsockname()[1]
        sockets.append((addr, None, s))
    for addr in args.netns_listen:
        s = _bound_socket(addr, port, args.netns)
        port = port or s.getsockname()[1]
        sockets.append((addr, args.netns, s))

    listen = [{"address": a, "port": s.getsockname()[1], "netns": n,
               "base_url": f"http://{a}:{s.getsockname()[1]}"} for (a, n, s) in sockets]
    host_side = [x for x in listen if x["netns"] is None]
    ns_side = [x for x in listen if x["netns"] is not None]
    primary = (host_side or ns_side)[0]
    internal = (ns_side or host_side)[0]

    # Keystone starts while Nova is set up (both take seconds); it exits with this process.
    keystone = identity.start(os.path.join(run_dir, "tmp", "keystone"),
                              public=primary["base_url"], internal=internal["base_url"],
                              password=args.password, log_level=args.log_level)
    harness = _build_harness_class(keystone, primary["base_url"] + "/identity")()
    harness.setUp()
    keystone.ready()

    public = dispatcher({
        "identity": identity.proxy(keystone.address),
        "compute": harness.compute_app,
        "placement": harness.placement_app,
    })
    servers = [serve_tcp(s, public) for (_a, _n, s) in sockets]
    control = _UnixServer(sock_path, Control(harness, public, t0))
    os.chmod(sock_path, 0o600)
    threading.Thread(target=control.serve_forever, kwargs={"poll_interval": 0.5},
                     daemon=True, name="control").start()

    files = {}
    if host_side:
        files["clouds_yaml"] = os.path.join(run_dir, "clouds.yaml")
        _atomic_write(files["clouds_yaml"], clouds_yaml(
            args.cloud, host_side[0]["base_url"], args.password, "public"), 0o600)
    if ns_side:
        files["netns_clouds_yaml"] = os.path.join(run_dir, "clouds-netns.yaml")
        _atomic_write(files["netns_clouds_yaml"], clouds_yaml(
            args.cloud, ns_side[0]["base_url"], args.password, "internal"), 0o600)
    ready = {
        "pid": os.getpid(),
        "listen": listen,
        "base_url": primary["base_url"],
        "auth_url": primary["base_url"] + "/identity/v3",
        "compute_url": primary["base_url"] + "/compute/v2.1",
        "placement_url": primary["base_url"] + "/placement",
        "control_socket": sock_path,
        "cloud": args.cloud,
        "password": args.password,
        "hosts": list(args.hosts),
        "projects": dict(keystone.projects),
        "users": dict(keystone.users),
        "keystone": {"pid": keystone.pid, "url": keystone.url,
                     "startup_seconds": keystone.seconds},
        "image_id": IMAGE_ID,
        "flavor_id": FLAVOR_ID,
        "startup_seconds": round(time.monotonic() - t0, 2),
        **files,
    }
    _atomic_write(ready_path, json.dumps(ready, indent=2) + "\n")
    print(json.dumps({"ready": ready_path, "pid": os.getpid(), "base_url": ready["base_url"],
                      "startup_seconds": ready["startup_seconds"]}), flush=True)
    LOG.info("nova lab ready in %.1fs at %s", ready["startup_seconds"],
             ", ".join(x["base_url"] for x in listen))

    while stopping["why"] is None:
        time.sleep(0.2)
        if args.parent_pid is not None and os.getppid() != args.parent_pid:
            stopping["why"] = f"parent {args.parent_pid} gone"
    LOG.info("nova lab stopping (%s)", stopping["why"])
    for path in (ready_path, sock_path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    for s in servers:
        s.socket.close()
    control.socket.close()
    keystone.stop()
    sys.stdout.flush()
    sys.stderr.flush()
    # Unwinding hundreds of fixtures and green threads buys nothing: all state is in memory.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
