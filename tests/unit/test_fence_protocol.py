import io
import subprocess

import pytest
from lxml import etree

from hakari.resource_agents import fence_hakari
from hakari.resource_agents.fence_protocol import (
    Param, UsageError, parse_argv, parse_stdin, to_bool)
from tests.conftest import require_files, require_tools

PARAMS = [
    Param("action", "Action", "-o, --action=[action]", default="reboot"),
    Param("plug", "Target", "-n, --plug=[id]", obsoletes="port", aliases=("port",)),
    Param("cloud", "Cloud", "--cloud=[name]"),
    Param("verbose", "Verbose", "-v, --verbose", type="boolean"),
]


def test_stdin_lines_comments_quotes_aliases_and_last_duplicate():
    text = "# from pacemaker\n\naction=off\nport=node2\ncloud='lab'\nplug=node3\n"
    values, warnings = parse_stdin(text, PARAMS)
    assert values == {"action": "off", "plug": "node3", "cloud": "lab"}
    assert warnings == []


def test_stdin_unknown_keys_warn_but_pcmk_keys_are_silent():
    values, warnings = parse_stdin("action=on\nnodename=x\npcmk_host_list=a b\n", PARAMS)
    assert values == {"action": "on"}
    assert len(warnings) == 1 and "nodename" in warnings[0]


@pytest.mark.parametrize("text", [
    "no equals sign\n",
    "action=off\x01\n",
    "x=" + "a" * 5000 + "\n",
    "a=1\n" * 300,
])
def test_stdin_garbage_is_refused(text):
    with pytest.raises(UsageError):
        parse_stdin(text, PARAMS)


def test_argv_short_long_inline_and_flags():
    assert parse_argv(["-o", "off", "--plug=node2", "-v"], PARAMS) == \
        {"action": "off", "plug": "node2", "verbose": "1"}
    assert parse_argv(["-ooff", "-n", "x"], PARAMS) == {"action": "off", "plug": "x"}


@pytest.mark.parametrize("argv", [["--nope"], ["-o"], ["stray"], ["-z", "1"]])
def test_argv_errors(argv):
    with pytest.raises(UsageError):
        parse_argv(argv, PARAMS)


def test_booleans():
    assert to_bool("Yes") and to_bool("1") and not to_bool("off") and not to_bool(None)
    with pytest.raises(UsageError):
        to_bool("maybe")


def _run(argv=None, stdin="", capsys=None):
    rc = fence_hakari.main(argv or [], io.StringIO(stdin))
    out, err = capsys.readouterr()
    return rc, out, err


def test_metadata_lists_every_parameter_and_action(capsys):
    rc, out, _ = _run(["-o", "metadata"], capsys=capsys)
    assert rc == 0
    root = etree.fromstring(out.encode())
    assert root.get("name") == "fence_hakari"
    names = {p.get("name") for p in root.iter("parameter")}
    assert names == {p.name for p in fence_hakari.PARAMS}
    actions = {a.get("name"): a.get("automatic") for a in root.iter("action")}
    assert set(actions) >= {"on", "off", "reboot", "status", "monitor", "list",
                            "metadata", "validate-all"}
    assert actions["on"] == "1"  # unfencing


def test_metadata_validates_against_fence_agents_schema(tmp_path, capsys):
    rng = "/usr/share/cluster/relaxng/metadata.rng"
    require_tools("xmllint")
    require_files(rng)
    _, out, _ = _run(["-o", "metadata"], capsys=capsys)
    f = tmp_path / "m.xml"
    f.write_text(out)
    proc = subprocess.run(["xmllint", "--noout", "--relaxng", rng, str(f)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def test_metadata_via_stdin_alias(capsys):
    rc, out, _ = _run(stdin="action=meta-data\n", capsys=capsys)
    assert rc == 0 and out.startswith("<?xml")


@pytest.mark.parametrize("stdin, message", [
    ("garbage\n", "expected key=value"),
    ("action=explode\nport=n\n", "unsupported action"),
    ("action=off\n", "no target"),
])
def test_bad_input_exits_1_with_one_line(stdin, message, capsys, tmp_path):
    rc, out, err = _run(stdin=stdin + f"config_file={tmp_path}/none.conf\n", capsys=capsys)
    assert rc == 1
    assert message in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_validate_all_rejects_missing_cloud(capsys, tmp_path):
    conf = tmp_path / "h.conf"
    conf.write_text("[DEFAULT]\n")
    rc, _, err = _run(stdin=f"action=validate-all\nconfig_file={conf}\n", capsys=capsys)
    assert rc == 1 and "no cloud" in err


def test_validate_all_rejects_unknown_cloud(capsys, tmp_path):
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  lab:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n")
    conf = tmp_path / "h.conf"
    conf.write_text(f"[openstack]\nclouds_file = {clouds}\n")
    rc, _, err = _run(stdin=f"action=validate-all\nconfig_file={conf}\ncloud=other\n",
                      capsys=capsys)
    assert rc == 1 and "other" in err
    rc, _, err = _run(stdin=f"action=validate-all\nconfig_file={conf}\ncloud=lab\n",
                      capsys=capsys)
    assert rc == 0, err
