"""ocf:hakarilab:nova-compute: the lab's nova-compute as a cluster resource.

On a real compute nova-compute is a service the cluster starts, after compute-guard
(docs/deployment.md). The lab's nova-computes live inside the Nova lab's one process, so
this agent starts, stops and monitors the one of the node it runs on (pacemaker-remoted
runs it inside the compute's namespaces) through the Nova lab's control socket. It finds
its lab and node by its own network namespace, so it needs no parameters: the rendered
configuration's nova-compute clone has none.

A node boots with a fresh /run, so the first start after a boot finds no mark there and
starts nova-compute on an empty hypervisor, as after a power cycle (a compute fenced
while its nova-compute was still reported running is restarted too). monitor reports it
running only once this boot's start said so: a compute that just rejoined shows it
stopped, whatever Nova still remembers, until the cluster starts it.

Installed by install() as a launcher under /usr/lib/ocf/resource.d/hakarilab; stdlib
only (the system Python runs it).
"""

from __future__ import annotations

import glob
import os
import sys

from lab import config, state

PROVIDER_DIR = "/usr/lib/ocf/resource.d/hakarilab"
AGENT_PATH = os.path.join(PROVIDER_DIR, "nova-compute")
RUN_DIR = "/run/hakarilab"
BOOTED = os.path.join(RUN_DIR, "nova-compute.booted")
STARTED = os.path.join(RUN_DIR, "nova-compute.started")

OCF_SUCCESS, OCF_ERR_GENERIC, OCF_ERR_UNIMPLEMENTED, OCF_NOT_RUNNING = 0, 1, 3, 7

METADATA = """<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="nova-compute" version="1.0">
<version>1.1</version>
<longdesc lang="en">The nova-compute of a node of hakari's local lab, which runs inside the lab's Nova process. Never use it outside the lab.</longdesc>
<shortdesc lang="en">Lab nova-compute</shortdesc>
<parameters/>
<actions>
<action name="start" timeout="60s"/>
<action name="stop" timeout="60s"/>
<action name="monitor" timeout="30s" interval="10s" depth="0"/>
<action name="validate-all" timeout="10s"/>
<action name="meta-data" timeout="5s"/>
</actions>
</resource-agent>
"""


def find_node() -> tuple[str, str] | None:
    """(lab directory, node name) of the lab node whose network namespace this is."""
    mine = os.stat("/proc/self/ns/net").st_ino
    for path in glob.glob(os.path.join(config.STATE_ROOT, "*", "state.json")):
        lab_state = state.read_json(path) or {}
        for node, entry in (lab_state.get("nodes") or {}).items():
            if entry.get("netns_inode") == mine:
                return os.path.dirname(path), node
    return None


def control(lab_dir: str):
    from lab.nova import ControlClient

    return ControlClient(os.path.join(lab_dir, "nova", "control.sock"), timeout=50)


def _mark(path: str) -> None:
    os.makedirs(RUN_DIR, exist_ok=True)
    with open(path, "w"):
        pass


def run_action(action: str) -> int:
    from lab.nova import NovaLabError

    if action == "meta-data":
        sys.stdout.write(METADATA)
        return OCF_SUCCESS
    if action not in ("start", "stop", "monitor", "validate-all"):
        return OCF_ERR_UNIMPLEMENTED
    found = find_node()
    if found is None:
        print("nova-compute: not inside a node of a lab", file=sys.stderr)
        return OCF_NOT_RUNNING if action in ("stop", "monitor") else OCF_ERR_GENERIC
    lab_dir, node = found
    if action == "validate-all":
        return OCF_SUCCESS
    nova = control(lab_dir)
    try:
        if action == "monitor":
            if not os.path.exists(STARTED):
                return OCF_NOT_RUNNING
            return OCF_SUCCESS if nova.host(node)["running"] else OCF_NOT_RUNNING
        if action == "stop":
            try:
                os.unlink(STARTED)
            except FileNotFoundError:
                pass
            nova.stop_compute(node)
            return OCF_SUCCESS
        rebooted = not os.path.exists(BOOTED)
        if rebooted:
            nova.stop_compute(node)
        nova.start_compute(node, rebooted=rebooted)
        _mark(BOOTED)
        _mark(STARTED)
        return OCF_SUCCESS
    except (NovaLabError, OSError) as err:
        print(f"nova-compute {action} on {node}: {err}", file=sys.stderr)
        # Without the Nova lab (torn down first) nothing runs, so nothing needs stopping.
        return OCF_SUCCESS if action == "stop" else (
            OCF_NOT_RUNNING if action == "monitor" else OCF_ERR_GENERIC)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return run_action(argv[0] if argv else "")


def install(path: str = AGENT_PATH) -> None:
    state.install_launcher(path, "lab.nova_compute_agent", "ocf:hakarilab:nova-compute")


def uninstall(path: str = AGENT_PATH) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    try:
        os.rmdir(os.path.dirname(path))
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
