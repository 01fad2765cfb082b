"""`make demo` is the drill: run it and hold it to its timeline."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from hakari import lifecycle
from tests.conftest import require_remoted, require_root, require_tools
from tests.fixtures_nova import require_nova_venv

pytestmark = pytest.mark.nova

LINE = re.compile(r"^\s+t\+\s*([\d.]+)s\s+(.*)$")


def first(marks, pattern):
    times = [t for t, what in marks if re.search(pattern, what)]
    assert times, f"no timeline line matches {pattern!r}"
    return min(times)


def last(marks, pattern):
    return max(t for t, what in marks if re.search(pattern, what))


def test_demo_drill_passes_in_order():
    require_root()
    require_tools("corosync", "pacemakerd", "pcs")
    require_remoted()
    require_nova_venv()
    proc = subprocess.run([sys.executable, "-m", "lab.demo"], capture_output=True,
                          text=True, timeout=400)
    out = proc.stdout
    assert proc.returncode == 0 and "demo: PASS" in out, out + proc.stderr[-2000:]
    marks = [(float(m.group(1)), m.group(2)) for line in out.splitlines()
             if (m := LINE.match(line))]
    # The production shape: the victim is a Pacemaker Remote compute.
    assert "2 Pacemaker Remote computes" in out and "remote compute compute1" in out
    fenced = first(marks, r"Pacemaker: compute1 fenced")
    confirmed = first(marks, lifecycle.FENCE_CONFIRMED)
    first_request = first(marks, r"hakari: evacuate ")
    last_result = last(marks, r" evacuated -> ")
    enabled = first(marks, r"re-enabled")
    # Never before fencing (rule 1), never re-enabled before the last evacuation (rule 5).
    assert fenced <= confirmed + 1.0  # fence times have 1 s resolution in Pacemaker 2.1.5
    assert confirmed <= first_request <= last_result <= enabled
    assert len([w for _, w in marks if " evacuated -> " in w]) == 5
