"""Power a lab node off (a cut, not a shutdown) or on, from any process on the machine.

Used by the lab controller and by the lab fence agent, which runs inside another node's
namespaces: everything here goes through the lab's state directory (visible in every node)
and host PIDs (there is no PID namespace), never through /run or `ip netns`.
Stdlib only.
"""

from __future__ import annotations

import os
import signal
import time

from lab import config, proc, state


class PowerError(RuntimeError):
    pass


def _node_entry(lab_dir: str, node: str) -> dict:
    lab_state = state.read_json(config.state_file(lab_dir))
    if lab_state is None:
        raise PowerError(f"no lab at {lab_dir}")
    entry = (lab_state.get("nodes") or {}).get(node)
    if entry is None:
        raise PowerError(f"{node}: not a node of the lab at {lab_dir}")
    return entry


def is_ghost(lab_dir: str, node: str) -> bool:
    return bool(_node_entry(lab_dir, node).get("ghost"))


def holder_of(lab_dir: str, node: str) -> proc.ProcRef | None:
    return proc.ProcRef.from_json(_node_entry(lab_dir, node).get("holder"))


def daemons_of(lab_dir: str, node: str) -> dict[str, proc.ProcRef]:
    power = state.read_json(config.power_file(lab_dir, node)) or {}
    return {k: proc.ProcRef.from_json(v) for k, v in (power.get("daemons") or {}).items()}


def is_on(lab_dir: str, node: str) -> bool:
    """Powered on means: one of the node's recorded daemons still runs. A ghost never is."""
    if is_ghost(lab_dir, node):
        return False
    return any(proc.alive(r) for r in daemons_of(lab_dir, node).values())


def power_off(lab_dir: str, node: str, timeout: float = 10.0) -> list[int]:
    """SIGKILL everything running on node, as a power cut would; return the PIDs killed.

    The recorded daemons go first (pacemakerd before its children, so it cannot respawn
    them), then anything else found in the node's network namespace (sub-daemons, agents,
    tools), until nothing is left. A ghost or an already-off node is a no-op.
    """
    entry = _node_entry(lab_dir, node)
    if entry.get("ghost"):
        return []
    holder = proc.ProcRef.from_json(entry.get("holder"))
    inode = entry.get("netns_inode")
    daemons = daemons_of(lab_dir, node)
    killed: list[int] = []
    # The cable first: a machine that loses power says nothing more, so no TCP FIN or
    # RST may tell a Pacemaker Remote connection that its compute is gone (a real
    # power cut is found by the connection's monitor timing out).
    if holder is not None and proc.alive(holder):
        proc.run(["nsenter", f"--net=/proc/{holder.pid}/ns/net", "--", "ip", "link", "set",
                  config.NODE_IFNAME, "down"], timeout=10, check=False)
    for name in ("pacemakerd", "corosync", "pacemaker-remoted"):
        if proc.signal_ref(daemons.get(name), signal.SIGKILL):
            killed.append(daemons[name].pid)
    deadline = time.monotonic() + timeout
    exclude = {holder.pid} if holder else set()
    while inode is not None:
        left = proc.processes_in_netns({int(inode)}, exclude=exclude)
        if not left:
            break
        if time.monotonic() >= deadline:
            raise PowerError(f"{node}: still running after power off: "
                             + ", ".join(str(r.pid) for r in left))
        for ref in left:
            if proc.signal_ref(ref, signal.SIGKILL):
                killed.append(ref.pid)
        proc.wait_dead(left, 1.0)
    proc.wait_dead(daemons.values(), timeout)
    return killed


def request_power_on(lab_dir: str, node: str) -> int:
    """Ask node's holder to start its daemons; return the power.json generation to wait
    past (see wait_powered_on)."""
    entry = _node_entry(lab_dir, node)
    if entry.get("ghost"):
        raise PowerError(f"{node} is a ghost: it has no machine to power on")
    holder = proc.ProcRef.from_json(entry.get("holder"))
    before = (state.read_json(config.power_file(lab_dir, node)) or {}).get("generation", 0)
    if not proc.signal_ref(holder, signal.SIGUSR1):
        raise PowerError(f"{node}: its holder process is gone (lab torn down?)")
    return before


def wait_powered_on(lab_dir: str, node: str, after_generation: int,
                    timeout: float = 30.0) -> dict:
    """Wait until the holder has answered a power-on request newer than after_generation."""
    path = config.power_file(lab_dir, node)
    deadline = time.monotonic() + timeout
    while True:
        power = state.read_json(path) or {}
        if power.get("generation", 0) > after_generation and power.get("power") != "starting":
            if power.get("power") == "error":
                raise PowerError(f"{node}: power on failed: {power.get('error')}")
            return power
        if time.monotonic() >= deadline:
            raise PowerError(f"{node}: not powered on after {timeout:g}s "
                             f"(see {os.path.dirname(path)}/holder.log)")
        time.sleep(0.02)
