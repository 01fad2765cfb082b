"""ocf:hakari:evacuator — the hakari engine as a cluster singleton.

A primitive, not a clone: Pacemaker keeps one copy active per quorate partition and
fences a lost engine node before starting it elsewhere (docs/design.md, safety rule 8).

Contract with ``hakari engine`` (what this agent relies on):

- Command line: ``<python> -m hakari --config-file CONFIG [--os-cloud CLOUD] engine``
  (global options before the subcommand, as hakari's CLI parses them). It runs in the
  foreground until SIGTERM, then finishes or abandons its current step so that every
  incident stays resumable, and exits; SIGKILL follows after the stop timeout.
- Heartbeat: it (re)writes ``<state_dir>/engine.heartbeat`` (the mtime is what counts)
  as soon as it runs, then at least every ``[cluster] reconcile_interval``. This agent
  removes the file before spawning it, so start succeeds when the file appears; monitor
  calls the engine stuck when the mtime is older than ``heartbeat_timeout``.
- Output: stdout and stderr are appended to ``log_file``.

The pid record is ``/run/hakari/<resource instance>.pid`` (JSON; tmpfs, so it cannot
outlive a reboot). Exit codes: monitor 7 when stopped, 1 when the engine died or is
stuck (Pacemaker then recovers it: stop, start here or elsewhere); validate-all checks
the parameters and the configuration, and at OCF_CHECK_LEVEL >= 10 that Nova answers.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import time

from hakari import __version__, config, paths
from hakari.errors import ConfigError, HakariError
from hakari.nova.cloud import cloud_name
from hakari.resource_agents import daemon
from hakari.resource_agents.ocf import (
    OCF_ERR_ARGS, OCF_ERR_CONFIGURED, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_ERR_PERM,
    OCF_NOT_RUNNING, OCF_SUCCESS, Action, AgentInfo, Context, OCFError, Parameter)
from hakari.resource_agents import ocf

NAME = "evacuator"
NOVA_CHECK_LEVEL = 10
NOVA_CHECK_TIMEOUT = 10.0
DEFAULT_LOG_FILE = f"{paths.LOG_DIR}/engine.log"
# Kept from the stop timeout for SIGKILL and the bookkeeping after it.
STOP_RESERVE = 10.0

INFO = AgentInfo(
    name=NAME,
    version=__version__,
    shortdesc="hakari engine: recovers the instances of fenced compute hosts",
    longdesc=(
        "Runs the hakari engine on one cluster node. The engine turns compute hosts that "
        "Pacemaker lost and fenced into incidents and has Nova evacuate their instances, "
        "only after fencing is confirmed and only from a quorate partition. Configure it "
        "as a primitive (not a clone) on the controller nodes; the Pacemaker alert "
        "/usr/libexec/hakari/alert feeds it cluster events."),
    parameters=(
        Parameter("config", "hakari configuration file",
                  "Path of hakari.conf on every node that may run the engine.",
                  default=paths.DEFAULT_CONFIG_FILE),
        Parameter("cloud", "clouds.yaml cloud",
                  "Cloud in clouds.yaml with Nova admin credentials; overrides "
                  "[openstack] cloud in the configuration file.", default=""),
        Parameter("heartbeat_timeout", "Seconds without engine heartbeat before it "
                  "counts as stuck",
                  "monitor fails when the engine has not rewritten "
                  "<state_dir>/engine.heartbeat for this many seconds. Keep it several "
                  "times [cluster] reconcile_interval.",
                  type="integer", default="60", minimum=5, maximum=86400),
        Parameter("log_file", "Engine log file",
                  "The engine's standard output and error are appended here.",
                  default=DEFAULT_LOG_FILE),
        Parameter("hakari_command", "Command that runs hakari (tests and debugging)",
                  "Advanced, for tests and debugging only; leave unset. A command line "
                  "run instead of this agent's Python with -m hakari; it receives the "
                  "same arguments (--config-file CONFIG [--os-cloud CLOUD] engine).",
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


# -- actions ----------------------------------------------------------------------------

def start(ctx: Context) -> int:
    record = _read_record(ctx)
    if record is not None:
        if daemon.alive(record):
            return OCF_SUCCESS
        daemon.remove_record(_record_path(ctx))
    conf = _load_config(ctx)
    state_dir = conf.state_dir
    if not os.path.isdir(state_dir):
        raise OCFError(OCF_ERR_INSTALLED, f"state directory {state_dir} missing "
                       "(run `hakari install`)")
    heartbeat = paths.heartbeat_file(state_dir)
    # Whatever heartbeat an earlier engine left must not pass for the new one's.
    _unlink(heartbeat)
    argv = engine_argv(ctx.params)
    log_file = _log_file(ctx)
    try:
        spawned = daemon.spawn(argv, log_file, env=_engine_env(os.environ))
    except OSError as err:
        raise OCFError(OCF_ERR_INSTALLED, f"cannot run {argv[0]}: "
                       f"{err.strerror or err}") from None
    record = dataclasses.replace(spawned, extra={
        "heartbeat": heartbeat, "heartbeat_timeout": ctx.params["heartbeat_timeout"],
        "log_file": log_file})
    try:
        daemon.write_record(_record_path(ctx), record)
    except OSError as err:
        # Without its record no later action could find this engine: do not leave it.
        daemon.stop(record, grace=2.0)
        raise OCFError(OCF_ERR_GENERIC, f"cannot write {_record_path(ctx)}: "
                       f"{err.strerror or err}") from None
    margin = min(5.0, ctx.timeout * 0.1)
    deadline = time.monotonic() + max(1.0, ctx.timeout - margin)
    while True:
        status = daemon.exit_status(record)
        if status is not None:
            daemon.remove_record(_record_path(ctx))
            raise OCFError(OCF_ERR_GENERIC, f"engine exited with status {status} while "
                           f"starting: {daemon.log_tail(log_file) or 'see ' + log_file}")
        if os.path.exists(heartbeat):
            return OCF_SUCCESS
        if time.monotonic() >= deadline:
            daemon.stop(record, grace=2.0)
            daemon.remove_record(_record_path(ctx))
            raise OCFError(OCF_ERR_GENERIC, "engine gave no heartbeat within "
                           f"{ctx.timeout - margin:.0f}s; stopped it (log: {log_file})")
        time.sleep(daemon.POLL)


def stop(ctx: Context) -> int:
    record = _read_record(ctx)
    if record is None:
        return OCF_SUCCESS
    if daemon.alive(record):
        grace = max(1.0, ctx.timeout - STOP_RESERVE)
        if not daemon.stop(record, grace):
            raise OCFError(OCF_ERR_GENERIC, f"engine (pid {record.pid}) still alive after "
                           "SIGKILL")
    daemon.remove_record(_record_path(ctx))
    return OCF_SUCCESS


def monitor(ctx: Context) -> int:
    record = _read_record(ctx)
    if record is None:
        return OCF_NOT_RUNNING
    if not daemon.alive(record):
        if ctx.is_probe:
            # Not running here: a leftover record is no failure of this node.
            daemon.remove_record(_record_path(ctx))
            return OCF_NOT_RUNNING
        tail = daemon.log_tail(record.extra.get("log_file", ""))
        raise OCFError(OCF_ERR_GENERIC, f"engine (pid {record.pid}) died"
                       + (f": {tail}" if tail else ""))
    limit = float(record.extra.get("heartbeat_timeout", 60))
    age = _age(record.extra.get("heartbeat", ""))
    if age is None or age > limit:
        seen = "never" if age is None else f"{age:.0f}s ago"
        raise OCFError(OCF_ERR_GENERIC, f"engine (pid {record.pid}) stuck: last heartbeat "
                       f"{seen} (limit {limit:.0f}s)")
    return OCF_SUCCESS


def validate(ctx: Context) -> int:
    conf = _load_config(ctx)
    _log_file(ctx)
    command = engine_argv(ctx.params)[0]
    if not os.access(command, os.X_OK):
        raise OCFError(OCF_ERR_INSTALLED, f"{command}: not executable")
    if ctx.check_level >= NOVA_CHECK_LEVEL:
        _check_cloud(conf, ctx.params["config"], reach=True)
    return OCF_SUCCESS


HANDLERS = {"start": start, "stop": stop, "monitor": monitor, "validate-all": validate}


def main(argv: list[str] | None = None) -> int:
    return ocf.run(INFO, HANDLERS, argv)


# -- pieces -------------------------------------------------------------------------------

def engine_argv(params: dict, python: str = sys.executable) -> list[str]:
    """The engine's command line (see the module docstring)."""
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
        # path comes from PYTHONPATH (_engine_env), as the agent itself found hakari.
        base = [python, "-s", "-P", "-m", "hakari"]
    argv = base + ["--config-file", params["config"]]
    if params.get("cloud"):
        argv += ["--os-cloud", params["cloud"]]
    return argv + ["engine"]


def _engine_env(environ) -> dict[str, str]:
    """The agent's environment minus Pacemaker's OCF variables, plus the module search
    path this agent runs with (the launcher may have extended it)."""
    env = {k: v for k, v in environ.items()
           if not k.startswith(("OCF_", "PYTHON", "HA_", "PCMK_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    return env


def _log_file(ctx: Context) -> str:
    path = ctx.params["log_file"] or ""
    if not path.startswith("/") or path.endswith("/"):
        raise OCFError(OCF_ERR_CONFIGURED, f"log_file: must be the absolute path of a "
                       f"file, not {path[:80]!r}")
    return path


def _load_config(ctx: Context):
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
    _check_cloud(conf, path)
    return conf


def _check_cloud(conf, path: str, *, reach: bool = False) -> None:
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


def _record_path(ctx: Context) -> str:
    return os.path.join(paths.RUN_DIR, f"{ctx.instance}.pid")


def _read_record(ctx: Context) -> daemon.PidRecord | None:
    try:
        return daemon.read_record(_record_path(ctx))
    except daemon.PidRecordError as err:
        # Unknown whether an engine runs: failing is safe (Pacemaker may fence this
        # node), reporting "stopped" could leave two engines.
        raise OCFError(OCF_ERR_GENERIC, str(err)) from None


def _age(path: str) -> float | None:
    try:
        return max(0.0, time.time() - os.stat(path).st_mtime)
    except OSError:
        return None


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


if __name__ == "__main__":
    sys.exit(main())
