"""Network namespaces, the lab bridge and its cables (veth pairs), with `ip`.

Each lab has one bridge in a namespace of its own; nodes and attached namespaces (the
Nova lab) hang off it. Nothing is ever created in, or routed to, the host's namespace.
"""

from __future__ import annotations

import os

from lab import config
from lab.proc import run

IP_TIMEOUT = 10.0
NETNS_DIR = "/run/netns"


def ip(*args: str, netns: str | None = None, check: bool = True):
    argv = ["ip"]
    if netns:
        argv += ["-n", netns]
    return run(argv + list(args), timeout=IP_TIMEOUT, check=check)


def exists(netns: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, netns))


def list_all() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def with_prefix(prefix: str) -> list[str]:
    return [n for n in list_all() if n.startswith(prefix)]


def inode(netns: str) -> int | None:
    try:
        return os.stat(os.path.join(NETNS_DIR, netns)).st_ino
    except FileNotFoundError:
        return None


def add(netns: str) -> None:
    ip("netns", "add", netns)
    ip("link", "set", "lo", "up", netns=netns)


def delete(netns: str) -> None:
    if exists(netns):
        ip("netns", "delete", netns, check=False)


def create_bridge(netns: str) -> None:
    add(netns)
    ip("link", "add", config.BRIDGE, "type", "bridge", netns=netns)
    # Ports forward at once: no STP, no forwarding delay to wait out.
    ip("link", "set", config.BRIDGE, "type", "bridge", "stp_state", "0",
       "forward_delay", "0", netns=netns)
    ip("link", "set", config.BRIDGE, "up", netns=netns)


def plug(bridge_ns: str, port: str, netns: str, address: str,
         ifname: str = config.NODE_IFNAME) -> None:
    """Cable netns to the bridge: `port` on the bridge side, `ifname` with address inside."""
    if len(port) > 15:
        raise ValueError(f"interface name too long: {port!r}")
    ip("link", "add", port, "type", "veth", "peer", "name", ifname, "netns", netns,
       netns=bridge_ns)
    ip("link", "set", port, "master", config.BRIDGE, "up", netns=bridge_ns)
    ip("addr", "add", f"{address}/{config.SUBNET_BITS}", "dev", ifname, netns=netns)
    ip("link", "set", ifname, "up", netns=netns)


def unplug(bridge_ns: str, port: str) -> None:
    # Deleting one end of a veth pair deletes the other.
    ip("link", "delete", port, netns=bridge_ns, check=False)


def set_port(bridge_ns: str, port: str, up: bool) -> None:
    """Pull or reconnect the cable at the switch: the node sees its carrier go away."""
    ip("link", "set", port, "up" if up else "down", netns=bridge_ns)


def port_is_up(bridge_ns: str, port: str) -> bool:
    out = ip("-o", "link", "show", port, netns=bridge_ns).stdout.decode()
    flags = out.split("<", 1)[1].split(">", 1)[0].split(",") if "<" in out else []
    return "UP" in flags
