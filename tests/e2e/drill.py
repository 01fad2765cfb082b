"""What the engine drills share: the production shape on the lab and how to read it.

Three controllers (node1..node3, Corosync members) and Pacemaker Remote computes
(compute1..), a real Nova 34 whose computes they are, hakari installed (`hakari install`)
and configured as docs/deployment.md says: pcs creates ocf:hakari:evacuator on the
controllers, compute-guard on the computes ordered before their nova-compute (a cluster
resource, lab/nova_compute_agent.py), the alert; each compute's fencing level is [lab
power device, fence_hakari], and fence_hakari provides unfencing.

Every node has its own /etc/hakari and /var/lib/hakari, as on real machines. So the
engine's journal is on the controller it runs on (after a failover, part on each), read
from there through the node's own directory; nothing is read from a shared one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import sys
import time

import pytest

from hakari import lifecycle, paths
from hakari.records.journal import JOURNAL_NAME
from tests.conftest import require_remoted, require_tools
from tests.fixtures_nova import nova_connection, require_nova_venv, restore_computes, wait_for

CONTROLLERS = ("node1", "node2", "node3")
ENGINE_LOG = "/var/log/pacemaker/hakari-engine.log"  # each node's own
CLOSED = lifecycle.TERMINAL | lifecycle.PARKED  # over, or waiting for an operator


@dataclasses.dataclass
class Drill:
    lab: object
    stack: object
    admin: object
    conf: str
    stonith_action: str = "reboot"

    @property
    def computes(self) -> list[str]:
        return self.lab.computes

    def journal(self, node: str) -> str:
        """The host path of node's own journal."""
        return self.stack.state_path(node, JOURNAL_NAME)


@contextlib.contextmanager
def engine_drill(lab, write_conf, *, prefer: str = "node1", engine_timeout: float = 90,
                 evacuation_wait: float = 50.0, stonith_action: str = "reboot"):
    """The whole stack on ``lab``: Nova, hakari installed and configured through pcs with
    the configuration ``write_conf(stack)`` writes on every node, the engine running on
    ``prefer``. Torn down after."""
    require_tools("pcs")
    require_remoted()
    require_nova_venv()
    from lab.stack import Stack

    stack = admin = None
    try:
        stack = Stack.up(lab, evacuation_wait=evacuation_wait)  # waits for other stacks
        conf = write_conf(stack)
        stack.install_hakari()
        if stonith_action != "reboot":
            set_property(lab, "stonith-action", stonith_action)
        # Past Pacemaker's 10 attempts a failing fencing is retried only at the next
        # recheck: the failed-fencing drills fail it for longer.
        set_property(lab, "stonith-max-attempts", "100")
        stack.configure_hakari(conf, prefer=prefer, log_file=ENGINE_LOG, monitor="5s",
                               stickiness=200)
        admin = nova_connection(stack.nova)
        d = Drill(lab, stack, admin, conf, stonith_action)
        wait_engine_on(d, prefer, timeout=engine_timeout)
        yield d
    finally:
        if admin is not None:
            admin.close()
        from tests.fixtures_pacemaker import _keep_logs
        # Pacemaker stops hakari's resources while the agents are installed and Nova
        # answers; then the agents and Nova go.
        try:
            lab.down(keep_logs=_keep_logs())
        finally:
            if stack is not None:
                stack.down()


def set_property(lab, name: str, value: str | None) -> None:
    via = next(n for n in lab.controllers if lab.is_on(n) and not lab.is_cut(n))
    argv = ["crm_attribute", "--type", "crm_config", "--name", name]
    lab.exec(via, argv + (["--update", value] if value is not None else ["--delete"]),
             timeout=60, check=value is not None)


def controller(d: Drill) -> str:
    """A controller to run commands on: powered, cabled."""
    return next(n for n in d.lab.controllers if d.lab.is_on(n) and not d.lab.is_cut(n))


# -- the engine -------------------------------------------------------------------------

def heartbeat_age(d: Drill, node: str) -> float | None:
    try:
        return time.time() - os.stat(paths.heartbeat_file(d.stack.state_path(node))).st_mtime
    except FileNotFoundError:
        return None


def wait_engine_on(d: Drill, node: str, timeout: float = 60) -> None:
    wait_for(lambda: d.stack.engine_node() == node, timeout=timeout, interval=0.5,
             what=f"the evacuator running on {node}")
    wait_for(lambda: (a := heartbeat_age(d, node)) is not None and a < 3, timeout=30,
             what=f"the engine's heartbeat on {node}")
    time.sleep(2.5)  # one reconcile: it has seen every node alive


def engine_to(d: Drill, node: str) -> None:
    from lab.stack import EVACUATOR

    if d.stack.engine_node() != node:
        via = controller(d)
        d.lab.exec(via, ["crm_resource", "--move", "-r", EVACUATOR, "-N", node],
                   timeout=60)
        try:
            wait_for(lambda: d.stack.engine_node() == node, timeout=60, interval=0.5,
                     what=f"the evacuator moved to {node}")
        finally:
            # Stickiness keeps it there once the move constraint is gone.
            d.lab.exec(via, ["crm_resource", "--clear", "-r", EVACUATOR], timeout=60)
    wait_engine_on(d, node)


def engine_log(d: Drill, node: str) -> str:
    try:
        with open(d.lab.inside(node, ENGINE_LOG), errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def engine_logs(d: Drill, tail: int = 2500) -> str:
    return "\n".join(f"--- engine log on {n}:\n{engine_log(d, n)[-tail:]}"
                     for n in d.lab.controllers if engine_log(d, n))


# -- journals, each on its own machine --------------------------------------------------

def journal_marks(d: Drill) -> dict[str, int]:
    """Where each controller's journal ends now."""
    return {n: os.path.getsize(p) if os.path.exists(p := d.journal(n)) else 0
            for n in d.lab.controllers}


def journal_since(d: Drill, marks: dict[str, int], node: str | None = None):
    """Events journaled since marks: on node, or on every controller (an engine that
    failed over wrote part on each), in time order."""
    from lab.demo import read_journal

    events = []
    for n in [node] if node else d.lab.controllers:
        path = d.journal(n)
        if os.path.exists(path):
            events += read_journal(path, min(marks.get(n, 0), os.path.getsize(path)))[0]
    return sorted(events, key=lambda e: e.ts)


def journals_naming(d: Drill, incident_id: str) -> list[str]:
    """The nodes (controllers and computes) whose own journal names the incident."""
    found = []
    for node in d.lab.real_nodes:
        path = d.journal(node)
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                if any(incident_id in line for line in f):
                    found.append(node)
    return found


# -- the cluster and Nova ---------------------------------------------------------------

def incident(d: Drill, node: str) -> dict | None:
    raw = d.stack.crm_attribute(node, "hakari-incident")
    return json.loads(raw) if raw else None


def incident_rows(d: Drill, node: str) -> list[dict]:
    """The incidents `hakari incidents --format json` shows on node (its own config)."""
    res = d.lab.exec(node, [sys.executable, "-m", "hakari", "--config-file", d.conf,
                            "incidents", "--format", "json"], timeout=60, check=False)
    assert res.returncode == 0, res.stderr.decode("utf-8", "replace")
    doc = json.loads(res.stdout)
    return doc["incidents"] if isinstance(doc, dict) else doc


def on_host(d: Drill, host: str) -> dict[str, str]:
    """{server id: status} of every server Nova has on host."""
    return {s.id: s.status for s in d.admin.compute.servers(all_projects=True,
                                                            compute_host=host)}


def evacuations(d: Drill, source: str, since: float) -> dict[str, int]:
    """{server id: evacuation migrations from source created since (epoch)}."""
    counts: dict[str, int] = {}
    for m in d.admin.compute.migrations(source_compute=source, migration_type="evacuation"):
        created = dt.datetime.fromisoformat(m.created_at)
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.timezone.utc)
        if created.timestamp() >= since - 1:
            counts[m.server_id] = counts.get(m.server_id, 0) + 1
    return counts


def service(d: Drill, host: str):
    return next(iter(d.admin.compute.services(binary="nova-compute", host=host)))


def compute_running(d: Drill, host: str) -> bool:
    """Whether host's nova-compute runs (in the lab: inside the Nova process)."""
    return bool(d.stack.nova.control.host(host)["running"])


def fence_events(view, node: str, since: float = 0.0):
    """node's fencing history (crm_mon) completed since `since` (epoch), oldest first."""
    from hakari.cluster.crm_mon import parse_crm_mon

    return sorted((ev for ev in parse_crm_mon(view.raw).fence_events
                   if ev.target == node and ev.completed is not None
                   and ev.completed.timestamp() >= since - 1),
                  key=lambda ev: ev.completed)


def fence_success(view, node: str, since: float) -> float | None:
    """Completion (epoch) of the first successful fencing (off/reboot) of node since."""
    times = [ev.completed.timestamp() for ev in fence_events(view, node, since)
             if ev.status == "success" and ev.action in ("off", "reboot")]
    return min(times) if times else None


def assert_moved_once(d: Drill, victims: dict[str, str], source: str, since: float):
    for sid, status in victims.items():
        server = d.admin.compute.get_server(sid)
        assert server.compute_host != source, f"{server.name} still on {source}"
        want = "SHUTOFF" if status == "SHUTOFF" else "ACTIVE"
        assert server.status == want, f"{server.name} is {server.status}, not {want}"
    per_server = evacuations(d, source, since)
    assert set(per_server) == set(victims), per_server
    doubled = {sid: n for sid, n in per_server.items() if n != 1}
    assert not doubled, f"evacuated more than once: {doubled}"


def host_events(events, host: str) -> list:
    """The events of host's host incidents, without those of process or instance
    failures on it (journaled as failure-signal / failure-state)."""
    return [e for e in events if e.host == host and not e.event.startswith("failure-")]


def one_incident(events, host: str) -> str:
    ids = {e.incident for e in host_events(events, host)}
    assert len(ids) == 1, f"incidents for {host}: {ids}"
    return ids.pop()


def states(events, host: str) -> list[str]:
    return [e.detail.get("state") for e in events if e.host == host and e.event == "state"]


def wait_state(d: Drill, node: str, wanted, timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        current = incident(d, node)
        if current and current["state"] in wanted:
            return current
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; "
                        f"{node}'s incident: {current}\n{engine_logs(d)}")
        time.sleep(0.3)


def restore(d: Drill, timeout: float = 150) -> None:
    """Every node powered, cabled and joined, fencing normal, every compute's
    nova-compute running and enabled, no incident left waiting, the evacuator enabled.

    A loop, because putting things back can cause more: a node that comes back while
    still unclean (its fencing had failed) is fenced now."""
    from lab.stack import EVACUATOR, GUARD

    lab, stack = d.lab, d.stack
    lab.clear_fence()
    for node in lab.real_nodes:
        if lab.is_cut(node):
            lab.heal(node)
    set_property(lab, "stonith-action", d.stonith_action)
    lab.exec(controller(d), ["pcs", "resource", "enable", EVACUATOR], timeout=60,
             check=False)
    deadline = time.monotonic() + timeout
    while True:
        for node in lab.real_nodes:
            if not lab.is_on(node):
                stack.power_on(node, wait=False)
        for node in d.computes:
            # An incident parked for an operator keeps the compute out; the operator's
            # part here: it is done with.
            found = incident(d, node)
            if found and found["state"] in lifecycle.PARKED:
                lab.exec(controller(d), ["crm_attribute", "--type", "nodes", "--node",
                                         node, "--name", "hakari-incident", "--delete"],
                         timeout=30)
                lab.exec(controller(d), ["crm_resource", "--cleanup", "-r",
                                         f"{GUARD}-clone"], timeout=60, check=False)
        try:
            lab.wait_ready(timeout=20)
            if (stack.engine_node() is not None
                    and all((i := incident(d, n)) is None or i["state"] in CLOSED
                            for n in d.computes)
                    and all(compute_running(d, n) for n in d.computes)):
                break
        except Exception:  # noqa: BLE001 - keep putting it back until the deadline
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            pytest.fail("could not restore the cluster: " + ", ".join(
                f"{n}: {incident(d, n)}, nova-compute running {compute_running(d, n)}"
                for n in d.computes) + f"\n{engine_logs(d)}")
        time.sleep(1)
    restore_computes(stack.nova, d.admin)
    settled(d)


def settled(d: Drill, timeout: float = 90) -> None:
    """The DC idle, every compute's nova-compute running: nothing restarting under a
    test that boots servers."""
    time.sleep(1)  # a change just made may not have reached the DC yet
    d.lab.wait_ready(timeout=timeout)
    wait_for(lambda: all(compute_running(d, n) for n in d.computes), timeout=timeout,
             what="every compute's nova-compute running")


class ServiceWatch:
    """A compute's nova-compute as Nova reports it (status, forced down) and whether it
    runs, sampled a few times a second from a connection of its own, so the moments it
    started and was put back in service are known to within a sample."""

    def __init__(self, stack, host: str, interval: float = 0.25):
        import threading

        self.stack = stack
        self.conn = nova_connection(stack.nova)
        self.host = host
        self.interval = interval
        # (time, status, forced down, running)
        self.samples: list[tuple[float, str, bool, bool]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)
        self.conn.close()

    def _run(self):
        while not self._stop.is_set():
            try:
                svc = next(iter(self.conn.compute.services(binary="nova-compute",
                                                           host=self.host)))
                running = self.stack.nova.control.host(self.host)["running"]
                self.samples.append((time.time(), svc.status, bool(svc.is_forced_down),
                                     bool(running)))
            except Exception as err:  # noqa: BLE001 - a lost sample is reported, not fatal
                self.errors.append(f"{type(err).__name__}: {err}")
            self._stop.wait(self.interval)

    def back_in_service(self) -> tuple[float, float] | None:
        """(last sample out of service, first sample back in service: enabled and not
        forced down) once it has been taken out. It was put back between the two, so
        the first is the bound that proves "not before"."""
        return self._edge(lambda s: s[1] == "disabled" or s[2])

    def started_again(self) -> tuple[float, float] | None:
        """(last sample not running, first sample running again) once it had stopped."""
        return self._edge(lambda s: not s[3])

    def _edge(self, out) -> tuple[float, float] | None:
        last_out = None
        for sample in list(self.samples):
            if out(sample):
                last_out = sample[0]
            elif last_out is not None:
                return last_out, sample[0]
        return None
