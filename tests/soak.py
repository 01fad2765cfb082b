"""`make soak`: the reliability tests with bigger settings, then a summary table.

Runs, each as a pytest subprocess with a timeout: the fuzz tests with
HAKARI_FUZZ_EXAMPLES (default 2000), the crash-resume test once per seed
(HAKARI_SOAK_SEEDS, default 1..5, as HAKARI_CRASH_SEED), the scale/fault test
HAKARI_SOAK_REPEAT times (default 2), and last random lab drills as root
(HAKARI_SOAK_DRILLS, default 10). The tests themselves record what they measured
(tests/soak_counters.py); this only adds their lines up. Exit 1 when a run failed or
duplicates/unsafe actions are not 0.

Besides the table it writes bench/soak.json (HAKARI_SOAK_JSON to write elsewhere), which
`make bench` puts in bench/REPORT.md. The file is rewritten after every run with
"complete": false, so a soak that is stopped or still running leaves what it measured so
far, never a stale file that looks finished.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
COLUMNS = ("scenarios", "faults", "recovered", "duplicates", "unsafe")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _pytest(args: list[str], env: dict, timeout: float) -> tuple[int, float]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    print(f"soak: {' '.join(cmd[2:])}  ({', '.join(f'{k}={v}' for k, v in env.items())})",
          flush=True)
    t0 = time.monotonic()
    try:
        rc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env},
                            timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        print(f"soak: timed out after {timeout}s", flush=True)
        rc = 124
    return rc, round(time.monotonic() - t0, 1)


def _git(*args: str) -> str | None:
    try:
        res = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout if res.returncode == 0 else None


def source_state() -> dict:
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    # The files, not only a flag: other work in the same tree can change the code under a
    # soak that runs for an hour, and the reader must be able to tell what was measured.
    changed = sorted(line[3:] for line in (status or "").splitlines() if line.strip())
    return {"commit": commit.strip() if commit else None,
            "dirty": bool(changed) if status is not None else None,
            "changed_files": changed}


def machine() -> dict:
    mem_kb = None
    try:
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {"nproc": os.cpu_count(),
            "memory_gib": round(mem_kb / 1024 / 1024, 1) if mem_kb else None}


def add_up(lines: list[dict]) -> tuple[dict[str, dict], dict]:
    """Per-kind sums of the counters the tests recorded, and the grand total.

    A kind only has the columns its tests measured: a missing one stays missing (the
    table prints "-"), it is never filled with 0.
    """
    totals: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in lines:
        totals[line["kind"]].update({k: v for k, v in line.items() if k in COLUMNS})
    grand = collections.Counter()
    for c in totals.values():
        grand.update(c)
    return ({kind: dict(c) for kind, c in sorted(totals.items())},
            {k: grand[k] for k in COLUMNS})


def _read_counters(path: pathlib.Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write_json(out: pathlib.Path, doc: dict) -> None:
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, out)  # a reader never sees half a file


def main() -> int:
    examples = os.environ.get("HAKARI_FUZZ_EXAMPLES", "2000")
    seeds = [s.strip() for s in os.environ.get("HAKARI_SOAK_SEEDS", "1,2,3,4,5").split(",")]
    repeat = int(os.environ.get("HAKARI_SOAK_REPEAT", "2"))
    drills = os.environ.get("HAKARI_SOAK_DRILLS", "10") if os.geteuid() == 0 else None
    out = pathlib.Path(os.environ.get("HAKARI_SOAK_JSON", ROOT / "bench" / "soak.json"))
    t_start = time.monotonic()
    doc = {"complete": False, "started": _now(), "finished": None,
           "settings": {"fuzz_examples": int(examples), "crash_seeds": seeds,
                        "repeat": repeat, "lab_drills": int(drills) if drills else None},
           "source": source_state(), "machine": machine(), "runs": []}
    if drills is None:
        doc["settings"]["lab_drills_skipped"] = "not root: the lab needs root"

    plan: list[tuple[str, list[str], dict, float]] = [
        ("fuzz", ["tests/unit/test_fuzz_crm_mon.py", "tests/unit/test_fuzz_inputs.py",
                  "-o", "timeout=3600"], {"HAKARI_FUZZ_EXAMPLES": examples}, 7200)]
    plan += [(f"crash seed {seed}", ["tests/integration/test_recovery_crash.py"],
              {"HAKARI_CRASH_SEED": seed}, 900) for seed in seeds]
    plan += [(f"scale #{i + 1}", ["tests/integration/test_recovery_scale.py"], {}, 1200)
             for i in range(repeat)]
    # The mass-failure brake over the cluster: staggered and simultaneous losses, a
    # recovery stopped part way; nothing may be evacuated or touched while braked.
    plan.append(("brake", ["tests/integration/test_engine_lifecycle.py", "-k",
                           "staggered or brake or lost_at_once"], {}, 900))
    if drills is not None:
        plan.append(("lab drills", ["tests/e2e/test_engine_faults.py", "-k", "random_drills",
                                    "-s", "-o", "timeout=3600"], {"HAKARI_DRILLS": drills},
                     3600))

    with tempfile.TemporaryDirectory(prefix="hakari-soak-") as tmp:
        counters = pathlib.Path(tmp) / "counters.jsonl"
        for name, args, env, timeout in plan:
            print(f"soak: [{_now()}] {name}", flush=True)
            rc, seconds = _pytest(args, {"HAKARI_SOAK_COUNTERS": str(counters), **env},
                                  timeout)
            doc["runs"].append({"name": name, "exit_code": rc, "seconds": seconds})
            doc["per_kind"], doc["total"] = add_up(_read_counters(counters))
            doc["wall_seconds"] = round(time.monotonic() - t_start, 1)
            _write_json(out, doc)
        lines = _read_counters(counters)

    per_kind, grand = add_up(lines)
    print("\nsoak summary (counted by the tests themselves; - = not measured by that kind)")
    print(f"{'kind':22}" + "".join(f"{c:>12}" for c in COLUMNS))
    for kind, c in per_kind.items():
        print(f"{kind:22}" + "".join(f"{c[k] if k in c else '-':>12}" for k in COLUMNS))
    print(f"{'total':22}" + "".join(f"{grand[k]:>12}" for k in COLUMNS))
    failed = [r["name"] for r in doc["runs"] if r["exit_code"] != 0]
    print(f"\nruns: {len(doc['runs'])}, failed: {', '.join(failed) or 'none'}; "
          f"duplicates {grand['duplicates']} (must be 0), unsafe {grand['unsafe']} (must be 0)")
    for r in doc["runs"]:
        print(f"  {r['name']:22} exit {r['exit_code']:>3}  {r['seconds']:>8.1f} s")
    rc = 1 if failed or grand["duplicates"] or grand["unsafe"] else 0
    doc.update(complete=True, finished=_now(), per_kind=per_kind, total=grand,
               wall_seconds=round(time.monotonic() - t_start, 1), exit_code=rc)
    _write_json(out, doc)
    print(f"soak: wrote {out} (wall {doc['wall_seconds']} s, exit {rc})")
    return rc


if __name__ == "__main__":
    sys.exit(main())
