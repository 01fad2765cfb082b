"""Names, addresses and paths of a lab. Pure functions, no I/O.

Kept free of third-party imports: the lab fence agent imports this module with the
system Python (no virtualenv, no lxml) from inside a node's namespaces.
"""

from __future__ import annotations

import os
import re

# Outside every node's private /run tmpfs: the fence agent, running inside a node's mount
# namespace, must still see every node's state to power it off.
STATE_ROOT = os.environ.get("HAKARI_LAB_ROOT", "/var/lib/hakari-lab")

NETNS_PREFIX = "hakari-"
DEFAULT_NAME = "lab"

# A subnet that exists only inside the lab's namespaces (one bridge per lab, so two labs
# may both use it without meeting).
SUBNET_PREFIX = "10.213.0."
SUBNET_BITS = 24
# .1 is kept for the bridge, .2 for the Nova lab's namespace, nodes start at .11.
BRIDGE_ADDRESS = SUBNET_PREFIX + "1"
NOVA_ADDRESS = SUBNET_PREFIX + "2"
NODE_ADDRESS_BASE = 10
MAX_NODES = 200

BRIDGE = "br0"
NODE_IFNAME = "eth0"

FENCE_AGENT = "fence_hakarilab"
FENCE_AGENT_PATH = "/usr/sbin/" + FENCE_AGENT
FENCE_DEVICE_ID = "lab-fence"

# Node directories bind-mounted over these paths inside each node (key: directory name).
# hakari's own configuration and state are per node, as on real machines: whatever one
# node writes there, no other node sees (the lab realism rule).
NODE_MOUNTS = {
    "etc-corosync": "/etc/corosync",
    "etc-pacemaker": "/etc/pacemaker",
    "var-lib-pacemaker": "/var/lib/pacemaker",
    "var-lib-corosync": "/var/lib/corosync",
    "var-log-pacemaker": "/var/log/pacemaker",
    "var-log-corosync": "/var/log/corosync",
    "etc-hakari": "/etc/hakari",
    "var-lib-hakari": "/var/lib/hakari",
}

# A cluster node's roles: a Corosync member (controllers, or every node of the
# members-only lab) or a Pacemaker Remote node (computes).
MEMBER, REMOTE = "member", "remote"
REMOTE_PORT = 3121
# Debian's pacemaker-remote conflicts with pacemaker, so `make remoted` unpacks the
# package's binary here instead of installing it.
REMOTED = os.environ.get("HAKARI_LAB_REMOTED", "/usr/local/lib/hakari-lab/pacemaker-remoted")
AUTHKEY = "authkey"

# No dash: the namespace prefix "hakari-<name>-" must never match another lab's names.
_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"lab name {name!r}: use 1-12 lowercase letters/digits, "
                         "starting with a letter")
    return name


def node_name(index: int) -> str:
    return f"node{index}"


def compute_name(index: int) -> str:
    return f"compute{index}"


_NODE_NAME_RE = re.compile(r"^(node|compute)([1-9][0-9]*)$")


def node_order(node: str) -> tuple[int, int]:
    """Sort key: controllers (node1..) first, then remote computes (compute1..)."""
    m = _NODE_NAME_RE.match(node)
    if m is None:
        raise ValueError(f"not a lab node name: {node!r}")
    return (0 if m.group(1) == "node" else 1, int(m.group(2)))


def node_address(index: int) -> str:
    if not 1 <= index <= MAX_NODES:
        raise ValueError(f"node index {index} out of range 1..{MAX_NODES}")
    return f"{SUBNET_PREFIX}{NODE_ADDRESS_BASE + index}"


def netns_prefix(name: str) -> str:
    return f"{NETNS_PREFIX}{name}-"


def netns_name(name: str, suffix: str) -> str:
    return netns_prefix(name) + suffix


def bridge_netns(name: str) -> str:
    return netns_name(name, "br")


def lab_dir(name: str, root: str | None = None) -> str:
    return os.path.join(root or STATE_ROOT, name)


def node_dir(lab_path: str, node: str) -> str:
    return os.path.join(lab_path, "nodes", node)


def state_file(lab_path: str) -> str:
    return os.path.join(lab_path, "state.json")


def inside(lab_path: str, node: str, path: str) -> str:
    """Where a path that node sees under one of its private mounts lives on the host
    (e.g. /var/lib/hakari/journal.jsonl on compute1)."""
    for sub, target in NODE_MOUNTS.items():
        if path == target or path.startswith(target + "/"):
            rest = path[len(target):].lstrip("/")
            base = os.path.join(node_dir(lab_path, node), sub)
            return os.path.join(base, rest) if rest else base
    raise ValueError(f"{path}: not under a node's private mounts")


def power_file(lab_path: str, node: str) -> str:
    return os.path.join(node_dir(lab_path, node), "power.json")


def fence_control_file(lab_path: str) -> str:
    return os.path.join(lab_path, "fence-control.json")


def fence_log_file(lab_path: str) -> str:
    return os.path.join(lab_path, "fence.log")
