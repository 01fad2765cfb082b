#!/usr/bin/env python3
"""Benchmark: fencing alert -> first evacuate request, cluster tools serving 1,024 nodes.

An engine (hakari.engine.loop.Engine, reading the cluster with hakari.cluster.live)
watches a generated remote-compute cloud (bench/cibgen.py) that the real ``cibadmin``
reads through ``CIB_file``, and recovers into a fake Nova (lab.fakenova, in its own
process). Each run starts a fresh engine, which sees every node up; then the CIB shows
one compute lost (its connection's monitor failed), the fencer's history a successful
reboot of it, and hakari's alert agent spools the fencing alert and wakes the engine.
Timed: from just before the alert is spooled to the first evacuate request's arrival
at the fake Nova. Runs alternate between the engine as ``hakari engine`` builds it
(narrow looks after alerts) and one that makes only full looks. Target: median <= 1 s
over >= 5 runs with narrow looks.

The documents declare no schema (``validate-with="none"``): offline, every cibadmin call
loads the whole file and validates it against the schema, half a second at 1,024 nodes,
where a running CIB manager answers a query from the tree it holds and validates only
what changes the CIB. Runs with the schema declared, as the CIB manager's own copy has
it, are made and reported beside (offline, each of a narrow look's two queries then pays
that validation).

What stands in for a cluster, since a CIB file has none behind it:
- ``stonith_admin`` answers the history the run wrote (bench/fencer.py);
- hakari's own records (incidents, recovery owners) are kept in a small CIB file of
  their own: the offline tools validate and rewrite a whole file on every write (over a
  second at 1,024 nodes, where the CIB manager takes milliseconds). A ``cibadmin``
  wrapper sends the cluster-state queries (a look's) to the large file and hakari's
  record reads and writes to the small one; the engine's look reads its records there.
- The engine has reached Nova once before the alert, as it has after any earlier
  incident (a first connection costs a Keystone round of its own).

Prints JSON. Usage: bench/alert_scale.py [--nodes 1024] [--runs 5] [--servers 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import cibgen, fencer  # noqa: E402
from bench.polling import until  # noqa: E402
from hakari import config  # noqa: E402
from hakari.alerts import agent  # noqa: E402
from hakari.cluster import attributes, live, runner  # noqa: E402
from hakari.cluster.xml import parse_xml  # noqa: E402
from hakari.engine import wiring  # noqa: E402
from hakari.engine.loop import Engine  # noqa: E402
from hakari.records.journal import JOURNAL_NAME, Event  # noqa: E402
from lab.fakenova import FakeNovaProcess  # noqa: E402
from lab.fakenova.sdk import write_clouds_yaml  # noqa: E402

TARGET_S = 1.0
SURVIVORS = ("compute1", "compute2", "compute3")
RUN_TIMEOUT = 60.0
# Sends a look's queries to the cluster's CIB, hakari's records and owners (the nodes
# section, crm_config) and every write to the records' CIB.
CIBADMIN = """#!/bin/sh
case " $* " in
  *" --query "*)
    case "$*" in
      *"--scope nodes"*|*crm_config*) ;;
      *) CIB_file={state}; export CIB_file ;;
    esac ;;
esac
exec {real} "$@"
"""


class World:
    """The files and stand-ins every run shares."""

    def __init__(self, workdir: pathlib.Path, nodes: int):
        self.workdir = workdir
        self.state_cib = workdir / "cib.xml"     # what the wrapper reads: one of cibs
        # (lost, schema declared) -> the document
        self.cibs = {}
        for lost in (False, True):
            cib = cibgen.generate(nodes, 1 if lost else 0)
            self.cibs[lost, True] = workdir / f"cib-{lost}-schema.xml"
            self.cibs[lost, True].write_bytes(cibgen.to_bytes(cib))
            cib.set("validate-with", "none")
            self.cibs[lost, False] = workdir / f"cib-{lost}.xml"
            self.cibs[lost, False].write_bytes(cibgen.to_bytes(cib))
        self.victim = cibgen.compute_name(nodes - len(cibgen.CONTROLLERS))
        bindir = workdir / "bin"
        self.histories = workdir / "fencer"
        fencer.install(bindir, self.histories)
        real = shutil.which("cibadmin")
        if real is None:
            raise RuntimeError("cibadmin not found: install pacemaker-cli-utils")
        wrapper = bindir / "cibadmin"
        wrapper.write_text(CIBADMIN.format(state=shlex.quote(str(self.state_cib)),
                                           real=shlex.quote(real)))
        wrapper.chmod(0o755)
        os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"

    def show(self, cib: pathlib.Path) -> None:
        tmp = self.workdir / ".cib.xml"
        shutil.copyfile(cib, tmp)
        tmp.rename(self.state_cib)


def with_records(look):
    """``look``, with hakari's records read from their own CIB (see the module
    docstring) while it looks: in a cluster they come with the look's own reads."""
    def looked(*args) -> live.Look:
        with runner.start(["cibadmin", "--query", "--scope", "nodes"]) as records:
            seen = look(*args)
            nodes = parse_xml(records.result(timeout=60).stdout, "records", ("nodes",))
        return dataclasses.replace(seen, attributes=attributes.parse_node_attributes(
            nodes, attributes.HAKARI_PREFIX))
    return looked


def one_run(world: World, narrow: bool, schema: bool, servers: int,
            run_dir: pathlib.Path) -> dict:
    victim = world.victim
    world.show(world.cibs[False, schema])
    fencer.write(world.histories, [])
    records = run_dir / "records.xml"
    records.write_bytes(subprocess.run(["cibadmin", "--empty"], capture_output=True,
                                       check=True, timeout=30).stdout)
    os.environ["CIB_file"] = str(records)
    subprocess.run(["cibadmin", "--create", "-o", "nodes", "--xml-text",
                    f'<node id="{victim}" uname="{victim}" type="remote"/>'],
                   check=True, timeout=30)
    fake = FakeNovaProcess(seed=1, workdir=str(run_dir), args=[
        "--hosts", ",".join((victim, *SURVIVORS)), "--rebuild-time", "0.5"])
    fake.start()
    engine = thread = None
    try:
        fake.add_servers(servers, hosts=[victim])
        fake.kill_host(victim)
        clouds = write_clouds_yaml(run_dir / "clouds.yaml", fake.info)
        conf_path = run_dir / "hakari.conf"
        conf_path.write_text(
            f"[DEFAULT]\nstate_dir = {run_dir / 'state'}\n"
            "[cluster]\nreconcile_interval = 60\ntool_timeout = 60\n"
            f"[openstack]\ncloud = fakenova\nclouds_file = {clouds}\n")
        conf = config.load([str(conf_path)])
        parts = dataclasses.replace(
            wiring.parts(conf), look=with_records(live.look),
            look_narrow=with_records(live.look_narrow) if narrow else None)
        engine = Engine(conf, parts, config_files=[str(conf_path)])
        engine.nova.compute_services()      # reached Nova before (module docstring)
        thread = threading.Thread(target=engine.run, name="bench-engine", daemon=True)
        thread.start()
        until(lambda: victim in engine.memory.last_online, RUN_TIMEOUT,
              "the engine's first look", interval=0.005)
        time.sleep(0.5)                     # idle, waiting for a wake-up
        world.show(world.cibs[True, schema])
        fenced = time.time()
        fencer.write(world.histories, [{
            "action": "reboot", "target": victim, "client": "pacemaker-controld.1001",
            "origin": "controller1", "status": "success", "delegate": "controller1",
            "completed": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(fenced))}])
        start = time.time()
        rc = agent.main(_fencing_alert(victim, start, str(conf_path)))
        if rc != 0:
            raise RuntimeError(f"alert agent exit status {rc}")
        first = until(lambda: fake.requests(route="servers.action.evacuate"), RUN_TIMEOUT,
                      "the first evacuate request", interval=0.005)
        arrived = min(r["time"] for r in first)
        return {"looks": "narrow" if narrow else "full", "schema": schema,
                "alert_to_first_evacuate_s": round(arrived - start, 3),
                # The look's share: the incident is journaled once the look has decided.
                "alert_to_incident_s": round(
                    _first_event(run_dir / "state" / JOURNAL_NAME, victim) - start, 3)}
    finally:
        if engine is not None:
            engine.stop.set()
            engine.wake.set()
            thread.join(30)
            engine.wait_idle(30)
        fake.stop()


def _first_event(journal: pathlib.Path, host: str) -> float:
    with open(journal, encoding="utf-8") as f:
        return min(e.ts.timestamp() for e in map(Event.from_json, f)
                   if e is not None and e.host == host)


def _fencing_alert(victim: str, when: float, recipient: str) -> dict:
    return {
        "CRM_alert_kind": "fencing", "CRM_alert_node": victim,
        "CRM_alert_desc": f"Operation reboot of {victim} by controller1 for "
                          f"pacemaker-controld.1001@controller1: OK (ref=bench-{when:.6f})",
        "CRM_alert_node_sequence": "1", "CRM_alert_rc": "0",
        "CRM_alert_recipient": recipient, "CRM_alert_task": "st_notify_fence",
        "CRM_alert_timestamp_epoch": str(int(when)),
        "CRM_alert_timestamp_usec": str(int(when % 1 * 1e6)),
        "CRM_alert_version": "2.1.5",
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=1024)
    p.add_argument("--runs", type=int, default=5, help="runs of each kind, interleaved")
    p.add_argument("--servers", type=int, default=5, help="instances on the lost compute")
    args = p.parse_args(argv)
    if not shutil.which("cibadmin"):
        print(json.dumps({"benchmark": "alert_scale", "skipped": "no cibadmin"}))
        return 0
    runs = []
    kinds = {"narrow_looks": (True, False), "full_looks_only": (False, False),
             "narrow_looks_schema_declared": (True, True)}
    with tempfile.TemporaryDirectory(prefix="hakari-alert-scale-") as tmp:
        world = World(pathlib.Path(tmp), args.nodes)
        for i in range(args.runs):
            for key, (narrow, schema) in kinds.items():
                run_dir = pathlib.Path(tmp) / f"run-{i}-{key}"
                run_dir.mkdir()
                runs.append({"run": i + 1, **one_run(world, narrow, schema, args.servers,
                                                     run_dir)})
        cib_bytes = world.cibs[True, True].stat().st_size
    summary = {}
    for key, (narrow, schema) in kinds.items():
        mine = [r for r in runs if (r["looks"] == "narrow", r["schema"]) == (narrow, schema)]
        values = [r["alert_to_first_evacuate_s"] for r in mine]
        summary[key] = {"median": statistics.median(values), "min": min(values),
                        "max": max(values), "n": len(values),
                        "incident_median": statistics.median(
                            r["alert_to_incident_s"] for r in mine)}
    median = summary["narrow_looks"]["median"]
    print(json.dumps({
        "benchmark": "alert_scale", "nodes": args.nodes, "cib_bytes": cib_bytes,
        "servers": args.servers, "machine": platform.machine(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "runs": runs,
        "fencing_alert_to_first_evacuate_s": summary, "target_s": TARGET_S,
        "target_met": summary["narrow_looks"]["n"] >= 5 and median <= TARGET_S,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
