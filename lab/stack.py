"""The whole stack on one machine: the Pacemaker lab, the Nova lab on its bridge, and
hakari wired between them as an operator would wire it.

Nova runs in its own network namespace cabled to the lab bridge at 10.213.0.2 (and on
host loopback for the test's own admin client), so hakari inside a node reaches it the
way a real compute node reaches its controllers. Powering a node off cuts its Pacemaker
daemons and stops its nova-compute together, like a real power cut.
"""

from __future__ import annotations

import grp
import os
import subprocess
import sys

from hakari import paths
from hakari.install import install_fence_agent
from hakari.state_dirs import make_state_dirs
from lab import config
from lab import nova as nova_lab
from lab.cluster import Lab

NOVA_DEVICE_ID = "hakari-nova"


def run_hakari(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m hakari ARGS` on the host, output captured."""
    return subprocess.run([sys.executable, "-m", "hakari", *args], capture_output=True,
                          text=True, timeout=timeout)


# Where every node finds hakari, as on a real machine: its own files, never the lab's.
NODE_CONF = "/etc/hakari/hakari.conf"
NODE_CLOUDS = "/etc/hakari/clouds.yaml"
NODE_STATE = "/var/lib/hakari"


def install_node_files(pcmk: Lab, clouds_yaml: str, cloud: str) -> str:
    """Each node's own /etc/hakari/hakari.conf and clouds.yaml (copies, as a deployment
    tool puts them on every machine) and its own /var/lib/hakari; returns the path the
    nodes see."""
    with open(clouds_yaml) as f:
        clouds = f.read()
    text = (f"[DEFAULT]\nstate_dir = {NODE_STATE}\n"
            f"[openstack]\ncloud = {cloud}\nclouds_file = {NODE_CLOUDS}\n"
            "api_timeout = 20\n")
    for node in pcmk.real_nodes:
        _write(pcmk.inside(node, NODE_CLOUDS), clouds, 0o640)
        _write(pcmk.inside(node, NODE_CONF), text, 0o644)
        # As `hakari install` makes /var/lib/hakari: the alert agent (hacluster) writes
        # the spool, the engine and agents (root) the rest.
        make_state_dirs(pcmk.inside(node, NODE_STATE))
    return NODE_CONF


def _write(path: str, text: str, mode: int) -> None:
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    if mode & 0o040:
        # clouds.yaml holds a password: root and the cluster's agents (haclient) only.
        os.chown(path, 0, grp.getgrnam("haclient").gr_gid)


def nova_device_xml(conf_path: str, nodes: list[str], evacuation_wait: float) -> str:
    return (
        f'<primitive id="{NOVA_DEVICE_ID}" class="stonith" type="fence_hakari">'
        f'<instance_attributes id="{NOVA_DEVICE_ID}-ia">'
        f'<nvpair id="{NOVA_DEVICE_ID}-hosts" name="pcmk_host_list" value="{" ".join(nodes)}"/>'
        f'<nvpair id="{NOVA_DEVICE_ID}-conf" name="config_file" value="{conf_path}"/>'
        f'<nvpair id="{NOVA_DEVICE_ID}-wait" name="evacuation_wait" value="{evacuation_wait:g}"/>'
        "</instance_attributes>"
        f'<operations><op id="{NOVA_DEVICE_ID}-monitor" name="monitor" interval="60s"/>'
        "</operations></primitive>")


def topology_xml(nodes: list[str]) -> str:
    """Level 1 for each node: the power device, then fence_hakari. Pacemaker runs the
    second only after the first succeeded, so Nova hears of a fencing only once the
    host is really off."""
    levels = "".join(
        f'<fencing-level id="fl-{n}-1" target="{n}" index="1" '
        f'devices="{config.FENCE_DEVICE_ID},{NOVA_DEVICE_ID}"/>' for n in nodes)
    return f"<fencing-topology>{levels}</fencing-topology>"


STACK_LOCK = os.path.join(config.STATE_ROOT, "stack.lock")
LOCK_WAIT = 1200.0


def _lock_stack() -> int:
    """One stack at a time on this machine: stacks share /usr/sbin/fence_hakari and the
    agents `hakari install` puts under /usr/lib/ocf, which another stack's teardown
    would pull from under it."""
    import fcntl
    import time

    os.makedirs(config.STATE_ROOT, exist_ok=True)
    fd = os.open(STACK_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise TimeoutError(f"another lab stack held {STACK_LOCK} for "
                                   f"{LOCK_WAIT:.0f}s") from None
            time.sleep(0.5)


class Stack:
    def __init__(self, pcmk: Lab, nova, conf_path: str, netns: str, lock_fd: int):
        self.pcmk = pcmk
        self.nova = nova
        self.conf_path = conf_path
        self.netns = netns
        self._lock_fd = lock_fd

    @property
    def nodes(self) -> list[str]:
        return list(self.nova.hosts)

    @classmethod
    def up(cls, pcmk: Lab, *, evacuation_wait: float = 50.0, python: str = sys.executable,
           exit_with_parent: bool = True, nova_fencing: bool = True) -> "Stack":
        """Wire Nova and fence_hakari into the running Pacemaker lab ``pcmk``.

        exit_with_parent=False keeps Nova running after this process exits (`make
        lab-up`); `down(name)` stops it again. nova_fencing=False leaves the CIB alone:
        no fence_hakari device, no fencing topology (a rendered configuration brings its
        own).
        """
        lock_fd = _lock_stack()
        try:
            return cls._up(pcmk, lock_fd, evacuation_wait, python, exit_with_parent,
                           nova_fencing)
        except BaseException:
            os.close(lock_fd)
            raise

    @classmethod
    def _up(cls, pcmk, lock_fd, evacuation_wait, python, exit_with_parent,
            nova_fencing) -> "Stack":
        # The Nova computes: the remote nodes, or every node of a members-only lab.
        nodes = pcmk.computes or pcmk.real_nodes
        netns = f"hakari-{pcmk.name}-nova"
        pcmk.attach_namespace(netns, config.NOVA_ADDRESS)
        nova = nova_lab.start(nova_dir(pcmk.path), hosts=nodes, listen=("127.0.0.1",),
                              netns=netns, netns_listen=(config.NOVA_ADDRESS,),
                              exit_with_parent=exit_with_parent)
        try:
            conf_path = install_node_files(pcmk, nova.netns_clouds_yaml, nova.cloud)
            install_fence_agent(python)
            if nova_fencing:
                via = pcmk.controllers[0]
                pcmk.exec(via, ["cibadmin", "--create", "-o", "resources", "--xml-text",
                                nova_device_xml(conf_path, nodes, evacuation_wait)])
                pcmk.exec(via, ["cibadmin", "--create", "-o", "configuration",
                                "--xml-text", topology_xml(nodes)])
        except BaseException:
            nova.stop()
            raise
        return cls(pcmk, nova, conf_path, netns, lock_fd)

    def engine_config(self, name: str, options: dict[str, dict[str, object]]) -> str:
        """The nodes' hakari.conf plus ``options`` ({section: {option: value}}) written
        on every node as /etc/hakari/<name>.conf; returns that path (as nodes see it)."""
        node = self.pcmk.real_nodes[0]
        with open(self.pcmk.inside(node, self.conf_path)) as f:
            lines = [f.read().rstrip("\n")]
        for section, values in options.items():
            lines.append(f"[{section}]")
            lines += [f"{k} = {','.join(v) if isinstance(v, (list, tuple)) else v}"
                      for k, v in values.items()]
        path = f"/etc/hakari/{name}.conf"
        for node in self.pcmk.real_nodes:
            _write(self.pcmk.inside(node, path), "\n".join(lines) + "\n", 0o644)
        return path

    def state_path(self, node: str, name: str = "") -> str:
        """Where node's own /var/lib/hakari (or a file in it) lives on this machine."""
        return self.pcmk.inside(node, os.path.join(NODE_STATE, name) if name else NODE_STATE)

    def power_off(self, node: str) -> None:
        self.pcmk.power_off(node)
        self.nova.control.stop_compute(node)

    def power_on(self, node: str, *, wait: bool = True) -> None:
        # The host rebooted: its hypervisor comes back empty.
        self.nova.control.start_compute(node, rebooted=True)
        if not self.pcmk.is_on(node):  # a reboot fencing may have powered it on already
            self.pcmk.power_on(node, wait=wait)

    def crm_attribute(self, node: str, name: str, value: str | None = None,
                      via: str | None = None) -> str | None:
        """Query (value None) or set a permanent node attribute from a live node."""
        via = via or next(n for n in self.pcmk.controllers
                          if n != node and self.pcmk.is_on(n))
        argv = ["crm_attribute", "--type", "nodes", "--node", node, "--name", name]
        if value is None:
            res = self.pcmk.exec(via, argv + ["--query", "--quiet"], check=False)
            return res.stdout.decode().strip() if res.returncode == 0 else None
        self.pcmk.exec(via, argv + ["--update", value])
        return value

    def down(self) -> None:
        try:
            self.nova.stop()
        finally:
            _remove_fence_hakari()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None


def nova_dir(lab_path: str) -> str:
    return os.path.join(lab_path, "nova")


def down(lab_path: str) -> bool:
    """Stop the Nova of the stack whose Pacemaker lab lives at lab_path, if any; also
    works for a stack left behind by a process that died."""
    stopped = False
    if os.path.isdir(nova_dir(lab_path)):
        stopped = nova_lab.down(nova_dir(lab_path))
    _remove_fence_hakari()
    return stopped


def _remove_fence_hakari() -> None:
    try:
        os.unlink(paths.FENCE_AGENT_PATH)
    except FileNotFoundError:
        pass
