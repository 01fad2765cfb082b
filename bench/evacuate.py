#!/usr/bin/env python3
"""Benchmark: parallel evacuation against the fake Nova, vs the bound the limits allow.

Prints JSON. The fake Nova runs in its own process with a fixed latency on every API call
and a fixed rebuild time; each scenario's recovery (force down, disable, plan, evacuate,
verify) runs in a child process of its own, so its timing and peak RSS are hakari's only.

Ideal bound: every evacuation holds one in-flight slot for at least one call plus the
rebuild, and at most min(max_parallel, hosts x max_parallel_per_host) slots exist, so
    ideal = ceil(instances / slots) x (latency + rebuild)   (per host when per-host binds).
Targets: total/ideal <= 1.25 for "200 on 1 host" and "2000 on 20 hosts" (50 ms calls,
2 s rebuilds); peak RSS <= 200 MB recovering 5,000 instances.

Usage: bench/evacuate.py [--quick] [--scenarios 200x1,2000x20] [--rss-instances 5000]
                         [--latency 0.05] [--rebuild 2.0] [--max-parallel N]
                         [--max-parallel-per-host N] [--poll-interval S]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import pathlib
import platform
import resource
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_RATIO = 1.25
TARGET_RSS_MB = 200


def ideal_seconds(per_host: list[int], max_parallel: int, per_host_limit: int,
                  call: float, rebuild: float) -> float:
    slots = min(max_parallel, per_host_limit * len(per_host))
    total = sum(per_host)
    waves = math.ceil(total / slots)
    # One host can never go faster than its own limit allows either.
    waves = max(waves, max(math.ceil(n / per_host_limit) for n in per_host))
    return waves * (call + rebuild)


def run_scenario(name: str, instances: int, hosts: int, args, *, rss_only: bool = False) -> dict:
    from lab.fakenova import FakeNovaProcess
    from lab.fakenova.sdk import write_clouds_yaml

    with tempfile.TemporaryDirectory(prefix="hakari-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        total_hosts = hosts + max(2, hosts)     # as many survivors as failed hosts, >= 2
        fake = FakeNovaProcess(seed=1, workdir=str(tmp), args=[
            "--hosts", str(total_hosts), "--rebuild-time", str(args.rebuild)])
        fake.start()
        try:
            lost = [f"node{i}" for i in range(1, hosts + 1)]
            per_host = [instances // hosts + (1 if i < instances % hosts else 0)
                        for i in range(hosts)]
            for host, n in zip(lost, per_host):
                fake.add_servers(n, hosts=[host])
            for host in lost:
                fake.kill_host(host)
            rebuild = 0.05 if rss_only else args.rebuild
            fake.configure_evacuation(rebuild_time=rebuild)
            fake.set_latency(0.0 if rss_only else args.latency)
            clouds = write_clouds_yaml(tmp / "clouds.yaml", fake.info)
            conf = tmp / "hakari.conf"
            conf.write_text(
                f"[DEFAULT]\nstate_dir = {tmp / 'state'}\n"
                f"[openstack]\ncloud = fakenova\nclouds_file = {clouds}\n"
                f"[recovery]\nmax_parallel = {args.max_parallel}\n"
                f"max_parallel_per_host = {args.max_parallel_per_host}\n"
                f"poll_interval = {args.poll_interval}\n"
                f"mass_failure_max_percent = 100\n")
            fake.reset_stats()
            child = subprocess.run(
                [sys.executable, __file__, "--child", str(conf), ",".join(lost)],
                capture_output=True, text=True, timeout=3600, cwd=REPO)
            if child.returncode != 0:
                raise RuntimeError(f"{name}: child failed: {child.stderr[-2000:]}")
            result = json.loads(child.stdout)
            stats = fake.stats()
            calls = {route: v["total"] for route, v in stats["http"]["by"].items()}
        finally:
            fake.stop()
    out = {"name": name, "instances": instances, "hosts": hosts,
           "latency_s": 0.0 if rss_only else args.latency, "rebuild_s": rebuild,
           "max_parallel": args.max_parallel,
           "max_parallel_per_host": args.max_parallel_per_host,
           "poll_interval_s": args.poll_interval, **result,
           "nova_peak_rebuilds": stats["rebuilds"]["peak"],
           "nova_double_evacuations": stats["double_evacuations"]["total"],
           "api_calls": calls}
    if not rss_only:
        ideal = ideal_seconds(per_host, args.max_parallel, args.max_parallel_per_host,
                              args.latency, args.rebuild)
        out["ideal_seconds"] = round(ideal, 3)
        out["ratio"] = round(result["seconds"] / ideal, 3)
        out["target_ratio"] = TARGET_RATIO
        out["ok"] = out["ratio"] <= TARGET_RATIO and result["failed"] == 0
    else:
        out["target_peak_rss_mb"] = TARGET_RSS_MB
        out["ok"] = result["peak_rss_mb"] <= TARGET_RSS_MB and result["failed"] == 0
    return out


def child(conf_path: str, hosts: str) -> int:
    """Recover ``hosts`` as the engine would; print timing and peak RSS as JSON."""
    from hakari import config
    from hakari.model import Incident
    from hakari.recovery.host.evacuator import Limits
    from hakari.recovery.host.recovery import HostRecovery, Job
    from hakari.records.journal import Journal
    from hakari.nova.client import Nova
    from hakari.recovery.policy import Policy
    from hakari.records.store import LocalStore, incident_id

    conf = config.load([conf_path])
    nova = Nova.connect(conf)
    journal = Journal.open(conf.state_dir)
    store = LocalStore(journal)
    now = dt.datetime.now(dt.timezone.utc)
    jobs = [Job(Incident(incident_id(h, now), h, now, "FENCE_CONFIRMED"), h)
            for h in hosts.split(",")]
    recovery = HostRecovery(nova, store, journal, Policy.from_config(conf),
                            Limits.from_config(conf))
    t0 = time.monotonic()
    reports = recovery.run(jobs)
    seconds = time.monotonic() - t0
    outcomes = [o for r in reports for o in r.outcomes]
    print(json.dumps({
        "seconds": round(seconds, 3),
        "evacuated": sum(o.result == "evacuated" for o in outcomes),
        "skipped": sum(o.result == "skipped" for o in outcomes),
        "failed": sum(o.result == "failed" for o in outcomes),
        "peak_in_flight": recovery.evacuator.peak_inflight,
        "peak_in_flight_per_host": max(recovery.evacuator.peak_inflight_per_host.values()),
        # Linux reports ru_maxrss in KiB.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", nargs=2, metavar=("CONF", "HOSTS"), help=argparse.SUPPRESS)
    p.add_argument("--scenarios", default="200x1,2000x20",
                   help="INSTANCESxHOSTS, comma-separated")
    p.add_argument("--rss-instances", type=int, default=5000,
                   help="instances (on 20 hosts) for the peak-RSS run; 0 skips it")
    p.add_argument("--latency", type=float, default=0.05, help="seconds per API call")
    p.add_argument("--rebuild", type=float, default=2.0, help="seconds per rebuild")
    p.add_argument("--max-parallel", type=int, default=32)
    p.add_argument("--max-parallel-per-host", type=int, default=16)
    p.add_argument("--poll-interval", type=float, default=0.5)
    p.add_argument("--quick", action="store_true",
                   help="small smoke run: 50x1 and 200x4, 0.5 s rebuilds, RSS at 1000")
    args = p.parse_args(argv)
    if args.child:
        return child(*args.child)
    if args.quick:
        args.scenarios, args.rebuild, args.rss_instances = "50x1,200x4", 0.5, 1000
    results = []
    for spec in args.scenarios.split(","):
        n, h = (int(x) for x in spec.lower().split("x"))
        results.append(run_scenario(spec, n, h, args))
    rss = None
    if args.rss_instances:
        rss = run_scenario(f"rss-{args.rss_instances}x20", args.rss_instances, 20, args,
                           rss_only=True)
    doc = {"benchmark": "evacuate", "python": platform.python_version(),
           "machine": platform.machine(), "cpus": os.cpu_count(),
           "scenarios": results, "rss": rss,
           "ok": all(r["ok"] for r in results) and (rss is None or rss["ok"])}
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
