#!/usr/bin/env python3
"""Run every benchmark in bench/, collect their JSON into bench/results.json and write
bench/REPORT.md: the machine, versions, load, medians and min/max, each target and whether
it is met, the side-by-side peer run, and the last `make soak` (read from bench/soak.json,
which only `make soak` writes: the soak is far too long to run here).

Each benchmark runs as a subprocess with a timeout of its own, so one that hangs or fails
is recorded as such and the others still run. The load average is taken before and after
each one: the figures are only as good as the machine was quiet, and the report says how
quiet it was.

Usage: bench/report.py [--only parse,alert,...] [--quick] [--out-dir bench]
       bench/report.py --render-only   # REPORT.md again from results.json and soak.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

BENCH = pathlib.Path(__file__).resolve().parent
REPO = BENCH.parent

# name -> (argv after the interpreter, timeout seconds). Timeouts are a few times each
# benchmark's usual run time on the 2-core reference machine.
BENCHMARKS = {
    "parse": (["bench/parse.py"], 900),
    "peer_masakari": (["bench/peer_masakari.py"], 1800),
    "alert": (["bench/alert.py"], 900),
    "evacuate": (["bench/evacuate.py"], 1800),
    "fakenova": (["bench/fakenova.py"], 900),
    "latency": (["bench/latency.py"], 1200),
    "scale": (["bench/scale.py"], 1800),
    "alert_scale": (["bench/alert_scale.py"], 1200),
}
QUICK_ARGS = {
    "parse": ["--seconds", "0.5"], "peer_masakari": ["--seconds", "0.5"],
    "alert": ["--runs", "15"], "evacuate": ["--quick"],
    "fakenova": ["--servers", "2000"], "latency": ["--runs", "5"],
    "scale": ["--sizes", "16,128,1024", "--rounds", "3"],
    "alert_scale": ["--runs", "5"],
}


def _run_text(argv: list[str], timeout: float = 20) -> str | None:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    out = (res.stdout or res.stderr).strip()
    return out.splitlines()[0] if out else None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine() -> dict:
    cpuinfo = pathlib.Path("/proc/cpuinfo").read_text() if os.path.exists("/proc/cpuinfo") else ""
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
              if line.startswith("model name")]
    mem_kb = None
    if os.path.exists("/proc/meminfo"):
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu_model": models[0] if models else platform.processor() or None,
        "memory_gib": round(mem_kb / 1024 / 1024, 1) if mem_kb else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "pacemaker": _run_text(["crm_mon", "--version"]),
        "corosync": _run_text(["corosync", "-v"]),
        "openstacksdk": _version("openstacksdk"),
        "lxml": _version("lxml"),
        "hakari_commit": _run_text(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
    }


def git_head() -> str | None:
    try:
        res = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return (res.stdout.strip() or None) if res.returncode == 0 else None


SOAK_COLUMNS = ("scenarios", "faults", "recovered", "duplicates", "unsafe")


def load_soak(path: pathlib.Path, head: str | None) -> dict:
    """What the report says about the soak: the file's content as it is, plus how far to
    trust it. Nothing is filled in: a figure the file lacks is reported missing."""
    entry: dict = {"file": str(path), "head_commit": head}
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {**entry, "status": "absent"}
    except (OSError, ValueError) as err:
        return {**entry, "status": "unreadable", "error": f"{type(err).__name__}: {err}"}
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        return {**entry, "status": "unreadable", "error": "not a soak summary (no runs list)"}
    source = data.get("source") or {}
    commit = source.get("commit")
    entry.update(data=data, commit=commit, dirty=source.get("dirty"))
    if not data.get("complete"):
        entry["status"] = "incomplete"
    elif any(r.get("exit_code") != 0 for r in data["runs"]):
        entry["status"] = "failed"
    elif any((data.get("total") or {}).get(k) for k in ("duplicates", "unsafe")):
        entry["status"] = "failed"
    else:
        entry["status"] = "passed"
    # Older than the code: run on another commit than the one this report describes.
    entry["stale"] = commit is None or head is None or commit != head
    return entry


def render_soak(soak: dict | None) -> list[str]:
    out = ["## Soak (`make soak`)", ""]
    if not soak or soak.get("status") == "absent":
        return out + ["No soak summary (`bench/soak.json` absent): `make soak` has not been run "
                      "on this checkout, so there are no soak figures.", ""]
    if soak["status"] == "unreadable":
        return out + [f"`bench/soak.json` could not be read ({soak.get('error')}): no soak "
                      "figures.", ""]
    data = soak["data"]
    commit = (soak.get("commit") or "unknown commit")[:12]
    notes = []
    if soak["status"] == "incomplete":
        notes.append(f"**Incomplete**: the soak started {data.get('started')} did not finish "
                     "(still running, or stopped); the figures below are only the runs it "
                     "completed.")
    if soak.get("stale"):
        head = (soak.get("head_commit") or "unknown")[:12]
        notes.append(f"**Older than the code**: the soak ran on {commit}, this checkout is "
                     f"{head}; its figures describe that commit, not this one.")
    if soak.get("dirty"):
        files = (data.get("source") or {}).get("changed_files") or []
        shown = ", ".join(f"`{f}`" for f in files[:12])
        more = f" and {len(files) - 12} more" if len(files) > 12 else ""
        notes.append("The working tree had local changes when it started, so the figures "
                     "are for that commit plus them: "
                     + (f"{len(files)} files ({shown}{more})." if files else
                        "files not listed."))
    verdict = {"passed": "**passed**", "failed": "**FAILED**",
               "incomplete": "not finished"}[soak["status"]]
    s, m = data.get("settings") or {}, data.get("machine") or {}
    drills = s.get("lab_drills")
    drills_text = drills if drills is not None else \
        f"not run ({s.get('lab_drills_skipped', 'not root')})"
    for note in notes:
        out += [note, ""]
    out += [f"Result: {verdict}, exit code {data.get('exit_code', '-')}; ran on {commit} "
            f"from {data.get('started')} to {data.get('finished') or '-'} "
            f"(wall {data.get('wall_seconds', '-')} s) on {m.get('nproc', '?')} CPUs, "
            f"{m.get('memory_gib', '?')} GiB.",
            f"Settings: {s.get('fuzz_examples')} fuzz examples, crash seeds "
            f"{','.join(map(str, s.get('crash_seeds') or [])) or '-'}, scale repeat "
            f"{s.get('repeat')}, lab drills {drills_text}.", "",
            "Counted by the tests themselves (- = not measured by that kind):", "",
            "| kind | " + " | ".join(SOAK_COLUMNS) + " |",
            "| --- |" + " --- |" * len(SOAK_COLUMNS)]
    for kind, c in sorted((data.get("per_kind") or {}).items()):
        out.append(f"| {kind} | " + " | ".join(str(c.get(k, "-")) for k in SOAK_COLUMNS) + " |")
    total = data.get("total")
    if total:
        out.append("| **total** | " + " | ".join(str(total.get(k, "-")) for k in SOAK_COLUMNS)
                   + " |")
    out += ["", "| run | exit code | seconds |", "| --- | --- | --- |"]
    for r in data["runs"]:
        rc = r.get("exit_code")
        out.append(f"| {r.get('name')} | {rc if rc == 0 else f'**{rc}**'} | "
                   f"{r.get('seconds', '-')} |")
    return out + [""]


def run_one(name: str, quick: bool) -> dict:
    argv, timeout = BENCHMARKS[name]
    argv = [sys.executable, *argv, *(QUICK_ARGS[name] if quick else [])]
    entry: dict = {"argv": argv[1:], "timeout_s": timeout,
                   "load_before": [round(x, 2) for x in os.getloadavg()]}
    print(f"report: running {' '.join(argv[1:])} (timeout {timeout}s)", file=sys.stderr,
          flush=True)
    t0 = time.monotonic()
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        entry.update(status="timeout", seconds=round(time.monotonic() - t0, 1))
    else:
        entry.update(returncode=res.returncode, seconds=round(time.monotonic() - t0, 1))
        try:
            entry["result"] = json.loads(res.stdout)
            entry["status"] = "ok" if res.returncode == 0 else "exit-nonzero"
        except ValueError:
            entry["status"] = "no-json"
        if entry["status"] != "ok":
            entry["stderr_tail"] = res.stderr[-2000:]
    entry["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"report: {name}: {entry['status']} in {entry['seconds']}s", file=sys.stderr,
          flush=True)
    return entry


# --- targets: each returns (target text, measured text, met: True/False/None) ----------

def _res(results: dict, name: str) -> dict | None:
    e = results.get(name) or {}
    return e.get("result")


def targets(results: dict) -> list[tuple[str, str, str, bool | None]]:
    rows = []
    parse = _res(results, "parse")
    for size in (1024, 4096):
        r = next((x for x in (parse or {}).get("results", []) if x["nodes"] == size), None)
        rows.append((f"parse {size} nodes", "parse_crm_mon <= 1.5x lxml fromstring",
                     f"{r['ratio']}x ({r['parse_crm_mon_ms']} ms vs {r['fromstring_ms']} ms)"
                     if r else "not measured", r["ratio"] <= 1.5 if r else None))
    alert = _res(results, "alert")
    rows.append(("alert agent", "median <= 3x `python3 -I -c pass`",
                 f"{alert['ratio']}x ({alert['alert_new_event']['median_ms']} ms vs "
                 f"{alert['python_I_c_pass']['median_ms']} ms)" if alert else "not measured",
                 alert["ok"] if alert else None))
    evac = _res(results, "evacuate")
    for name in ("200x1", "2000x20"):
        s = next((x for x in (evac or {}).get("scenarios", []) if x["name"] == name), None)
        rows.append((f"evacuation {name}", "total <= 1.25x ideal bound, 0 failed",
                     f"{s['ratio']}x ({s['seconds']} s vs ideal {s['ideal_seconds']} s, "
                     f"{s['failed']} failed)" if s else "not measured",
                     s["ok"] if s else None))
    rss = (evac or {}).get("rss")
    ok_rss = rss if rss and rss["instances"] >= 5000 else None
    rows.append(("engine memory 5,000 instances", "peak RSS <= 200 MB",
                 f"{rss['peak_rss_mb']} MB at {rss['instances']} instances" if rss
                 else "not measured", ok_rss["ok"] if ok_rss else None))
    # Whether a target is met is scale.py's judgement (its "targets"); shown here as is.
    scale_res = _res(results, "scale") or {}
    scale = {x["nodes"]: x for x in scale_res.get("sizes", [])}
    met = scale_res.get("targets", {})
    s = scale.get(1024, {})
    for what, key, ratio, name in (
            ("engine look, 1,024 nodes", "look_1024_within_1.5x_cibadmin",
             "look_vs_cibadmin", "engine_look"),
            ("`hakari status`, 1,024 nodes", "status_1024_within_1.5x_cibadmin",
             "status_vs_cibadmin", "hakari_status")):
        rows.append((what, "<= 1.5x bare `cibadmin --query`",
                     f"{s[ratio]}x ({s['median_s'][name]} s vs {s['median_s']['cibadmin']} s)"
                     if ratio in s else "not measured", met.get(key)))
    rss = scale.get(4096, {}).get("peak_rss_mb", {}).get("engine_look")
    rows.append(("engine look memory, 4,096 nodes", "peak RSS <= 300 MB",
                 f"{rss} MB" if rss is not None else "not measured",
                 met.get("look_4096_peak_rss_within_300mb")))
    alert = _res(results, "alert_scale")
    f = ((alert or {}).get("fencing_alert_to_first_evacuate_s") or {}).get("narrow_looks")
    rows.append(("fencing alert -> first evacuate, 1,024 nodes",
                 "median <= 1 s over >= 5 runs (cluster tools on 1,024-node CIBs)",
                 f"{f['median']} s median of {f['n']} (min {f['min']}, max {f['max']})"
                 if f else "not measured", alert["target_met"] if f else None))
    lat = _res(results, "latency")
    f = (lat or {}).get("fencing_alert_to_first_evacuate_s")
    if f and f.get("n", 0) >= 5:
        rows.append(("fencing alert -> first evacuate", "median <= 1 s over >= 5 runs",
                     f"{f['median']} s median of {f['n']} (min {f['min']}, max {f['max']})",
                     lat["target_met"]))
    else:
        entry = results.get("latency")
        why = (lat or {}).get("skipped") or (f"only {f['n']} runs" if f else
                                             entry["status"] if entry else "not run")
        rows.append(("fencing alert -> first evacuate", "median <= 1 s over >= 5 runs",
                     f"not measured ({why})", None))
    return rows


def _mm(values) -> str:
    return f"{min(values)} / {max(values)}" if values else "-"


def render(doc: dict) -> str:
    m, r = doc["machine"], doc["benchmarks"]
    met = {True: "**met**", False: "**NOT met**", None: "not measured"}
    out = [
        "# hakari benchmark report", "",
        f"Generated by `make bench` (`bench/report.py`) on {doc['date']}; raw figures in "
        "`bench/results.json`.", "",
        "## Machine", "",
        f"- {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, kernel {m['kernel']}",
        f"- Python {m['python']}, {m['pacemaker']}, {m['corosync']}, openstacksdk "
        f"{m['openstacksdk']}, lxml {m['lxml']}, hakari at {m['hakari_commit']}",
        f"- Load average (1/5/15 min) at start {doc['load_start']}, at end "
        f"{doc['load_end']}. The machine was shared with other lab tests during this run: "
        "absolute times are pessimistic; ratios measured interleaved (parse, peer, alert) "
        "are the sturdier figures.", "",
        "## Targets", "",
        "| what | target | measured | |", "| --- | --- | --- | --- |",
    ]
    for what, target, measured, ok in doc["targets"]:
        out.append(f"| {what} | {target} | {measured} | {met[ok]} |")
    out += [""] + render_soak(doc.get("soak"))
    out += ["## Per benchmark", ""]
    for name, e in r.items():
        load = f"load {e['load_before'][0]} -> {e['load_after'][0]}"
        out.append(f"### {name}  (`{' '.join(e['argv'])}`, {e['status']}, {e['seconds']} s, "
                   f"{load})")
        out.append("")
        res = e.get("result")
        if e["status"] != "ok" and not res:
            out += ["```", (e.get("stderr_tail") or "").strip()[-800:] or e["status"],
                    "```", ""]
            continue
        if name == "parse":
            out += ["median of 5 interleaved rounds' medians; min / max over those rounds", "",
                    "| nodes | bytes | parse_crm_mon ms | min / max | lxml fromstring ms "
                    "| min / max | ratio |", "| --- | --- | --- | --- | --- | --- | --- |"]
            for x in res["results"]:
                out.append(f"| {x['nodes']} | {x['bytes']} | {x['parse_crm_mon_ms']} | "
                           f"{_mm(x.get('parse_crm_mon_round_ms'))} | {x['fromstring_ms']} | "
                           f"{_mm(x.get('fromstring_round_ms'))} | {x['ratio']} |")
        elif name == "peer_masakari":
            if "unavailable" in res:
                out.append(f"masakari-monitors could not be run here: {res['unavailable']}")
            else:
                out += [f"{res['peer']} {res['peer_version']} (`{res['peer_module']}`, "
                        "installed from PyPI into a throwaway venv), on the same generated "
                        "crm_mon documents as the parse benchmark, in one process, "
                        "interleaved. Not equal work: masakari-monitors does "
                        f"{res['peer_work']}; hakari does {res['hakari_work']}.", "",
                        "| nodes | hakari ms | min / max | masakari-monitors ms | min / max "
                        "| hakari / masakari |", "| --- | --- | --- | --- | --- | --- |"]
                for x in res["results"]:
                    out.append(
                        f"| {x['nodes']} | {x['hakari_parse_crm_mon_ms']} | "
                        f"{_mm(x['hakari_round_medians_ms'])} | {x['masakari_ms']} | "
                        f"{_mm(x['masakari_round_medians_ms'])} | "
                        f"{x['ratio_hakari_over_masakari']} |")
        elif name == "alert":
            out += [f"{res['runs']} interleaved runs each", "",
                    "| call | median ms | p90 ms | min / max ms |", "| --- | --- | --- | --- |"]
            for key in ("python_I_c_pass", "alert_new_event", "alert_duplicate",
                        "cli_hakari_alert"):
                v = res[key]
                out.append(f"| {key} | {v['median_ms']} | {v['p90_ms']} | "
                           f"{v.get('min_ms', '-')} / {v.get('max_ms', '-')} |")
        elif name == "evacuate":
            out += ["one run per scenario (a run is minutes long; its own timing is the "
                    "figure)", "",
                    "| scenario | seconds | ideal s | ratio | evacuated | failed | peak in "
                    "flight | peak RSS MB | double evacuations (Nova) |",
                    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
            for x in res["scenarios"] + ([res["rss"]] if res.get("rss") else []):
                out.append(f"| {x['name']} | {x['seconds']} | {x.get('ideal_seconds', '-')} "
                           f"| {x.get('ratio', '-')} | {x['evacuated']} | {x['failed']} | "
                           f"{x['peak_in_flight']} | {x['peak_rss_mb']} | "
                           f"{x['nova_double_evacuations']} |")
        elif name == "latency":
            if "skipped" in res:
                out.append(f"skipped: {res['skipped']}")
            else:
                f = res["fencing_alert_to_first_evacuate_s"]
                out += [f"fencing alert -> first evacuate request: median {f['median']} s, "
                        f"min {f['min']} s, max {f['max']} s, n={f['n']}"]
                # Results of the members-only lab have no power-off figure.
                p = res.get("power_off_to_first_evacuate_s")
                if p:
                    out.append(f"host power-off -> first evacuate request ({res['lab']}): "
                               f"median {p['median']} s, min {p['min']} s, max {p['max']} s")
                out += ["", "| run | power cut -> fencing alert s | fencing alert -> first "
                        "evacuate s | power cut -> first evacuate s |",
                        "| --- | --- | --- | --- |"]
                for x in res["runs"]:
                    out.append(f"| {x['run']} | {x['power_cut_to_fencing_alert_s']} | "
                               f"{x['fencing_alert_to_first_evacuate_s']} | "
                               f"{x.get('power_off_to_first_evacuate_s', '-')} |")
        elif name == "scale":
            out += ["generated CIBs (bench/cibgen.py: 3 controllers, the rest remote "
                    "computes, 2 lost) read through `CIB_file`; medians of interleaved "
                    "rounds; peak RSS includes the tools a look runs", "",
                    "| nodes | CIB bytes | crm_verify | cibadmin s | crm_mon s | engine look s "
                    "| look / cibadmin | hakari status s | status / cibadmin "
                    "| peak RSS MB cibadmin / crm_mon / look |",
                    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
            for x in res["sizes"]:
                med, rss = x["median_s"], x["peak_rss_mb"]
                out.append(f"| {x['nodes']} | {x['cib_bytes']} | "
                           f"{ {True: 'ok', False: 'WARN', None: '-'}[x['crm_verify_ok']]} | "
                           f"{med['cibadmin']} | "
                           f"{med.get('crm_mon', 'skipped')} | "
                           f"{med.get('engine_look', 'skipped')} | "
                           f"{x.get('look_vs_cibadmin', '-')} | "
                           f"{med.get('hakari_status', '-')} | "
                           f"{x.get('status_vs_cibadmin', '-')} | {rss['cibadmin']} / "
                           f"{rss.get('crm_mon', '-')} / {rss.get('engine_look', '-')} |")
        elif name == "alert_scale":
            out += [f"bench/cibgen.py's {res['nodes']}-node cloud ({res['cib_bytes']} bytes) "
                    "read by the real cibadmin through `CIB_file`; one compute lost and "
                    "fenced, its fencing alert spooled by hakari's agent; from just before "
                    "the spooling to the first evacuate request's arrival at the fake Nova. "
                    "Runs alternate: the engine as `hakari engine` builds it (narrow looks "
                    "after alerts), one making only full looks, and narrow looks again with "
                    "the documents declaring their schema (offline, cibadmin then validates "
                    "the whole file at every query, which a running CIB manager does not: "
                    "see bench/alert_scale.py).", "",
                    "| looks | median s | min s | max s | runs | of which to the incident "
                    "(look and decision), median s |",
                    "| --- | --- | --- | --- | --- | --- |"]
            for key, f in res["fencing_alert_to_first_evacuate_s"].items():
                out.append(f"| {key.replace('_', ' ')} | {f['median']} | {f['min']} | "
                           f"{f['max']} | {f['n']} | {f.get('incident_median', '-')} |")
        else:  # fakenova and anything new: no target, show the JSON as is
            out += ["no target (measures the test double)", "", "```json",
                    json.dumps(res, indent=2)[:3000], "```"]
        out.append("")
    out += ["## Reproduce", "", "```sh", "make bench            # all of the above, ~15 min "
            "as root (latency needs the lab)",
            "python3 bench/report.py --only parse,peer_masakari   # a subset",
            "make soak             # the soak section: bench/soak.json, ~8 min as root",
            "python3 bench/report.py --render-only   # this file again, nothing re-measured",
            "```", ""]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated subset of: " + ",".join(BENCHMARKS))
    ap.add_argument("--quick", action="store_true", help="shorter settings (smoke run)")
    ap.add_argument("--out-dir", type=pathlib.Path, default=BENCH)
    ap.add_argument("--render-only", action="store_true",
                    help="measure nothing: rewrite REPORT.md from results.json and the "
                    "current soak.json")
    args = ap.parse_args(argv)
    if args.render_only:
        soak = load_soak(args.out_dir / "soak.json", git_head())
        doc = json.loads((args.out_dir / "results.json").read_text())
        doc["soak"] = soak
        (args.out_dir / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
        (args.out_dir / "REPORT.md").write_text(render(doc))
        print(f"report: soak {soak['status']}; rewrote {args.out_dir / 'REPORT.md'}",
              file=sys.stderr)
        return 0
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    doc = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "quick": args.quick, "machine": machine(),
           "load_start": [round(x, 2) for x in os.getloadavg()], "benchmarks": {}}
    previous = args.out_dir / "results.json"
    if args.only and previous.exists():
        # Re-measuring a subset keeps the other figures of the last full run.
        try:
            doc["benchmarks"].update(json.loads(previous.read_text()).get("benchmarks", {}))
        except ValueError:
            pass
    for name in names:
        doc["benchmarks"][name] = run_one(name, args.quick)
    doc["load_end"] = [round(x, 2) for x in os.getloadavg()]
    loads = [e[k][0] for e in doc["benchmarks"].values() for k in ("load_before", "load_after")]
    doc["load_1min_median"] = round(statistics.median(loads), 2) if loads else None
    doc["targets"] = targets(doc["benchmarks"])
    # Read last: a soak that finished while the benchmarks ran is reported as it ended.
    doc["soak"] = load_soak(args.out_dir / "soak.json", git_head())
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    (args.out_dir / "REPORT.md").write_text(render(doc))
    print(f"report: wrote {args.out_dir / 'results.json'} and {args.out_dir / 'REPORT.md'}",
          file=sys.stderr)
    for what, _target, measured, ok in doc["targets"]:
        print(f"  {what:34} {measured:60} {'met' if ok else 'NOT met' if ok is False else '-'}")
    failed = [n for n, e in doc["benchmarks"].items() if e["status"] != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
