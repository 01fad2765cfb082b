"""Printing strings from the cluster and Nova: nothing raw reaches the terminal.

`hakari status`, `hakari incidents` and `hakari evacuate` print node, host and server
names and failure reasons that hakari does not control; none may start a line of its
own or send the terminal a control sequence.
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import datetime as dt
import os
import pathlib
import subprocess
import sys
import types

import pytest

from hakari import lifecycle
from hakari.commands import evacuate
from hakari.display import escape_text, escaped_copy
from hakari.model import Incident
from hakari.recovery.host import manual
from hakari.recovery.host.evacuator import Outcome
from hakari.recovery.host.recovery import HostReport
from hakari.records.journal import Event, Journal
from hakari.nova.resources import ComputeService
from hakari.recovery.host.plan import Decision

ROOT = pathlib.Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 1, 1, 7, 0, tzinfo=dt.timezone.utc)
FORGED = "web\nQuorum: yes"
FORGED_SHOWN = "web\\nQuorum: yes"
SUMMARY = manual.ManualEvacuation.summary


@pytest.mark.parametrize("raw, shown", [
    ("node1", "node1"),
    ("nöde-ü 名前", "nöde-ü 名前"),
    ("a\nb", "a\\nb"),
    ("a\r\tb", "a\\r\\tb"),
    ("a\x1b[31mb", "a\\x1b[31mb"),
    ("a\x00b\x7f", "a\\x00b\\x7f"),
    ("a\x85b", "a\\x85b"),
    ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),
    ("a\u202eb\u200bc", "a\\u202eb\\u200bc"),
    ("a\U000e0041b", "a\\U000e0041b"),
    ("a\\nb", "a\\\\nb"),
    ("a\udcffb", "a\\udcffb"),
])
def test_escape_text(raw, shown):
    assert escape_text(raw) == shown
    assert escape_text(raw).isprintable()
    # Unambiguous: the escape reads back as the original.
    assert ast.literal_eval(f"'{shown}'") == raw


def test_escaped_copy_walks_records_and_leaves_the_original():
    event = Event(T0, "i1", FORGED, "result", "a", None,
                  {"name": FORGED, "tags": [FORGED, 3], "pair": (FORGED, None)})
    copy = escaped_copy({"events": [event]})
    shown = copy["events"][0]
    assert shown.host == FORGED_SHOWN and shown.ts == T0 and shown.instance == "a"
    assert shown.detail == {"name": FORGED_SHOWN, "tags": [FORGED_SHOWN, 3],
                            "pair": (FORGED_SHOWN, None)}
    assert event.host == FORGED and event.detail["name"] == FORGED


def test_incidents_text_escapes_journal_and_nova_strings(tmp_path):
    state_dir = tmp_path / "state"
    journal = Journal.open(str(state_dir))
    host = "cmp1\nQuorum: yes"
    journal.append(
        Event(T0, "i1", host, "state", detail={"node": host, "state": lifecycle.DETECTED,
                                               "lost_at": T0.isoformat(),
                                               "reason": "lost\u2028FAKE"}),
        Event(T0, "i1", host, "result", "a", None,
              {"result": "failed", "name": FORGED, "reason": "No valid host\x1b[2J"}),
        Event(T0, "i1", host, "state", detail={"node": host, "state": lifecycle.FAILED,
                                               "lost_at": T0.isoformat(),
                                               "reason": f"1 failed\n{lifecycle.EVACUATED}"}))
    journal.close()
    conf = tmp_path / "hakari.conf"
    conf.write_text(f"[DEFAULT]\nstate_dir = {state_dir}\n[cluster]\ntool_timeout = 1\n")
    # No Pacemaker tool on PATH: the journal alone is shown.
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))
    proc = subprocess.run([sys.executable, "-m", "hakari", "--config-file", str(conf),
                           "incidents", "--timeline"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert all(line.isprintable() for line in lines), proc.stdout
    assert not any(line.startswith(("Quorum", lifecycle.EVACUATED, "FAKE")) for line in lines)
    assert "i1 (cmp1\\nQuorum: yes, FAILED):" in lines
    assert f"  FAILED a {FORGED_SHOWN}: No valid host\\x1b[2J" in lines
    assert f"1 failed\\n{lifecycle.EVACUATED}" in proc.stdout


class _FakeJob:
    """ManualEvacuation's interface, with a host, servers and a report from outside."""

    host = "cmp1\u2028Fencing: confirmed"

    def __init__(self, conf, host, *, assume_fenced, force, warn):
        self.warn = warn

    def prepare(self):
        self.warn(f"capacity not checked: {self.host}\x1b[2J")
        return manual.Preview(
            host=self.host, node="cmp1\r\nnode",
            incident=Incident("i1", "cmp1", T0, reason="x\ny"), new_incident=True,
            service=ComputeService("s1", self.host, "down\nup", "enabled", False, None),
            decisions=[Decision("a", FORGED, "evacuate", reason="r\x1b[2J")],
            fencing="confirmed", assumed=False)

    def execute(self, preview, progress=None):
        outcome = Outcome("a", FORGED, self.host, "evacuated", "cmp2\nok", "")
        progress(outcome)
        return HostReport(self.host, preview.incident, True, True, [outcome],
                          error="late\nerror: none")

    @staticmethod
    def summary(report):
        return SUMMARY(report)


@pytest.mark.parametrize("dry_run", [True, False])
def test_evacuate_text_escapes_host_and_server_strings(monkeypatch, capsys, dry_run):
    monkeypatch.setattr(manual, "ManualEvacuation", _FakeJob)
    monkeypatch.setattr(evacuate, "load_config", lambda args: object())
    args = types.SimpleNamespace(host="cmp1", assume_fenced=False, force=False,
                                 dry_run=dry_run,
                                 yes=True, format="text")
    rc = evacuate.run(args)
    out, err = capsys.readouterr()
    assert rc == (0 if dry_run else 1)
    for text in (out, err):
        assert all(line.isprintable() for line in text.split("\n")), text
    # Warnings are one line anyway (whitespace, U+2028 included, is folded into spaces).
    assert err == ("hakari: WARNING: capacity not checked: "
                   "cmp1 Fencing: confirmed\\x1b[2J\n")
    if dry_run:
        assert out.startswith("Host cmp1\\u2028Fencing: confirmed (node cmp1\\r\\nnode), "
                              "incident i1 (new)\n")
        assert f"a  {FORGED_SHOWN}  r\\x1b[2J" in out and "down\\nup, enabled" in out
    else:
        assert out.split("\n")[1] == f"  evacuated  a  {FORGED_SHOWN}  -> cmp2\\nok"
        assert "\nerror: late\\nerror: none\n" in out


def test_escaped_copy_keeps_what_renderers_compute_with():
    report = HostReport("h", Incident("i1", "h", T0), outcomes=[
        Outcome("a", "x\ny", "h", "evacuated", None, ""),
        Outcome("b", "z", "h", "failed", None, "no\nhost")])
    shown = escaped_copy(report)
    assert shown.counts() == report.counts() and shown.failed
    assert dataclasses.asdict(shown)["outcomes"][1]["reason"] == "no\\nhost"


def test_escaped_copy_of_named_tuples_and_other_values():
    pair = collections.namedtuple("Pair", "a b")
    assert escaped_copy(pair("x\n", 1)) == pair("x\\n", 1)
    assert escaped_copy(T0) is T0 and escaped_copy(None) is None
    assert escaped_copy({"x\ny"}) == {"x\\ny"}
