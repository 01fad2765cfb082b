"""ocf:hakari:api — `hakari api` (docs/api.md) as a cluster clone on the controllers.

One copy per controller, behind the cloud's load balancer, all sharing the database of
``[api] connection``. Where the engine (ocf:hakari:evacuator) is one per cluster, any
number of these may run: each serves the same records and notifications are claimed in
the database.

Contract with ``hakari api``: ``<python> -m hakari --config-file CONFIG [--os-cloud
CLOUD] --config-file API_CONFIG api`` (subcommand.py; API_CONFIG read last, so that its
values win) serves on ``[api] bind_host:bind_port``, over HTTPS when
``[api] cert_file`` is set, until SIGTERM; ``GET /`` answers the versions document
without a token. start succeeds once that answer comes; monitor fails (1) when the
process died or no answer comes within ``check_timeout``. A wildcard bind address is
asked on loopback. The pid record is ``/run/hakari/<resource instance>.pid``.
"""

from __future__ import annotations

import dataclasses
import http.client
import importlib.util
import json
import os
import ssl
import stat
import sys

from hakari import __version__, config, paths
from hakari.errors import ConfigError
from hakari.resource_agents import ocf, subcommand
from hakari.resource_agents.ocf import (
    OCF_ERR_ARGS, OCF_ERR_CONFIGURED, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_ERR_PERM,
    OCF_NOT_RUNNING, OCF_SUCCESS, Action, AgentInfo, Context, OCFError, Parameter)

NAME = "api"
SUBCOMMAND = "api"
DEFAULT_LOG_FILE = f"{paths.LOG_DIR}/api.log"
# Where hakari render's api.conf is installed (templates/_macros.j2 api_conf_path).
DEFAULT_API_CONFIG = "/etc/hakari/api.conf"
# What `pip install 'hakari[api]'` adds (setup.cfg), by import name.
EXTRA_MODULES = ("keystonemiddleware", "oslo_policy", "sqlalchemy", "webob")
MAX_ANSWER = 65536
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}

INFO = AgentInfo(
    name=NAME,
    version=__version__,
    shortdesc="hakari api: the Masakari-compatible API",
    longdesc=(
        "Runs `hakari api` (the Masakari-compatible API, which needs hakari's api extra) "
        "on this node. Clone it on the controller nodes behind the cloud's load balancer, "
        "with [api] connection naming one database for all of them. monitor asks the "
        "versions document (GET /, no token needed) on [api] bind_host and bind_port "
        "from the configuration files; a wildcard address is asked on loopback."),
    parameters=(
        Parameter("config", "hakari configuration file",
                  "Path of hakari.conf on every node that may run the API.",
                  default=paths.DEFAULT_CONFIG_FILE),
        Parameter("api_config", "hakari api's configuration file",
                  "Path of api.conf: the [api], [keystone_authtoken] and [oslo_policy] "
                  "sections, read after config (its values win). It holds the API's "
                  "database and Keystone passwords: keep it root:root 0600 (validate-all "
                  "and start warn when group or others may read it).",
                  default=DEFAULT_API_CONFIG),
        Parameter("cloud", "clouds.yaml cloud",
                  "Cloud in clouds.yaml with Nova admin credentials; overrides "
                  "[openstack] cloud in the configuration file.", default=""),
        Parameter("check_timeout", "Seconds the versions document may take",
                  "start and monitor fail when GET / gets no answer within this many "
                  "seconds (and within the action's own timeout).",
                  type="integer", default="10", minimum=1, maximum=300),
        Parameter("log_file", "API log file",
                  "The API's standard output and error are appended here.",
                  default=DEFAULT_LOG_FILE),
        Parameter("hakari_command", "Command that runs hakari (tests and debugging)",
                  "Advanced, for tests and debugging only; leave unset. A command line "
                  "run instead of this agent's Python with -m hakari; it receives the "
                  "same arguments (--config-file CONFIG [--os-cloud CLOUD] "
                  "--config-file API_CONFIG api).",
                  default=""),
    ),
    actions=(
        Action("start", "60s"),
        Action("stop", "120s"),
        Action("monitor", "30s", interval="10s", depth="0"),
        Action("validate-all", "30s"),
        Action("meta-data", "5s"),
    ),
)


@dataclasses.dataclass(frozen=True)
class Listener:
    """Where this node's `hakari api` answers."""

    host: str
    port: int
    tls: bool

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/"


def listener(conf) -> Listener:
    """The address to ask, from the [api] options `hakari api` listens by."""
    host = conf.api.bind_host or ""
    return Listener(_LOOPBACK.get(host, host), int(conf.api.bind_port),
                    bool(conf.api.cert_file))


def answer_problem(status: int, body: bytes) -> str | None:
    """Why this answer to GET / is not the versions document; None when it is. Pure."""
    if status != 200:
        return f"GET / answered HTTP {status}"
    try:
        versions = json.loads(body.decode("utf-8")).get("versions")
    except (ValueError, AttributeError):
        return "GET / answered something that is not the versions document"
    if not isinstance(versions, list) or not versions:
        return "GET / answered something that is not the versions document"
    return None


def probe(where: Listener, timeout: float) -> str | None:
    """Ask ``GET /``; None when the versions document came, else why not (one line)."""
    if where.tls:
        # Liveness of this node's own process over loopback: its certificate names the
        # public endpoint, never 127.0.0.1, so it is not verified here.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(where.host, where.port, timeout=timeout,
                                           context=context)
    else:
        conn = http.client.HTTPConnection(where.host, where.port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Accept": "application/json"})
        response = conn.getresponse()
        body = response.read(MAX_ANSWER)
    except (OSError, http.client.HTTPException) as err:
        return f"no answer: {type(err).__name__}: {err}"
    finally:
        conn.close()
    return answer_problem(response.status, body)


def readers(mode: int) -> str | None:
    """Who besides the file's owner may read a file of this mode: "group", "others",
    "group and others", or None. Pure."""
    who = [name for name, bit in (("group", stat.S_IRGRP), ("others", stat.S_IROTH))
           if mode & bit]
    return " and ".join(who) or None


def config_files(ctx: Context) -> list[str]:
    """config, then api_config: the files `hakari api` reads, in that order.

    An api.conf readable by its group or others is a warning, not a failure: `hakari
    api` runs as well with it, and refusing would turn a permission slip (the operator's
    chmod to make) into an outage of the API on every controller at once.
    """
    path = ctx.params["api_config"]
    if not path.startswith("/"):
        raise OCFError(OCF_ERR_CONFIGURED, f"api_config: must be an absolute path, not "
                       f"{path[:80]!r}")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise OCFError(OCF_ERR_INSTALLED, f"api_config file {path}: not found (hakari "
                       "render writes api.conf with the api enabled)") from None
    except OSError as err:
        raise OCFError(OCF_ERR_PERM, f"api_config file {path}: "
                       f"{err.strerror or err}") from None
    if not os.access(path, os.R_OK):
        raise OCFError(OCF_ERR_PERM, f"api_config file {path}: not readable")
    who = readers(mode)
    if who is not None:
        ocf.log(f"WARNING: api_config file {path}: readable by {who} (mode "
                f"{stat.S_IMODE(mode):04o}) but holds the API's database and Keystone "
                "passwords: make it root:root 0600")
    return [ctx.params["config"], path]


def load_config(ctx: Context):
    """The configuration as `hakari api` will read it: hakari.conf with the checks every
    agent makes, then api.conf over it."""
    subcommand.load_config(ctx)
    try:
        return config.load(config_files(ctx), ctx.params["cloud"] or None)
    except ConfigError as err:
        # The files are per node: ERR_ARGS lets Pacemaker try a node whose copies are good.
        raise OCFError(OCF_ERR_ARGS, str(err)) from None


def daemon_argv(ctx: Context) -> list[str]:
    """subcommand.hakari_argv with api.conf's --config-file before the subcommand, so
    after hakari.conf's."""
    argv = subcommand.hakari_argv(ctx.params, SUBCOMMAND)
    return argv[:-1] + ["--config-file", ctx.params["api_config"], argv[-1]]


# -- actions ----------------------------------------------------------------------------

def start(ctx: Context) -> int:
    if subcommand.already_running(ctx):
        return OCF_SUCCESS
    where = listener(load_config(ctx))
    timeout = ctx.params["check_timeout"]
    return subcommand.launch(
        ctx, daemon_argv(ctx), "api",
        {"host": where.host, "port": where.port, "tls": where.tls,
         "check_timeout": timeout},
        # Refused at once until it listens; a short timeout keeps start's own deadline.
        lambda _record: probe(where, min(timeout, 2.0)) is None,
        f"did not answer on {where.url}")


def stop(ctx: Context) -> int:
    return subcommand.stop(ctx, "api")


def monitor(ctx: Context) -> int:
    record = subcommand.running(ctx, "api")
    if record is None:
        return OCF_NOT_RUNNING
    where = Listener(str(record.extra.get("host", "127.0.0.1")),
                     int(record.extra.get("port", 0)), bool(record.extra.get("tls")))
    timeout = min(float(record.extra.get("check_timeout", 10)),
                  max(1.0, ctx.timeout - 1.0))
    problem = probe(where, timeout)
    if problem is not None:
        raise OCFError(OCF_ERR_GENERIC, f"api (pid {record.pid}) on {where.url}: "
                       f"{problem}")
    return OCF_SUCCESS


def validate(ctx: Context) -> int:
    load_config(ctx)
    subcommand.log_file(ctx)
    subcommand.check_command(ctx.params, SUBCOMMAND)
    if not ctx.params["hakari_command"]:
        missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
        if missing:
            raise OCFError(OCF_ERR_INSTALLED, f"the api extra is not installed "
                           f"(pip install 'hakari[api]'): no {', '.join(missing)}")
    return OCF_SUCCESS


HANDLERS = {"start": start, "stop": stop, "monitor": monitor, "validate-all": validate}


def main(argv: list[str] | None = None) -> int:
    return ocf.run(INFO, HANDLERS, argv)


if __name__ == "__main__":
    sys.exit(main())
