"""Where hakari's files live on a cluster node. Standard library only (os.path, stat):
the alert agent, the OCF agents, the installer and the configuration share these names.

State directory layout (``[DEFAULT] state_dir``)::

    <state_dir>/                root:haclient 0750  the engine's (journal, heartbeat…)
    <state_dir>/engine.heartbeat                    rewritten by the engine (see evacuator)
    <state_dir>/wake.sock                           the engine's wake-up datagram socket
    <state_dir>/install.json                        what `hakari install` created
    <state_dir>/spool/          hacluster:haclient 0750  alert events, one file each
    <state_dir>/spool-done/     root:haclient 0750  events the engine acknowledged
    <state_dir>/spool-quarantine/  root:root 0750   spool files that could not be read

Root's directories are beside the spool, not inside it: hacluster owns spool/ and could
replace anything in it with a link, so root never has to trust a path below it.
"""

import os.path
import stat

DEFAULT_CONFIG_FILE = "/etc/hakari/hakari.conf"
DEFAULT_STATE_DIR = "/var/lib/hakari"

SPOOL_DIR = "spool"
SPOOL_DONE_DIR = "spool-done"
SPOOL_QUARANTINE_DIR = "spool-quarantine"
INSTALL_MANIFEST = "install.json"
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


def _in(state_dir: str, name: str) -> str:
    return f"{state_dir.rstrip('/')}/{name}"


def spool_dir(state_dir: str) -> str:
    return _in(state_dir, SPOOL_DIR)


def wake_socket(state_dir: str) -> str:
    return _in(state_dir, WAKE_SOCKET)


def heartbeat_file(state_dir: str) -> str:
    return _in(state_dir, HEARTBEAT_FILE)


def done_dir(state_dir: str) -> str:
    return _in(state_dir, SPOOL_DONE_DIR)


def quarantine_dir(state_dir: str) -> str:
    return _in(state_dir, SPOOL_QUARANTINE_DIR)


def install_manifest(state_dir: str) -> str:
    return _in(state_dir, INSTALL_MANIFEST)


# Directories the system or other packages own. hakari may keep files in them but never
# takes one over: it is never a state directory, never re-moded, never purged.
SYSTEM_DIRS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32",
    "/lost+found", "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv",
    "/sys", "/tmp", "/usr", "/var",
    "/etc/openstack", "/etc/corosync", "/etc/pacemaker", "/etc/default", "/etc/ssl",
    "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/usr/libexec", "/usr/local",
    "/usr/share", "/usr/include", "/usr/src", "/usr/lib/ocf", "/usr/lib/ocf/resource.d",
    "/usr/local/bin", "/usr/local/lib", "/usr/local/sbin", "/usr/local/share",
    "/var/lib", "/var/log", "/var/tmp", "/var/run", "/var/spool", "/var/cache",
    "/var/backups", "/var/mail", "/var/opt", "/var/local", "/var/lib/pacemaker",
    "/var/log/pacemaker", "/var/log/cluster", "/run/lock", "/run/user",
})


def own_dir_problem(path: str) -> str | None:
    """Why ``path`` cannot be a directory hakari owns (state, configuration, logs), or
    None. Checked where a path enters (config, render vars, the alert's reader) and
    again before anything is created, re-moded or removed."""
    if not path.startswith("/"):
        return "must be an absolute path"
    if not path.isprintable():
        return "must be printable"
    normal = os.path.normpath(path)
    if normal.startswith("//"):
        normal = normal[1:]
    if normal != path.rstrip("/") and path != "/":
        return f"must be written plainly (no '.', '..' or '//'): {normal}"
    if normal in SYSTEM_DIRS or any(d.startswith(normal + "/") for d in SYSTEM_DIRS):
        return f"{normal} is a system directory, not hakari's own"
    return None


def dir_mode_problem(st: os.stat_result) -> str | None:
    """Why a directory with this status cannot hold files hakari trusts, or None: others
    could plant or swap files in a world-writable one."""
    if not stat.S_ISDIR(st.st_mode):
        return "not a directory"
    if st.st_mode & stat.S_IWOTH:
        return f"world-writable (mode {stat.S_IMODE(st.st_mode):04o})"
    return None
