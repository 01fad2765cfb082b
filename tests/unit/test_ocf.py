"""OCF plumbing: meta-data against ra-api-1.dtd, dispatch, exit codes and reasons,
parameters; compute-guard's decision table."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET

import pytest

from hakari import lifecycle
from hakari.cluster_config import render, schema
from hakari.resource_agents import api, compute_guard, evacuator, ocf
from hakari.resource_agents.ocf import Action, AgentInfo, Context, OCFError, Parameter
from tests.cib_semantics import semantics
from tests.conftest import require_files, require_tools
from tests.unit.test_cluster_vars import EXAMPLE, with_api

DTD_DIR = "/usr/share/resource-agents"
AGENTS = [evacuator, compute_guard, api]

INFO = AgentInfo("t", "1.0", "short", "long <&> text", (
    Parameter("name", "s", "l", required=True),
    Parameter("count", "s", "l", type="integer", default="3", minimum=1, maximum=5),
    Parameter("flag", "s", "l", type="boolean", default="false"),
), (Action("start", "20s"), Action("monitor", "30s", interval="10s", depth="0")))


def run(handlers, argv, env):
    return ocf.run(INFO, handlers, ["agent", *argv], env)


@pytest.mark.parametrize("module", AGENTS, ids=lambda m: m.NAME)
def test_meta_data_validates_against_ra_api_1_dtd(module):
    require_tools("xmllint")
    require_files(f"{DTD_DIR}/ra-api-1.dtd")
    xml = ocf.metadata(module.INFO)
    res = subprocess.run(["xmllint", "--noout", "--valid", "-"], input=xml.encode(),
                         cwd=DTD_DIR, capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr.decode()


@pytest.mark.parametrize("module", AGENTS, ids=lambda m: m.NAME)
def test_meta_data_content(module):
    root = ET.fromstring(ocf.metadata(module.INFO).split("\n", 2)[2])
    assert root.get("name") == module.NAME and root.findtext("version") == "1.1"
    actions = {a.get("name") for a in root.iter("action")}
    assert {"start", "stop", "monitor", "validate-all", "meta-data"} <= actions
    params = [p.get("name") for p in root.iter("parameter")]
    assert params == [p.name for p in module.INFO.parameters]


@pytest.mark.parametrize("module, rsc", [(evacuator, "hakari-evacuator"), (api, "hakari-api")],
                         ids=["evacuator", "api"])
def test_parameters_match_the_rendered_cib(module, rsc):
    data = with_api(schema.load_vars(str(EXAMPLE)))
    rendered = semantics(render.render_all(data)["cib.xml"])["resources"][rsc]["params"]
    defaults = {p.name: p.default for p in module.INFO.parameters}
    assert set(rendered) <= set(defaults)
    # The paths the templates default to are the agent's own defaults.
    assert {k: v for k, v in rendered.items() if k != "cloud"} == {
        k: defaults[k] for k in rendered if k != "cloud"}
    assert schema.API_CONF_PATH == api.DEFAULT_API_CONFIG


def test_meta_data_needs_no_valid_parameters(capsys):
    assert run({}, ["meta-data"], {"OCF_RESKEY_count": "junk"}) == 0
    assert "<resource-agent" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["promote"], ["start;rm"], ["\x00"]])
def test_unknown_actions_are_unimplemented(argv, capsys):
    assert run({"start": lambda ctx: 0}, argv, {}) == ocf.OCF_ERR_UNIMPLEMENTED
    assert "usage: t {meta-data|start}" in capsys.readouterr().err


def test_extra_arguments_are_ignored():
    assert run({"start": lambda ctx: 0}, ["start", "extra", "args"], {}) == 0


def test_errors_become_exit_codes_with_one_reason_line(capsys):
    def fail(ctx):
        raise OCFError(ocf.OCF_ERR_INSTALLED, "tool\nmissing")

    assert run({"start": fail}, ["start"], {}) == 5
    assert capsys.readouterr().err == "ocf-exit-reason:tool missing\n"
    env = {"OCF_EXIT_REASON_PREFIX": "why:"}
    assert run({"start": fail}, ["start"], env) == 5
    assert capsys.readouterr().err == "why:tool missing\n"


def test_bugs_are_generic_errors_not_tracebacks(capsys):
    assert run({"start": lambda ctx: 1 / 0}, ["start"], {}) == ocf.OCF_ERR_GENERIC
    err = capsys.readouterr().err
    assert err.startswith("ocf-exit-reason:internal error in t 'start': ZeroDivisionError")
    assert "Traceback" not in err


def test_parameters_are_checked_when_used(capsys):
    seen = {}

    def start(ctx):
        seen.update(ctx.params)
        return 0

    assert run({"start": start}, ["start"], {"OCF_RESKEY_name": "x"}) == 0
    assert seen == {"name": "x", "count": 3, "flag": False}
    env = {"OCF_RESKEY_name": "x", "OCF_RESKEY_count": "4", "OCF_RESKEY_flag": "yes"}
    assert run({"start": start}, ["start"], env) == 0
    assert seen == {"name": "x", "count": 4, "flag": True}
    for bad, why in [({"OCF_RESKEY_name": ""}, "parameter name is required"),
                     ({"OCF_RESKEY_count": "4x"}, "count: not an integer"),
                     ({"OCF_RESKEY_count": "9"}, "out of range"),
                     ({"OCF_RESKEY_flag": "maybe"}, "not a boolean"),
                     ({"OCF_RESKEY_name": "a\x1b"}, "control characters"),
                     ({"OCF_RESKEY_name": "a" * 5000}, "too long")]:
        env = {"OCF_RESKEY_name": "x", **bad}
        assert run({"start": start}, ["start"], env) == ocf.OCF_ERR_CONFIGURED
        assert why in capsys.readouterr().err
    # An action that does not look at them works with broken ones (stop must).
    assert run({"stop": lambda ctx: 0}, ["stop"], {"OCF_RESKEY_count": "x"}) == 0


def test_context_reads_what_pacemaker_passes():
    ctx = Context("monitor", {"OCF_RESKEY_CRM_meta_interval": "0",
                              "OCF_RESKEY_CRM_meta_timeout": "20000",
                              "OCF_RESOURCE_INSTANCE": "guard:1/../x",
                              "OCF_RESKEY_CRM_meta_on_node": "compute-1",
                              "OCF_CHECK_LEVEL": "10"}, INFO)
    assert ctx.is_probe and ctx.timeout == 20.0 and ctx.check_level == 10
    assert ctx.instance == "guard:1_.._x" and ctx.node == "compute-1"
    ctx = Context("monitor", {"OCF_RESKEY_CRM_meta_interval": "10000"}, INFO)
    assert not ctx.is_probe and ctx.timeout == 30.0 and ctx.instance == "t"
    assert Context("start", {"OCF_RESKEY_CRM_meta_timeout": "x"}, INFO).timeout == 20.0


@pytest.mark.parametrize("text,seconds", [("30", 30), ("30s", 30), ("500ms", 0.5),
                                          ("2m", 120), ("2min", 120), ("1h", 3600)])
def test_durations(text, seconds):
    assert ocf.parse_duration(text) == seconds


# -- compute-guard's decision ---------------------------------------------------------------

def incident(state, **extra):
    import json
    return json.dumps({"id": "inc-1", "state": state, "lost_at": "2026-11-25T07:00:00+00:00",
                       **extra})


@pytest.mark.parametrize("state", lifecycle.NAMES)
def test_every_incident_state_has_a_verdict(state):
    v = compute_guard.verdict("compute1", incident(state))
    if state in (lifecycle.EVACUATED, lifecycle.HOST_RETURNED, lifecycle.ENABLED,
                 lifecycle.BLOCKED, lifecycle.FENCE_FAILED):
        assert v.allow and v.final
    elif state == lifecycle.FAILED:
        assert not v.allow and v.final and "needs an operator" in v.reason
    else:
        assert not v.allow and not v.final and "evacuations not finished" in v.reason
    assert "inc-1" in v.reason


@pytest.mark.parametrize("raw,allow", [
    (None, True), ("", True), ("  ", True),
    ("{broken", False), ("[]", False), ('{"state": 3}', False), ('{"id": "x"}', False),
    (incident("MELTED"), False),
])
def test_missing_and_garbled_incidents(raw, allow):
    v = compute_guard.verdict("compute1", raw)
    assert v.allow is allow and v.final
