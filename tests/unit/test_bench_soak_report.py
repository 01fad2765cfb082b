"""The soak section of bench/REPORT.md: read from bench/soak.json as `make soak` wrote it,
and honest about a soak that is missing, failed, unfinished or ran on other code."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
HEAD = "a" * 40
OTHER = "b" * 40


@pytest.fixture(scope="module")
def report():
    # bench/ is a directory of scripts, not a package.
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def soak_doc(**over) -> dict:
    doc = {
        "complete": True, "started": "2026-12-04T20:29:24+00:00",
        "finished": "2026-12-04T21:31:02+00:00", "wall_seconds": 3698.4, "exit_code": 0,
        "settings": {"fuzz_examples": 2000, "crash_seeds": ["1", "2"], "repeat": 2,
                     "lab_drills": 10},
        "source": {"commit": HEAD, "dirty": False, "changed_files": []},
        "machine": {"nproc": 2, "memory_gib": 23.5},
        "runs": [{"name": "fuzz", "exit_code": 0, "seconds": 61.9},
                 {"name": "lab drills", "exit_code": 0, "seconds": 812.5}],
        "per_kind": {"fuzz-xml": {"scenarios": 6000},
                     "lab-drill": {"scenarios": 10, "faults": 10, "recovered": 23,
                                   "duplicates": 0, "unsafe": 0}},
        "total": {"scenarios": 6010, "faults": 10, "recovered": 23, "duplicates": 0,
                  "unsafe": 0},
    }
    doc.update(over)
    return doc


def section(report, tmp_path, doc, head=HEAD) -> tuple[dict, str]:
    path = tmp_path / "soak.json"
    if doc is not None:
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    soak = report.load_soak(path, head)
    return soak, "\n".join(report.render_soak(soak))


def test_absent_says_so_and_shows_no_figures(report, tmp_path):
    soak, text = section(report, tmp_path, None)
    assert soak["status"] == "absent"
    assert "absent" in text and "no soak figures" in text
    assert "| kind |" not in text and "passed" not in text


def test_unreadable_file_is_not_taken_for_a_soak(report, tmp_path):
    soak, text = section(report, tmp_path, "{not json")
    assert soak["status"] == "unreadable"
    assert "could not be read" in text and "| kind |" not in text
    soak, _ = section(report, tmp_path, {"complete": True})
    assert soak["status"] == "unreadable"


def test_present_and_current_shows_the_figures_as_recorded(report, tmp_path):
    soak, text = section(report, tmp_path, soak_doc())
    assert soak["status"] == "passed" and soak["stale"] is False
    assert "**passed**" in text and "Older than the code" not in text
    assert "| lab-drill | 10 | 10 | 23 | 0 | 0 |" in text
    # A column a kind did not measure stays unmeasured, never a made-up 0.
    assert "| fuzz-xml | 6000 | - | - | - | - |" in text
    assert "| **total** | 6010 | 10 | 23 | 0 | 0 |" in text
    assert "| lab drills | 0 | 812.5 |" in text
    assert "wall 3698.4 s" in text and "2 CPUs" in text and "lab drills 10" in text


def test_a_failed_run_fails_the_soak(report, tmp_path):
    doc = soak_doc(exit_code=1, runs=[{"name": "fuzz", "exit_code": 0, "seconds": 61.9},
                                      {"name": "scale #2", "exit_code": 124,
                                       "seconds": 1200.0}])
    soak, text = section(report, tmp_path, doc)
    assert soak["status"] == "failed"
    assert "**FAILED**" in text and "exit code 1" in text
    assert "| scale #2 | **124** | 1200.0 |" in text


def test_a_duplicate_fails_the_soak_even_when_every_run_passed(report, tmp_path):
    doc = soak_doc(total={"scenarios": 6010, "faults": 10, "recovered": 23,
                          "duplicates": 1, "unsafe": 0})
    soak, text = section(report, tmp_path, doc)
    assert soak["status"] == "failed" and "**FAILED**" in text


def test_another_commit_or_local_changes_are_called_out(report, tmp_path):
    soak, text = section(report, tmp_path, soak_doc(), head=OTHER)
    assert soak["stale"] is True
    assert f"ran on {HEAD[:12]}, this checkout is {OTHER[:12]}" in text
    doc = soak_doc(source={"commit": HEAD, "dirty": True,
                           "changed_files": ["hakari/engine/loop.py"]})
    _, text = section(report, tmp_path, doc)
    assert "local changes" in text and "`hakari/engine/loop.py`" in text
    # Without a commit nothing can show it matches this checkout.
    soak, _ = section(report, tmp_path, soak_doc(source={}))
    assert soak["stale"] is True


def test_unfinished_soak_shows_only_the_runs_it_did(report, tmp_path):
    doc = soak_doc(complete=False, finished=None, runs=[{"name": "fuzz", "exit_code": 0,
                                                          "seconds": 61.9}])
    del doc["exit_code"]
    soak, text = section(report, tmp_path, doc)
    assert soak["status"] == "incomplete"
    assert "**Incomplete**" in text and "not finished" in text
    assert "| fuzz | 0 | 61.9 |" in text and "lab drills |" not in text


def test_render_only_keeps_the_benchmark_figures(report, tmp_path):
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    (tmp_path / "results.json").write_text(json.dumps(results))
    (tmp_path / "soak.json").write_text(json.dumps(soak_doc()))
    assert report.main(["--render-only", "--out-dir", str(tmp_path)]) == 0
    after = json.loads((tmp_path / "results.json").read_text())
    assert after["benchmarks"] == results["benchmarks"]
    assert after["targets"] == results["targets"]
    assert after["soak"]["data"]["total"]["scenarios"] == 6010
    text = (tmp_path / "REPORT.md").read_text()
    assert report.render({**results, "soak": after["soak"]}) == text
    assert "## Soak (`make soak`)" in text and "## Targets" in text
