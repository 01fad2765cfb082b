"""The whole stack on one machine: the Pacemaker lab, the Nova lab on its bridge, and
hakari wired between them as an operator would wire it.

Nova runs in its own network namespace cabled to the lab bridge at 10.213.0.2 (and on
host loopback for the test's own admin client), so hakari inside a node reaches it the
way a real compute node reaches its controllers. Powering a node off cuts its Pacemaker
daemons and stops its nova-compute together, like a real power cut.

As deployed (docs/deployment.md): fence_hakari provides unfencing and follows each
compute's power device in its fencing level, and each compute's nova-compute is a
cluster resource (ocf:hakarilab:nova-compute, lab/nova_compute_agent.py) that only starts
on an unfenced compute; configure_hakari() adds the engine, compute-guard ordered before
nova-compute, and the alert, through pcs as an operator would.
"""

from __future__ import annotations

import grp
import os
import subprocess
import sys
import time

from hakari import paths
from hakari.install import install_fence_agent
from hakari.state_dirs import make_state_dirs
from lab import config, nova_compute_agent
from lab import nova as nova_lab
from lab.cluster import Lab, LabError

NOVA_DEVICE_ID = "hakari-nova"
NOVA_COMPUTE = "hakari-nova-compute"
EVACUATOR = "hakari-evacuator"
GUARD = "hakari-compute-guard"


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
        f'<meta_attributes id="{NOVA_DEVICE_ID}-meta">'
        f'<nvpair id="{NOVA_DEVICE_ID}-provides" name="provides" value="unfencing"/>'
        "</meta_attributes>"
        f'<operations><op id="{NOVA_DEVICE_ID}-monitor" name="monitor" interval="60s"/>'
        "</operations></primitive>")


def only_on(rsc: str, nodes: list[str]) -> str:
    """A location constraint keeping rsc off every node but nodes."""
    cid = f"{rsc}-only-on"
    exprs = "".join(f'<expression id="{cid}-{i}" attribute="#uname" operation="ne" '
                    f'value="{n}"/>' for i, n in enumerate(nodes, start=1))
    return (f'<rsc_location id="{cid}" rsc="{rsc}"><rule id="{cid}-rule" '
            f'score="-INFINITY" boolean-op="and">{exprs}</rule></rsc_location>')


def nova_compute_xml() -> str:
    """nova-compute as a clone, as docs/deployment.md creates hakari-nova-compute."""
    rid = NOVA_COMPUTE
    ops = "".join(f'<op id="{rid}-{name}" name="{name}" interval="{interval}" '
                  f'timeout="{timeout}"/>' for name, interval, timeout in
                  (("monitor", "5s", "30s"), ("start", "0s", "60s"), ("stop", "0s", "60s")))
    return (f'<clone id="{rid}-clone"><primitive id="{rid}" class="ocf" provider="hakarilab" '
            f'type="nova-compute"><operations>{ops}</operations></primitive>'
            f'<meta_attributes id="{rid}-clone-meta"><nvpair id="{rid}-clone-interleave" '
            'name="interleave" value="true"/></meta_attributes></clone>')


def alert_xml(recipient: str) -> str:
    """hakari's alert as docs/deployment.md adds it; the recipient is the hakari.conf
    each node reads (its own copy)."""
    return (
        '<alerts><alert id="hakari-alert" path="/usr/libexec/hakari/alert">'
        '<meta_attributes id="hakari-alert-meta"><nvpair id="hakari-alert-ts" '
        'name="timestamp-format" value="%Y-%m-%dT%H:%M:%S.%06NZ"/></meta_attributes>'
        '<select><select_nodes/><select_fencing/><select_resources/><select_attributes/>'
        f'</select><recipient id="hakari-alert-to" value="{recipient}"/></alert></alerts>')


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
    def __init__(self, pcmk: Lab, nova, conf_path: str, netns: str, lock_fd: int,
                 compute_resource: bool):
        self.pcmk = pcmk
        self.nova = nova
        self.conf_path = conf_path
        self.netns = netns
        self._lock_fd = lock_fd
        self.compute_resource = compute_resource
        self.hakari_installed = False

    @property
    def nodes(self) -> list[str]:
        return list(self.nova.hosts)

    @classmethod
    def up(cls, pcmk: Lab, *, evacuation_wait: float = 50.0, python: str = sys.executable,
           exit_with_parent: bool = True, nova_fencing: bool = True,
           compute_resource: bool = True) -> "Stack":
        """Wire Nova and fence_hakari into the running Pacemaker lab ``pcmk``.

        exit_with_parent=False keeps Nova running after this process exits (`make
        lab-up`); `down(name)` stops it again. nova_fencing=False leaves the CIB alone:
        no fence_hakari device, no fencing topology, no nova-compute resource (a rendered
        configuration brings its own). compute_resource: the computes' nova-compute is
        the cluster resource ocf:hakarilab:nova-compute (the cluster starts it once a
        compute is unfenced), not started by power_on().
        """
        lock_fd = _lock_stack()
        try:
            return cls._up(pcmk, lock_fd, evacuation_wait, python, exit_with_parent,
                           nova_fencing, compute_resource)
        except BaseException:
            os.close(lock_fd)
            raise

    @classmethod
    def _up(cls, pcmk, lock_fd, evacuation_wait, python, exit_with_parent,
            nova_fencing, compute_resource) -> "Stack":
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
            if compute_resource:
                nova_compute_agent.install()
            if nova_fencing:
                via = pcmk.controllers[0]
                resources = nova_device_xml(conf_path, nodes, evacuation_wait)
                constraints = ""
                if compute_resource:
                    resources += nova_compute_xml()
                    constraints = only_on(f"{NOVA_COMPUTE}-clone", nodes)
                pcmk.exec(via, ["cibadmin", "--modify", "--allow-create", "-o",
                                "configuration", "--xml-text",
                                f"<configuration><resources>{resources}</resources>"
                                f"<constraints>{constraints}</constraints>"
                                f"{topology_xml(nodes)}</configuration>"])
            stack = cls(pcmk, nova, conf_path, netns, lock_fd, compute_resource)
            if nova_fencing and compute_resource:
                stack.wait_computes_started()
        except BaseException:
            nova.stop()
            raise
        return stack

    def wait_computes_started(self, timeout: float = 60.0) -> None:
        """Until the cluster has started nova-compute on every powered compute (its
        first start on a node restarts it on an empty hypervisor: servers booted before
        that would fail) and the DC is idle."""
        deadline = time.monotonic() + timeout
        waiting = [n for n in self.nodes if self.pcmk.is_on(n)]
        while waiting:
            waiting = [n for n in waiting if self.pcmk.exec(
                n, ["test", "-e", nova_compute_agent.STARTED], check=False).returncode]
            if waiting and time.monotonic() > deadline:
                raise LabError(f"nova-compute not started by the cluster on "
                               f"{', '.join(waiting)} after {timeout:g}s")
            time.sleep(0.3)
        self.pcmk.settle(timeout=timeout)

    # -- hakari, configured as an operator would ----------------------------------------
    def install_hakari(self) -> None:
        """`hakari install` on the machine (every node sees it), with an interpreter the
        alert's user hacluster may run."""
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        res = run_hakari("install", "--python", python)
        if res.returncode != 0:
            raise LabError(f"hakari install failed: {res.stderr.strip()}")
        self.hakari_installed = True

    def configure_hakari(self, conf: str, *, prefer: str | None = None,
                         log_file: str | None = None, monitor: str = "10s",
                         stickiness: int = 0) -> None:
        """docs/deployment.md's pcs steps for hakari on this lab: the evacuator on the
        controllers (preferring ``prefer``), compute-guard on the computes before their
        nova-compute, and the alert with the nodes' ``conf`` as recipient."""
        pcmk = self.pcmk
        via = pcmk.controllers[0]
        run = lambda argv: pcmk.exec(via, argv, timeout=60)  # noqa: E731
        params = [f"config={conf}"] + ([f"log_file={log_file}"] if log_file else [])
        meta = ["meta", f"resource-stickiness={stickiness}"] if stickiness else []
        # Created disabled: started before its constraints exist, it could land anywhere.
        run(["pcs", "resource", "create", EVACUATOR, "ocf:hakari:evacuator", *params,
             "op", "monitor", f"interval={monitor}", "timeout=30s", "op", "start",
             "timeout=60s", "op", "stop", "timeout=60s", *meta, "--disabled"])
        constraints = only_on(EVACUATOR, pcmk.controllers)
        if prefer:
            constraints += (f'<rsc_location id="{EVACUATOR}-prefers" rsc="{EVACUATOR}" '
                            f'node="{prefer}" score="100"/>')
        if self.compute_resource:
            run(["pcs", "resource", "create", GUARD, "ocf:hakari:compute-guard",
                 "poll_interval=1", "op", "monitor", "interval=10s", "timeout=30s",
                 "op", "start", "timeout=600s", "meta", "requires=unfencing", "clone",
                 "interleave=true"])
            constraints += (
                only_on(f"{GUARD}-clone", self.nodes)
                + f'<rsc_order id="hakari-guard-before-nova-compute" first="{GUARD}-clone" '
                f'first-action="start" then="{NOVA_COMPUTE}-clone" then-action="start" '
                'kind="Mandatory"/>'
                f'<rsc_colocation id="hakari-nova-compute-with-guard" '
                f'rsc="{NOVA_COMPUTE}-clone" with-rsc="{GUARD}-clone" score="INFINITY"/>')
        run(["cibadmin", "--modify", "--allow-create", "-o", "configuration", "--xml-text",
             f"<configuration><constraints>{constraints}</constraints>{alert_xml(conf)}"
             "</configuration>"])
        run(["pcs", "resource", "enable", EVACUATOR])
        # The guard's first start restarts the nova-compute ordered after it: servers
        # booted meanwhile would fail.
        time.sleep(1)
        pcmk.wait_ready(timeout=90)

    def engine_node(self) -> str | None:
        """The controller the evacuator runs on (its journal is on that machine only)."""
        via = next((n for n in self.pcmk.controllers
                    if self.pcmk.is_on(n) and not self.pcmk.is_cut(n)), None)
        if via is None:
            return None
        out = self.pcmk.exec(via, ["crm_resource", "--locate", "-r", EVACUATOR],
                             check=False, timeout=30).stdout.decode()
        # "resource hakari-evacuator is running on: node1"
        return out.rsplit(":", 1)[1].split()[0] if "is running on:" in out else None

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
        """Boot node (a reboot fencing may have powered it on already). Its nova-compute
        starts with the host, or, as a cluster resource, when the cluster starts it."""
        if not self.compute_resource:
            # The host rebooted: its hypervisor comes back empty.
            self.nova.control.start_compute(node, rebooted=True)
        if not self.pcmk.is_on(node):
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
            if self.hakari_installed:
                run_hakari("install", "--uninstall")
        finally:
            try:
                self.nova.stop()
            finally:
                remove_agents()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None


def nova_dir(lab_path: str) -> str:
    return os.path.join(lab_path, "nova")


def down(lab_path: str) -> bool:
    """Stop the Nova of the stack whose Pacemaker lab lives at lab_path, if any; also
    works for a stack left behind by a process that died. Take the lab down next, then
    remove_agents(): the cluster stops nova-compute through its agent."""
    stopped = False
    if os.path.isdir(nova_dir(lab_path)):
        stopped = nova_lab.down(nova_dir(lab_path))
    return stopped


def remove_agents() -> None:
    """The agents a stack put on the machine (fence_hakari, the lab's nova-compute)."""
    try:
        os.unlink(paths.FENCE_AGENT_PATH)
    except FileNotFoundError:
        pass
    nova_compute_agent.uninstall()
