"""A `hakari` subcommand as a daemon of an OCF agent: what ocf:hakari:evacuator
(`hakari engine`) and ocf:hakari:api (`hakari api`) share.

The agents' common parameters are ``config``, ``cloud``, ``log_file`` and
``hakari_command``. The daemon runs ``<python> -s -P -m hakari --config-file CONFIG
[--os-cloud CLOUD] SUBCOMMAND`` (or ``hakari_command`` with the same arguments) detached
through daemon.py, its output appended to ``log_file``, its pid record in
``/run/hakari/<resource instance>.pid``. What "started" and "healthy" mean is each
agent's own: a heartbeat file for the engine, an HTTP answer for the API.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import time
from collections.abc import Callable

from hakari import config, paths
from hakari.errors import ConfigError, HakariError
from hakari.nova.cloud import cloud_name
from hakari.resource_agents import daemon
from hakari.resource_agents.ocf import (
    OCF_ERR_ARGS, OCF_ERR_CONFIGURED, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_ERR_PERM,
    OCF_SUCCESS, Context, OCFError)

NOVA_CHECK_TIMEOUT = 10.0
# Kept from the stop timeout for SIGKILL and the bookkeeping after it.
STOP_RESERVE = 10.0


def hakari_argv(params: dict, subcommand: str, python: str = sys.executable) -> list[str]:
    """The daemon's command line (see the module docstring)."""
    if params.get("hakari_command"):
        try:
            base = shlex.split(params["hakari_command"])
        except ValueError as err:
            raise OCFError(OCF_ERR_CONFIGURED, f"hakari_command: {err}") from None
        if not base or not base[0].startswith("/"):
            raise OCFError(OCF_ERR_CONFIGURED, "hakari_command: must start with an "
                           "absolute path")
    else:
        # -s -P: no user site-packages, no working directory on sys.path; the module
        # path comes from PYTHONPATH (daemon_env), as the agent itself found hakari.
        base = [python, "-s", "-P", "-m", "hakari"]
    argv = base + ["--config-file", params["config"]]
    if params.get("cloud"):
        argv += ["--os-cloud", params["cloud"]]
    return argv + [subcommand]


def daemon_env(environ) -> dict[str, str]:
    """The agent's environment minus Pacemaker's OCF variables, plus the module search
    path this agent runs with (the launcher may have extended it)."""
    env = {k: v for k, v in environ.items()
           if not k.startswith(("OCF_", "PYTHON", "HA_", "PCMK_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    return env


def log_file(ctx: Context) -> str:
    path = ctx.params["log_file"] or ""
    if not path.startswith("/") or path.endswith("/"):
        raise OCFError(OCF_ERR_CONFIGURED, f"log_file: must be the absolute path of a "
                       f"file, not {path[:80]!r}")
    return path


def load_config(ctx: Context):
    """hakari.conf as the daemon will read it; OCFError naming what is wrong."""
    path = ctx.params["config"] or ""
    if not path.startswith("/"):
        raise OCFError(OCF_ERR_CONFIGURED, f"config: must be an absolute path, not "
                       f"{path[:80]!r}")
    if not os.path.exists(path):
        raise OCFError(OCF_ERR_INSTALLED, f"config file {path}: not found")
    if not os.access(path, os.R_OK):
        raise OCFError(OCF_ERR_PERM, f"config file {path}: not readable")
    try:
        conf = config.load([path], ctx.params["cloud"] or None)
    except ConfigError as err:
        # The file is per node: ERR_ARGS lets Pacemaker try a node whose copy is good.
        raise OCFError(OCF_ERR_ARGS, str(err)) from None
    check_cloud(conf, path)
    return conf


def check_cloud(conf, path: str, *, reach: bool = False) -> None:
    """A cloud is named; with ``reach``, its Nova answers too."""
    if not cloud_name(conf):
        raise OCFError(OCF_ERR_ARGS, f"no cloud: set the cloud parameter, [openstack] "
                       f"cloud in {path}, or OS_CLOUD")
    if not reach:
        return
    # Lazy: start and monitor (every 10 s) do not reach Nova; openstacksdk would take
    # each of them from 0.08 s to 0.27 s.
    from hakari.nova.client import Nova

    conf.set_override("api_timeout", min(NOVA_CHECK_TIMEOUT, conf.openstack.api_timeout),
                      group="openstack")
    try:
        nova = Nova.connect(conf)
        nova.attempts = 1
        nova.compute_services()
    except HakariError as err:
        raise OCFError(OCF_ERR_GENERIC, f"Nova not reachable: {err}") from None
    except Exception as err:  # noqa: BLE001 - keystoneauth errors can escape connect()
        raise OCFError(OCF_ERR_GENERIC, f"Nova not reachable: {type(err).__name__}: "
                       f"{err}") from None


def check_command(params: dict, subcommand: str) -> None:
    command = hakari_argv(params, subcommand)[0]
    if not os.access(command, os.X_OK):
        raise OCFError(OCF_ERR_INSTALLED, f"{command}: not executable")


def record_path(ctx: Context) -> str:
    return os.path.join(paths.RUN_DIR, f"{ctx.instance}.pid")


def read_record(ctx: Context) -> daemon.PidRecord | None:
    try:
        return daemon.read_record(record_path(ctx))
    except daemon.PidRecordError as err:
        # Unknown whether a daemon runs: failing is safe (Pacemaker may fence this
        # node), reporting "stopped" could leave two of them.
        raise OCFError(OCF_ERR_GENERIC, str(err)) from None


def already_running(ctx: Context) -> bool:
    """start's first question; a record of a daemon that is gone is dropped."""
    record = read_record(ctx)
    if record is None:
        return False
    if daemon.alive(record):
        return True
    daemon.remove_record(record_path(ctx))
    return False


def launch(ctx: Context, argv: list[str], what: str, extra: dict,
           ready: Callable[[daemon.PidRecord], bool], silence: str) -> int:
    """Spawn argv, record it, and wait until ``ready`` says it serves; stop it again and
    fail when it exits first or the start timeout nears (``silence`` says what it did
    not do, e.g. "gave no heartbeat")."""
    path = log_file(ctx)
    try:
        spawned = daemon.spawn(argv, path, env=daemon_env(os.environ))
    except OSError as err:
        raise OCFError(OCF_ERR_INSTALLED, f"cannot run {argv[0]}: "
                       f"{err.strerror or err}") from None
    record = dataclasses.replace(spawned, extra={**extra, "log_file": path})
    try:
        daemon.write_record(record_path(ctx), record)
    except OSError as err:
        # Without its record no later action could find it: do not leave it running.
        daemon.stop(record, grace=2.0)
        raise OCFError(OCF_ERR_GENERIC, f"cannot write {record_path(ctx)}: "
                       f"{err.strerror or err}") from None
    margin = min(5.0, ctx.timeout * 0.1)
    deadline = time.monotonic() + max(1.0, ctx.timeout - margin)
    while True:
        status = daemon.exit_status(record)
        if status is not None:
            daemon.remove_record(record_path(ctx))
            raise OCFError(OCF_ERR_GENERIC, f"{what} exited with status {status} while "
                           f"starting: {daemon.log_tail(path) or 'see ' + path}")
        if ready(record):
            return OCF_SUCCESS
        if time.monotonic() >= deadline:
            daemon.stop(record, grace=2.0)
            daemon.remove_record(record_path(ctx))
            raise OCFError(OCF_ERR_GENERIC, f"{what} {silence} within "
                           f"{ctx.timeout - margin:.0f}s; stopped it (log: {path})")
        time.sleep(daemon.POLL)


def running(ctx: Context, what: str) -> daemon.PidRecord | None:
    """monitor's first question: the record of a live daemon, None when stopped here;
    OCFError when it died (a probe only finds it stopped)."""
    record = read_record(ctx)
    if record is None:
        return None
    if daemon.alive(record):
        return record
    if ctx.is_probe:
        # Not running here: a leftover record is no failure of this node.
        daemon.remove_record(record_path(ctx))
        return None
    tail = daemon.log_tail(record.extra.get("log_file", ""))
    raise OCFError(OCF_ERR_GENERIC, f"{what} (pid {record.pid}) died"
                   + (f": {tail}" if tail else ""))


def stop(ctx: Context, what: str) -> int:
    record = read_record(ctx)
    if record is None:
        return OCF_SUCCESS
    if daemon.alive(record):
        grace = max(1.0, ctx.timeout - STOP_RESERVE)
        if not daemon.stop(record, grace):
            raise OCFError(OCF_ERR_GENERIC, f"{what} (pid {record.pid}) still alive after "
                           "SIGKILL")
    daemon.remove_record(record_path(ctx))
    return OCF_SUCCESS
