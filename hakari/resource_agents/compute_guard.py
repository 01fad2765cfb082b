"""ocf:hakari:compute-guard — holds nova-compute back on a returning host until its
instances have been evacuated (safety rule 5; the nova-compute-wait race).

A clone on the compute nodes, ordered before nova-compute and started only after the
node was unfenced (meta ``requires=unfencing``). start reads the node's incident from
the CIB node attribute ``hakari-incident`` (JSON ``{"id", "state", "lost_at", …}``):

- absent, or state EVACUATED / HOST_RETURNED / ENABLED (evacuations finished), or
  BLOCKED / FENCE_FAILED (recovery never started: the instances are still this
  host's)                                           → started
- DETECTED / FENCE_CONFIRMED / FORCED_DOWN / EVACUATING → wait, polling, until the
  start timeout nears, then fail with an exit reason (Pacemaker retries per its policy)
- FAILED, an unknown state, an unreadable attribute → fail at once: needs an operator

monitor reports the "started" mark in /run/hakari (tmpfs: gone after a reboot, so a
fenced and rebooted host always goes through start again); stop removes it, never fails.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import sys
import time

from hakari import __version__, lifecycle, paths
from hakari.cluster import attributes
from hakari.cluster.runner import run
from hakari.errors import HakariError, ToolError
from hakari.model import INCIDENT_ATTRIBUTE
from hakari.records.store import from_record
from hakari.resource_agents import ocf
from hakari.resource_agents.ocf import (
    OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_NOT_RUNNING, OCF_SUCCESS, Action, AgentInfo,
    Context, OCFError, Parameter)

NAME = "compute-guard"
ALLOWED = lifecycle.EVACUATION_FINISHED | lifecycle.RECOVERY_NOT_STARTED
TOOL_TIMEOUT = 15.0

INFO = AgentInfo(
    name=NAME,
    version=__version__,
    shortdesc="Holds nova-compute back until hakari evacuated the host's instances",
    longdesc=(
        "Clone this on the compute nodes, order it before nova-compute and give it meta "
        "requires=unfencing. Its start waits while the node's hakari incident is still "
        "being recovered (evacuations may be in flight: a nova-compute starting now "
        "could destroy instances being rebuilt elsewhere) and succeeds once they are "
        "finished or recovery never started. An incident in state FAILED makes start "
        "fail at once: an operator has to look at it."),
    parameters=(
        Parameter("poll_interval", "Seconds between two looks at the incident",
                  "While start waits, how often it reads the node's incident from the "
                  "CIB.", type="integer", default="2", minimum=1, maximum=300),
    ),
    actions=(
        Action("start", "600s"),
        Action("stop", "60s"),
        Action("monitor", "30s", interval="10s", depth="0"),
        Action("validate-all", "30s"),
        Action("meta-data", "5s"),
    ),
)


@dataclasses.dataclass(frozen=True)
class Verdict:
    allow: bool
    final: bool          # no point waiting: allowed, or failed for good
    reason: str


def verdict(node: str, raw: str | None) -> Verdict:
    """What start should do given the node's hakari-incident attribute value."""
    if raw is None or not raw.strip():
        return Verdict(True, True, "no incident")
    incident = from_record(node, raw)
    if incident is None:
        # Garbled, or a state this version does not know: waiting would not help.
        return Verdict(False, True, f"unreadable {INCIDENT_ATTRIBUTE} attribute (or a "
                       "state this hakari does not know); needs an operator")
    label = f"incident {incident.id}"[:120]
    state = incident.state
    if state in ALLOWED:
        return Verdict(True, True, f"{label} is {state}")
    if state in lifecycle.NOVA_COMPUTE_HELD:
        return Verdict(False, False, f"{label} is {state}: evacuations not finished")
    # FAILED: the one state left (the lifecycle test walks them all).
    return Verdict(False, True, f"{label} {state} and needs an operator; nova-compute "
                   "stays stopped")


# -- actions ----------------------------------------------------------------------------

def start(ctx: Context) -> int:
    if os.path.exists(_mark(ctx)):
        return OCF_SUCCESS
    poll = ctx.params["poll_interval"]
    node = local_node(ctx)
    margin = min(10.0, ctx.timeout * 0.1)
    deadline = time.monotonic() + max(1.0, ctx.timeout - margin)
    last = None
    while True:
        try:
            current = verdict(node, _incident(node, deadline))
        except HakariError as err:
            # The CIB may be out of reach for a moment (the node is just joining).
            current = Verdict(False, False, f"cannot read the incident: {err}")
        if current.allow:
            _write_mark(ctx, node, current.reason)
            return OCF_SUCCESS
        if current.final:
            raise OCFError(OCF_ERR_GENERIC, f"{node}: {current.reason}")
        if current != last:
            ocf.log(f"{NAME}: {node}: waiting: {current.reason}")
            last = current
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OCFError(OCF_ERR_GENERIC, f"{node}: {current.reason} after "
                           f"{ctx.timeout - margin:.0f}s; nova-compute held back")
        time.sleep(min(poll, remaining))


def stop(ctx: Context) -> int:
    try:
        os.unlink(_mark(ctx))
    except FileNotFoundError:
        pass
    return OCF_SUCCESS


def monitor(ctx: Context) -> int:
    return OCF_SUCCESS if os.path.exists(_mark(ctx)) else OCF_NOT_RUNNING


def validate(ctx: Context) -> int:
    ctx.params  # noqa: B018 - parses and checks them
    if shutil.which("crm_attribute") is None:
        raise OCFError(OCF_ERR_INSTALLED, "crm_attribute not found (Pacemaker CLI tools)")
    return OCF_SUCCESS


HANDLERS = {"start": start, "stop": stop, "monitor": monitor, "validate-all": validate}


def main(argv: list[str] | None = None) -> int:
    return ocf.run(INFO, HANDLERS, argv)


# -- pieces -------------------------------------------------------------------------------

def local_node(ctx: Context) -> str:
    """This node's Pacemaker name: Pacemaker passes it; else ask crm_node; else the
    host name (what Pacemaker uses unless corosync.conf names nodes otherwise)."""
    if ctx.node:
        return ctx.node
    try:
        name = run(["crm_node", "-n"], timeout=TOOL_TIMEOUT).stdout.decode().strip()
        if name and name.isprintable() and " " not in name:
            return name
    except ToolError:
        pass
    return socket.gethostname()


def _incident(node: str, deadline: float) -> str | None:
    timeout = max(1.0, min(TOOL_TIMEOUT, deadline - time.monotonic()))
    return attributes.query(node, INCIDENT_ATTRIBUTE, timeout=timeout)


def _mark(ctx: Context) -> str:
    return os.path.join(paths.RUN_DIR, f"{ctx.instance}.started")


def _write_mark(ctx: Context, node: str, reason: str) -> None:
    path = _mark(ctx)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps({"node": node, "started_at": time.time(), "why": reason}) + "\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
