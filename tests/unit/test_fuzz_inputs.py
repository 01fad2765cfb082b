"""Fuzzing what operators and Pacemaker feed hakari: fence agent stdin, config files and
cluster template variables. Each has one defined way to say no (an exit code, ConfigError,
an errors list); a traceback instead would leave Pacemaker or the operator guessing.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import pathlib
import socket
import sys

import pytest
import yaml
from hypothesis import given, strategies as st

from hakari import config
from hakari.cluster_config import render, schema
from hakari.errors import ConfigError
from hakari.resource_agents import fence_hakari
from hakari.resource_agents.fence_protocol import (
    EXIT_FAIL, EXIT_OFF, EXIT_OK, UsageError, parse_stdin)
from tests.fuzzing import FUZZ
from tests.soak_counters import record

pytestmark = pytest.mark.timeout(180)

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


# -- fence_hakari stdin ---------------------------------------------------------------

def _closed_port() -> int:
    """A loopback port nothing listens on: Nova calls fail at once with a refusal."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def unreachable_conf(tmp_path_factory) -> pathlib.Path:
    tmp = tmp_path_factory.mktemp("fence-fuzz")
    port = _closed_port()
    clouds = tmp / "clouds.yaml"
    clouds.write_text(json.dumps({"clouds": {"nowhere": {
        "auth_type": "password", "region_name": "RegionOne",
        "auth": {"auth_url": f"http://127.0.0.1:{port}/identity", "username": "u",
                 "password": "p", "project_name": "p", "user_domain_name": "Default",
                 "project_domain_name": "Default"}}}}))
    conf = tmp / "hakari.conf"
    conf.write_text(f"[DEFAULT]\nstate_dir = {tmp / 'state'}\n"
                    f"[openstack]\ncloud = nowhere\nclouds_file = {clouds}\napi_timeout = 1\n"
                    "[cluster]\ntool_timeout = 1\n")
    return conf


# "on" is left out: it reads the incident from the CIB first (crm_attribute), which is
# not there on a test machine; every other action either needs no Nova or fails on the
# closed port within api_timeout.
ACTIONS = ["off", "reboot", "status", "list", "list-status", "monitor", "metadata",
           "meta-data", "validate-all"]
KEYS = ["action", "plug", "port", "nodename", "cloud", "evacuation_wait", "verbose",
        "version", "help", "pcmk_host_list", "x"]
LINE = st.one_of(
    st.tuples(st.sampled_from(KEYS), st.one_of(st.sampled_from(ACTIONS), SAFE_TEXT))
    .map(lambda kv: f"{kv[0]}={kv[1]}"),
    SAFE_TEXT,                          # a line of anything, with or without '='
    st.just("# comment"), st.just(""),
)


@FUZZ
@given(lines=st.lists(LINE, max_size=8))
def test_fence_agent_stdin_gives_an_exit_code_never_a_traceback(unreachable_conf, lines):
    text = "\n".join([f"config_file={unreachable_conf}", *lines]) + "\n"
    if any(l.strip().lower() in ("action=on", "action= on") for l in lines):
        text += "action=status\n"   # see ACTIONS: a second, different action is refused
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = fence_hakari.main([], stdin=io.StringIO(text))
    assert rc in (EXIT_OK, EXIT_FAIL, EXIT_OFF), (rc, text)
    assert "Traceback" not in err.getvalue()
    # main() turns unexpected exceptions into "internal error": still an exit code, but
    # a sign of an unhandled case, so the fuzz treats it as a finding.
    assert "internal error" not in err.getvalue(), (text, err.getvalue())
    record("fuzz-fence-stdin", scenarios=1)


# Every character str.splitlines() ends a line at, found over all of Unicode rather than
# listed, so a separator the parser forgot cannot hide from the fuzz.
LINE_BREAKS = [chr(c) for c in range(sys.maxunicode + 1)
               if len(("a" + chr(c) + "b").splitlines()) == 2]
PACEMAKER_LINES = ["plug=node2", "nodename=node2", "cloud=s3cret", "evacuation_wait=30",
                   "pcmk_host_list=node1 node2"]


@FUZZ
@given(data=st.data())
def test_line_break_smuggled_into_stdin_never_changes_the_action(unreachable_conf, data):
    real = data.draw(st.sampled_from(["off", "reboot", "status", "monitor", "list"]))
    injected = data.draw(st.sampled_from(sorted(fence_hakari.ACTION_NAMES - {real})))
    lines = data.draw(st.permutations([f"action={real}", *PACEMAKER_LINES]))
    victim = data.draw(st.integers(0, len(lines) - 1))
    at = data.draw(st.integers(0, len(lines[victim])))      # in the key, the value, or around
    sep = data.draw(st.sampled_from(LINE_BREAKS))
    closer = data.draw(st.sampled_from(["", sep]))          # end the smuggled line cleanly
    line = lines[victim]
    lines[victim] = f"{line[:at]}{sep}action={injected}{closer}{line[at:]}"
    text = data.draw(st.sampled_from(["\n", "\r\n"])).join(lines) + "\n"
    try:
        values, _ = parse_stdin(text, fence_hakari.PARAMS)
    except UsageError as err:
        assert "s3cret" not in str(err), (text, str(err))
        record("fuzz-fence-stdin", scenarios=1)
        return
    action = values.get("action", "reboot").strip().lower()
    assert action != injected, (text, values)
    if action != real:
        # A mangled action (say "onaction=off") is refused by the agent before anything.
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = fence_hakari.main([], stdin=io.StringIO(f"config_file={unreachable_conf}\n"
                                                         + text))
        assert rc == EXIT_FAIL and "unsupported action" in err.getvalue(), (text, values)
    record("fuzz-fence-stdin", scenarios=1)


def test_every_line_break_is_refused_inside_a_line():
    assert {"\n", "\r", "\x0b", "\u2028"} <= set(LINE_BREAKS)
    for sep in LINE_BREAKS:
        if sep == "\n":
            continue
        with pytest.raises(UsageError, match="input line 2:"):
            parse_stdin(f"action=off\nplug=node2{sep}action=on\n", fence_hakari.PARAMS)


# -- config files ----------------------------------------------------------------------

def _option_names() -> dict[str, list[str]]:
    return {group: [o.name for o in opts] for group, opts in config.list_opts()}


OPTIONS = _option_names()
INI_LINE = st.one_of(
    st.sampled_from(sorted(OPTIONS)).map(lambda g: f"[{g}]"),
    st.tuples(st.sampled_from([n for names in OPTIONS.values() for n in names]),
              st.one_of(st.sampled_from(["0", "-1", "1e999", "nan", "true", "maybe", "",
                                         "a,b", "k:v", "k", "%(x)s", "$x", "300"]),
                        SAFE_TEXT))
    .map(lambda kv: f"{kv[0]} = {kv[1]}"),
    SAFE_TEXT,
    st.just("[unknown]"), st.just("   indented = 1"),
)


@FUZZ
@given(lines=st.lists(INI_LINE, max_size=12))
def test_config_file_loads_or_raises_config_error(tmp_path, lines):
    path = tmp_path / "hakari.conf"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    try:
        config.load([str(path)])
    except ConfigError:
        pass
    record("fuzz-config", scenarios=1)


@FUZZ
@given(raw=st.binary(max_size=512))
def test_config_file_of_random_bytes(tmp_path, raw):
    path = tmp_path / "hakari.conf"
    path.write_bytes(raw)
    try:
        config.load([str(path)])
    except ConfigError:
        pass
    record("fuzz-config", scenarios=1)


# -- template variables ------------------------------------------------------------------

EXAMPLE = schema.load_vars(str(ROOT / "examples" / "cluster.yaml"))
LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2, 70000),
                 st.floats(allow_nan=True), SAFE_TEXT)
VALUE = st.recursive(LEAF, lambda kids: st.one_of(
    st.lists(kids, max_size=3), st.dictionaries(SAFE_TEXT, kids, max_size=3)), max_leaves=8)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


PATHS = [p for p in _paths(EXAMPLE) if p]


def _check_vars(data) -> None:
    errors, warnings = schema.validate(data)
    assert isinstance(errors, list) and isinstance(warnings, list)
    if not errors:
        # Valid variables must render: validation is the only gate before the templates.
        files = render.render_all(data)
        assert isinstance(render.check_rendered(files), list)


@FUZZ
@given(st.data())
def test_mutated_example_vars_validate_to_errors_or_render(data):
    doc = copy.deepcopy(EXAMPLE)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(PATHS))
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            op = data.draw(st.sampled_from(["set", "drop", "dup"]))
            if op == "set":
                parent[path[-1]] = data.draw(VALUE)
            elif op == "drop":
                del parent[path[-1]]
            elif isinstance(parent, list):
                parent.append(copy.deepcopy(parent[path[-1]]))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    _check_vars(doc)
    record("fuzz-vars", scenarios=1)


@FUZZ
@given(doc=st.one_of(VALUE, st.dictionaries(
    st.sampled_from(sorted(EXAMPLE) + ["junk"]), VALUE, max_size=6)))
def test_random_vars_validate_to_errors(doc):
    _check_vars(doc)
    record("fuzz-vars", scenarios=1)


@FUZZ
@given(text=SAFE_TEXT)
def test_vars_file_of_random_yaml_text(tmp_path, text):
    path = tmp_path / "cluster.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        _check_vars(schema.load_vars(str(path)))
    except schema.VarsError:
        pass
    record("fuzz-vars", scenarios=1)
