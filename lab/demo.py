"""`make demo`: the drill on the lab, narrated.

A real cloud's shape in network namespaces: three controllers (node1-node3, Corosync
members) and two computes (compute1, compute2) that are Pacemaker Remote nodes, each
machine with its own /etc/hakari and /var/lib/hakari, and a real Nova 34 (fake virt
driver) on the lab bridge. hakari is installed and configured the way an operator would:
`pcs` creates the ocf:hakari:evacuator resource on the controllers, cibadmin adds the
alert, and each compute's fencing level is [power device, fence_hakari]. Servers are
booted on compute1, then compute1 loses power. The demo prints the timeline as it happens
(connection lost, fenced, forced down, each evacuation verified, host back, re-enabled),
checks the outcome and ends with `demo: PASS …` or `demo: FAIL …` (exit 0 or 1).
Everything is torn down and uninstalled at the end, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from lab.cluster import Lab, LabError, exit_on_sigterm

NAME = "demo"
VICTIM = "compute1"
ENGINE_NODE = "node1"
COMPUTES = ("compute1", "compute2")
CONTROLLERS = ("node1", "node2", "node3")
RESOURCE = "hakari-evacuator"


class Failed(Exception):
    pass


class Timeline:
    """Lines printed as things happen, stamped relative to the power cut (wall clock,
    so events read back from Pacemaker, Nova and the journal line up)."""

    def __init__(self):
        self.t0 = time.time()
        self.marks: dict[str, float] = {}

    def at(self, key: str, what: str, when: float | None = None) -> None:
        if key in self.marks:
            return
        t = (when if when is not None else time.time()) - self.t0
        self.marks[key] = t
        print(f"  t+{t:6.2f}s  {what}", flush=True)


def say(msg: str) -> None:
    print(f"demo: {msg}", flush=True)


def drill() -> int:
    from lab.nova import NovaLabError
    from lab.stack import Stack, run_hakari as hakari

    started = time.monotonic()
    say("starting 3 controllers, 2 Pacemaker Remote computes and a real Nova (fake virt "
        "driver) ...")
    lab = Lab.up(NAME, nodes=len(CONTROLLERS), computes=len(COMPUTES))
    stack = None
    installed = False
    try:
        stack = Stack.up(lab, exit_with_parent=True)
        say(f"cluster and Nova up in {time.monotonic() - started:.1f}s")
        conf = engine_config(stack)
        # The alert runs as hacluster: its interpreter must be one that user may run.
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        res = hakari("install", "--python", python, timeout=120)
        if res.returncode != 0:
            raise Failed(f"hakari install failed: {res.stderr.strip()}")
        installed = True
        configure_cluster(lab, conf)
        servers = boot_servers(stack)
        engine_node = wait_engine(lab, conf)
        return run_drill(lab, stack, engine_node, servers)
    except (Failed, LabError, NovaLabError, subprocess.SubprocessError) as err:
        say(f"FAIL {err}")
        return 1
    finally:
        if installed:
            hakari("install", "--uninstall", timeout=120)
        if stack is not None:
            stack.down()
        report = lab.down()
        say(f"lab stopped in {report['seconds']:.1f}s; total {time.monotonic() - started:.1f}s")


def engine_config(stack) -> str:
    """The lab's hakari.conf, as every node has it, plus quicker looks for a demo. The
    computes need no naming: by default they are the Pacemaker Remote nodes."""
    return stack.engine_config("hakari-engine", {
        "cluster": {"reconcile_interval": 2},
        "recovery": {"poll_interval": 0.3}})


def configure_cluster(lab, conf: str) -> None:
    say("configuring hakari through pcs: the evacuator resource on the controllers "
        "(preferring node1) and the alert")
    node = ENGINE_NODE
    lab.exec(node, ["pcs", "resource", "create", RESOURCE, "ocf:hakari:evacuator",
                    f"config={conf}", "op", "monitor", "interval=10s", "timeout=30s",
                    "op", "start", "timeout=60s", "--disabled"], timeout=60)
    lab.exec(node, ["pcs", "constraint", "location", RESOURCE, "prefers", f"{node}=100"],
             timeout=60)
    for compute in COMPUTES:
        lab.exec(node, ["pcs", "constraint", "location", RESOURCE, "avoids", compute],
                 timeout=60)
    alert = (
        '<alerts><alert id="hakari-alert" path="/usr/libexec/hakari/alert">'
        '<select><select_nodes/><select_fencing/><select_resources/></select>'
        '<meta_attributes id="hakari-alert-meta"><nvpair id="hakari-alert-ts" '
        'name="timestamp-format" value="%Y-%m-%dT%H:%M:%S.%06NZ"/></meta_attributes>'
        f'<recipient id="hakari-alert-to" value="{conf}"/></alert></alerts>')
    lab.exec(node, ["cibadmin", "--modify", "--allow-create", "-o", "configuration",
                    "--xml-text", alert], timeout=60)
    # Enabled only now: before its constraints exist it could start on a compute.
    lab.exec(node, ["pcs", "resource", "enable", RESOURCE], timeout=60)


def boot_servers(stack) -> list[dict]:
    control = stack.nova.control
    servers = control.boot_servers(VICTIM, project="demo", count=4)
    servers += control.boot_servers(VICTIM, project="alt", count=1, stopped=True)
    servers += control.boot_servers(COMPUTES[1], project="demo", count=1, name="bystander")
    on_victim = [s for s in servers if s["host"] == VICTIM]
    say(f"booted {len(on_victim)} servers on {VICTIM} (one SHUTOFF, two projects) and one "
        f"on {COMPUTES[1]}")
    return servers


def wait_engine(lab, conf: str, timeout: float = 60) -> str:
    """The controller the engine runs on: its journal is on that machine only."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = lab.exec(ENGINE_NODE, ["crm_resource", "--locate", "-r", RESOURCE],
                       check=False, timeout=30).stdout.decode()
        if "is running on" in out:
            node = out.strip().rsplit(" ", 1)[-1]
            say(f"hakari engine running under Pacemaker ({out.strip()})")
            time.sleep(3)  # it has seen every node alive at least once
            return node
        time.sleep(0.5)
    raise Failed(f"{RESOURCE} did not start within {timeout:.0f}s")


def run_drill(lab, stack, engine_node: str, servers: list[dict]) -> int:
    import openstack
    from openstack import config as os_config

    from hakari.cluster.crm_mon import parse_crm_mon
    from hakari.records.journal import JOURNAL_NAME, Event

    admin = openstack.connection.Connection(config=os_config.OpenStackConfig(
        config_files=[stack.nova.clouds_yaml], load_envvars=False).get_one(stack.nova.cloud))
    victims = {s["id"]: s for s in servers if s["host"] == VICTIM}
    journal = stack.state_path(engine_node, JOURNAL_NAME)
    offset = os.path.getsize(journal) if os.path.exists(journal) else 0
    print(flush=True)
    say(f"cutting the power of remote compute {VICTIM} (its nova-compute dies with it); "
        "timeline:")
    tl = Timeline()
    stack.power_off(VICTIM)
    tl.at("cut", f"{VICTIM} loses power")
    results: dict[str, Event] = {}
    state = None
    powered_on = False
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        view = parse_crm_mon(lab.crm_mon_xml(ENGINE_NODE))
        node = view.node(VICTIM)
        if node is not None and node.unclean:
            tl.at("unclean", f"Pacemaker: {VICTIM} lost, must be fenced")
        for ev in view.fence_events:
            if ev.target == VICTIM and ev.status == "success" and ev.completed and \
                    ev.completed.timestamp() >= tl.t0 - 1:
                tl.at("fenced", f"Pacemaker: {VICTIM} fenced ({ev.action} by {ev.delegate}, "
                      "through [power device, fence_hakari])", ev.completed.timestamp())
        svc = next(iter(admin.compute.services(binary="nova-compute", host=VICTIM)))
        if svc.is_forced_down and svc.status == "disabled":
            tl.at("nova-down", f"Nova: {VICTIM} forced down and disabled "
                  f"(\"{svc.disabled_reason}\")")
        elif "nova-down" in tl.marks and svc.status == "enabled" and not svc.is_forced_down:
            # Whoever did it (fence_hakari's unfencing or the engine), Nova says so.
            tl.at("enabled", f"Nova: {VICTIM}'s nova-compute re-enabled, no longer "
                  "forced down")
        events, offset = read_journal(journal, offset)
        for ev in events:
            if ev.event == "state":
                state = ev.detail.get("state")
                tl.at(f"state-{state}", f"hakari: incident {ev.incident} {state}"
                      + (f" ({ev.detail.get('reason')})" if ev.detail.get("reason") else ""),
                      ev.ts.timestamp())
            elif ev.event == "evacuate-requested":
                tl.at(f"req-{ev.instance}", f"hakari: evacuate {name_of(victims, ev)} "
                      f"(request {ev.request_id or 'sent'})", ev.ts.timestamp())
            elif ev.event == "result":
                results[ev.instance] = ev
                dest = ev.detail.get("dest_host") or "-"
                tl.at(f"res-{ev.instance}", f"hakari: {name_of(victims, ev)} "
                      f"{ev.detail.get('result')} -> {dest}"
                      + (f" ({ev.detail.get('reason')})" if ev.detail.get("reason") else
                         ", verified"), ev.ts.timestamp())
            elif ev.event == "enabled":
                tl.at("enabled", f"hakari: {VICTIM}'s nova-compute re-enabled",
                      ev.ts.timestamp())
        if state in ("EVACUATED", "HOST_RETURNED") and not powered_on:
            tl.at("boot", f"{VICTIM} boots again; its nova-compute starts")
            stack.power_on(VICTIM)
            powered_on = True
        if state in ("ENABLED", "FAILED", "BLOCKED"):
            break
        time.sleep(0.3)
    print(flush=True)
    return verdict(admin, tl, victims, results, state)


def read_journal(path: str, offset: int):
    from hakari.records.journal import Event

    if not os.path.exists(path):
        return [], offset
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    complete = data[:data.rfind(b"\n") + 1]
    events = [e for line in complete.decode("utf-8", "replace").splitlines()
              if (e := Event.from_json(line)) is not None]
    return events, offset + len(complete)


def name_of(victims: dict, ev) -> str:
    return ev.detail.get("name") or victims.get(ev.instance, {}).get("name") or ev.instance


def verdict(admin, tl: Timeline, victims: dict, results: dict, state: str | None) -> int:
    problems = []
    if state != "ENABLED":
        problems.append(f"the incident ended {state or 'never opened'}, not ENABLED")
    for sid, s in victims.items():
        server = admin.compute.get_server(sid)
        want = "SHUTOFF" if s["status"] == "SHUTOFF" else "ACTIVE"
        if server.compute_host == VICTIM or server.status != want:
            problems.append(f"{s['name']} is {server.status} on {server.compute_host}")
    migrations = list(admin.compute.migrations(source_compute=VICTIM,
                                               migration_type="evacuation"))
    per_server: dict[str, int] = {}
    for m in migrations:
        per_server[m.server_id] = per_server.get(m.server_id, 0) + 1
    doubled = [sid for sid, n in per_server.items() if n > 1]
    if doubled or set(per_server) != set(victims):
        problems.append(f"evacuations per instance: {per_server}")
    last_result = max((tl.marks.get(f"res-{sid}", 0.0) for sid in victims), default=0.0)
    if "enabled" in tl.marks and tl.marks["enabled"] < last_result:
        problems.append("re-enabled before the last evacuation finished")
    if problems:
        say("FAIL " + "; ".join(problems))
        return 1
    done = last_result
    fenced = tl.marks.get("fenced", float("nan"))
    say(f"PASS {len(victims)} instances of {VICTIM} evacuated and verified "
        f"{done:.1f}s after the power cut (fenced at +{fenced:.1f}s), each exactly once; "
        f"{VICTIM} re-enabled only after the last one")
    return 0


def main() -> int:
    exit_on_sigterm()
    try:
        return drill()
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
