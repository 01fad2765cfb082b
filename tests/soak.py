"""`make soak`: the reliability tests with bigger settings, then a summary table.

Runs, each as a pytest subprocess with a timeout: the fuzz tests with
HAKARI_FUZZ_EXAMPLES (default 2000), the crash-resume test once per seed
(HAKARI_SOAK_SEEDS, default 1..5, as HAKARI_CRASH_SEED), random lab drills as root
(HAKARI_SOAK_DRILLS, default 10), and the scale/fault test
HAKARI_SOAK_REPEAT times (default 2). The tests themselves record what they measured
(tests/soak_counters.py); this only adds their lines up. Exit 1 when a run failed or
duplicates/unsafe actions are not 0.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _pytest(args: list[str], env: dict, timeout: float) -> int:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    print(f"soak: {' '.join(cmd[2:])}  ({', '.join(f'{k}={v}' for k, v in env.items())})",
          flush=True)
    try:
        return subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env},
                              timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        print(f"soak: timed out after {timeout}s", flush=True)
        return 124


def main() -> int:
    examples = os.environ.get("HAKARI_FUZZ_EXAMPLES", "2000")
    seeds = os.environ.get("HAKARI_SOAK_SEEDS", "1,2,3,4,5").split(",")
    repeat = int(os.environ.get("HAKARI_SOAK_REPEAT", "2"))
    with tempfile.TemporaryDirectory(prefix="hakari-soak-") as tmp:
        counters = pathlib.Path(tmp) / "counters.jsonl"
        base = {"HAKARI_SOAK_COUNTERS": str(counters)}
        runs = []
        runs.append(("fuzz", _pytest(["tests/unit/test_fuzz_crm_mon.py",
                                      "tests/unit/test_fuzz_inputs.py", "-o", "timeout=3600"],
                                     {**base, "HAKARI_FUZZ_EXAMPLES": examples}, 7200)))
        for seed in seeds:
            runs.append((f"crash seed {seed}", _pytest(
                ["tests/integration/test_recovery_crash.py"],
                {**base, "HAKARI_CRASH_SEED": seed.strip()}, 900)))
        for i in range(repeat):
            runs.append((f"scale #{i + 1}", _pytest(
                ["tests/integration/test_recovery_scale.py"], base, 1200)))
        if os.geteuid() == 0:  # the lab needs root
            drills = os.environ.get("HAKARI_SOAK_DRILLS", "10")
            runs.append(("lab drills", _pytest(
                ["tests/e2e/test_engine_faults.py", "-k", "random_drills", "-s",
                 "-o", "timeout=3600"],
                {**base, "HAKARI_DRILLS": drills}, 3600)))
        lines = [json.loads(l) for l in counters.read_text().splitlines()] \
            if counters.exists() else []
    totals: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in lines:
        totals[line["kind"]].update({k: v for k, v in line.items()
                                     if k not in ("kind", "test")})
    cols = ("scenarios", "faults", "recovered", "duplicates", "unsafe")
    print("\nsoak summary (counted by the tests themselves; - = not measured by that kind)")
    print(f"{'kind':22}" + "".join(f"{c:>12}" for c in cols))
    grand = collections.Counter()
    for kind, c in sorted(totals.items()):
        print(f"{kind:22}" + "".join(f"{c[k] if k in c else '-':>12}" for k in cols))
        grand.update(c)
    print(f"{'total':22}" + "".join(f"{grand[k]:>12}" for k in cols))
    failed = [name for name, rc in runs if rc != 0]
    print(f"\nruns: {len(runs)}, failed: {', '.join(failed) or 'none'}; "
          f"duplicates {grand['duplicates']} (must be 0), unsafe {grand['unsafe']} (must be 0)")
    return 1 if failed or grand["duplicates"] or grand["unsafe"] else 0


if __name__ == "__main__":
    sys.exit(main())
