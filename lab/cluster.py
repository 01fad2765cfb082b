"""The lab as one object: bring a Pacemaker cluster up in namespaces, drive it, take it down.

    lab = Lab.up("lab", nodes=3)            # or Lab.up("demo", nodes=1, ghosts=1)
    lab.exec("node1", ["crm_mon", "-1"])
    lab.power_off("node2"); lab.wait(lambda v: v.fenced("node2"), timeout=30)
    lab.power_on("node2"); lab.cut("node3"); lab.heal("node3")
    lab.down()

Any process can drive a running lab: Lab.attach(name) reads its state file.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from lab import (cib, config, corosync_conf, fence_agent, fence_control, netns, power,
                 proc, state, teardown)

if TYPE_CHECKING:
    from lab.crm_view import View

REQUIRED_TOOLS = ("corosync", "pacemakerd", "crm_mon", "cibadmin", "crm_verify",
                  "corosync-quorumtool", "stonith_admin", "ip", "nsenter", "unshare", "mount")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class LabError(RuntimeError):
    pass


class LabTimeout(LabError):
    pass


def check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (namespaces, mounts, cluster daemons)")
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        raise LabError(f"missing tools: {', '.join(missing)} (make test installs them)")


class Lab:
    def __init__(self, name: str, root: str | None = None):
        self.name = config.check_name(name)
        self.root = root
        self.path = config.lab_dir(name, root)
        self.timings: dict[str, float] = {}

    # -- reading the lab's state --------------------------------------------------------
    @property
    def state(self) -> dict:
        data = state.read_json(config.state_file(self.path))
        if data is None:
            raise LabError(f"lab {self.name} is not up (no {config.state_file(self.path)})")
        return data

    @property
    def nodes(self) -> list[str]:
        """All node names, ghosts included, in order."""
        return sorted(self.state["nodes"], key=config.node_order)

    @property
    def real_nodes(self) -> list[str]:
        return [n for n in self.nodes if not self.state["nodes"][n].get("ghost")]

    @property
    def controllers(self) -> list[str]:
        """The real Corosync members."""
        return [n for n in self.real_nodes if self.role(n) == config.MEMBER]

    @property
    def computes(self) -> list[str]:
        """The Pacemaker Remote nodes (empty in a members-only lab)."""
        return [n for n in self.real_nodes if self.role(n) == config.REMOTE]

    def role(self, node: str) -> str:
        return self.state["nodes"][node].get("role", config.MEMBER)

    def inside(self, node: str, path: str) -> str:
        """The host path of what node sees at path under its private mounts."""
        self._real(node)
        return config.inside(self.path, node, path)

    @property
    def ghosts(self) -> list[str]:
        return [n for n in self.nodes if self.state["nodes"][n].get("ghost")]

    def address(self, node: str) -> str:
        return self.state["nodes"][node]["address"]

    def netns(self, node: str) -> str:
        return self._real(node)["netns"]

    def holder(self, node: str) -> proc.ProcRef:
        ref = proc.ProcRef.from_json(self._real(node).get("holder"))
        if not proc.alive(ref):
            raise LabError(f"{node}: holder process gone (lab {self.name} torn down?)")
        return ref

    def _real(self, node: str) -> dict:
        entry = self.state["nodes"].get(node)
        if entry is None:
            raise LabError(f"{node}: no such node in lab {self.name}")
        if entry.get("ghost"):
            raise LabError(f"{node} is a ghost node: nothing runs there")
        return entry

    @classmethod
    def attach(cls, name: str = config.DEFAULT_NAME, root: str | None = None) -> "Lab":
        """The running lab called name (started by this or any other process)."""
        lab = cls(name, root)
        lab.state  # noqa: B018 - raises if it is not up
        return lab

    # -- up -------------------------------------------------------------------------------
    @classmethod
    def up(cls, name: str = config.DEFAULT_NAME, *, nodes: int = 3, ghosts: int = 0,
           computes: int = 0, cib_options: dict[str, str] | None = None, cib_xml: list[str] = (),
           token_ms: int = 1000, daemon_env: dict[str, str] | None = None,
           root: str | None = None, wait: bool = True, timeout: float = 60.0,
           owner_pid: int | None = None) -> "Lab":
        """Build and start a lab; any earlier lab of the same name is removed first.

        nodes real nodes node1..nodeN, then `ghosts` ghost nodes (in corosync's nodelist,
        never started; Pacemaker fences them at start-up). With ghosts, node1 carries as
        many votes as there are nodes so the real ones stay quorate.
        computes: Pacemaker Remote nodes compute1..computeK (pacemaker-remoted in their
        own namespaces, each connected through an ocf:pacemaker:remote resource), the
        shape of a real cloud; 0 keeps the members-only lab.
        cib_xml: extra CIB elements (primitive, alert, rsc_location…); cib_options: cluster
        properties; daemon_env: extra environment for the cluster daemons (and so for the
        agents they run). wait: return only when every real node is online with a DC.
        owner_pid: the process the lab belongs to (a test session); once it is gone the lab
        counts as abandoned and teardown.down_abandoned() removes it.
        """
        check_prerequisites()
        if nodes < 1 or computes < 0 or nodes + ghosts + computes > config.MAX_NODES:
            raise ValueError(f"nodes={nodes} ghosts={ghosts} computes={computes}: need "
                             f"1 <= nodes, nodes + ghosts + computes <= {config.MAX_NODES}")
        if computes and not os.access(config.REMOTED, os.X_OK):
            raise LabError(f"no {config.REMOTED} for the remote computes (make remoted "
                           "unpacks it)")
        lab = cls(name, root)
        base = root or config.STATE_ROOT
        with state.locked(base, name):
            teardown.down(name, root=root)
            try:
                owner = proc.ref_of(owner_pid) if owner_pid else None
                lab._build(nodes, ghosts, computes, cib_options, list(cib_xml),
                           token_ms, daemon_env or {}, owner)
                if wait:
                    t = time.monotonic()
                    lab.wait_ready(timeout=timeout)
                    lab.timings["cluster_ready"] = round(time.monotonic() - t, 3)
            except BaseException as err:
                # A failed start keeps its logs for the post-mortem; an interrupt does not.
                teardown.down(name, root=root, keep_logs=isinstance(err, Exception),
                              graceful=False)
                raise
        lab.timings["total"] = round(sum(lab.timings.values()), 3)
        return lab

    def _build(self, nodes, ghosts, computes, cib_options, cib_xml, token_ms, daemon_env,
               owner) -> None:
        t0 = time.monotonic()
        fence_agent.install()
        total = nodes + ghosts
        members_names = [config.node_name(i) for i in range(1, total + 1)]
        remote_names = [config.compute_name(i) for i in range(1, computes + 1)]
        names = members_names + remote_names
        entries = {}
        members = []
        for i, node in enumerate(names, start=1):
            ghost = nodes < i <= total
            remote = i > total
            entries[node] = {"index": i, "address": config.node_address(i), "ghost": ghost,
                             "role": config.REMOTE if remote else config.MEMBER}
            if not ghost:
                entries[node]["netns"] = config.netns_name(self.name, node)
            if not remote:
                votes = total if (ghosts and i == 1) else 1
                members.append(corosync_conf.Member(node, i, config.node_address(i), votes))
        real = [n for n in names if not entries[n]["ghost"]]
        lab_state = {
            "name": self.name, "path": self.path, "repo": REPO_ROOT,
            "bridge_netns": config.bridge_netns(self.name), "nodes": entries,
            "attached": {}, "daemon_env": daemon_env, "token_ms": token_ms,
            "created": time.time(), "owner": owner.to_json() if owner else None,
        }
        os.makedirs(self.path, mode=0o755)
        state.write_json(config.state_file(self.path), lab_state)
        fence_control.clear(self.path)

        conf_text = corosync_conf.render(f"hakari-{self.name}", members, token_ms)
        remotes = [cib.remote_xml(n, entries[n]["address"]) for n in remote_names]
        # Verified without the remote connections: crm_verify warns that a remote node
        # never seen yet would be fenced, which it says of every new remote node.
        cib.verify(cib.build(self.path, names, cib_options, cib_xml))
        seed = cib.build(self.path, names, cib_options, remotes + cib_xml)
        uid = pwd.getpwnam("hacluster").pw_uid
        gid = grp.getgrnam("haclient").gr_gid
        # One Pacemaker Remote key for the cluster, a copy on every node (as
        # `pcs cluster node add-remote` distributes it).
        authkey = os.urandom(4096)
        for node in real:
            self._make_node_dir(node, entries[node]["role"], conf_text, seed, authkey,
                                uid, gid)
        self.timings["files"] = round(time.monotonic() - t0, 3)

        t = time.monotonic()
        bridge = lab_state["bridge_netns"]
        netns.create_bridge(bridge)
        for node in real:
            ns = entries[node]["netns"]
            netns.add(ns)
            netns.plug(bridge, node, ns, entries[node]["address"])
            entries[node]["netns_inode"] = netns.inode(ns)
        state.write_json(config.state_file(self.path), lab_state)
        self.timings["network"] = round(time.monotonic() - t, 3)

        t = time.monotonic()
        for node in real:
            entries[node]["holder"] = self._start_holder(node, entries[node]["netns"])
        state.write_json(config.state_file(self.path), lab_state)
        for node in real:
            self._wait_booted(node)
        self.timings["holders"] = round(time.monotonic() - t, 3)

        t = time.monotonic()
        generations = {n: power.request_power_on(self.path, n) for n in real}
        for node, gen in generations.items():
            power.wait_powered_on(self.path, node, gen)
        self.timings["daemons"] = round(time.monotonic() - t, 3)

    def _make_node_dir(self, node, role, conf_text, seed, authkey, uid, gid) -> None:
        ndir = config.node_dir(self.path, node)
        for sub in config.NODE_MOUNTS:
            os.makedirs(os.path.join(ndir, sub), mode=0o755)
        logdir = os.path.join(ndir, "var-log-pacemaker")
        os.chown(logdir, uid, gid)
        os.chmod(logdir, 0o770)
        key = os.path.join(ndir, "etc-pacemaker", config.AUTHKEY)
        with open(key, "wb") as f:
            f.write(authkey)
        os.chown(key, uid, gid)
        os.chmod(key, 0o640)
        os.chown(os.path.dirname(key), 0, gid)
        os.chmod(os.path.dirname(key), 0o750)
        if role == config.REMOTE:
            return  # no Corosync, no CIB: a remote node only runs what the cluster asks
        etc = os.path.join(ndir, "etc-corosync")
        if os.path.isdir("/etc/corosync/uidgid.d"):
            shutil.copytree("/etc/corosync/uidgid.d", os.path.join(etc, "uidgid.d"))
        with open(os.path.join(etc, "corosync.conf"), "w") as f:
            f.write(conf_text)
        cib.install(os.path.join(ndir, "var-lib-pacemaker"), seed, uid, gid)

    def _start_holder(self, node: str, ns: str) -> dict:
        ndir = config.node_dir(self.path, node)
        logf = open(os.path.join(ndir, "holder.log"), "ab")
        env = dict(os.environ)
        env["PYTHONPATH"] = REPO_ROOT
        try:
            # No fork anywhere in this chain: the PID we get is the holder's.
            child = subprocess.Popen(
                ["nsenter", f"--net={netns.NETNS_DIR}/{ns}", "--",
                 "unshare", "--mount", "--uts", "--propagation", "private", "--",
                 sys.executable, "-m", "lab.holder", "--lab-dir", self.path,
                 "--node", node],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env, cwd="/",
                start_new_session=True)
        finally:
            logf.close()
        _CHILDREN[child.pid] = child
        ref = proc.ref_of(child.pid)
        if ref is None:
            raise LabError(f"{node}: holder exited at once (see {ndir}/holder.log)")
        return ref.to_json()

    def _wait_booted(self, node: str, timeout: float = 15.0) -> None:
        path = config.power_file(self.path, node)
        holder = proc.ProcRef.from_json(self.state["nodes"][node]["holder"])
        deadline = time.monotonic() + timeout
        while True:
            data = state.read_json(path)
            if data is not None:
                if data.get("power") == "error":
                    raise LabError(f"{node}: {data.get('error')}")
                return
            if not proc.alive(holder):
                raise LabError(f"{node}: holder died while booting (see "
                               f"{config.node_dir(self.path, node)}/holder.log)")
            if time.monotonic() >= deadline:
                raise LabError(f"{node}: holder not booted after {timeout:g}s")
            time.sleep(0.01)

    def wait_ready(self, timeout: float = 60.0) -> View:
        """Every powered-on real node online, a DC, quorum, and the DC idle (no transition
        in flight: a lab handed over mid-transition is a race for whoever uses it next)."""
        def ready(v: View) -> bool:
            return (v.dc is not None and bool(v.quorate)
                    and v.all_joined([n for n in self.real_nodes if self.is_on(n)])
                    and self.dc_state(v.dc) == "S_IDLE")
        return self.wait(ready, timeout=timeout, what="cluster ready")

    def dc_state(self, dc: str, node: str | None = None) -> str | None:
        """The DC controller's state (S_IDLE when settled), asked from node; None if the
        question gets no answer."""
        try:
            res = self.exec(node or self._observer(), ["crmadmin", "-t", "5s", "-S", dc],
                            timeout=10, check=False)
        except LabError:
            return None
        words = res.stdout.decode("utf-8", "replace").split()
        # "Controller on node1 in state S_IDLE: ok"
        return next((w.rstrip(":") for w in words if w.startswith("S_")), None)

    def settle(self, timeout: float = 5.0) -> bool:
        """Best effort: wait until the DC is idle; False if it did not get there."""
        try:
            self.wait(lambda v: v.dc is not None and self.dc_state(v.dc) == "S_IDLE",
                      timeout=timeout, what="DC idle")
        except (LabError, ImportError):
            return False
        return True

    # -- down -----------------------------------------------------------------------------
    def down(self, keep_logs: bool = False) -> dict:
        base = self.root or config.STATE_ROOT
        # Stopping while the DC waits on an action from a stopping node can stall the
        # DC's shutdown for minutes (seen on 2.1.5): let a healthy cluster settle first.
        if os.path.exists(config.state_file(self.path)) and self._healthy():
            self.settle(timeout=5.0)
        with state.locked(base, self.name):
            report = teardown.down(self.name, root=self.root, keep_logs=keep_logs)
            if not os.path.exists(self.path):
                state.forget_lock(base, self.name)
        for pid in list(_CHILDREN):
            child = _CHILDREN.pop(pid)
            if child.poll() is None:
                try:
                    child.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    _CHILDREN[pid] = child
        self.timings["down"] = report["seconds"]
        return report

    def _healthy(self) -> bool:
        try:
            on = self.powered_nodes()
            return bool(on) and on == self.real_nodes and not any(
                self.is_cut(n) for n in on)
        except (LabError, KeyError, proc.CommandError):
            return False

    # -- running things on a node ---------------------------------------------------------
    def command(self, node: str, argv: list[str], cwd: str | None = None) -> list[str]:
        """argv wrapped to run inside node (its network, mounts and hostname)."""
        wrapped = ["nsenter", "-t", str(self.holder(node).pid), "-n", "-m", "-u"]
        if cwd:
            wrapped.append(f"--wd={cwd}")
        return wrapped + ["--"] + list(argv)

    def exec(self, node: str, argv: list[str], *, timeout: float = 30.0,
             check: bool = True, env: dict[str, str] | None = None,
             input: bytes | None = None, cwd: str | None = None,
             ok_codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
        """Run argv on node and wait (stdout/stderr captured as bytes)."""
        try:
            return proc.run(self.command(node, argv, cwd), timeout=timeout, check=check,
                            env=env, input=input, ok_codes=ok_codes)
        except proc.CommandError as err:
            raise LabError(f"{node}: {err}") from None

    def spawn(self, node: str, argv: list[str], **popen_kwargs) -> subprocess.Popen:
        """Start a long-running argv on node (an engine, a server); the caller owns it.
        A power cut or `down` of the node kills it like everything else there."""
        popen_kwargs.setdefault("start_new_session", True)
        return subprocess.Popen(self.command(node, argv), **popen_kwargs)

    # -- observing --------------------------------------------------------------------------
    def powered_nodes(self) -> list[str]:
        return [n for n in self.real_nodes if self.is_on(n)]

    def is_on(self, node: str) -> bool:
        return power.is_on(self.path, node)

    def crm_mon_xml(self, node: str | None = None, timeout: float = 15.0) -> bytes:
        node = node or self._observer()
        res = self.exec(node, ["crm_mon", "-1", "--output-as=xml", "--fence-history=3"],
                        timeout=timeout, check=False)
        if res.returncode != 0:
            raise LabError(f"{node}: crm_mon exit {res.returncode}: "
                           + res.stderr.decode("utf-8", "replace").strip()[:200])
        return res.stdout

    def view(self, node: str | None = None) -> View:
        # lxml only here: teardown must work with a bare system Python.
        from lab import crm_view
        return crm_view.parse(self.crm_mon_xml(node))

    def _observer(self, avoid: str | None = None) -> str:
        # Controllers: a remote node's tools reach the CIB only through its connection.
        on = [n for n in self.powered_nodes() if self.role(n) == config.MEMBER]
        if not on:
            raise LabError(f"lab {self.name}: no node is powered on")
        preferred = [n for n in on if n != avoid]
        return (preferred or on)[0]

    def wait(self, predicate, *, timeout: float = 30.0, node: str | None = None,
             interval: float = 0.2, what: str | None = None,
             avoid: str | None = None) -> View:
        """Poll crm_mon on node (default: any powered-on node, not `avoid`) until
        predicate(View) is true; return that View. Errors while polling (a node still
        starting, crm_mon not connected) count as "not yet"."""
        deadline = time.monotonic() + timeout
        last, last_err = None, None
        while True:
            try:
                observer = node or self._observer(avoid)
                last = self.view(observer)
                if predicate(last):
                    return last
            except LabError as err:
                last_err = err
            if time.monotonic() >= deadline:
                seen = last.summary() if last else f"no answer ({last_err})"
                raise LabTimeout(f"lab {self.name}: {what or 'condition'} not reached "
                                 f"after {timeout:g}s; last seen: {seen}")
            time.sleep(interval)

    # -- failures ------------------------------------------------------------------------
    def power_off(self, node: str) -> list[int]:
        """A power cut: SIGKILL everything on node, now. Returns the PIDs killed."""
        self._real(node)
        return power.power_off(self.path, node)

    def power_on(self, node: str, *, wait: bool = True, timeout: float = 30.0) -> None:
        """Boot node (fresh /run and /dev/shm, disks kept). wait: until another powered
        node (or node itself, if alone) sees it online and done joining."""
        self._real(node)
        t = time.monotonic()
        generation = power.request_power_on(self.path, node)
        power.wait_powered_on(self.path, node, generation, timeout=timeout)
        if wait:
            self.wait(lambda v: v.joined(node) and v.dc is not None
                      and self.dc_state(v.dc) == "S_IDLE",
                      timeout=timeout, avoid=node, what=f"{node} online")
        self.timings[f"power_on_{node}"] = round(time.monotonic() - t, 3)

    def cut(self, node: str) -> None:
        """Unplug node's cable at the lab switch (it keeps running, alone)."""
        self._real(node)
        netns.set_port(self.state["bridge_netns"], node, up=False)

    def heal(self, node: str) -> None:
        self._real(node)
        netns.set_port(self.state["bridge_netns"], node, up=True)

    def is_cut(self, node: str) -> bool:
        return not netns.port_is_up(self.state["bridge_netns"], node)

    # -- the fence agent --------------------------------------------------------------------
    def set_fence(self, target: str, *, fail: bool = False, delay: float = 0.0,
                  dead: bool = False) -> None:
        """Make the lab fence agent fail and/or wait `delay` s for target ("*" = all);
        dead: target's power device cannot switch it on again (a machine that died for
        good), though fencing it off succeeds."""
        fence_control.set_behaviour(self.path, target, fail=fail, delay=delay, dead=dead)

    def clear_fence(self) -> None:
        fence_control.clear(self.path)

    def fence_log(self) -> list[dict]:
        """Every call of the lab fence agent: time, host (where it ran), action, target,
        rc, detail."""
        return fence_control.read_log(self.path)

    # -- other namespaces on the lab network (the Nova lab) --------------------------------
    def attach_namespace(self, netns_name: str, address: str = config.NOVA_ADDRESS, *,
                         create: bool = True) -> None:
        """Cable network namespace netns_name to the lab bridge with address/24.

        Creates the namespace if missing (the lab then owns it: `down` kills what runs in
        it and deletes it); an existing namespace stays the caller's. Idempotent."""
        st = self.state
        if netns_name in st["attached"]:
            return
        if address in {e["address"] for e in st["nodes"].values()} | {
                e["address"] for e in st["attached"].values()}:
            raise LabError(f"address {address} is taken in lab {self.name}")
        owned = False
        if not netns.exists(netns_name):
            if not create:
                raise LabError(f"no network namespace {netns_name}")
            netns.add(netns_name)
            owned = True
        port = f"x{address.rsplit('.', 1)[-1]}"
        netns.plug(st["bridge_netns"], port, netns_name, address)
        st["attached"][netns_name] = {"address": address, "port": port, "owned": owned}
        state.write_json(config.state_file(self.path), st)

    def detach_namespace(self, netns_name: str) -> None:
        st = self.state
        entry = st["attached"].pop(netns_name, None)
        if entry is None:
            return
        netns.unplug(st["bridge_netns"], entry["port"])
        if entry.get("owned"):
            ino = netns.inode(netns_name)
            if ino:
                proc.kill_all(proc.processes_in_netns({ino}))
            netns.delete(netns_name)
        state.write_json(config.state_file(self.path), st)


# Holders this process started, so their exit status is collected (no zombies left).
_CHILDREN: dict[int, subprocess.Popen] = {}


def up(name: str = config.DEFAULT_NAME, **kwargs) -> Lab:
    return Lab.up(name, **kwargs)


def down(name: str = config.DEFAULT_NAME, *, root: str | None = None,
         keep_logs: bool = False) -> dict:
    """Take lab name down; works without a Lab object and on a lab left by a crash."""
    check_prerequisites()
    lab = Lab(name, root)
    return lab.down(keep_logs=keep_logs)


def attach_namespace(netns_name: str, address: str = config.NOVA_ADDRESS, *,
                     lab: str = config.DEFAULT_NAME, create: bool = True) -> None:
    Lab.attach(lab).attach_namespace(netns_name, address, create=create)


def _sigterm_to_exit(signum, frame):  # pragma: no cover - signal plumbing
    raise SystemExit(128 + signum)


def exit_on_sigterm() -> None:
    """Turn SIGTERM/SIGHUP into SystemExit so `finally: lab.down()` runs."""
    signal.signal(signal.SIGTERM, _sigterm_to_exit)
    signal.signal(signal.SIGHUP, _sigterm_to_exit)
