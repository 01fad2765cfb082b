"""Take a lab down completely, whether it is healthy, half-built or left by a crash.

Order matters: processes first (a namespace outlives `ip netns delete` while anything runs
in it, and then nothing could find it again), namespaces next, files last (the state file
is how a later run finds what to kill).
"""

from __future__ import annotations

import os
import shutil
import signal
import time

from lab import config, netns, proc, state

# A clean stop takes ~1-2 s. Stopping while a node is still joining can leave the DC
# waiting for a probe the leaving node never answers (until op timeouts, minutes): past
# this bound, kill instead.
STOP_TIMEOUT = 10.0


def _node_refs(lab_path: str, lab_state: dict):
    """(holders, daemons by name) recorded for the lab's real nodes."""
    holders, pacemakerds, corosyncs = [], [], []
    for node, entry in (lab_state.get("nodes") or {}).items():
        if entry.get("ghost"):
            continue
        holders.append(proc.ProcRef.from_json(entry.get("holder")))
        power = state.read_json(config.power_file(lab_path, node)) or {}
        # The holder may have died without writing: read its record too.
        daemons = power.get("daemons") or {}
        pacemakerds.append(proc.ProcRef.from_json(daemons.get("pacemakerd")))
        corosyncs.append(proc.ProcRef.from_json(daemons.get("corosync")))
    return ([h for h in holders if h], [p for p in pacemakerds if p],
            [c for c in corosyncs if c])


def _lab_inodes(name: str, lab_state: dict) -> set[int]:
    inodes = set()
    for entry in (lab_state.get("nodes") or {}).values():
        if entry.get("netns_inode"):
            inodes.add(int(entry["netns_inode"]))
    for ns in netns.with_prefix(config.netns_prefix(name)):
        ino = netns.inode(ns)
        if ino:
            inodes.add(ino)
    for ns, entry in (lab_state.get("attached") or {}).items():
        if entry.get("owned"):
            ino = netns.inode(ns)
            if ino:
                inodes.add(ino)
    return inodes


def stop_daemons(pacemakerds, corosyncs, timeout: float = STOP_TIMEOUT) -> dict:
    """Clean shutdown by PID: every pacemakerd at once, then every corosync."""
    report = {"graceful": True}
    for ref in pacemakerds:
        proc.signal_ref(ref, signal.SIGTERM)
    left = proc.wait_dead(pacemakerds, timeout)
    if left:
        report["graceful"] = False
        proc.kill_all(left)
    for ref in corosyncs:
        proc.signal_ref(ref, signal.SIGTERM)
    left = proc.wait_dead(corosyncs, 10.0)
    if left:
        report["graceful"] = False
        proc.kill_all(left)
    return report


def down(name: str, *, root: str | None = None, keep_logs: bool = False,
         graceful: bool = True) -> dict:
    """Stop and remove lab `name`; safe to call on a lab that is absent or half-gone.

    Returns a small report (what was found, how long it took)."""
    config.check_name(name)
    started = time.monotonic()
    lab_path = config.lab_dir(name, root)
    lab_state = state.read_json(config.state_file(lab_path)) or {}
    holders, pacemakerds, corosyncs = _node_refs(lab_path, lab_state)
    report = {"name": name, "found": bool(lab_state) or os.path.isdir(lab_path)}

    if graceful:
        report.update(stop_daemons(pacemakerds, corosyncs))
    else:
        proc.kill_all(pacemakerds + corosyncs)

    # Anything else running on a node (or in a namespace the lab made): a power cut.
    # Holders go last, so that they reap what dies in their node (no zombies left for
    # init to collect); those whose record was lost are recognised by their command line.
    inodes = _lab_inodes(name, lab_state)
    found = proc.processes_in_netns(inodes) if inodes else []
    holders += [r for r in found if _is_holder(r.pid) and r not in holders]
    holder_pids = {h.pid for h in holders}
    for _ in range(5):
        left = proc.processes_in_netns(inodes, exclude=holder_pids) if inodes else []
        if not left:
            break
        proc.kill_all(left, timeout=5)
    for ref in holders:
        proc.signal_ref(ref, signal.SIGTERM)
    left = proc.wait_dead(holders, 5.0)
    proc.kill_all(left)
    for ref in holders:
        proc.reap_child(ref.pid)
    if inodes:
        proc.kill_all(proc.processes_in_netns(inodes))

    for ns in (lab_state.get("attached") or {}):
        if (lab_state["attached"][ns] or {}).get("owned"):
            netns.delete(ns)
    for ns in netns.with_prefix(config.netns_prefix(name)):
        netns.delete(ns)

    if os.path.isdir(lab_path):
        if keep_logs:
            _remove_all_but_logs(lab_path)
        else:
            shutil.rmtree(lab_path, ignore_errors=True)
    report["seconds"] = round(time.monotonic() - started, 3)
    return report


def _is_holder(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"\0lab.holder\0" in f.read()
    except OSError:
        return False


def _remove_all_but_logs(lab_path: str) -> None:
    # hakari's own state too (journal, spool): what each node did, for the post-mortem.
    keep = ("var-log-pacemaker", "var-log-corosync", "var-lib-hakari", "holder.log",
            "daemons.log", "fence.log", "server.log")
    for dirpath, dirnames, filenames in os.walk(lab_path, topdown=False):
        for f in filenames:
            full = os.path.join(dirpath, f)
            if not any(part in keep for part in full.split(os.sep)):
                os.unlink(full)
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if not os.listdir(full):
                os.rmdir(full)


def list_labs(root: str | None = None) -> list[str]:
    """Every lab that left a trace: a state directory or a namespace."""
    names = set()
    base = root or config.STATE_ROOT
    if os.path.isdir(base):
        for entry in os.listdir(base):
            if os.path.isdir(os.path.join(base, entry)):
                names.add(entry)
    for ns in netns.list_all():
        if ns.startswith(config.NETNS_PREFIX):
            rest = ns[len(config.NETNS_PREFIX):]
            if "-" in rest:
                names.add(rest.split("-", 1)[0])
    return sorted(n for n in names if _valid(n))


def _valid(name: str) -> bool:
    try:
        config.check_name(name)
    except ValueError:
        return False
    return True


def down_abandoned(root: str | None = None) -> list[str]:
    """Take down every lab whose owner process (recorded at `up`) is gone: what a killed
    test session left behind. Labs without an owner (a person's) are left alone."""
    removed = []
    for name in list_labs(root):
        lab_state = state.read_json(config.state_file(config.lab_dir(name, root)))
        owner = proc.ProcRef.from_json((lab_state or {}).get("owner"))
        if owner is not None and not proc.alive(owner):
            base = root or config.STATE_ROOT
            with state.locked(base, name):
                down(name, root=root)
            state.forget_lock(base, name)
            removed.append(name)
    return removed
