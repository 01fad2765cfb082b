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

import os
import sys
import time

from hakari import __version__, paths
from hakari.resource_agents import ocf, subcommand
from hakari.resource_agents.ocf import (
    OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_NOT_RUNNING, OCF_SUCCESS, Action, AgentInfo,
    Context, OCFError, Parameter)

NAME = "evacuator"
NOVA_CHECK_LEVEL = 10
DEFAULT_LOG_FILE = f"{paths.LOG_DIR}/engine.log"

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
    if subcommand.already_running(ctx):
        return OCF_SUCCESS
    conf = subcommand.load_config(ctx)
    state_dir = conf.state_dir
    if not os.path.isdir(state_dir):
        raise OCFError(OCF_ERR_INSTALLED, f"state directory {state_dir} missing "
                       "(run `hakari install`)")
    heartbeat = paths.heartbeat_file(state_dir)
    # Whatever heartbeat an earlier engine left must not pass for the new one's.
    _unlink(heartbeat)
    return subcommand.launch(
        ctx, engine_argv(ctx.params), "engine",
        {"heartbeat": heartbeat, "heartbeat_timeout": ctx.params["heartbeat_timeout"]},
        lambda _record: os.path.exists(heartbeat), "gave no heartbeat")


def stop(ctx: Context) -> int:
    return subcommand.stop(ctx, "engine")


def monitor(ctx: Context) -> int:
    record = subcommand.running(ctx, "engine")
    if record is None:
        return OCF_NOT_RUNNING
    limit = float(record.extra.get("heartbeat_timeout", 60))
    age = _age(record.extra.get("heartbeat", ""))
    if age is None or age > limit:
        seen = "never" if age is None else f"{age:.0f}s ago"
        raise OCFError(OCF_ERR_GENERIC, f"engine (pid {record.pid}) stuck: last heartbeat "
                       f"{seen} (limit {limit:.0f}s)")
    return OCF_SUCCESS


def validate(ctx: Context) -> int:
    conf = subcommand.load_config(ctx)
    subcommand.log_file(ctx)
    subcommand.check_command(ctx.params, "engine")
    if ctx.check_level >= NOVA_CHECK_LEVEL:
        subcommand.check_cloud(conf, ctx.params["config"], reach=True)
    return OCF_SUCCESS


HANDLERS = {"start": start, "stop": stop, "monitor": monitor, "validate-all": validate}


def main(argv: list[str] | None = None) -> int:
    return ocf.run(INFO, HANDLERS, argv)


# -- pieces -------------------------------------------------------------------------------

def engine_argv(params: dict, python: str = sys.executable) -> list[str]:
    """The engine's command line (see the module docstring)."""
    return subcommand.hakari_argv(params, "engine", python)


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
