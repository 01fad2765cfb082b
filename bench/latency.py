#!/usr/bin/env python3
"""Benchmark: fencing alert -> first evacuate request, on the lab (root).

Prints JSON. Runs the demo's set-up (3-node Pacemaker lab, real Nova on its bridge,
`hakari install`, the evacuator resource created with pcs, the alert), then N times: boot
servers on node2, cut its power, and measure from the Pacemaker fencing alert for node2
(CRM_alert_timestamp, as spooled by hakari's alert agent) to hakari's first evacuate
request for the incident (the journal's evacuate-requested time, stamped right before the
request is sent; Nova receives it one loopback round trip later). Then node2 boots, is
re-enabled, and the next run starts. Target: median <= 1 s.

Usage: bench/latency.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

VICTIM = "node2"
TARGET_S = 1.0


def fencing_alert_time(state_dir: str, after: float) -> float | None:
    """The newest successful fencing alert of VICTIM spooled after ``after``."""
    from hakari.alerts.spool import Spool

    spool = Spool(state_dir)
    best = None
    for directory in (spool.dir, spool.done_dir):
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            if not name.startswith("fencing-"):
                continue
            try:
                with open(os.path.join(directory, name)) as f:
                    rec = json.load(f)
            except (OSError, ValueError):
                continue
            fencing = rec.get("fencing") or {}
            when = rec["epoch"] + rec["usec"] / 1e6
            if rec.get("node") == VICTIM and fencing.get("ok") and when >= after:
                best = when if best is None else min(best, when)
    return best


def first_request_time(journal: str, after: float) -> tuple[float | None, str | None]:
    from hakari.records.journal import Event

    first, incident = None, None
    if not os.path.exists(journal):
        return None, None
    with open(journal) as f:
        for line in f:
            ev = Event.from_json(line)
            if ev is None or ev.event != "evacuate-requested" or ev.host != VICTIM:
                continue
            t = ev.ts.timestamp()
            if t >= after and (first is None or t < first):
                first, incident = t, ev.incident
    return first, incident


def incident_state(lab) -> str | None:
    res = lab.exec("node1", ["crm_attribute", "--type", "nodes", "--node", VICTIM, "--name",
                             "hakari-incident", "--query", "--quiet"], check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return None
    return json.loads(res.stdout).get("state")


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print(json.dumps({"benchmark": "latency", "skipped": "needs root (the lab)"}))
        return 0

    from lab.cluster import exit_on_sigterm

    exit_on_sigterm()
    # The JSON is the only thing on stdout; the set-up narrates on stderr.
    import contextlib
    with contextlib.redirect_stdout(sys.stderr):
        runs = measure(args.runs)
    values = [r["fencing_alert_to_first_evacuate_s"] for r in runs
              if r["fencing_alert_to_first_evacuate_s"] is not None]
    median = statistics.median(values) if values else None
    print(json.dumps({
        "benchmark": "latency",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "runs": runs,
        "fencing_alert_to_first_evacuate_s": {
            "median": median, "min": min(values, default=None),
            "max": max(values, default=None), "n": len(values)},
        "target_s": TARGET_S,
        "target_met": median is not None and median <= TARGET_S,
    }, indent=2))
    return 0


def measure(n_runs: int) -> list[dict]:
    from hakari.records.journal import JOURNAL_NAME
    from lab import demo
    from lab.cluster import Lab
    from lab.stack import Stack, run_hakari

    lab = Lab.up("lat", nodes=3)
    stack = installed = None
    runs = []
    try:
        stack = Stack.up(lab)
        conf = demo.engine_config(stack)
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        res = run_hakari("install", "--python", python)
        if res.returncode != 0:
            raise RuntimeError(f"hakari install failed: {res.stderr.strip()}")
        installed = True
        demo.configure_cluster(lab, conf)
        demo.wait_engine(lab, conf)
        state_dir = os.path.join(lab.path, "hakari-state")
        journal = os.path.join(state_dir, JOURNAL_NAME)
        for i in range(n_runs):
            stack.nova.control.boot_servers(VICTIM, project="demo", count=2)
            time.sleep(2.5)  # the engine has seen node2 alive since the last run
            cut = time.time()
            stack.power_off(VICTIM)
            wait(lambda: incident_state(lab) in ("EVACUATED", "HOST_RETURNED"), 120,
                 "evacuation")
            alert = fencing_alert_time(state_dir, cut)
            request, incident = first_request_time(journal, cut)
            runs.append({"run": i + 1, "incident": incident,
                         "power_cut_to_fencing_alert_s": round(alert - cut, 3) if alert else None,
                         "fencing_alert_to_first_evacuate_s":
                             round(request - alert, 3) if alert and request else None})
            stack.power_on(VICTIM)
            wait(lambda: incident_state(lab) == "ENABLED", 120, "re-enable")
    finally:
        if installed:
            run_hakari("install", "--uninstall")
        if stack is not None:
            stack.down()
        lab.down()
    return runs


if __name__ == "__main__":
    sys.exit(main())
