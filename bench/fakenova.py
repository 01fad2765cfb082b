#!/usr/bin/env python3
"""Benchmark: how fast the fake Nova serves hakari-shaped traffic.

Prints JSON. The fake runs as a child process (python -m lab.fakenova) so the client and
server do not share a GIL. Measures:
  * listing all servers with raw paged GET /servers/detail (1000 per page, as hakari does);
  * listing one host's servers with openstacksdk's resource layer (client-bound);
  * evacuating every server of a fenced host with N client threads (HTTP calls per second)
    and the time until every evacuation migration is ``done`` (rebuild_time 0).

Usage: bench/fakenova.py [--servers 10000] [--hosts 10] [--threads 16]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import pathlib
import platform
import sys
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from lab.fakenova import FakeNovaProcess  # noqa: E402

PIN = "2.68"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", type=int, default=10000)
    p.add_argument("--hosts", type=int, default=10)
    p.add_argument("--threads", type=int, default=16)
    args = p.parse_args()

    out: dict = {"python": platform.python_version(), "servers": args.servers,
                 "hosts": args.hosts, "threads": args.threads}
    with FakeNovaProcess(args=["--hosts", str(args.hosts), "--rebuild-time", "0"]) as fake:
        t0 = time.perf_counter()
        fake.add_servers(args.servers)
        out["create_seconds"] = round(time.perf_counter() - t0, 3)
        fake.configure_evacuation(claim_delay=0.0)
        hdr = {"X-Auth-Token": fake.info["admin_token"], "OpenStack-API-Version": f"compute {PIN}"}
        url = fake.info["compute_url"]

        session = requests.Session()
        t0 = time.perf_counter()
        n, marker = 0, None
        while True:
            params = {"all_tenants": "1", "limit": "1000"}
            if marker:
                params["marker"] = marker
            page = session.get(f"{url}/servers/detail", params=params, headers=hdr,
                               timeout=60).json()["servers"]
            n += len(page)
            if len(page) < 1000:
                break
            marker = page[-1]["id"]
        dt = time.perf_counter() - t0
        out["raw_list"] = {"servers": n, "seconds": round(dt, 3),
                           "servers_per_second": round(n / dt)}

        conn = fake.connect(microversion=PIN)
        t0 = time.perf_counter()
        n = sum(1 for _ in conn.compute.servers(all_projects=True, compute_host="node1"))
        dt = time.perf_counter() - t0
        out["sdk_list_one_host"] = {"servers": n, "seconds": round(dt, 3),
                                    "servers_per_second": round(n / dt)}
        svc = next(iter(conn.compute.services(binary="nova-compute", host="node1")))
        fake.kill_host("node1")
        conn.compute.update_service_forced_down(svc, forced=True)
        conn.close()

        victims = fake.servers_on("node1")
        local = threading.local()

        def evacuate(sid):
            if not hasattr(local, "s"):
                local.s = requests.Session()
            return local.s.post(f"{url}/servers/{sid}/action", json={"evacuate": {}},
                                headers=hdr, timeout=60).status_code

        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
            codes = list(pool.map(evacuate, victims))
        calls = time.perf_counter() - t0
        fake.wait_idle(timeout=120)
        settled = time.perf_counter() - t0
        done = sum(1 for m in fake.migrations(source="node1") if m["status"] == "done")
        out["evacuate"] = {"calls": len(codes), "ok": codes.count(200),
                           "call_seconds": round(calls, 3),
                           "calls_per_second": round(len(codes) / calls),
                           "all_done_seconds": round(settled, 3), "done": done,
                           "peak_in_flight_calls":
                               fake.stats()["evacuate_calls"]["by"]["node1"]["peak"]}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
