"""The configuration `hakari render` writes, installed as the Ansible role installs it
(hakari.conf on every host, each its own copy) and applied with `hakari apply-cib` to a
live cluster of the production shape, is what runs the whole recovery.

node1..node3 are the controllers (engine, fence devices), compute1 and compute2 the
Pacemaker Remote computes (the rendered connection resources replace the lab's), each
node's power device the lab's fence_hakarilab, each compute's nova-compute the lab's
(ocf:hakarilab:nova-compute); Nova is the stack's real Nova 34. Nothing of hakari's is in
the CIB before the rendered cib.xml goes in: the stack is started without its own
fence_hakari device and topology. Then compute1 loses power and the chain must run end to
end through the rendered objects: its connection times out, fencing topology [power
device, fence_hakari], Nova forced down and disabled, the alert, the evacuator's incident,
the evacuations, and on the way back Pacemaker's own unfencing (hakari-nova
provides=unfencing), the compute-guard clone (requires=unfencing) and nova-compute after it.
"""

from __future__ import annotations

import grp
import json
import os
import re
import subprocess
import sys
import time

import pytest
import yaml
from lxml import etree

from hakari import lifecycle, paths
from lab.stack import run_hakari as hakari
from tests.conftest import require_remoted, require_tools
from tests.fixtures_nova import nova_connection, require_nova_venv, wait_for
from tests.fixtures_pacemaker import _keep_logs

pytestmark = pytest.mark.nova

CONTROLLERS = ("node1", "node2", "node3")
COMPUTES = ("compute1", "compute2")
VICTIM = "compute1"
ALERT_SELECT = ["select_nodes", "select_fencing", "select_resources", "select_attributes"]
# The interpreter of the installed agents: the alert runs as hacluster, which cannot run
# the venv's Python below /root (docs/deployment.md).
AGENT_PYTHON = "/usr/bin/python3"
PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
HAKARI_CONF = "/etc/hakari/hakari.conf"  # the rendered default, on every node
CLOUDS = "/etc/hakari/clouds.yaml"       # the stack's, on every node


def lab_vars(lab, nova) -> dict:
    """The cluster variables for the lab, as an operator of this cluster would write
    them: power fencing by the lab agent, the computes remote, Nova's cloud from inside
    the nodes, every path the default one each node has."""
    def node(name: str, **extra) -> dict:
        return {"name": name, "addresses": [lab.address(name)],
                "fence": {"agent": "fence_hakarilab", "params": {"lab_dir": lab.path}},
                **extra}

    return {
        "cluster_name": f"hakari-{lab.name}",
        "cloud": nova.cloud,
        "clouds_file": CLOUDS,
        "controllers": [node(n, nodeid=i) for i, n in enumerate(CONTROLLERS, start=1)],
        "computes": [node(n, remote=True) for n in COMPUTES],
        "fencing": {"evacuation_wait": 30},
        # The lab's nova-compute, a cluster resource like the systemd unit it stands for.
        "nova_compute": {"agent": "ocf:hakarilab:nova-compute"},
        "alert": {"timeout": "20s"},
        "policies": {
            "cluster": {"reconcile_interval": 1},
            "recovery": {"poll_interval": 0.3},
            "openstack": {"api_timeout": 20},
        },
    }


def install_conf(lab, rendered: str) -> None:
    """What the Ansible role does on each host: the rendered hakari.conf as its own
    /etc/hakari/hakari.conf, root:haclient 0640."""
    with open(rendered) as f:
        text = f.read()
    gid = grp.getgrnam("haclient").gr_gid
    for node in lab.real_nodes:
        path = lab.inside(node, HAKARI_CONF)
        with open(path, "w") as f:
            f.write(text)
        os.chown(path, 0, gid)
        os.chmod(path, 0o640)


class Drill:
    def __init__(self, stack, out_dir: str):
        self.stack = stack
        self.lab = stack.pcmk
        self.out_dir = out_dir
        self.cib_path = os.path.join(out_dir, "cib.xml")
        self.applied: list[dict] = []
        self.timings: dict[str, float] = {}

    def apply_cib(self, *extra: str, node: str = "node1") -> dict:
        res = self.lab.exec(node, [sys.executable, "-m", "hakari", "apply-cib",
                                   self.cib_path, "--format", "json", *extra],
                            timeout=90, check=False)
        assert res.returncode == 0, res.stderr.decode("utf-8", "replace")
        return json.loads(res.stdout)

    def live_cib(self, node: str = "node3") -> etree._Element:
        res = self.lab.exec(node, ["cibadmin", "--query"], timeout=30)
        return etree.fromstring(res.stdout, PARSER)

    def incident(self, node: str = VICTIM) -> dict | None:
        raw = self.stack.crm_attribute(node, "hakari-incident")
        return json.loads(raw) if raw else None

    def started_on(self, rsc: str, node: str = "node1") -> list[str]:
        """Nodes where resource (or clone) rsc runs, as crm_mon on node sees it."""
        mon = etree.fromstring(self.lab.crm_mon_xml(node), PARSER)
        paths = (f"resources/resource[@id='{rsc}']",
                 f"resources/clone[@id='{rsc}']/resource")
        return sorted(n.get("name") for p in paths for r in mon.iterfind(p)
                      if r.get("role") == "Started" and r.get("failed") != "true"
                      for n in r.iterfind("node"))

    def crm_mon_text(self, node: str = "node1") -> str:
        res = self.lab.exec(node, ["crm_mon", "-1", "-rfA", "--fence-history=3"],
                            timeout=30, check=False)
        return (res.stdout + res.stderr).decode("utf-8", "replace")

    def wait_started(self, rsc: str, placement, timeout: float = 60) -> list[str]:
        """Until rsc runs where placement(nodes) says it may; returns those nodes."""
        deadline = time.monotonic() + timeout
        while not placement(where := self.started_on(rsc)):
            if time.monotonic() > deadline:
                pytest.fail(f"{rsc} not started as expected after {timeout:g}s (on "
                            f"{where}):\n{self.crm_mon_text()}")
            time.sleep(0.3)
        return where

    def engine_node(self) -> str:
        return self.started_on("hakari-evacuator")[0]

    def engine_log(self) -> str:
        # The evacuator's default log, /var/log/hakari, is not one of a lab node's own
        # directories: every node's engine appends to the one file.
        try:
            with open("/var/log/hakari/engine.log", "rb") as f:
                f.seek(max(0, os.path.getsize(f.name) - 4000))
                return f.read().decode("utf-8", "replace")
        except OSError as err:
            return f"(no engine log: {err})"


def one_controller(nodes) -> bool:
    return len(nodes) == 1 and nodes[0] in CONTROLLERS


@pytest.fixture(scope="module")
def drill(pacemaker_lab_factory, tmp_path_factory):
    require_remoted()
    require_nova_venv()
    require_tools("crm_diff")
    if not os.access(AGENT_PYTHON, os.X_OK):
        pytest.skip(f"needs {AGENT_PYTHON} for the installed agents")
    from lab.stack import Stack

    t0 = time.monotonic()
    lab = pacemaker_lab_factory("rc", nodes=len(CONTROLLERS), computes=len(COMPUTES))
    prefix = f"hakari-{lab.name}-"
    timings = {"lab": time.monotonic() - t0}
    stack = None
    try:
        # Waits while another stack (another test session) holds the machine's agents.
        stack = Stack.up(lab, nova_fencing=False)
        timings["stack"] = time.monotonic() - t0
        out_dir = os.path.join(lab.path, "rendered")
        vars_file = tmp_path_factory.mktemp("rendered-config") / "cluster.yaml"
        vars_file.write_text(yaml.safe_dump(lab_vars(lab, stack.nova)))
        res = hakari("render", "--vars", str(vars_file), "--output-dir", out_dir)
        assert res.returncode == 0, res.stderr
        install_conf(lab, os.path.join(out_dir, "hakari.conf"))
        res = hakari("install", "--python", AGENT_PYTHON)
        stack.hakari_installed = True
        assert res.returncode == 0, res.stdout + res.stderr
        timings["installed"] = time.monotonic() - t0
        d = Drill(stack, out_dir)
        d.applied.append(d.apply_cib())
        # What the rendered configuration starts, once Pacemaker unfenced every node:
        # the engine and the fence devices on a controller (a controller's own power
        # device on another one), the guard and nova-compute on both computes.
        for rsc in ("hakari-evacuator", "hakari-nova", "hakari-power-compute1",
                    "hakari-power-compute2"):
            d.wait_started(rsc, one_controller, timeout=90)
        for n in CONTROLLERS:
            d.wait_started(f"hakari-power-{n}",
                           lambda where, n=n: one_controller(where) and where != [n])
        for rsc in ("hakari-compute-guard-clone", "hakari-nova-compute-clone"):
            d.wait_started(rsc, lambda where: where == list(COMPUTES), timeout=90)
        d.applied.append(d.apply_cib())
        timings["applied"] = time.monotonic() - t0
        d.timings = timings
        yield d
    finally:
        # Pacemaker stops hakari's resources while their agents are still installed
        # and Nova still answers; only then go the agents, then Nova.
        try:
            lab.down(keep_logs=_keep_logs())
        finally:
            if stack is not None:
                stack.down()
        timings["down"] = time.monotonic() - t0
        print("timings (s since start): "
              + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
        ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True,
                            timeout=30, check=True).stdout
        left = [line for line in ps.splitlines() if lab.path in line]
        assert not left, f"processes left behind: {left}"
        ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            timeout=30, check=True).stdout
        assert not [n for n in ns.split() if n.startswith(prefix)], ns


def _key(elem) -> tuple:
    if elem.tag == "fencing-level":
        return (elem.tag, elem.get("target"), elem.get("index"))
    return (elem.tag, elem.get("id"))


def _c14n(elem) -> bytes:
    return etree.tostring(elem, method="c14n")


def _nvpairs(elem, kind: str) -> dict[str, str]:
    return {nv.get("name"): nv.get("value") for nv in elem.iterfind(f"{kind}/nvpair")}


def test_rendered_cib_is_live_and_applies_idempotently(drill):
    first, second = drill.applied
    assert first["changed"] and not first["removed"], first
    assert "primitive hakari-evacuator" in first["created"]
    assert "fencing-level hakari-fl-compute1-1" in first["created"]
    assert "alert hakari-alert" in first["created"]
    # The rendered remote connections take the place of the lab's own.
    assert {"primitive compute1", "primitive compute2"} <= set(first["replaced"]), first
    assert not second["changed"], second
    assert not drill.apply_cib("--check", node="node2")["changed"]

    rendered = etree.parse(drill.cib_path, PARSER).getroot().find("configuration")
    live = drill.live_cib().find("configuration")
    # Every object hakari rendered is in the live CIB exactly as rendered.
    for section in ("resources", "constraints", "fencing-topology", "alerts"):
        have = {_key(e): e for e in live.find(section)}
        for obj in rendered.find(section):
            assert _key(obj) in have, f"{section}: {_key(obj)} missing from the live CIB"
            assert _c14n(have[_key(obj)]) == _c14n(obj), f"{section}: {_key(obj)} differs"
    props = {nv.get("name"): nv.get("value") for nv in live.iterfind(
        "crm_config/cluster_property_set[@id='cib-bootstrap-options']/nvpair")}
    assert props["stonith-enabled"] == "true" and props["no-quorum-policy"] == "stop"
    assert props["concurrent-fencing"] == "true" and props["stonith-timeout"] == "120s"
    assert props["dc-deadtime"] == "2s"  # the lab's own property is left alone

    # Fencing topology: power device, then fence_hakari on the computes.
    levels = {lv.get("target"): lv for lv in live.iterfind("fencing-topology/fencing-level")}
    assert set(levels) == {*CONTROLLERS, *COMPUTES}
    for n in CONTROLLERS:
        assert levels[n].get("devices") == f"hakari-power-{n}"
    for n in COMPUTES:
        assert levels[n].get("index") == "1"
        assert levels[n].get("devices") == f"hakari-power-{n},hakari-nova"

    res = live.find("resources")
    for n in (*CONTROLLERS, *COMPUTES):
        dev = res.find(f"primitive[@id='hakari-power-{n}']")
        assert dev.get("class") == "stonith" and dev.get("type") == "fence_hakarilab"
        assert _nvpairs(dev, "instance_attributes") == {
            "lab_dir": drill.lab.path, "pcmk_host_list": n}
    for n in COMPUTES:
        conn = res.find(f"primitive[@id='{n}']")
        assert (conn.get("provider"), conn.get("type")) == ("pacemaker", "remote")
        assert _nvpairs(conn, "instance_attributes") == {
            "reconnect_interval": "60s", "server": drill.lab.address(n)}
    nova = res.find("primitive[@id='hakari-nova']")
    assert nova.get("type") == "fence_hakari"
    assert _nvpairs(nova, "instance_attributes") == {
        "cloud": drill.stack.nova.cloud, "config_file": HAKARI_CONF,
        "evacuation_wait": "30", "pcmk_host_list": " ".join(COMPUTES)}
    assert _nvpairs(nova, "meta_attributes") == {"provides": "unfencing"}
    assert res.find("primitive[@id='lab-fence']") is not None  # not hakari's: kept

    evac = res.find("primitive[@id='hakari-evacuator']")
    assert (evac.get("class"), evac.get("provider"), evac.get("type")) == (
        "ocf", "hakari", "evacuator")
    assert _nvpairs(evac, "instance_attributes") == {
        "cloud": drill.stack.nova.cloud, "config": HAKARI_CONF}
    guard = res.find("clone[@id='hakari-compute-guard-clone']/primitive")
    assert guard.get("id") == "hakari-compute-guard" and guard.get("type") == "compute-guard"
    assert _nvpairs(guard, "meta_attributes") == {"requires": "unfencing"}
    compute = res.find("clone[@id='hakari-nova-compute-clone']/primitive")
    assert (compute.get("provider"), compute.get("type")) == ("hakarilab", "nova-compute")

    cons = live.find("constraints")

    def banned_unless(rsc_id: str, allowed) -> None:
        rules = [r for loc in cons.iterfind(f"rsc_location[@rsc='{rsc_id}']")
                 for r in loc.iterfind("rule")]
        assert len(rules) == 1, rsc_id
        rule = rules[0]
        assert rule.get("score") == "-INFINITY" and rule.get("boolean-op") == "and"
        assert sorted((e.get("attribute"), e.get("operation"), e.get("value"))
                      for e in rule.iterfind("expression")) == [
            ("#uname", "ne", n) for n in sorted(allowed)]

    banned_unless("hakari-evacuator", CONTROLLERS)
    banned_unless("hakari-compute-guard-clone", COMPUTES)
    banned_unless("hakari-nova", CONTROLLERS)
    for n in (*CONTROLLERS, *COMPUTES):
        banned_unless(f"hakari-power-{n}", CONTROLLERS)
    for n in CONTROLLERS:
        # A controller's power device: on the other controllers, never on itself.
        avoids = cons.find(f"rsc_location[@id='hakari-power-{n}-avoids-{n}']")
        assert avoids.get("node") == n and avoids.get("score") == "-INFINITY"
    order = cons.find("rsc_order[@id='hakari-guard-before-nova-compute']")
    assert (order.get("first"), order.get("then")) == (
        "hakari-compute-guard-clone", "hakari-nova-compute-clone")
    assert cons.find("rsc_colocation[@id='hakari-nova-compute-with-guard']") is not None

    alert = live.find("alerts/alert[@id='hakari-alert']")
    assert alert.get("path") == "/usr/libexec/hakari/alert"
    assert [c.tag for c in alert.find("select")] == ALERT_SELECT
    assert [r.get("value") for r in alert.iterfind("recipient")] == [HAKARI_CONF]
    assert _nvpairs(alert, "meta_attributes") == {
        "timestamp-format": "%Y-%m-%dT%H:%M:%S.%06NZ", "timeout": "20s"}

    # And it runs: engine and devices on the controllers, the guard and nova-compute on
    # the computes, every node unfenced; each node with the rendered hakari.conf.
    assert drill.started_on("hakari-evacuator", node="node2")[0] in CONTROLLERS
    assert drill.started_on("hakari-compute-guard-clone", node="node2") == list(COMPUTES)
    assert drill.started_on("hakari-nova-compute-clone", node="node2") == list(COMPUTES)
    with open(os.path.join(drill.out_dir, "hakari.conf")) as f:
        rendered_conf = f.read()
    for node in drill.lab.real_nodes:
        st = os.stat(drill.lab.inside(node, HAKARI_CONF))
        assert (st.st_mode & 0o777, st.st_gid) == (0o640, grp.getgrnam("haclient").gr_gid)
        with open(drill.lab.inside(node, HAKARI_CONF)) as f:
            assert f.read() == rendered_conf


def test_power_off_of_a_compute_runs_the_whole_chain(drill):
    stack, lab = drill.stack, drill.lab
    admin = nova_connection(stack.nova)
    try:
        _chain(drill, stack, lab, admin)
    finally:
        admin.close()


def _service(admin, host):
    return next(iter(admin.compute.services(binary="nova-compute", host=host)))


def spooled_events(spool: str) -> dict[str, dict]:
    """The alert records in the spool, consumed (spool-done/) or not yet, by file name."""
    out = {}
    # Pending first: one the engine moves to spool-done/ meanwhile is found there next.
    for d in (spool, paths.done_dir(os.path.dirname(spool))):
        for name in os.listdir(d):
            if name.endswith(".json"):
                try:
                    with open(os.path.join(d, name)) as f:
                        out[name] = json.load(f)
                except FileNotFoundError:
                    continue
    return out


def _chain(drill, stack, lab, admin):
    from hakari.records.journal import JOURNAL_NAME, Event
    from tests.e2e.drill import fence_success

    booted = stack.nova.control.boot_servers(VICTIM, project="demo", count=3)
    booted += stack.nova.control.boot_servers(VICTIM, project="alt", count=1, stopped=True)
    bystander = stack.nova.control.boot_servers("compute2", project="demo", count=1)[0]
    assert {s["host"] for s in booted} == {VICTIM}
    time.sleep(2)  # the engine (reconcile_interval 1 s) has seen compute1 alive since
    engine = drill.engine_node()
    spool = stack.state_path(engine, "spool")
    before = spooled_events(spool)

    t0 = time.time()
    stack.power_off(VICTIM)
    # The rendered connection's monitor (20 s, timed out after 30 s) notices it.
    view = lab.wait(lambda v: fence_success(v, VICTIM, t0) is not None, timeout=90,
                    what=f"{VICTIM} fenced")
    t_fenced = fence_success(view, VICTIM, t0) - t0
    # The power device of the rendered topology cut it, from a controller.
    cuts = [e for e in lab.fence_log() if e["target"] == VICTIM and e["rc"] == 0
            and e["action"] in ("off", "reboot")]
    assert cuts and all(e["host"] in CONTROLLERS for e in cuts), cuts
    # ... and the rendered hakari-nova (fence_hakari, second in the level) told Nova.
    svc = wait_for(lambda: (s := _service(admin, VICTIM)).is_forced_down
                   and s.status == "disabled" and s, timeout=30,
                   what=f"{VICTIM} forced down and disabled")
    # fence_hakari's reason: hakari's prefix, the incident when the engine has opened
    # one already, the fencing time.
    assert re.match(r"hakari:( incident \S+:)? fenced at ", svc.disabled_reason), \
        svc.disabled_reason

    done = wait_for(lambda: (i := drill.incident()) and i["state"] in
                    lifecycle.EVACUATION_FINISHED | lifecycle.PARKED and i,
                    timeout=90, what=f"{VICTIM}'s incident evacuated")
    t_evacuated = time.time() - t0
    assert done["state"] in lifecycle.EVACUATION_FINISHED, (
        done, drill.engine_log())

    # Every server of compute1 runs elsewhere (the stopped one stopped), exactly once.
    for s in booted:
        server = admin.compute.get_server(s["id"])
        assert server.compute_host == "compute2", (s["name"], server.compute_host)
        assert server.status == ("SHUTOFF" if s["status"] == "SHUTOFF" else "ACTIVE")
    assert list(admin.compute.servers(all_projects=True, compute_host=VICTIM)) == []
    assert admin.compute.get_server(bystander["id"]).compute_host == "compute2"
    per_server: dict[str, int] = {}
    for m in admin.compute.migrations(source_compute=VICTIM, migration_type="evacuation"):
        per_server[m.server_id] = per_server.get(m.server_id, 0) + 1
    assert per_server == {s["id"]: 1 for s in booted}

    # The rendered alert delivered the fencing into the state directory the rendered
    # hakari.conf names (its recipient) on the engine's controller, where the engine
    # consumed it.
    spooled = [r for name, r in spooled_events(spool).items() if name not in before]
    assert any(r["kind"] == "fencing" and r["fencing"]["target"] == VICTIM
               and r["fencing"]["ok"] for r in spooled), spooled
    with open(stack.state_path(engine, JOURNAL_NAME)) as f:
        events = [e for line in f if (e := Event.from_json(line)) is not None
                  and e.incident == done["id"]]
    states = [e.detail.get("state") for e in events if e.event == "state"]
    assert states[:2] == [lifecycle.DETECTED, lifecycle.FENCE_CONFIRMED], states
    # Rule 1 in the journal's own order: no evacuation before the fencing proof.
    order = [e.event if e.event != "state" else e.detail.get("state") for e in events]
    assert order.index(lifecycle.FENCE_CONFIRMED) < order.index("evacuate-requested"), order
    # That journal is the engine's controller's own.
    for node in lab.real_nodes:
        if node != engine and os.path.exists(stack.state_path(node, JOURNAL_NAME)):
            with open(stack.state_path(node, JOURNAL_NAME)) as f:
                assert done["id"] not in f.read(), node

    # Back: the reboot fencing switched it on; once its connection is retried (the
    # rendered reconnect_interval, 60 s) Pacemaker unfences it (fence_hakari `on`), the
    # guard and nova-compute start there, and the incident closes, enabled again.
    stack.power_on(VICTIM)
    closed = wait_for(lambda: (i := drill.incident())
                      and i["state"] in (lifecycle.ENABLED, lifecycle.FAILED) and i,
                      timeout=150, what=f"{VICTIM} re-enabled")
    assert closed["state"] == lifecycle.ENABLED and closed["id"] == done["id"], (
        closed, drill.engine_log())
    for rsc in ("hakari-compute-guard-clone", "hakari-nova-compute-clone"):
        drill.wait_started(rsc, lambda where: where == list(COMPUTES))
    svc = _service(admin, VICTIM)
    assert svc.status == "enabled" and not svc.is_forced_down
    wait_for(lambda: stack.crm_attribute(VICTIM, "hakari-fenced") is None, timeout=30,
             what=f"{VICTIM} unfenced (fence_hakari on clears hakari-fenced)")
    assert drill.started_on("hakari-evacuator") == [engine]
    print(f"power cut of {VICTIM}: fenced {t_fenced:.1f}s, evacuated {t_evacuated:.1f}s, "
          f"re-enabled {time.time() - t0:.1f}s")
