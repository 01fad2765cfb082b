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
NODE_MOUNTS = {
    "etc-corosync": "/etc/corosync",
    "var-lib-pacemaker": "/var/lib/pacemaker",
    "var-lib-corosync": "/var/lib/corosync",
    "var-log-pacemaker": "/var/log/pacemaker",
    "var-log-corosync": "/var/log/corosync",
}

# No dash: the namespace prefix "hakari-<name>-" must never match another lab's names.
_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"lab name {name!r}: use 1-12 lowercase letters/digits, "
                         "starting with a letter")
    return name


def node_name(index: int) -> str:
    return f"node{index}"


def node_index(node: str) -> int:
    if not node.startswith("node") or not node[4:].isdigit():
        raise ValueError(f"not a lab node name: {node!r}")
    return int(node[4:])


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


def power_file(lab_path: str, node: str) -> str:
    return os.path.join(node_dir(lab_path, node), "power.json")


def fence_control_file(lab_path: str) -> str:
    return os.path.join(lab_path, "fence-control.json")


def fence_log_file(lab_path: str) -> str:
    return os.path.join(lab_path, "fence.log")
