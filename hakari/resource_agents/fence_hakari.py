"""fence_hakari: the Nova-level fence agent.

Configured in a fencing topology level *after* the power device, so it only runs once the
host is really off. ``off``/``reboot`` forces the host's nova-compute down (Nova may now
evacuate) and disables it with a reason naming hakari; ``on`` (unfencing, when the host
returns) re-enables it, but only once the host's incident is past its evacuations (safety
rule 5), waiting a bounded time for that.

Credentials come from clouds.yaml, found and named as for every hakari command
(hakari.nova.cloud.cloud_region: ``cloud=`` overrides ``[openstack] cloud``, then
OS_CLOUD); never from the command line, and they are never printed. Stdin is parsed
strictly (fence_protocol.parse_stdin): a value cannot smuggle in a line of its own, and a
parameter given twice with different values is refused, exit 1 like any bad input.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

from hakari import __version__, config, holds, lifecycle
from hakari.cluster import attributes
from hakari.errors import HakariError
from hakari.hostnames import HostNameMap
from hakari.model import FENCED_ATTRIBUTE, Incident
from hakari.nova import fencing as nova_fencing
from hakari.nova.client import Nova
from hakari.nova.cloud import cloud_name, cloud_region
from hakari.records.store import read_record
from hakari.resource_agents.fence_protocol import (
    EXIT_FAIL, EXIT_OFF, EXIT_OK, MAX_INPUT, Param, UsageError, metadata, parse_argv,
    parse_stdin)

NAME = "fence_hakari"

SHORTDESC = "Fence agent that hands fenced compute hosts to Nova for hakari"
LONGDESC = (
    "Use in a fencing topology level after the power fence device of each compute node. "
    "off/reboot: force the node's nova-compute service down and disable it, so Nova "
    "allows its instances to be evacuated. on (unfencing): re-enable the service once "
    "hakari has finished evacuating the node's instances.")

PARAMS = [
    Param("action", "Fencing action", "-o, --action=[action]", default="reboot",
          required=True),
    Param("plug", "Pacemaker name of the compute node to act on", "-n, --plug=[id]",
          obsoletes="port", aliases=("port",)),
    Param("nodename", "Pacemaker name of the target node (set by Pacemaker)",
          "--nodename=[name]"),
    Param("cloud", "Cloud in clouds.yaml with Nova admin credentials (overrides "
          "[openstack] cloud in the config file)", "--cloud=[name]"),
    Param("config_file", "hakari configuration file", "--config-file=[path]",
          default="/etc/hakari/hakari.conf"),
    Param("evacuation_wait", "Seconds 'on' waits for the host's evacuations to finish "
          "before failing; keep it below the fencing timeout", "--evacuation-wait=[seconds]",
          type="second", default="50"),
    Param("verbose", "Verbose mode", "-v, --verbose", type="boolean"),
    Param("version", "Display version information and exit", "-V, --version",
          type="boolean"),
    Param("help", "Display help text and exit", "-h, --help", type="boolean"),
]

ACTIONS = [("on", {"automatic": "1"}), ("off", {}), ("reboot", {}), ("status", {}),
           ("list", {}), ("list-status", {}), ("monitor", {}), ("metadata", {}),
           ("validate-all", {})]
ACTION_NAMES = {a for a, _ in ACTIONS} | {"meta-data"}


def main(argv: list[str] | None = None, stdin=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv:
            values = parse_argv(argv, PARAMS)
        else:
            values, warnings = parse_stdin((stdin or sys.stdin).read(MAX_INPUT + 1), PARAMS)
            for w in warnings:
                _log(w)
        if values.get("help"):
            print(_help())
            return EXIT_OK
        if values.get("version"):
            print(__version__)
            return EXIT_OK
        action = values.get("action", "reboot").strip().lower()
        if action not in ACTION_NAMES:
            raise UsageError(f"unsupported action {action[:40]!r}")
        if action in ("metadata", "meta-data"):
            sys.stdout.write(metadata(NAME, SHORTDESC, LONGDESC, PARAMS, ACTIONS).decode())
            return EXIT_OK
        return _Agent(values).run(action)
    except UsageError as err:
        _log(f"error: {err}")
        return EXIT_FAIL
    except HakariError as err:
        _log(f"error: {err}")
        return EXIT_FAIL
    except Exception as err:  # noqa: BLE001 - Pacemaker needs an exit code, not a traceback
        _log(f"error: internal error: {type(err).__name__}: {' '.join(str(err).split())}")
        return EXIT_FAIL


class _Agent:
    def __init__(self, values: dict[str, str]):
        self.values = values
        self._conf = None
        self._nova = None

    def run(self, action: str) -> int:
        if action == "validate-all":
            return self.validate()
        if action == "monitor":
            self.nova.compute_services()
            return EXIT_OK
        if action in ("list", "list-status"):
            return self.list(with_status=action == "list-status")
        node = self.target()
        if action in ("off", "reboot"):
            return self.fence(node)
        if action == "on":
            return self.unfence(node)
        return self.status(node)

    # -- set-up ---------------------------------------------------------------------

    @property
    def conf(self):
        if self._conf is None:
            path = self.values.get("config_file") or config.DEFAULT_CONFIG_FILE
            files = [path] if os.path.exists(path) or "config_file" in self.values else []
            self._conf = config.load(files, self.values.get("cloud") or None)
        return self._conf

    @property
    def nova(self):
        if self._nova is None:
            self._nova = Nova.connect(self.conf)
        return self._nova

    @property
    def names(self):
        return HostNameMap.from_config(self.conf)

    def target(self) -> str:
        node = (self.values.get("plug") or self.values.get("nodename") or "").strip()
        if not node:
            raise UsageError("no target: pass plug= (or port=/nodename=)")
        if len(node) > 255 or not node.isprintable() or " " in node:
            raise UsageError("invalid target name")
        return node

    # -- actions --------------------------------------------------------------------

    def validate(self) -> int:
        conf = self.conf
        if not cloud_name(conf):
            raise UsageError("no cloud: set cloud=, [openstack] cloud in "
                             f"{self.values.get('config_file', 'the config file')} "
                             "or OS_CLOUD")
        try:
            cloud_region(conf)
        except HakariError as err:
            raise UsageError(str(err)) from None
        if "evacuation_wait" in self.values:
            self.evacuation_wait()
        return EXIT_OK

    def evacuation_wait(self) -> float:
        raw = self.values.get("evacuation_wait", "50").strip().rstrip("s")
        try:
            value = float(raw)
        except ValueError:
            raise UsageError(f"evacuation_wait: not a number of seconds: {raw[:20]!r}") from None
        if not 0 <= value <= 86400:
            raise UsageError("evacuation_wait: out of range")
        return value

    def held(self, node: str):
        """The node's hold (hakari hold, or [recovery] excluded_hosts), or None. An
        unreadable CIB is no reason to fail a fencing: then the node counts as not held."""
        try:
            return holds.of_node(node, self.conf.recovery.excluded_hosts, self.names,
                                 timeout=self.conf.cluster.tool_timeout)
        except HakariError as err:
            _log(f"warning: cannot read {node}'s hold, acting as usual: {err}")
            return None

    def fence(self, node: str) -> int:
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        hold = self.held(node)
        if hold is not None:
            _log(f"{node}: {hold.describe()}: its nova-compute is left alone")
        else:
            self._fence_in_nova(node, now)
        try:
            attributes.update(node, FENCED_ATTRIBUTE, now.isoformat(),
                              timeout=self.conf.cluster.tool_timeout)
        except HakariError as err:
            # Nova already knows; the CIB record is for the audit trail only.
            _log(f"warning: could not record fencing in the CIB: {err}")
        print("Success: Powered OFF")
        return EXIT_OK

    def _fence_in_nova(self, node: str, now: dt.datetime) -> None:
        host = self.names.to_nova(node)
        # The engine may not have opened the incident yet: the fencing time names it.
        # The id only decorates the reason: an unreadable record must not fail fencing.
        try:
            incident = self.incident(node)
        except HakariError as err:
            _log(f"warning: cannot read {node}'s incident, fencing without its id: {err}")
            incident = None
        why = nova_fencing.reason(f"fenced at {now.isoformat()}",
                                  incident.id if incident else None)
        nova_fencing.fence(self.nova, host, why, self._reporter(host))

    @staticmethod
    def _reporter(host: str):
        def report(event, request_id=None, reason=None, **_):
            if event == "already-disabled":
                # Disabled by someone else (maintenance?): their reason stays, and `on`
                # will then leave it disabled too.
                _log(f"{host}: already disabled by another party: {(reason or '')[:80]}")
            else:
                _log(f"{host}: nova-compute {event}{f': {reason}' if reason else ''} "
                     f"(request {request_id})")
        return report

    def unfence(self, node: str) -> int:
        hold = self.held(node)
        if hold is None:
            self._unfence_in_nova(node)
        else:
            _log(f"{node}: {hold.describe()}: its nova-compute is left as it is")
        # The host is back: its fencing record no longer describes an outage. The engine
        # relies on this (a down node still carrying the record has been down since).
        attributes.delete(node, FENCED_ATTRIBUTE, timeout=self.conf.cluster.tool_timeout)
        print("Success: Powered ON")
        return EXIT_OK

    def _unfence_in_nova(self, node: str) -> None:
        host = self.names.to_nova(node)
        deadline = time.monotonic() + self.evacuation_wait()
        while True:
            incident = self.incident(node)
            state = incident.state if incident else None
            if state == lifecycle.FAILED:
                raise HakariError(f"{node}: incident {incident.id} FAILED and needs "
                                  "an operator; nova-compute stays disabled")
            if state not in lifecycle.NOVA_COMPUTE_HELD:
                break
            if time.monotonic() >= deadline:
                raise HakariError(f"{node}: evacuation not finished (incident "
                                  f"{incident.id} is {state}); nova-compute stays "
                                  "disabled, retry later")
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
        # The evacuations are over: the host may rejoin. Nova may still keep it forced
        # down until its nova-compute has started and cleaned up, which only happens
        # after the rejoin: unfencing must not wait for that (it would wait forever);
        # the engine finishes the job once nova-compute is up.
        if nova_fencing.unfence(self.nova, host, self._reporter(host)) is None:
            _log(f"{host}: Nova keeps it forced down until its nova-compute has started "
                 "and cleaned up; the engine re-enables it then")

    def status(self, node: str) -> int:
        service = self.nova.compute_service(self.names.to_nova(node))
        if service.forced_down or not service.up:
            print("Status: OFF")
            return EXIT_OFF
        print("Status: ON")
        return EXIT_OK

    def list(self, with_status: bool) -> int:
        names = self.names
        for service in self.nova.compute_services():
            node = names.to_node(service.host)
            if with_status:
                state = "OFF" if service.forced_down or not service.up else "ON"
                print(f"{node},{service.host},{state}")
            else:
                print(f"{node},{service.host}")
        return EXIT_OK

    def incident(self, node: str) -> Incident | None:
        return read_record(node, self.conf.cluster.tool_timeout)


def _help() -> str:
    lines = [f"Usage: {NAME} [options]  (or key=value lines on stdin)", "Options:"]
    for p in PARAMS:
        lines.append(f"  {p.getopt:<36} {p.shortdesc}")
    return "\n".join(lines)


def _log(message: str) -> None:
    print(f"{NAME}: {' '.join(message.split())}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
