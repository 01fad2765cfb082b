#!/usr/bin/env python3
"""Benchmark: wall time of one Pacemaker alert call against starting Python.

Prints JSON. Installs hakari into a temporary prefix (`hakari install --prefix`), then
times, interleaved, N calls each of: the bare interpreter (`PY -I -c pass`, the issue's
yardstick), the installed alert launcher spooling a new fencing event (parse, state
directory lookup, write, two fsyncs, wake-up datagram), the same launcher given an event
already spooled, and `python -m hakari alert` (the full CLI, for comparison).
Target: median alert <= 3x median `PY -I -c pass` with the launcher's interpreter.

Usage: bench/alert.py [--runs 60] [--python PY]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from hakari.install import Installer, make_plan  # noqa: E402
from hakari.state_dirs import make_state_dirs  # noqa: E402

TARGET_RATIO = 3.0


def fencing_env(conf: str, ref: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin", "CRM_alert_kind": "fencing", "CRM_alert_node": "node2",
        "CRM_alert_desc": f"Operation reboot of node2 by node1 for "
                          f"pacemaker-controld.4686@node1: OK (ref={ref})",
        "CRM_alert_node_sequence": "12", "CRM_alert_rc": "0", "CRM_alert_recipient": conf,
        "CRM_alert_task": "st_notify_fence", "CRM_alert_version": "2.1.5",
        "CRM_alert_timestamp": "2026-11-23T22:21:56.612886Z",
        "CRM_alert_timestamp_epoch": "1795472516", "CRM_alert_timestamp_usec": "612886",
    }


def timed(argv, env) -> float:
    t = time.perf_counter()
    res = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, timeout=60)
    elapsed = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"{argv[0]} exited {res.returncode}: {res.stderr.decode()}")
    return elapsed


def ms(values) -> dict:
    return {"median_ms": round(statistics.median(values) * 1000, 2),
            "p90_ms": round(sorted(values)[int(len(values) * 0.9)] * 1000, 2),
            "min_ms": round(min(values) * 1000, 2), "max_ms": round(max(values) * 1000, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter the launcher runs (as `hakari install --python`)")
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="hakari-bench-", dir="/tmp"))
    try:
        tmp.chmod(0o755)
        plan = make_plan(prefix=str(tmp), python=args.python)
        Installer(plan, report=lambda _m: None).install()
        state_dir = tmp / "state"
        make_state_dirs(str(state_dir))
        conf = plan.under(plan.config_file)
        pathlib.Path(conf).write_text(f"[DEFAULT]\nstate_dir = {state_dir}\n")
        launcher = plan.under("/usr/libexec/hakari/alert")
        cli = [sys.executable, "-m", "hakari", "alert"]
        env = {"PATH": "/usr/bin:/bin"}
        dup = fencing_env(conf, "bench-duplicate")
        timed([launcher], dup)
        results = {"python": [], "alert": [], "alert_duplicate": [], "cli": []}
        for _ in range(3):  # warm the page cache
            timed([args.python, "-I", "-c", "pass"], env)
        for i in range(args.runs):
            results["python"].append(timed([args.python, "-I", "-c", "pass"], env))
            results["alert"].append(timed([launcher], fencing_env(conf, str(uuid.uuid4()))))
            results["alert_duplicate"].append(timed([launcher], dup))
            if i % 4 == 0:
                results["cli"].append(timed(cli, {**os.environ, **fencing_env(
                    conf, str(uuid.uuid4()))}))
        spooled = len([p for p in (state_dir / "spool").iterdir() if p.is_file()])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = statistics.median(results["python"])
    alert = statistics.median(results["alert"])
    out = {
        "benchmark": "alert",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "launcher_python": args.python},
        "runs": args.runs,
        "python_I_c_pass": ms(results["python"]),
        "alert_new_event": ms(results["alert"]),
        "alert_duplicate": ms(results["alert_duplicate"]),
        "cli_hakari_alert": ms(results["cli"]),
        "spooled_files": spooled,
        "ratio": round(alert / base, 2),
        "target_ratio": TARGET_RATIO,
        "ok": alert / base <= TARGET_RATIO,
    }
    print(json.dumps(out, indent=2))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
