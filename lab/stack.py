"""The whole stack on one machine: the Pacemaker lab, the Nova lab on its bridge, and
hakari wired between them as an operator would wire it.

Nova runs in its own network namespace cabled to the lab bridge at 10.213.0.2 (and on
host loopback for the test's own admin client), so hakari inside a node reaches it the
way a real compute node reaches its controllers. Powering a node off cuts its Pacemaker
daemons and stops its nova-compute together, like a real power cut.
"""

from __future__ import annotations

import os
import subprocess
import sys

from hakari import paths
from hakari.install import install_fence_agent
from lab import config
from lab import nova as nova_lab
from lab.cluster import Lab

NOVA_DEVICE_ID = "hakari-nova"


def run_hakari(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m hakari ARGS` on the host, output captured."""
    return subprocess.run([sys.executable, "-m", "hakari", *args], capture_output=True,
                          text=True, timeout=timeout)


def hakari_conf(stack_dir: str, clouds_yaml: str, cloud: str) -> str:
    from hakari.state_dirs import make_state_dirs

    state_dir = os.path.join(stack_dir, "hakari-state")
    # As `hakari install` makes /var/lib/hakari: the alert agent (hacluster) writes the
    # spool, the engine and agents (root) the rest.
    make_state_dirs(state_dir)
    path = os.path.join(stack_dir, "hakari.conf")
    with open(path, "w") as f:
        f.write(f"[DEFAULT]\nstate_dir = {state_dir}\n"
                f"[openstack]\ncloud = {cloud}\nclouds_file = {clouds_yaml}\n"
                "api_timeout = 20\n")
    os.chmod(path, 0o644)
    return path


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
        nodes = sorted(pcmk.state["nodes"])
        netns = f"hakari-{pcmk.name}-nova"
        pcmk.attach_namespace(netns, config.NOVA_ADDRESS)
        nova = nova_lab.start(nova_dir(pcmk.path), hosts=nodes, listen=("127.0.0.1",),
                              netns=netns, netns_listen=(config.NOVA_ADDRESS,),
                              exit_with_parent=exit_with_parent)
        try:
            conf_path = hakari_conf(pcmk.path, nova.netns_clouds_yaml, nova.cloud)
            install_fence_agent(python)
            if nova_fencing:
                pcmk.exec(nodes[0], ["cibadmin", "--create", "-o", "resources",
                                     "--xml-text",
                                     nova_device_xml(conf_path, nodes, evacuation_wait)])
                pcmk.exec(nodes[0], ["cibadmin", "--create", "-o", "configuration",
                                     "--xml-text", topology_xml(nodes)])
        except BaseException:
            nova.stop()
            raise
        return cls(pcmk, nova, conf_path, netns, lock_fd)

    def engine_config(self, name: str, options: dict[str, dict[str, object]]) -> str:
        """The nodes' hakari.conf plus ``options`` ({section: {option: value}}) as
        ``<lab>/<name>.conf``, readable by the cluster's agents."""
        lines = [open(self.conf_path).read().rstrip("\n")]
        for section, values in options.items():
            lines.append(f"[{section}]")
            lines += [f"{k} = {','.join(v) if isinstance(v, (list, tuple)) else v}"
                      for k, v in values.items()]
        path = os.path.join(self.pcmk.path, f"{name}.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o644)
        return path

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
        via = via or next(n for n in self.nodes if n != node and self.pcmk.is_on(n))
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
