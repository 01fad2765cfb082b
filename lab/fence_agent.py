"""fence_hakarilab: the lab's fence agent. `off`/`reboot` cut a lab node's power.

Speaks the fence-agents protocol (docs/design.md): `key=value` lines on stdin (`action=`,
`port=`/`plug=`, `nodename=`, instance attributes such as `lab_dir=`), or a few getopt-style
options for people. Exit codes: 0 success; 1 failure; `status`/`monitor` 2 = off.

pacemaker-fenced runs it as root inside the fencing node's namespaces. It reaches the
target through the lab's state directory and host PIDs (lab.power). A `reboot` leaves the
target off, like a machine that does not come back by itself: `lab power-on` boots it.

Fail/delay on demand: lab.fence_control. Every call is logged to <lab_dir>/fence.log.
Installed as /usr/sbin/fence_hakarilab by install(); stdlib only (system Python).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
import time

from lab import config, fence_control, power, state

ACTIONS = ("on", "off", "reboot", "status", "list", "list-status", "monitor", "metadata",
           "validate-all")
ALIASES = {"meta-data": "metadata", "port": "plug", "lab-dir": "lab_dir"}

METADATA = """<?xml version="1.0" ?>
<resource-agent name="fence_hakarilab" shortdesc="Fence agent for hakari's local lab">
<longdesc>Powers a node of hakari's local Pacemaker lab (network namespaces on one machine) off by SIGKILLing everything running on it, like a power cut. A reboot leaves the node off. Can be told to fail or delay for chosen targets through the lab's fence-control.json. Never use it outside the lab.</longdesc>
<vendor-url>https://github.com/hakari</vendor-url>
<parameters>
\t<parameter name="action" unique="0" required="1">
\t\t<getopt mixed="-o, --action=[action]" />
\t\t<content type="string" default="reboot"  />
\t\t<shortdesc lang="en">Fencing action</shortdesc>
\t</parameter>
\t<parameter name="plug" unique="0" required="1" obsoletes="port">
\t\t<getopt mixed="-n, --plug=[id]" />
\t\t<content type="string"  />
\t\t<shortdesc lang="en">Lab node to act on (node1, node2...)</shortdesc>
\t</parameter>
\t<parameter name="port" unique="0" required="1" deprecated="1">
\t\t<getopt mixed="-n, --plug=[id]" />
\t\t<content type="string"  />
\t\t<shortdesc lang="en">Lab node to act on (node1, node2...)</shortdesc>
\t</parameter>
\t<parameter name="lab_dir" unique="0" required="1">
\t\t<getopt mixed="--lab-dir=[path]" />
\t\t<content type="string" default="/var/lib/hakari-lab/lab"  />
\t\t<shortdesc lang="en">State directory of the lab the nodes belong to</shortdesc>
\t</parameter>
</parameters>
<actions>
\t<action name="on" automatic="0"/>
\t<action name="off" />
\t<action name="reboot" />
\t<action name="status" />
\t<action name="list" />
\t<action name="list-status" />
\t<action name="monitor" />
\t<action name="metadata" />
\t<action name="validate-all" />
</actions>
</resource-agent>
"""


def parse_stdin(text: str) -> dict[str, str]:
    opts: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip().replace("-", "_")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        opts[ALIASES.get(key, key)] = value
    return opts


def parse_argv(argv: list[str]) -> dict[str, str]:
    opts: dict[str, str] = {}
    names = {"-o": "action", "--action": "action", "-n": "plug", "--plug": "plug",
             "--lab-dir": "lab_dir"}
    it = iter(argv)
    for arg in it:
        if "=" in arg and arg.startswith("--"):
            key, value = arg.split("=", 1)
        else:
            key, value = arg, next(it, "")
        if key not in names:
            raise SystemExit(f"fence_hakarilab: unknown option {key}")
        opts[names[key]] = value
    return opts


def node_names(lab_dir: str) -> list[str]:
    lab_state = state.read_json(config.state_file(lab_dir)) or {}
    return sorted(lab_state.get("nodes") or {}, key=config.node_order)


def run_action(action: str, target: str, lab_dir: str, out) -> tuple[int, str]:
    """Do action; return (exit code, one-line detail for the log)."""
    if action == "metadata":
        out.write(METADATA)
        return 0, ""
    if not os.path.exists(config.state_file(lab_dir)):
        return 1, f"no lab at {lab_dir}"
    if action in ("monitor", "validate-all"):
        return 0, ""
    if action == "list":
        for name in node_names(lab_dir):
            out.write(f"{name},{name}\n")
        return 0, ""
    if action == "list-status":
        for name in node_names(lab_dir):
            out.write(f"{name},{name},{'ON' if power.is_on(lab_dir, name) else 'OFF'}\n")
        return 0, ""
    if not target:
        return 1, "no target (port/plug/nodename)"
    if target not in node_names(lab_dir):
        return 1, f"{target} is not a node of this lab"
    if action == "status":
        on = power.is_on(lab_dir, target)
        out.write(f"Status: {'ON' if on else 'OFF'}\n")
        return (0 if on else 2), ("on" if on else "off")
    behaviour = fence_control.behaviour(lab_dir, target)
    if behaviour.get("delay"):
        time.sleep(float(behaviour["delay"]))
    if behaviour.get("fail"):
        return 1, "told to fail (fence-control.json)"
    if action in ("off", "reboot"):
        killed = power.power_off(lab_dir, target)
        out.write("Success: Powered OFF\n" if action == "off" else "Success: Rebooted\n")
        return 0, f"killed {len(killed)} processes"
    if action == "on":
        if behaviour.get("dead"):
            return 1, "the machine does not power on (fence-control.json)"
        generation = power.request_power_on(lab_dir, target)
        power.wait_powered_on(lab_dir, target, generation)
        out.write("Success: Powered ON\n")
        return 0, "powered on"
    return 1, f"unknown action {action}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    opts = parse_argv(argv) if argv else parse_stdin(sys.stdin.read())
    action = ALIASES.get(opts.get("action", "reboot"), opts.get("action", "reboot"))
    target = opts.get("plug") or opts.get("nodename") or ""
    lab_dir = opts.get("lab_dir") or os.environ.get("HAKARI_LAB_DIR") \
        or config.lab_dir(config.DEFAULT_NAME)
    started = time.time()
    try:
        rc, detail = run_action(action, target, lab_dir, sys.stdout)
    except Exception as err:  # noqa: BLE001 - any failure is a failed fencing action
        rc, detail = 1, f"{type(err).__name__}: {err}"
    if rc == 1:
        print(f"Failed: {action} {target}: {detail}", file=sys.stderr)
    if action != "metadata" and os.path.isdir(lab_dir):
        fence_control.append_log(lab_dir, {
            "time": dt.datetime.fromtimestamp(started).astimezone().isoformat(),
            "duration": round(time.time() - started, 3),
            "host": socket.gethostname(), "pid": os.getpid(), "action": action,
            "target": target, "rc": rc, "detail": detail})
    return rc


def install(path: str = config.FENCE_AGENT_PATH) -> None:
    state.install_launcher(path, "lab.fence_agent", config.FENCE_AGENT)


if __name__ == "__main__":
    sys.exit(main())
