"""The cluster variables: validation errors, rendering, escaping, file writing."""

import copy
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from hakari.cluster_config import fields, render, schema
from tests import bad_input_files
from tests.cib_semantics import semantics
from tests.conftest import require_tools

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "cluster.yaml"


@pytest.fixture
def example() -> dict:
    return schema.load_vars(str(EXAMPLE))


def errors_of(data) -> list[str]:
    return schema.validate(data)[0]


def one_error(data, *fragments) -> str:
    errors = errors_of(data)
    assert len(errors) == 1, errors
    for fragment in fragments:
        assert fragment in errors[0], errors
    return errors[0]


def test_example_is_valid_and_renders(example):
    assert schema.validate(example) == ([], [])
    files = render.render_all(example)
    assert set(files) == set(render.OUTPUTS) - {"api.conf"}  # the api is off
    assert render.check_rendered(files) == []
    assert files["pcs-commands.sh"].startswith("#!/bin/bash\n")
    assert all(text.endswith("\n") and not text.endswith("\n\n") for text in files.values())


def test_json_vars_are_accepted(tmp_path, example):
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(example))
    assert schema.load_vars(str(path)) == example


@pytest.mark.parametrize("text, message", [
    ("- a\n- b\n", "top level must be a mapping"),
    ("a: [\n", "not valid YAML"),
])
def test_unreadable_vars(tmp_path, text, message):
    path = tmp_path / "v.yaml"
    path.write_text(text)
    with pytest.raises(schema.VarsError, match=message):
        schema.load_vars(str(path))


def test_every_problem_is_reported(example):
    example["computes"][0]["nodeid"] = 1            # duplicate of ctl1
    example["fencing"]["extra_levels"][0]["node"] = "cmp9"
    del example["controllers"][1]["fence"]["params"]["username"]
    example["bogus"] = 1
    errors = errors_of(example)
    assert len(errors) == 4, errors
    assert all("\n" not in e for e in errors)


def test_unknown_node_in_topology(example):
    example["fencing"]["extra_levels"].append({"node": "cmp9", "devices": ["pdu-a"]})
    one_error(example, "extra_levels[2].node", "unknown node 'cmp9'")


def test_unknown_device_and_uncovered_node_in_topology(example):
    example["fencing"]["extra_levels"] = [{"node": "cmp1", "devices": ["pdu-b"]},
                                          {"node": "cmp3", "devices": ["pdu-a"]}]
    errors = errors_of(example)
    assert any("unknown device 'pdu-b'" in e for e in errors), errors
    assert any("no host_map entry for cmp3" in e for e in errors), errors


def test_unknown_node_in_host_map(example):
    example["fencing"]["devices"][0]["host_map"]["ctl9"] = 3
    one_error(example, "host_map", "unknown node 'ctl9'")


def test_duplicate_node_ids_names_and_addresses(example):
    example["controllers"][1]["nodeid"] = 1
    one_error(example, "controllers[1] ctl2", "duplicate nodeid 1")
    example["controllers"][1]["nodeid"] = 2
    example["computes"][1]["name"] = "CMP1"
    assert any("computes[1] CMP1: duplicate node name (also computes[0])" in e
               for e in errors_of(example))
    example["computes"][1]["name"] = "cmp2"
    example["computes"][2]["addresses"] = ["192.0.2.11"]
    one_error(example, "duplicate address 192.0.2.11")


@pytest.mark.parametrize("mutate, fragment", [
    (lambda n: n.pop("fence"), "missing required field 'fence'"),
    (lambda n: n["fence"].pop("agent"), "missing required field 'agent'"),
    (lambda n: n["fence"].pop("params"), "missing required field 'params'"),
    (lambda n: n["fence"]["params"].pop("ip"), "fence_ipmilan needs ip or ipaddr"),
    (lambda n: n["fence"]["params"].pop("password_script"), "needs a credential"),
    (lambda n: n["fence"].update(agent="fence_hakari"), "fence_hakari is added"),
    (lambda n: n["fence"]["params"].update(pcmk_host_list="x"), "set by hakari"),
    (lambda n: n["fence"]["params"].update(ip=None), "must be a string, number"),
])
def test_missing_or_wrong_fence_parameters(example, mutate, fragment):
    mutate(example["controllers"][0])
    one_error(example, "controllers[0] ctl1", fragment)


def test_inline_secret_is_refused_unless_allowed(example, tmp_path):
    params = example["controllers"][0]["fence"]["params"]
    del params["password_script"]
    params["password"] = "s3cret"
    one_error(example, "params.password", "inline secret refused")
    example["allow_inline_secrets"] = True
    errors, warnings = schema.validate(example)
    assert errors == [] and len(warnings) == 1 and "0600" in warnings[0]
    modes = render.file_modes(example)
    assert modes["cib.xml"] == modes["pcs-commands.sh"] == 0o600
    assert modes["corosync.conf"] == modes["hakari.conf"] == 0o644


@pytest.mark.parametrize("name", ["cmp<1>", 'cmp"1', "cmp1;reboot", "cmp 1", "cmp$(id)",
                                  "1cmp", "cmp1\n", "-cmp", "cmp&amp", "c" * 64])
def test_names_that_would_break_xml_or_shell_are_refused(example, name):
    example["computes"][0]["name"] = name
    errors = errors_of(example)
    assert any("computes[0].name: invalid value" in e for e in errors), errors


@pytest.mark.parametrize("field, value", [
    ("cluster_name", "over cloud"), ("cloud", "a;b"), ("clouds_file", "relative/path"),
    ("state_dir", "/var/lib/$x"),
])
def test_top_level_strings_are_checked(example, field, value):
    example[field] = value
    one_error(example, field, "invalid value")


def test_quorum_consistency(example):
    example["quorum"] = {"two_node": True}
    one_error(example, "quorum.two_node", "exactly 2 cluster members, not 5")
    example["quorum"] = {"two_node": True, "qdevice": {"host": "qnetd.example.com"}}
    assert any("exclude each other" in e for e in errors_of(example))


def test_link_consistency(example):
    example["computes"][0]["addresses"] = ["192.0.2.21"]
    one_error(example, "same number of addresses")
    example["computes"][0]["addresses"] = ["192.0.2.21", "2001:db8::21"]
    one_error(example, "link 1 mixes IPv4 and IPv6")
    example["computes"][0]["addresses"] = ["192.0.2.21", "198.51.100.21"]
    example["corosync"]["links"].append({"priority": 1})
    one_error(example, "corosync.links", "3 links configured")


def test_remote_nodes(example):
    example["computes"][2]["nodeid"] = 13
    one_error(example, "computes[2] cmp3", "no corosync nodeid")
    del example["computes"][2]["nodeid"]
    example["computes"][2]["addresses"].append("192.0.2.99")
    one_error(example, "exactly one address")


def test_policies_are_checked_against_hakari_conf(example):
    example["policies"]["recovery"]["max_paralel"] = 3
    one_error(example, "policies.recovery.max_paralel", "unknown option")
    del example["policies"]["recovery"]["max_paralel"]
    example["policies"]["openstack"] = {"cloud": "other"}
    one_error(example, "policies.openstack.cloud", "derived from the top-level")
    example["policies"]["openstack"] = {}
    example["policies"]["recovery"]["max_parallel"] = "lots"
    assert errors_of(example) == []
    errors = render.check_rendered(render.render_all(example))
    assert len(errors) == 1 and "[recovery] max_parallel" in errors[0], errors


def test_stonith_cannot_be_disabled(example):
    example["properties"]["stonith-enabled"] = False
    one_error(example, "properties.stonith-enabled", "must stay true")


def test_hakari_conf_loads_with_the_derived_values(example, tmp_path):
    from hakari import config

    path = tmp_path / "hakari.conf"
    path.write_text(render.render_all(example)["hakari.conf"])
    conf = config.load([str(path)])
    assert conf.cluster.compute_nodes == ["cmp1", "cmp2", "cmp3"]
    assert conf.cluster.node_map == {"cmp2": "cmp2.compute.example.com"}
    assert conf.cluster.node_domain == "example.com"
    assert conf.openstack.cloud == "overcloud"
    assert conf.recovery.mass_failure_max_percent == 34
    assert conf.recovery.stop_at_destination is False


def test_cib_has_the_design_contracts(example):
    sem = semantics(render.render_all(example)["cib.xml"])
    res = sem["resources"]
    evac = res["hakari-evacuator"]
    assert (evac["class"], evac["provider"], evac["type"]) == ("ocf", "hakari", "evacuator")
    assert evac["params"] == {"config": "/etc/hakari/hakari.conf", "cloud": "overcloud"}
    assert evac["clone"] is None
    guard = res["hakari-compute-guard"]
    assert guard["type"] == "compute-guard" and guard["meta"] == {"requires": "unfencing"}
    assert guard["clone"]["id"] == "hakari-compute-guard-clone"
    nova = res["hakari-nova"]
    assert nova["type"] == "fence_hakari" and nova["meta"] == {"provides": "unfencing"}
    assert nova["params"]["pcmk_host_list"] == "cmp1 cmp2 cmp3"
    assert set(nova["params"]) == {"cloud", "config_file", "evacuation_wait", "pcmk_host_list"}
    assert res["cmp3"]["type"] == "remote" and res["cmp3"]["params"]["server"] == "192.0.2.23"
    assert ("cmp1", 1, ("hakari-power-cmp1", "hakari-nova")) in sem["topology"]
    assert ("cmp1", 2, ("hakari-fence-pdu-a", "hakari-nova")) in sem["topology"]
    assert ("ctl1", 1, ("hakari-power-ctl1",)) in sem["topology"]
    assert ("order", "hakari-compute-guard-clone", "start", "hakari-nova-compute-clone",
            "start", "Mandatory") in sem["constraints"]
    evac_rule = next(c for c in sem["constraints"] if c[:2] == ("location", "hakari-evacuator"))
    assert evac_rule[4][0][2] == tuple(("#uname", "ne", n) for n in ("ctl1", "ctl2", "ctl3"))
    alert = sem["alerts"]["hakari-alert"]
    assert alert["path"] == "/usr/libexec/hakari/alert"
    assert alert["select"] == sorted(["select_nodes", "select_fencing", "select_resources",
                                      "select_attributes"])
    assert alert["meta"]["timestamp-format"] == "%Y-%m-%dT%H:%M:%S.%06NZ"
    assert alert["recipients"] == ["/etc/hakari/hakari.conf"]
    assert sem["properties"]["stonith-enabled"] == "true"


def test_unmanaged_nova_compute_and_members_only(example):
    example["nova_compute"] = {"managed": False}
    example["computes"] = [c for c in example["computes"] if not c.get("remote")]
    files = render.render_all(example)
    sem = semantics(files["cib.xml"])
    assert "hakari-nova-compute" not in sem["resources"]
    assert not any(c[0] in ("order", "colocation") for c in sem["constraints"])
    assert "hakari-nova-compute" not in files["pcs-commands.sh"]
    assert "add-remote" not in files["pcs-commands.sh"]


def test_a_sole_controller_is_fenced_from_the_computes(example):
    # Kept to the controllers and off itself, its power device could run nowhere: the
    # controller could never be fenced, nor unfenced, and with hakari-nova providing
    # unfencing Pacemaker would start nothing at all (seen on the lab).
    example["controllers"] = example["controllers"][:1]
    example["fencing"] = {}
    files = render.render_all(example)
    cons = semantics(files["cib.xml"])["constraints"]
    own = [c for c in cons if c[:2] == ("location", "hakari-power-ctl1")]
    assert own == [("location", "hakari-power-ctl1", "ctl1", "-INFINITY", ())]
    for node in ("cmp1", "cmp2", "cmp3"):
        rule = next(c for c in cons if c[:2] == ("location", f"hakari-power-{node}"))
        assert rule[4] == (("-INFINITY", None, (("#uname", "ne", "ctl1"),)),)
    pcs = files["pcs-commands.sh"]
    assert "hakari-power-ctl1-on-controllers" not in pcs
    assert "hakari-power-ctl1-avoids-ctl1" in pcs
    assert "hakari-power-cmp1-on-controllers" in pcs
    # With more controllers, each power device stays on the others.
    example["controllers"] = schema.load_vars(str(EXAMPLE))["controllers"]
    assert "hakari-power-ctl1-on-controllers" in render.render_all(example)["cib.xml"]


def _pcs_line(script: str, device: str) -> list[str]:
    line = next(ln for ln in script.splitlines()
                if ln.startswith(f"pcs stonith create {device} "))
    return shlex.split(line)


# Fence parameter values are free-form: whatever validation accepts must come out intact
# in the XML attribute and as one shell word.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(min_size=1, max_size=40))
def test_fence_parameter_values_survive_xml_and_shell(value):
    data = schema.load_vars(str(EXAMPLE))
    data["controllers"][0]["fence"]["params"]["ip"] = value
    errors = errors_of(data)
    if errors:
        assert len(errors) == 1 and "params.ip" in errors[0]
        return
    files = render.render_all(data)
    params = semantics(files["cib.xml"])["resources"]["hakari-power-ctl1"]["params"]
    assert params["ip"] == value
    assert f"ip={value}" in _pcs_line(files["pcs-commands.sh"], "hakari-power-ctl1")


@settings(max_examples=60, deadline=None)
@given(name=st.text(min_size=1, max_size=20))
def test_node_names_are_accepted_only_when_safe(name):
    data = schema.load_vars(str(EXAMPLE))
    data["computes"][1]["name"] = name
    data["fencing"]["devices"][0]["host_map"] = {"cmp1": 1}
    data["fencing"]["extra_levels"] = [{"node": "cmp1", "devices": ["pdu-a"]}]
    if errors_of(data):
        return
    assert fields.NODE_NAME_RE.match(name)
    files = render.render_all(data)
    etree.fromstring(files["cib.xml"].encode())
    assert f"ring0_addr: 192.0.2.22\n        ring1_addr: 198.51.100.22\n        name: {name}\n" \
        in files["corosync.conf"]
    assert shlex.quote(name) == name


def test_shell_quoting_matches_ansible():
    from ansible.plugins.filter.core import quote

    for value in ["plain", "two words", "it's", "$(x)", "", None, 5, True]:
        assert render.shell_quote(value) == quote(value)


# -- the command ------------------------------------------------------------------------

def run_hakari(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "hakari", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_render_writes_five_files_without_the_api(tmp_path):
    out = tmp_path / "out"
    proc = run_hakari("render", "--vars", str(EXAMPLE), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    written = sorted(set(render.OUTPUTS) - {"api.conf"})
    assert sorted(os.listdir(out)) == written  # no temporary files left
    assert sorted(re.findall(r"^wrote .*/(\S+) \(mode 0644\)$", proc.stdout, re.M)) == written
    for name in written:
        assert (out / name).stat().st_mode & 0o777 == 0o644
    assert (out / "cib.xml").read_text() == render.render_all(
        schema.load_vars(str(EXAMPLE)))["cib.xml"]


def test_render_replaces_existing_files(tmp_path, example):
    out = tmp_path / "out"
    out.mkdir()
    (out / "cib.xml").write_text("old")
    os.chmod(out / "cib.xml", 0o666)
    example["allow_inline_secrets"] = True
    vars_file = tmp_path / "v.yaml"
    vars_file.write_text(yaml.safe_dump(example))
    proc = run_hakari("render", "--vars", str(vars_file), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "cib.xml").read_text().startswith("<cib ")
    assert (out / "cib.xml").stat().st_mode & 0o777 == 0o600


def test_bad_vars_exit_2_one_line_each_nothing_written(tmp_path, example):
    example["computes"][0]["nodeid"] = 1
    example["computes"][2]["name"] = "cmp<3>"
    vars_file = tmp_path / "v.yaml"
    vars_file.write_text(yaml.safe_dump(example))
    out = tmp_path / "out"
    proc = run_hakari("render", "--vars", str(vars_file), "--output-dir", str(out))
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, proc.stderr
    assert all(ln.startswith(f"hakari: error: {vars_file}: ") for ln in lines)
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_missing_vars_file_is_one_line(tmp_path):
    proc = run_hakari("render", "--vars", str(tmp_path / "nope.yaml"), "--check")
    assert proc.returncode == 2
    assert proc.stderr.startswith("hakari: error: ") and proc.stderr.count("\n") == 1


def test_check_writes_nothing(tmp_path):
    proc = run_hakari("render", "--vars", str(EXAMPLE), "--check")
    assert proc.returncode == 0 and "valid" in proc.stdout


def test_write_files_leaves_old_files_when_a_write_fails(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "cib.xml").write_text("old")
    files = {name: f"new {name}\n" for name in render.OUTPUTS}
    modes = {name: 0o644 for name in render.OUTPUTS}
    real_fsync = os.fsync
    calls = []

    def failing_fsync(fd):
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        render.write_files(str(out), files, modes)
    assert sorted(os.listdir(out)) == ["cib.xml"]
    assert (out / "cib.xml").read_text() == "old"


def test_example_unchanged_by_tests():
    # The fixtures deep-copy nothing by accident: the file on disk stays the reference.
    data = schema.load_vars(str(EXAMPLE))
    assert copy.deepcopy(data) == data and schema.validate(data) == ([], [])


# -- secrets, the alert recipient, bounded and nested input --------------------------------

INLINE_KG = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("param", ["hexadecimal_kg", "hexadecimal-kg", "password",
                                   "passwd", "snmp_priv_passwd"])
def test_inline_keys_and_passwords_are_secrets(example, tmp_path, param):
    example["controllers"][0]["fence"]["params"][param] = INLINE_KG
    one_error(example, f"params.{param}", "inline secret refused")
    vars_file = tmp_path / "v.yaml"
    vars_file.write_text(yaml.safe_dump(example))
    out = tmp_path / "out"
    proc = run_hakari("render", "--vars", str(vars_file), "--output-dir", str(out))
    assert proc.returncode == 2 and "inline secret refused" in proc.stderr
    assert INLINE_KG not in proc.stderr + proc.stdout and not out.exists()

    example["allow_inline_secrets"] = True
    vars_file.write_text(yaml.safe_dump(example))
    proc = run_hakari("render", "--vars", str(vars_file), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"params.{param}: inline secret" in proc.stderr
    assert INLINE_KG not in proc.stderr + proc.stdout
    holding = {name for name in render.outputs(example)
               if INLINE_KG in (out / name).read_text()}
    assert holding == {"cib.xml", "pcs-commands.sh"}
    for name in render.outputs(example):
        mode = (out / name).stat().st_mode & 0o777
        assert mode == (0o600 if name in holding else 0o644), name


@pytest.mark.parametrize("param", ["password_script", "password-script", "passwd_script",
                                   "snmp_priv_passwd_script", "identity_file", "key",
                                   "tlskey", "access_key", "auth", "privlvl", "cipher"])
def test_references_and_non_secrets_are_accepted_inline(example, param):
    params = example["controllers"][0]["fence"]["params"]
    params[param] = "/usr/local/sbin/bmc-password ctl1"
    assert schema.validate(example) == ([], [])


def test_a_bmc_key_does_not_replace_the_login_password(example):
    example["allow_inline_secrets"] = True
    params = example["controllers"][0]["fence"]["params"]
    del params["password_script"]
    params["hexadecimal_kg"] = INLINE_KG
    errors = errors_of(example)
    assert any("controllers[0] ctl1.fence.params: fence_ipmilan needs a credential" in e
               for e in errors), errors


# fence-agents' own descriptions decide: a parameter is a secret when it holds a password,
# passphrase, key or community string (SNMP's password) itself, not a script or file
# that yields one.
_SECRET_DESCRIPTION = re.compile(r"\b(password|passphrase|key|community string)\b", re.I)
_REFERENCE_DESCRIPTION = re.compile(r"^(Script to run|Identity file)|without password")


def _agent_parameters(agent: str) -> dict[str, str]:
    proc = subprocess.run([agent, "-o", "metadata"], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    root = etree.fromstring(proc.stdout)
    return {p.get("name"): " ".join((p.findtext("shortdesc") or "").split())
            for p in root.iter("parameter")}


@pytest.mark.parametrize("agent", ["fence_ipmilan", "fence_ipmilanplus", "fence_idrac",
                                   "fence_ilo4", "fence_imm", "fence_redfish",
                                   "fence_apc_snmp"])
def test_secret_parameters_match_the_fence_agent_metadata(agent):
    require_tools(agent)
    described = _agent_parameters(agent)
    expected = {name for name, desc in described.items()
                if _SECRET_DESCRIPTION.search(desc)
                and not _REFERENCE_DESCRIPTION.search(desc)}
    assert {name for name in described if fields.is_secret_param(name)} == expected
    if agent == "fence_ipmilan":
        assert expected == {"hexadecimal_kg", "passwd", "password"}


@pytest.mark.parametrize("recipient", ["hakari.conf", "etc/hakari/hakari.conf",
                                       "./hakari.conf", "~/hakari.conf"])
def test_relative_alert_recipient_is_refused(example, recipient):
    example["alert"] = {"recipient": recipient}
    one_error(example, "alert.recipient", "absolute path of hakari.conf")


def test_accepted_alert_recipients_are_what_the_alert_agent_reads(example, tmp_path):
    from hakari.alerts import statedir

    conf = tmp_path / "hakari.conf"
    conf.write_text(f"[DEFAULT]\nstate_dir = {tmp_path}/state\n")
    example["alert"] = {"recipient": str(conf)}
    assert schema.validate(example) == ([], [])
    assert statedir.resolve(example["alert"]["recipient"]) == f"{tmp_path}/state"


def _deep_yaml(depth: int) -> str:
    return "cluster_name: " + "[" * depth + "]" * depth + "\n"


def _deep_json(depth: int) -> str:
    return '{"cluster_name": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("name, text", [
    ("deep.yaml", _deep_yaml(100_000)),
    ("deep.json", _deep_json(100_000)),
    ("shallower.yaml", _deep_yaml(200)),
    ("shallower.json", _deep_json(900)),
])
def test_deep_nesting_is_one_clear_error(tmp_path, name, text):
    vars_file = tmp_path / name
    vars_file.write_text(text)
    proc = run_hakari("render", "--vars", str(vars_file), "--check")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"hakari: error: {vars_file}: ")
    assert proc.stderr.count("\n") == 1 and "nested more than 32 levels deep" in proc.stderr


def test_nesting_at_the_limit_is_checked_normally(example):
    value = "x"  # 32 levels down: the variables, properties, 29 lists, this string
    for _ in range(29):
        value = [value]
    example["properties"] = {"foo": value}
    one_error(example, "properties.foo: must be a string, number or boolean")
    example["properties"] = {"foo": [value]}
    assert errors_of(example) == ["variables: nested more than 32 levels deep"]


def test_aliases_multiplying_a_value_are_refused_quickly(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    lines += ["fencing:", "  extra_levels:", "    - node: *a8", "      devices: [d]"]
    vars_file = tmp_path / "bomb.yaml"
    vars_file.write_text("\n".join(lines) + "\n")
    proc = run_hakari("render", "--vars", str(vars_file), "--check", timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert "variables: more than 1000000 values" in proc.stderr
    assert proc.stderr.count("\n") == 1


@pytest.mark.parametrize("kind", bad_input_files.KINDS)
def test_vars_that_are_no_small_regular_file_are_refused(tmp_path, kind):
    path = bad_input_files.make(tmp_path, kind, schema.MAX_VARS_BYTES)
    proc = run_hakari("render", "--vars", str(path), "--check", timeout=30)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == bad_input_files.error_line(path, kind, schema.MAX_VARS_BYTES)


def test_vars_from_standard_input(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hakari", "render", "--vars", "-",
                           "--check"], input=EXAMPLE.read_text(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    with open("/dev/zero", "rb") as zero:
        proc = subprocess.run([sys.executable, "-m", "hakari", "render", "--vars", "-",
                               "--check"], stdin=zero, capture_output=True, text=True,
                              timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == (f"hakari: error: standard input: larger than "
                           f"{schema.MAX_VARS_BYTES} bytes\n")


@pytest.mark.parametrize("state_dir", ["/", "/etc", "/var/lib", "/tmp", "/tmp/../etc",
                                       "/usr", "/var//lib/hakari"])
def test_state_dir_must_be_hakaris_own(example, state_dir):
    example["state_dir"] = state_dir
    assert any(e.startswith("state_dir") for e in errors_of(example)), errors_of(example)
    example["state_dir"] = "/srv/hakari"
    assert schema.validate(example) == ([], [])


@pytest.mark.parametrize("key", ["extra_levels", "devices"])
def test_null_where_a_list_belongs_is_refused_not_rendered(example, key):
    example.setdefault("fencing", {})[key] = None
    assert any(e.startswith(f"fencing.{key}") for e in errors_of(example)), errors_of(example)


@pytest.mark.parametrize("wait,timeout,ok", [
    (50, None, True), (50, "60s", True), (51, "60s", False), (300, "60s", False),
    (100, "2min", True), (120, "2min", False), (5, "15000ms", True), (50, "60", True)])
def test_evacuation_wait_must_fit_in_the_fencing_timeout(example, wait, timeout, ok):
    example.setdefault("fencing", {})["evacuation_wait"] = wait
    if timeout is not None:
        example.setdefault("properties", {})["stonith-timeout"] = timeout
    errors = [e for e in errors_of(example) if e.startswith("fencing.evacuation_wait")]
    assert (errors == []) == ok, errors


# -- hakari api: the clone, hakari.conf's sections, the catalog ----------------------------

API_PASSWORD = "s3cr3t-Keystone-pw"
DB_PASSWORD = "s3cr3t-db-pw"


def sample_api() -> dict:
    """examples/cluster.yaml's commented api section, uncommented: the sample must work."""
    text = EXAMPLE.read_text()
    block = text[text.index("# api:"):]
    lines = [ln[2:] if ln.startswith("# ") else ln for ln in block.splitlines()]
    return yaml.safe_load("\n".join(lines))["api"]


def with_api(data: dict, **changes) -> dict:
    api = sample_api()
    api["keystone_authtoken"]["password"] = API_PASSWORD
    api["connection"] = f"mysql+pymysql://hakari:{DB_PASSWORD}@db.example.com/hakari"
    api.update(changes)
    data["api"] = api
    return data


@pytest.mark.parametrize("api", [None, {}, {"enabled": False, "bind_port": 15869}])
def test_api_is_off_unless_enabled(example, api):
    if api is not None:
        example["api"] = api
    assert schema.validate(example) == ([], [])
    files = render.render_all(example)
    assert "hakari-api" not in semantics(files["cib.xml"])["resources"]
    assert "hakari-api" not in files["cib.xml"] + files["pcs-commands.sh"]
    assert "keystone_authtoken" not in files["hakari.conf"]
    assert "[api]" not in files["hakari.conf"]
    assert "api.conf" not in files and "api_config" not in files["cib.xml"]
    assert not re.search(r"^\s*openstack ", files["keystone-commands.sh"], re.M)
    assert "nothing to register" in files["keystone-commands.sh"]
    assert set(render.file_modes(example).values()) == {0o644}


def test_the_sample_api_section_is_valid(example):
    example["api"] = sample_api()
    assert schema.validate(example) == ([], [])


def test_api_enabled_adds_the_clone_on_controllers_only(example):
    with_api(example)
    assert schema.validate(example) == ([], [])
    files = render.render_all(example)
    sem = semantics(files["cib.xml"])
    api = sem["resources"]["hakari-api"]
    assert (api["class"], api["provider"], api["type"]) == ("ocf", "hakari", "api")
    assert api["params"] == {"config": "/etc/hakari/hakari.conf", "cloud": "overcloud",
                             "api_config": "/etc/hakari/api.conf"}
    assert api["clone"]["id"] == "hakari-api-clone"
    assert ("monitor", "10s", "30s") in api["ops"]
    rule = next(c for c in sem["constraints"] if c[:2] == ("location", "hakari-api-clone"))
    assert rule[4] == (("-INFINITY", "and", tuple(
        ("#uname", "ne", n) for n in ("ctl1", "ctl2", "ctl3"))),)
    pcs = files["pcs-commands.sh"]
    assert "pcs resource create hakari-api ocf:hakari:api api_config=/etc/hakari/api.conf " \
        "cloud=overcloud config=/etc/hakari/hakari.conf " in pcs
    assert "constraint-id=hakari-api-on-controllers" in pcs
    assert render.check_rendered(files) == []


def test_api_conf_path_is_the_clones_api_config(example):
    with_api(example, conf_path="/etc/hakari/private/api.conf")
    assert schema.validate(example) == ([], [])
    files = render.render_all(example)
    params = semantics(files["cib.xml"])["resources"]["hakari-api"]["params"]
    assert params["api_config"] == "/etc/hakari/private/api.conf"
    assert "api_config=/etc/hakari/private/api.conf " in files["pcs-commands.sh"]
    example["hakari_conf_path"] = "/etc/hakari/private/api.conf"
    one_error(example, "api.conf_path: must not be hakari_conf_path")
    del example["api"]["conf_path"]
    assert errors_of(example) == []
    example["hakari_conf_path"] = schema.API_CONF_PATH  # api.conf's default path
    one_error(example, "api.conf_path: must not be hakari_conf_path")
    del example["api"]  # no api.conf then
    assert errors_of(example) == []


def test_api_enabled_writes_api_conf_and_leaves_hakari_conf_alone(example, tmp_path):
    from hakari import config

    example["policies"]["api"] = {"max_limit": 50}
    without_api = render.render_all(example)
    with_api(example, policy_file="/etc/hakari/policy.yaml", bind_host="::")
    files = render.render_all(example)
    # hakari.conf is what it is without the api, but for [api] options, now in api.conf.
    assert files["hakari.conf"] == without_api["hakari.conf"].replace(
        "\n[api]\nmax_limit = 50\n", "")
    for section in ("[api]", "[keystone_authtoken]", "[oslo_policy]"):
        assert section not in files["hakari.conf"]
    for name in ("hakari.conf", "api.conf"):
        (tmp_path / name).write_text(files[name])
    assert files["api.conf"].endswith("\n") and not files["api.conf"].endswith("\n\n")
    # As hakari.conf alone (the engine, the alert agent) and as `hakari api` reads both.
    alone = config.load([str(tmp_path / "hakari.conf")])
    assert (alone.api.bind_port, alone.api.connection, alone.api.max_limit) == (15868, "", 1000)
    conf = config.load([str(tmp_path / "hakari.conf"), str(tmp_path / "api.conf")])
    assert (conf.api.bind_host, conf.api.bind_port) == ("::", 15869)
    assert conf.api.connection.endswith(f":{DB_PASSWORD}@db.example.com/hakari")
    assert conf.api.max_limit == 50
    assert conf.openstack.cloud == "overcloud"
    text = files["api.conf"]
    sections = dict(re.findall(r"^\[(\w+)\]\n((?:[^\[\n].*\n)*)", text, re.M))
    assert set(sections) == {"api", "keystone_authtoken", "oslo_policy"}
    assert f"password = {API_PASSWORD}\n" in sections["keystone_authtoken"]
    assert "auth_type = password\n" in sections["keystone_authtoken"]
    assert sections["oslo_policy"] == "policy_file = /etc/hakari/policy.yaml\n"


def test_a_bad_api_option_is_named_without_the_temporary_files(example):
    with_api(example)
    example["policies"]["api"] = {"max_limit": 0}
    errors = render.check_rendered(render.render_all(example))
    assert errors == ["policies: [api] max_limit: invalid value: Should be greater than or "
                      "equal to 1"]


def test_api_options_are_set_in_the_api_section_not_in_policies(example):
    with_api(example)
    example["policies"]["api"] = {"bind_port": 1234}
    one_error(example, "policies.api.bind_port", "set in the api section")


@pytest.mark.parametrize("changes, fragment", [
    ({"bind_port": 0}, "api.bind_port: 0 is out of range"),
    ({"bind_host": "any where"}, "api.bind_host: invalid value"),
    ({"url": "ftp://ha.example.com"}, "api.url: invalid value"),
    ({"url": "https://ha.example.com/x'$(id)"}, "api.url: invalid value"),
    ({"url": "https://ha.example.com/%(tenant_id)s"}, "api.url: invalid value"),
    ({"public_url": 5}, "api.public_url: must be a string"),
    ({"region": "Region One"}, "api.region: invalid value"),
    ({"policy_file": "policy.yaml"}, "api.policy_file: invalid value"),
    ({"conf_path": "api.conf"}, "api.conf_path: invalid value"),
    ({"enabled": "yes"}, "api.enabled: must be true or false"),
    ({"bogus": 1}, "unknown field 'bogus'"),
])
def test_api_fields_are_checked(example, changes, fragment):
    with_api(example, **changes)
    one_error(example, fragment)


def test_api_needs_an_endpoint_and_keystone(example):
    with_api(example)
    del example["api"]["url"]
    one_error(example, "api: enabled without an endpoint")
    example["api"]["public_url"] = "https://ha.example.com:15868"
    del example["api"]["keystone_authtoken"]["auth_type"]
    one_error(example, "api.keystone_authtoken: missing auth_type")
    example["api"]["enabled"] = False  # a disabled section may be incomplete
    assert errors_of(example) == []


def test_api_without_a_shared_database_is_a_warning(example):
    with_api(example)
    del example["api"]["connection"]
    errors, warnings = schema.validate(example)
    assert errors == [] and len(warnings) == 1
    assert warnings[0].startswith("api.connection: not set: each of the 3 controllers")
    example["controllers"] = example["controllers"][:1]
    example["fencing"] = {}
    assert schema.validate(example) == ([], [])


@pytest.mark.parametrize("where", ["connection", "password", "memcache_secret_key"])
def test_bad_api_secrets_are_refused_without_being_shown(example, where):
    secret = "leaky$secret value"
    with_api(example)
    if where == "connection":
        example["api"]["connection"] = f"mysql+pymysql://hakari:{secret}@db/hakari"
    else:
        example["api"]["keystone_authtoken"][where] = secret
    error = one_error(example, "its value is not shown here")
    assert "leaky" not in error


def test_keystone_commands_register_every_interface(example):
    with_api(example, public_url="https://public.example.com:15868/",
             internal_url="http://192.0.2.10:15869")
    del example["api"]["url"]
    script = render.render_all(example)["keystone-commands.sh"]
    calls = [shlex.split(ln) for ln in script.splitlines() if ln.startswith("endpoint ")]
    assert calls == [["endpoint", "public", "https://public.example.com:15868/v1/%(tenant_id)s"],
                     ["endpoint", "internal", "http://192.0.2.10:15869/v1/%(tenant_id)s"]]
    assert "region=(--region RegionOne)" in script
    assert 'export OS_CLOUD="${OS_CLOUD:-overcloud}"' in script


def test_render_keeps_api_secrets_private(tmp_path, example):
    with_api(example)
    vars_file = tmp_path / "v.yaml"
    vars_file.write_text(yaml.safe_dump(example))
    out = tmp_path / "out"
    proc = run_hakari("render", "--vars", str(vars_file), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "keystone-commands.sh (mode 0644)" in proc.stdout
    assert "hakari.conf (mode 0644)" in proc.stdout and "api.conf (mode 0600)" in proc.stdout
    assert sorted(os.listdir(out)) == sorted(render.OUTPUTS)
    for secret in (API_PASSWORD, DB_PASSWORD):
        assert secret not in proc.stdout + proc.stderr
        holding = {name for name in render.OUTPUTS if secret in (out / name).read_text()}
        assert holding == {"api.conf"}
    modes = {name: (out / name).stat().st_mode & 0o777 for name in render.OUTPUTS}
    assert modes == {**dict.fromkeys(render.OUTPUTS, 0o644), "api.conf": 0o600}
    check = run_hakari("render", "--vars", str(vars_file), "--check")
    assert check.returncode == 0 and API_PASSWORD not in check.stdout + check.stderr
    # Disabled again: the old api.conf and its credentials go.
    example["api"]["enabled"] = False
    vars_file.write_text(yaml.safe_dump(example))
    proc = run_hakari("render", "--vars", str(vars_file), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == sorted(set(render.OUTPUTS) - {"api.conf"})
