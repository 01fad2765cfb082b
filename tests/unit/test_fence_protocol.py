import contextlib
import io
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading

import pytest
from lxml import etree

from hakari.resource_agents import fence_hakari
from hakari.resource_agents.fence_protocol import (
    EXIT_FAIL, MAX_INPUT, Param, UsageError, parse_argv, parse_stdin, to_bool)
from tests.conftest import require_files, require_tools

PARAMS = [
    Param("action", "Action", "-o, --action=[action]", default="reboot"),
    Param("plug", "Target", "-n, --plug=[id]", obsoletes="port", aliases=("port",)),
    Param("cloud", "Cloud", "--cloud=[name]"),
    Param("verbose", "Verbose", "-v, --verbose", type="boolean"),
]


def test_stdin_lines_comments_quotes_aliases_and_same_value_repeated():
    text = "# from pacemaker\n\naction=off\nport=node2\ncloud='lab'\nplug=node2\n"
    values, warnings = parse_stdin(text, PARAMS)
    assert values == {"action": "off", "plug": "node2", "cloud": "lab"}
    assert warnings == []


def test_stdin_crlf_line_ends_are_tolerated():
    values, _ = parse_stdin("action=off\r\nport=node2\r\n\tcloud=lab\t\r\n", PARAMS)
    assert values == {"action": "off", "plug": "node2", "cloud": "lab"}


@pytest.mark.parametrize("text, key", [
    ("action=off\naction=on\n", "'action'"),
    ("action=off\nACTION=on\n", "'action'"),
    ("port=node2\nplug=node3\n", "'plug'"),      # an alias is the same parameter
    ("plug=node2\nport=node3\n", "(here as 'port')"),
])
def test_stdin_key_given_twice_with_different_values_is_refused(text, key):
    with pytest.raises(UsageError, match="input line 2: key .*given twice") as err:
        parse_stdin(text, PARAMS)
    assert key in str(err.value)
    assert "node3" not in str(err.value) and "on\n" not in str(err.value)


# Every character besides "\n" that str.splitlines() breaks a line at.
SPLITLINES_SEPARATORS = ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
                         "\u2029"]


@pytest.mark.parametrize("sep", SPLITLINES_SEPARATORS,
                         ids=[f"U+{ord(c):04X}" for c in SPLITLINES_SEPARATORS])
@pytest.mark.parametrize("where", ["value", "key"])
def test_stdin_line_separator_inside_a_line_is_refused(sep, where):
    injected = f"cloud=s3cret{sep}action=on" if where == "value" else f"clo{sep}action=on=ud"
    with pytest.raises(UsageError) as err:
        parse_stdin(f"action=off\n{injected}\nport=node2\n", PARAMS)
    message = str(err.value)
    assert message.startswith("input line 2:") and f"U+{ord(sep):04X}" in message
    assert "s3cret" not in message and "\n" not in message


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x9b", "\u200b", "\u202e",
                                  "\ufeff", "\udcff"])
def test_stdin_other_control_and_format_characters_are_refused(char):
    with pytest.raises(UsageError, match=f"input line 1: .*U\\+{ord(char):04X}"):
        parse_stdin(f"port=node{char}2\n", PARAMS)


def test_stdin_ordinary_unicode_is_accepted():
    values, _ = parse_stdin("cloud=caf\u00e9 \u00a0x\u3000\u4e91\nport=n\u00f6de\n", PARAMS)
    assert values == {"cloud": "caf\u00e9 \u00a0x\u3000\u4e91", "plug": "n\u00f6de"}


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


def test_injected_action_line_is_refused_by_main(capsys, tmp_path):
    rc, out, err = _run(stdin=f"config_file={tmp_path}/none.conf\naction=off\n"
                              "port=node2\u2028action=metadata\n", capsys=capsys)
    assert rc == 1 and out == ""
    assert "input line 3" in err and "U+2028" in err and err.count("\n") == 1


@pytest.fixture
def nova_listener():
    """A TCP listener standing in for Keystone/Nova that counts the connections it gets."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.1)
    seen: list[tuple] = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, peer = sock.accept()
            except OSError:
                continue
            seen.append(peer)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], seen
    finally:
        stop.set()
        thread.join(5)
        sock.close()


def test_entry_point_refuses_an_action_smuggled_into_a_value(tmp_path, nova_listener):
    port, seen = nova_listener
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(json.dumps({"clouds": {"lab": {"auth": {
        "auth_url": f"http://127.0.0.1:{port}/identity", "username": "u", "password": "p",
        "project_name": "p", "user_domain_name": "Default",
        "project_domain_name": "Default"}}}}))
    conf = tmp_path / "hakari.conf"
    conf.write_text(f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n"
                    f"[openstack]\ncloud = lab\nclouds_file = {clouds}\napi_timeout = 2\n"
                    "[cluster]\ntool_timeout = 2\n")
    agent = pathlib.Path(sys.executable).with_name("fence_hakari")
    assert agent.exists(), "the fence_hakari console script is not installed"
    # Without the line separator check, "list" would replace "status" and reach Nova.
    stdin = (f"config_file={conf}\naction=status\n"
             "plug=s3cret-node\u2028action=list\nnodename=node2\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    proc = subprocess.run([str(agent)], input=stdin.encode(), capture_output=True,
                          timeout=60, env=env)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert proc.stdout == b""
    assert err.startswith("fence_hakari: error: input line 3:") and "U+2028" in err
    assert err.count("\n") == 1 and "s3cret" not in err
    assert seen == []


def test_stdin_is_read_no_further_than_pacemaker_could_send():
    class Endless:
        asked = None

        def read(self, n=-1):
            Endless.asked = n
            return "x" * (n if n > 0 else 10 ** 8)

    out = io.StringIO()
    with contextlib.redirect_stderr(out):
        rc = fence_hakari.main([], stdin=Endless())
    assert rc == EXIT_FAIL and 0 < Endless.asked <= MAX_INPUT + 1
    assert "input larger than" in out.getvalue()
