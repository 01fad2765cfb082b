"""Where hakari's files live on a cluster node. Standard library only, imports nothing:
the alert agent, the OCF agents, the installer and the configuration share these names.

State directory layout (``[DEFAULT] state_dir``)::

    <state_dir>/                root:haclient 0750  the engine's (journal, heartbeat…)
    <state_dir>/engine.heartbeat                    rewritten by the engine (see evacuator)
    <state_dir>/wake.sock                           the engine's wake-up datagram socket
    <state_dir>/spool/          hacluster:haclient 0750  alert events, one file each
    <state_dir>/spool/done/                         events the engine acknowledged
    <state_dir>/spool/quarantine/                   spool files that could not be read
"""

DEFAULT_CONFIG_FILE = "/etc/hakari/hakari.conf"
DEFAULT_STATE_DIR = "/var/lib/hakari"

SPOOL_DIR = "spool"
SPOOL_DONE_DIR = "done"
SPOOL_QUARANTINE_DIR = "quarantine"
WAKE_SOCKET = "wake.sock"
HEARTBEAT_FILE = "engine.heartbeat"

# Volatile per-boot state of the OCF agents (pid records, "started" marks): a tmpfs
# emptied at boot, so nothing there can claim a resource runs after a power cut.
RUN_DIR = "/run/hakari"

LOG_DIR = "/var/log/hakari"

OCF_ROOT = "/usr/lib/ocf"
OCF_PROVIDER = "hakari"
# Pacemaker only runs fence agents from here (fence-agents' convention).
FENCE_AGENT_PATH = "/usr/sbin/fence_hakari"
# The alert path the rendered CIB names (templates/_macros.j2).
ALERT_AGENT_PATH = "/usr/libexec/hakari/alert"

CLUSTER_USER = "hacluster"
CLUSTER_GROUP = "haclient"


def spool_dir(state_dir: str) -> str:
    return f"{state_dir.rstrip('/')}/{SPOOL_DIR}"


def wake_socket(state_dir: str) -> str:
    return f"{state_dir.rstrip('/')}/{WAKE_SOCKET}"


def heartbeat_file(state_dir: str) -> str:
    return f"{state_dir.rstrip('/')}/{HEARTBEAT_FILE}"
