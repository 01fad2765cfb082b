"""`python -m hakari status` end to end: good input, and every kind of bad input.

Bad input must give exit 2, one `hakari: error: …` line on stderr, no traceback, no hang.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

from tests import bad_input_files
from tests.conftest import DATA
from tests.fake_tools import SAFE_PATH, fake_tool, path_with, shell_tool

ROOT = pathlib.Path(__file__).resolve().parents[2]
CIB = (DATA / "cib" / "hand_members-node2-down.xml").read_bytes()
HISTORY = (DATA / "live" / "demo-multinode_stonith-history-final.xml").read_bytes()
SECRET = "hunter2-must-never-be-printed"


@pytest.fixture
def conf_file(tmp_path):
    # Always name a config file: a machine-wide /etc/hakari/hakari.conf must not leak in.
    path = tmp_path / "hakari.conf"
    path.write_text("[cluster]\ntool_timeout = 1\n")
    return path


def hakari(conf_file, *args, path: str | None = None, stdin: bytes | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = path if path is not None else SAFE_PATH
    env.pop("CIB_file", None)
    return subprocess.run(
        [sys.executable, "-m", "hakari", "--config-file", str(conf_file), "status", *args],
        cwd=ROOT, env=env, input=stdin, capture_output=True, timeout=timeout)


def assert_one_line_error(proc, *fragments: str) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 2, (proc.returncode, err)
    assert err.startswith("hakari: error: ")
    assert err.count("\n") == 1 and err.endswith("\n")
    assert "Traceback" not in err
    assert proc.stdout == b""
    for fragment in fragments:
        assert fragment in err
    return err


def test_json_from_saved_file(conf_file):
    proc = hakari(conf_file, "--crm-mon-file",
                  str(DATA / "live" / "demo-single_crm_mon-node2-fenced.xml"),
                  "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["quorate"] is True and doc["dc"] == "node1"
    node2 = next(n for n in doc["nodes"] if n["name"] == "node2")
    assert node2["state"] == "offline"
    assert node2["fenced_at"] == "2026-11-23T22:31:49+00:00"
    assert doc["fence_events"][0]["status"] == "success"


def test_text_from_stdin(conf_file):
    data = (DATA / "crm_mon" / "gen_2.1.5_legacy_as-xml_stonith-1.xml").read_bytes()
    proc = hakari(conf_file, "--crm-mon-file", "-", stdin=data)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert out.startswith("NODE")
    assert any(line.split()[:3] == ["sles-3", "member", "unclean"]
               for line in out.splitlines())
    assert "Quorum: yes" in out and "DC:     sles-1" in out


def test_truncated_xml(conf_file, tmp_path):
    full = (DATA / "crm_mon" / "gen_2.1.5_stonith-1.xml").read_bytes()
    bad = tmp_path / "truncated.xml"
    bad.write_bytes(full[: len(full) // 2])
    assert_one_line_error(hakari(conf_file, "--crm-mon-file", str(bad)),
                          str(bad), "not well-formed XML")


@pytest.mark.parametrize("template", [
    '<!DOCTYPE crm_mon [<!ENTITY x SYSTEM "file://{p}">]>'
    '<crm_mon version="1"><nodes><node name="a"/>&x;</nodes></crm_mon>',
    '<!DOCTYPE crm_mon [<!ENTITY x SYSTEM "file://{p}">]>'
    '<crm_mon version="1"><nodes><node name="&x;"/></nodes></crm_mon>',
    '<!DOCTYPE crm_mon [<!ENTITY % x SYSTEM "file://{p}"> %x;]><crm_mon version="1"/>',
    '<!DOCTYPE crm_mon SYSTEM "file://{p}"><crm_mon version="1"/>',
])
def test_doctype_with_external_entity_never_leaks(conf_file, tmp_path, template):
    secret = tmp_path / "secret-target.txt"
    secret.write_text(SECRET)
    bad = tmp_path / "xxe.xml"
    bad.write_text('<?xml version="1.0"?>' + template.format(p=secret))
    for fmt in ("text", "json"):
        proc = hakari(conf_file, "--crm-mon-file", str(bad), "--format", fmt)
        err = assert_one_line_error(proc, str(bad))
        everything = proc.stdout.decode() + err
        assert SECRET not in everything
        assert "secret-target" not in everything


def test_not_a_crm_mon_document(conf_file, tmp_path):
    bad = tmp_path / "cib.xml"
    bad.write_text('<cib epoch="1"><configuration/><status/></cib>')
    assert_one_line_error(hakari(conf_file, "--crm-mon-file", str(bad)),
                          "unexpected root element <cib>")
    other = tmp_path / "history.xml"
    other.write_bytes((DATA / "live" / "demo-single_stonith-history.xml").read_bytes())
    assert_one_line_error(hakari(conf_file, "--crm-mon-file", str(other)),
                          "no cluster status", "stonith_admin")


def test_empty_file(conf_file, tmp_path):
    bad = tmp_path / "empty.xml"
    bad.write_bytes(b"")
    assert_one_line_error(hakari(conf_file, "--crm-mon-file", str(bad)), "empty document")


def test_missing_file(conf_file, tmp_path):
    assert_one_line_error(hakari(conf_file, "--crm-mon-file", str(tmp_path / "nope.xml")),
                          "nope.xml: cannot read: No such file or directory")


def test_saved_not_connected_result(conf_file):
    assert_one_line_error(
        hakari(conf_file, "--crm-mon-file",
               str(DATA / "crm_mon" / "gen_2.1.5_error_not_connected.xml")),
        "not connected to the cluster")


def live_tools(tmp_path, *, cib: bytes = CIB, history: bytes = HISTORY, **cib_kw):
    bindir = tmp_path / "bin"
    fake_tool(bindir, "cibadmin", stdout=cib, **cib_kw)
    fake_tool(bindir, "stonith_admin", stdout=history)
    return path_with(bindir)


def test_cluster_tools_missing_from_path(conf_file, tmp_path):
    empty = tmp_path / "emptybin"
    empty.mkdir()
    assert_one_line_error(hakari(conf_file, path=str(empty)), "cibadmin: command not found")


def test_a_hanging_cibadmin(conf_file, tmp_path):
    path = live_tools(tmp_path, sleep=120)
    start = time.monotonic()
    proc = hakari(conf_file, path=path, timeout=30)
    elapsed = time.monotonic() - start
    assert_one_line_error(proc, "cibadmin: no answer within 1s")
    assert elapsed < 10


def test_a_broken_configuration_stops_the_cibadmin_started_early(tmp_path):
    # cibadmin starts before the configuration is read (its time overlaps ours); a
    # broken configuration is still the error reported, and the tool does not linger.
    bindir = tmp_path / "bin"
    pidfile = tmp_path / "cibadmin.pid"
    shell_tool(bindir, "cibadmin", f"echo $$ > {pidfile}\nexec sleep 120")
    bad = tmp_path / "bad.conf"
    bad.write_text("[cluster]\ntool_timeout = soon\n")
    start = time.monotonic()
    assert_one_line_error(hakari(bad, path=path_with(bindir), timeout=30), "tool_timeout")
    assert time.monotonic() - start < 10
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_cibadmin_not_connected(conf_file, tmp_path):
    path = live_tools(tmp_path, cib=b"", rc=102,
                      stderr="Could not connect to the CIB: Transport endpoint is not "
                      "connected\n")
    assert_one_line_error(hakari(conf_file, path=path),
                          "cibadmin: not connected to the cluster", "Transport endpoint")


def test_live_json_through_fake_tools(conf_file, tmp_path):
    proc = hakari(conf_file, "--format", "json", path=live_tools(tmp_path))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    nodes = {n["name"]: n for n in doc["nodes"]}
    assert {n: v["state"] for n, v in nodes.items()} == {
        "node1": "online", "node2": "offline", "node3": "online"}
    assert {n: v["fenced_at"] for n, v in nodes.items()} == {
        "node1": None, "node2": "2026-11-23T22:32:10+00:00", "node3": None}
    # The holds come from the same CIB read.
    assert nodes["node3"]["hold"]["by"] == "ops" and nodes["node1"]["hold"] is None


@pytest.mark.parametrize("how", ["file", "stdin"])
def test_saved_cib_reads_like_the_live_one_without_fencing(conf_file, tmp_path, how):
    saved = DATA / "cib" / "hand_members-node2-down.xml"
    if how == "file":
        proc = hakari(conf_file, "--cib-file", str(saved), "--format", "json")
    else:
        proc = hakari(conf_file, "--cib-file", "-", "--format", "json",
                      stdin=saved.read_bytes())
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["quorate"] is True and doc["dc"] == "node1"
    assert {n["name"]: n["state"] for n in doc["nodes"]} == {
        "node1": "online", "node2": "offline", "node3": "online"}
    assert doc["fence_events"] == []
    # Its hakari attributes are read as the live look reads them.
    assert {n["name"]: (n["hold"] or {}).get("by") for n in doc["nodes"]} == {
        "node1": None, "node2": None, "node3": "ops"}


def test_a_crm_mon_document_is_no_cib(conf_file):
    assert_one_line_error(
        hakari(conf_file, "--cib-file", str(DATA / "live" / "demo-single_crm_mon-final.xml")),
        "demo-single_crm_mon-final.xml: ", "cib")


def test_one_saved_source_at_a_time(conf_file):
    proc = hakari(conf_file, "--cib-file", "a", "--crm-mon-file", "b")
    assert proc.returncode == 2 and b"not allowed with" in proc.stderr


@pytest.mark.parametrize("option,limit", [("--crm-mon-file", "MAX_CRM_MON_BYTES"),
                                          ("--cib-file", "MAX_CIB_BYTES")])
@pytest.mark.parametrize("kind", bad_input_files.KINDS)
def test_saved_file_that_is_no_small_regular_file(conf_file, tmp_path, kind, option, limit):
    from hakari.commands import status

    limit = getattr(status, limit)
    path = bad_input_files.make(tmp_path, kind, limit)
    start = time.monotonic()
    proc = hakari(conf_file, option, str(path), timeout=30)
    assert_one_line_error(proc)
    assert proc.stderr.decode() == bad_input_files.error_line(path, kind, limit)
    assert time.monotonic() - start < 10


def test_standard_input_is_read_up_to_the_limit(conf_file):
    from hakari.commands.status import MAX_CRM_MON_BYTES

    with open("/dev/zero", "rb") as zero:
        env = dict(os.environ, PATH=SAFE_PATH)
        proc = subprocess.run(
            [sys.executable, "-m", "hakari", "--config-file", str(conf_file), "status",
             "--crm-mon-file", "-"], cwd=ROOT, env=env, stdin=zero, capture_output=True,
            timeout=60)
    assert_one_line_error(proc, f"standard input: larger than {MAX_CRM_MON_BYTES} bytes")


def test_limit_fits_a_4096_node_cluster():
    """Every saved document in tests/data, scaled to 4,096 nodes at its own bytes per
    node (fixed parts counted per node too), fits with room to spare."""
    from lxml import etree

    from hakari.commands.status import MAX_CRM_MON_BYTES

    densest = 0.0
    for path in (DATA / "crm_mon").glob("*.xml"):
        data = path.read_bytes()
        nodes = len(etree.fromstring(data).findall("nodes/node"))
        if nodes:
            densest = max(densest, len(data) / nodes)
    assert 4_000 < densest < 20_000
    assert 2 * densest * 4096 < MAX_CRM_MON_BYTES


def test_hostile_node_names_cannot_forge_lines(conf_file, tmp_path):
    saved = (DATA / "live" / "demo-single_crm_mon-node2-fenced.xml").read_text()
    hostile = tmp_path / "hostile.xml"
    hostile.write_text(saved.replace('name="node2"', 'name="node2&#10;Quorum: NO&#x2028;x"')
                       .replace('target="node2"', 'target="node2&#13;&#10;DC: evil"'))
    proc = hakari(conf_file, "--crm-mon-file", str(hostile))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().split("\n")
    assert [ln for ln in lines if ln.startswith(("Quorum", "DC"))] == ["Quorum: yes",
                                                                       "DC:     node1"]
    assert lines[2].startswith("node2\\nQuorum: NO\\u2028x  member  offline")
    assert "reboot  node2\\r\\nDC: evil  success" in proc.stdout.decode()


def test_error_lines_escape_what_they_quote(capsys):
    from hakari import cli
    from hakari.errors import HakariError

    cli._error(str(HakariError("refusing to evacuate node2\nQuorum: yes\x1b[2J")))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "\\x1b[2J" in err
