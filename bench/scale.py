#!/usr/bin/env python3
"""Benchmark: what one engine look costs on a large cluster, against the tools it runs.

For each size, bench/cibgen.py writes a CIB in the remote-compute shape (3 controllers,
the rest Pacemaker Remote computes, 2 of them lost), checked with ``crm_verify`` up to
128 nodes (it runs the whole scheduler: minutes at 1,024). The Pacemaker tools read it
through ``CIB_file``, as they would the live CIB. Interleaved, round after round, it
times:

- ``cibadmin --query``: the floor, reading the whole CIB once;
- ``crm_mon -1 --output-as=xml``: Pacemaker's full status unpacking;
- ``hakari_status``: the whole ``hakari status --format json`` command, start-up
  included, reading the cluster the same way;
- ``engine_look``: one engine look as the engine makes it (hakari.cluster.live.look:
  ``cibadmin --query`` and the fencer's history, node states derived from the CIB,
  hakari's records, detect.decide), in this process. ``stonith_admin`` is a stand-in
  answering an empty history: a CIB file has no fencer behind it.

and the peak RSS of each tool and of a look's own process (run again in a child
interpreter; the tools it runs are counted apart). crm_mon is skipped above
``--crm-mon-max`` nodes: at 4,096 it needs minutes and gigabytes. Targets: a look and
``hakari status`` at 1,024 nodes within 1.5x a bare ``cibadmin --query``; peak RSS of a
look at 4,096 nodes within 300 MB.

Prints JSON. Usage: bench/scale.py [--sizes 16,128,1024,4096] [--rounds 5]
                                   [--crm-mon-max 1024] [--keep-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import cibgen, fencer  # noqa: E402
from hakari import config  # noqa: E402
from hakari.cluster import live  # noqa: E402
from hakari.engine import detect  # noqa: E402
from hakari.records.journal import utcnow  # noqa: E402
from hakari.records.store import parse_records  # noqa: E402

TARGET_RATIO = 1.5
TARGET_RSS_MB = 300
LOST = 2
TOOL_TIMEOUT = 1800.0
VERIFY_MAX = 128
# Runs one look in a fresh interpreter, for its peak RSS alone.
LOOK_CHILD = ("import sys; sys.path.insert(0, {repo!r}); from bench.scale import look; "
              "from hakari import config; look(config.load([{conf!r}]))")


def tool(argv: list[str], env: dict) -> tuple[float, float]:
    """Run a program to completion, output discarded: (seconds, its peak RSS in MB).

    The peak is the kernel's high-water mark of the program's own memory (VmHWM), read
    while it runs: wait4's ru_maxrss would start from this process's size at the fork.
    The last few milliseconds before exit go unseen, a negligible loss for the sizes that
    matter."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    deadline = start + TOOL_TIMEOUT
    peak_kb = 0
    while True:
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak_kb = max(peak_kb, _hwm_kb(proc.pid))
        if time.perf_counter() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"{argv[0]}: no answer within {TOOL_TIMEOUT:g}s")
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit status {proc.returncode}")
    return elapsed, peak_kb / 1024


def _hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def look(conf) -> detect.Decision:
    """One engine look at the cluster ``CIB_file`` names, as hakari.engine.loop makes it."""
    seen = live.look(conf)
    records = parse_records(seen.attributes)
    computes = detect.compute_nodes(seen.snapshot, conf.cluster.compute_nodes)
    return detect.decide(seen.snapshot, records.incidents, detect.Memory(), records.fenced,
                         computes, utcnow(), clock_skew=conf.fencing.clock_skew,
                         confirm_timeout=conf.fencing.confirm_timeout)


def measure(nodes: int, rounds: int, crm_mon: bool, workdir: pathlib.Path) -> dict:
    # crm_verify warns about the lost computes (it would fence them): it checks the
    # same document with every compute up. It runs the whole scheduler (minutes at
    # 1,024 nodes), and the generator makes every size the same way: small ones only.
    verified = None
    if nodes <= VERIFY_MAX:
        healthy = workdir / f"cib-{nodes}-healthy.xml"
        healthy.write_bytes(cibgen.to_bytes(cibgen.generate(nodes)))
        verify = subprocess.run(["crm_verify", "-x", str(healthy)], capture_output=True,
                                text=True, timeout=TOOL_TIMEOUT)
        verified = verify.returncode == 0 and not verify.stderr.strip()
    path = workdir / f"cib-{nodes}.xml"
    path.write_bytes(cibgen.to_bytes(cibgen.generate(nodes, LOST)))
    os.environ["CIB_file"] = str(path)
    env = dict(os.environ)
    # One configuration for every look, in this process and in the children: the tools
    # may take long at 4,096 nodes.
    conf_file = workdir / "hakari.conf"
    conf_file.write_text(f"[cluster]\ntool_timeout = {TOOL_TIMEOUT:g}\n")
    conf = config.load([str(conf_file)])
    names = ["cibadmin", "engine_look", "hakari_status"] + (["crm_mon"] if crm_mon else [])
    times: dict[str, list[float]] = {name: [] for name in names}
    rss: dict[str, float] = {}
    lost_seen = None
    status = [sys.executable, "-m", "hakari", "--config-file", str(conf_file), "status",
              "--format", "json"]
    for _ in range(rounds):
        for name, argv in (("cibadmin", ["cibadmin", "--query"]),
                           ("hakari_status", status),
                           ("crm_mon", ["crm_mon", "-1", "--output-as=xml"])):
            if name in times:
                t, r = tool(argv, env)
                times[name].append(t)
                rss[name] = max(rss.get(name, 0), r)
        start = time.perf_counter()
        decision = look(conf)
        times["engine_look"].append(time.perf_counter() - start)
        lost_seen = sorted(s.node for s in decision.steps if s.action == detect.OPEN)
    _, rss["engine_look"] = tool([sys.executable, "-c", LOOK_CHILD.format(repo=str(REPO), conf=str(conf_file))],
                                 env)
    medians = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "nodes": nodes, "cib_bytes": path.stat().st_size,
        "crm_verify_ok": verified,
        "rounds": rounds, "lost_expected": LOST, "lost_found_by_look": lost_seen,
        "median_s": {k: round(v, 4) for k, v in medians.items()},
        "min_s": {k: round(min(v), 4) for k, v in times.items()},
        "max_s": {k: round(max(v), 4) for k, v in times.items()},
        "peak_rss_mb": {k: round(v, 1) for k, v in rss.items()},
    }
    result["look_vs_cibadmin"] = round(medians["engine_look"] / medians["cibadmin"], 2)
    result["status_vs_cibadmin"] = round(medians["hakari_status"] / medians["cibadmin"], 2)
    if crm_mon:
        result["crm_mon_vs_look"] = round(medians["crm_mon"] / medians["engine_look"], 2)
    else:
        result["skipped"] = "crm_mon: above --crm-mon-max"
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="16,128,1024,4096")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--crm-mon-max", type=int, default=1024)
    parser.add_argument("--keep-dir", help="write the generated CIBs here and keep them")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    with tempfile.TemporaryDirectory(prefix="hakari-scale-") as tmp:
        workdir = pathlib.Path(args.keep_dir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        fencer.install(pathlib.Path(tmp) / "bin", pathlib.Path(tmp) / "fencer")
        os.environ["PATH"] = f"{tmp}/bin{os.pathsep}{os.environ.get('PATH', '')}"
        results = [measure(n, args.rounds, n <= args.crm_mon_max, workdir) for n in sizes]
    at = {r["nodes"]: r for r in results}
    targets = {}
    if 1024 in at:
        targets["look_1024_within_1.5x_cibadmin"] = at[1024]["look_vs_cibadmin"] <= TARGET_RATIO
        targets["status_1024_within_1.5x_cibadmin"] = (
            at[1024]["status_vs_cibadmin"] <= TARGET_RATIO)
    if 4096 in at:
        targets["look_4096_peak_rss_within_300mb"] = (
            at[4096]["peak_rss_mb"]["engine_look"] <= TARGET_RSS_MB)
    print(json.dumps({
        "benchmark": "scale", "machine": platform.machine(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "sizes": results, "targets": targets,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
