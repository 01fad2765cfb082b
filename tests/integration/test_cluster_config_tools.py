"""The rendered cluster configuration against the real tools: corosync, crm_verify, pcs,
cibadmin and ansible-playbook.

pcs refuses to create resources whose agents are not installed on this host (the hakari
agents, nova-compute's unit) and fencing levels for nodes it cannot see; the rendered
script passes --force for exactly those when it builds a CIB file offline, as here.
"""

import grp
import json
import os
import pathlib
import pwd
import re
import subprocess
import sys

import pytest
from lxml import etree

from hakari.cluster_config import render, schema
from tests.cib_semantics import semantics
from tests.conftest import require_files, require_root, require_tools
from tests.unit.test_cluster_vars import API_PASSWORD, DB_PASSWORD, sample_api, with_api

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "cluster.yaml"
VENV_BIN = pathlib.Path(sys.executable).parent
TIMEOUT = 120


def run(argv, **kw):
    kw.setdefault("timeout", TIMEOUT)
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def example() -> dict:
    return schema.load_vars(str(EXAMPLE))


def example_with_api() -> dict:
    data = example()
    data["api"] = sample_api()
    return data


def write(tmp_path, data) -> pathlib.Path:
    assert schema.validate(data)[0] == []
    files = render.render_all(data)
    assert render.check_rendered(files) == []
    out = tmp_path / "out"
    render.write_files(str(out), files, render.file_modes(data))
    return out


def empty_cib(path: pathlib.Path) -> None:
    proc = run(["cibadmin", "--empty"], check=True)
    path.write_text(proc.stdout)


# -- corosync ---------------------------------------------------------------------------

def two_node() -> dict:
    data = example()
    data["controllers"] = data["controllers"][:2]
    data["computes"] = [c for c in data["computes"] if c.get("remote")]
    data["fencing"] = {}
    data["corosync"] = {"crypto_cipher": "none", "crypto_hash": "none"}
    data["quorum"] = {"two_node": True, "wait_for_all": True}
    return data


def with_qdevice() -> dict:
    data = example()
    data["quorum"] = {"wait_for_all": False,
                      "qdevice": {"host": "qnetd.example.com", "algorithm": "lms"}}
    return data


@pytest.fixture
def netns():
    """A network namespace where 192.0.2.11 (ctl1's address) is local.

    corosync -t insists that the local host is in the nodelist; the address exists only
    inside this namespace, on its loopback device, and no packet is ever sent.
    """
    require_root()
    require_tools("ip", "corosync")
    name = f"hakari-cfgtest-{os.getpid()}"
    run(["ip", "netns", "add", name], check=True)
    try:
        run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        run(["ip", "-n", name, "addr", "add", "192.0.2.11/32", "dev", "lo"], check=True)
        yield name
    finally:
        run(["ip", "netns", "delete", name])


def corosync_test(netns, conf: pathlib.Path):
    return run(["ip", "netns", "exec", netns, "corosync", "-t", "-c", str(conf)], timeout=60)


@pytest.mark.parametrize("variant", ["example", "two_node", "qdevice"])
@pytest.mark.root
def test_corosync_accepts_the_rendered_config(tmp_path, netns, variant):
    data = {"example": example, "two_node": two_node, "qdevice": with_qdevice}[variant]()
    if data["corosync"].get("crypto_cipher", "aes256") != "none":
        # With crypto on, corosync -t also reads the key: point it at a throwaway one.
        key = tmp_path / "authkey"
        key.write_bytes(os.urandom(256))
        key.chmod(0o600)
        data["corosync"]["keyfile"] = str(key)
    out = write(tmp_path, data)
    proc = corosync_test(netns, out / "corosync.conf")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.root
def test_corosync_check_is_real(tmp_path, netns):
    # The same check rejects a config that differs only by a duplicated nodeid.
    data = two_node()
    out = write(tmp_path, data)
    conf = out / "corosync.conf"
    conf.write_text(conf.read_text().replace("nodeid: 2", "nodeid: 1"))
    proc = corosync_test(netns, conf)
    assert proc.returncode != 0 and "appears twice" in proc.stdout + proc.stderr


# -- crm_verify -------------------------------------------------------------------------

def crm_verify(path):
    return run(["crm_verify", "--xml-file", str(path), "-V"])


@pytest.mark.parametrize("variant", [example, example_with_api], ids=["example", "api"])
def test_crm_verify_accepts_the_rendered_cib_members_only(tmp_path, variant):
    require_tools("crm_verify")
    data = variant()
    data["computes"] = [c for c in data["computes"] if not c.get("remote")]
    out = write(tmp_path, data)
    proc = crm_verify(out / "cib.xml")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("variant", [example, example_with_api], ids=["example", "api"])
def test_crm_verify_accepts_the_rendered_cib_with_remote_nodes(tmp_path, variant):
    """Offline, a never-seen remote node counts as unclean (startup-fencing), which
    crm_verify reports as a warning whatever the configuration. Give it a clean "down"
    state, as a running cluster would have, so that only the configuration is judged."""
    require_tools("crm_verify")
    out = write(tmp_path, variant())
    root = etree.parse(str(out / "cib.xml")).getroot()
    status = root.find("status")
    etree.SubElement(status, "node_state", id="cmp3", uname="cmp3", remote_node="true",
                     in_ccm="false", crmd="offline", join="down", expected="down")
    seeded = tmp_path / "seeded.xml"
    seeded.write_bytes(etree.tostring(root))
    proc = crm_verify(seeded)
    assert proc.returncode == 0, proc.stderr
    # And without that state, the unseen remote node is the only complaint.
    proc = crm_verify(out / "cib.xml")
    complaints = [ln for ln in proc.stderr.splitlines() if re.search(r"error|warning", ln)]
    assert all("cmp3" in ln or "quorum" in ln for ln in complaints), proc.stderr
    assert not any("error:" in ln for ln in complaints), proc.stderr


def test_crm_simulate_runs_hakari_api_on_every_controller_and_nowhere_else(tmp_path):
    require_tools("crm_simulate")
    data = example_with_api()
    data["computes"] = [c for c in data["computes"] if not c.get("remote")]
    out = write(tmp_path, data)
    nodes = ["ctl1", "ctl2", "ctl3", "cmp1", "cmp2"]
    argv = ["crm_simulate", "--xml-file", str(out / "cib.xml"), "--simulate",
            "--quorum", "1"]
    for node in nodes:
        argv += ["--node-up", node]
    proc = run(argv)
    assert proc.returncode == 0, proc.stderr
    revised = proc.stdout.split("Revised Cluster Status:")[1]
    placed = re.search(r"hakari-api-clone \[hakari-api\]:\n\s+\* Started: \[ ([^\]]*) \]",
                       revised)
    assert placed, revised
    assert sorted(placed.group(1).split()) == ["ctl1", "ctl2", "ctl3"]


# -- the Keystone catalog ----------------------------------------------------------------

FAKE_OPENSTACK = ROOT / "tests" / "fake_openstack.py"


def fake_openstack(tmp_path) -> tuple[dict, pathlib.Path]:
    """(an environment whose `openstack` is tests/fake_openstack.py, its state file)."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    client = bin_dir / "openstack"
    client.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE_OPENSTACK} \"$@\"\n")
    client.chmod(0o755)
    state = tmp_path / "catalog.json"
    state.write_text(json.dumps({"services": [], "endpoints": [], "calls": []}))
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "FAKE_OPENSTACK_STATE": str(state)}
    env.pop("OS_CLOUD", None)
    return env, state


def test_keystone_commands_register_once_and_follow_a_new_url(tmp_path):
    require_tools("bash")
    env, state = fake_openstack(tmp_path)
    data = example_with_api()
    script = write(tmp_path, data) / "keystone-commands.sh"
    first = run(["bash", str(script)], env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "created service masakari (instance-ha)",
        *(f"created {i} endpoint https://ha.example.com:15868/v1/%(tenant_id)s"
          for i in ("public", "internal", "admin"))]
    catalog = json.loads(state.read_text())
    assert catalog["os_cloud"] == "overcloud"
    assert [(s["Name"], s["Type"]) for s in catalog["services"]] == [
        ("masakari", "instance-ha")]
    assert {(e["Interface"], e["Region"], e["URL"]) for e in catalog["endpoints"]} == {
        (i, "RegionOne", "https://ha.example.com:15868/v1/%(tenant_id)s")
        for i in ("public", "internal", "admin")}
    again = run(["bash", str(script)], env=env)
    assert (again.returncode, again.stdout) == (0, ""), again.stderr
    assert len(json.loads(state.read_text())["endpoints"]) == 3

    data["api"]["internal_url"] = "http://192.0.2.10:15869"
    script = write(tmp_path, data) / "keystone-commands.sh"
    moved = run(["bash", str(script)], env=env)
    assert moved.stdout == "updated internal endpoint to " \
        "http://192.0.2.10:15869/v1/%(tenant_id)s\n", moved.stderr
    urls = {e["Interface"]: e["URL"] for e in json.loads(state.read_text())["endpoints"]}
    assert urls["internal"] == "http://192.0.2.10:15869/v1/%(tenant_id)s"
    assert urls["public"] == "https://ha.example.com:15868/v1/%(tenant_id)s"


def test_keystone_commands_stop_at_the_first_failure(tmp_path):
    require_tools("bash")
    env, state = fake_openstack(tmp_path)
    state.write_text("not json")  # every openstack command now fails
    script = write(tmp_path, example_with_api()) / "keystone-commands.sh"
    proc = run(["bash", str(script)], env=env)
    assert proc.returncode != 0 and proc.stdout == ""


# -- pcs and cibadmin -------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("variant", [example, example_with_api], ids=["example", "api"])
def test_pcs_script_builds_the_same_configuration_and_apply_cib_converges(tmp_path, variant):
    require_tools("pcs", "cibadmin", "crm_diff", "bash")
    out = write(tmp_path, variant())
    built = tmp_path / "pcs-built.xml"
    empty_cib(built)
    proc = run(["bash", str(out / "pcs-commands.sh"), str(built)], timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rendered = (out / "cib.xml").read_bytes()
    assert semantics(built.read_bytes()) == semantics(rendered)

    # apply-cib on the pcs-built CIB: only pcs's own ids differ; afterwards it is stable.
    env = {**os.environ, "CIB_file": str(built)}
    hakari = [sys.executable, "-m", "hakari", "apply-cib", str(out / "cib.xml"),
              "--format", "json"]
    first = run(hakari, env=env)
    assert first.returncode == 0, first.stderr
    second = run(hakari, env=env)
    assert second.returncode == 0 and '"changed": false' in second.stdout, second.stdout
    assert semantics(built.read_bytes()) == semantics(rendered)


def test_apply_cib_keeps_other_resources_and_is_idempotent(tmp_path):
    require_tools("cibadmin", "crm_diff")
    out = write(tmp_path, example())
    cib = tmp_path / "live.xml"
    empty_cib(cib)
    env = {**os.environ, "CIB_file": str(cib)}
    run(["cibadmin", "--create", "--scope", "resources", "--xml-text",
         '<primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2"/>'],
        env=env, check=True)
    hakari = [sys.executable, "-m", "hakari", "apply-cib", str(out / "cib.xml"),
              "--format", "json"]
    check = run([*hakari, "--check"], env=env)
    assert '"changed": true' in check.stdout and "hakari-evacuator" not in cib.read_text()
    first = run(hakari, env=env)
    assert first.returncode == 0 and '"changed": true' in first.stdout, first.stderr
    second = run(hakari, env=env)
    assert '"changed": false' in second.stdout, second.stdout
    live = semantics(cib.read_bytes())
    assert live["resources"].pop("vip")["type"] == "IPaddr2"
    assert live == semantics((out / "cib.xml").read_bytes())


# -- Ansible ----------------------------------------------------------------------------

def conf_ownership_vars() -> list[str]:
    """Only root can give hakari.conf to root:haclient and api.conf to root:root; others
    keep their own."""
    if os.geteuid() == 0:
        return []
    user, group = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
    return [arg for conf in ("hakari_conf", "api_conf") for arg in (
        "-e", f"hakari_cluster_{conf}_owner={user}", "-e", f"hakari_cluster_{conf}_group={group}")]


def ansible_playbook(tmp_path, *extra, vars_file=EXAMPLE, ok=True, environ=None):
    environ = os.environ if environ is None else environ
    env = {
        **environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{environ.get('PATH', '')}",
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOWS": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "LC_ALL": "C.UTF-8",
    }
    argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(ROOT / "ansible/inventory.ini"),
            str(ROOT / "ansible/site.yml"),
            "-e", f"hakari_cluster_vars_file={vars_file}",
            "-e", f"hakari_cluster_hakari={VENV_BIN / 'hakari'}",
            "-e", f"hakari_cluster_output_dir={tmp_path / 'ansible-out'}",
            "-e", f"hakari_cluster_hakari_conf={tmp_path / 'etc-hakari.conf'}",
            "-e", f"hakari_cluster_cib_file={tmp_path / 'live.xml'}",
            "-e", f"ansible_python_interpreter={sys.executable}",
            *conf_ownership_vars(), *extra]
    proc = run(argv, env=env, timeout=300)
    if not ok:
        return None, proc
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    recap = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)", proc.stdout)
    assert recap, proc.stdout
    return int(recap.group(2)), proc


@pytest.mark.slow
def test_ansible_role_matches_hakari_render_and_is_idempotent(tmp_path):
    require_tools("cibadmin", "crm_diff")
    require_files(str(VENV_BIN / "ansible-playbook"), str(VENV_BIN / "hakari"))
    empty_cib(tmp_path / "live.xml")
    changed, _ = ansible_playbook(tmp_path)
    assert changed > 0

    ours = write(tmp_path, example())
    theirs = tmp_path / "ansible-out"
    assert sorted(os.listdir(theirs)) == sorted(os.listdir(ours))  # no api.conf
    for name in os.listdir(ours):
        assert (theirs / name).read_bytes() == (ours / name).read_bytes(), name
        assert (theirs / name).stat().st_mode & 0o777 == (ours / name).stat().st_mode & 0o777
    installed = tmp_path / "etc-hakari.conf"
    assert installed.read_bytes() == (ours / "hakari.conf").read_bytes()
    # As `hakari install` creates it: readable by Pacemaker's group, not by others.
    assert installed.stat().st_mode & 0o777 == 0o640
    if os.geteuid() == 0:
        assert (installed.stat().st_uid, installed.stat().st_gid) == (
            0, grp.getgrnam("haclient").gr_gid)
    assert semantics((tmp_path / "live.xml").read_bytes()) == semantics(
        (ours / "cib.xml").read_bytes())

    changed, proc = ansible_playbook(tmp_path)
    assert changed == 0, proc.stdout
    changed, proc = ansible_playbook(tmp_path, "--check", "--diff")
    assert changed == 0, proc.stdout


@pytest.mark.slow
def test_ansible_role_refuses_an_inline_bmc_key_and_keeps_an_allowed_one_private(tmp_path):
    require_tools("cibadmin", "crm_diff")
    require_files(str(VENV_BIN / "ansible-playbook"), str(VENV_BIN / "hakari"))
    empty_cib(tmp_path / "live.xml")
    key = "00112233445566778899aabbccddeeff00112233"
    data = example()
    data["computes"][0]["fence"]["params"]["hexadecimal_kg"] = key
    vars_file = tmp_path / "cluster.json"
    vars_file.write_text(json.dumps(data))
    _, proc = ansible_playbook(tmp_path, vars_file=vars_file, ok=False)
    assert proc.returncode != 0 and "inline secret refused" in proc.stdout, proc.stdout
    assert key not in proc.stdout + proc.stderr
    assert not (tmp_path / "ansible-out").exists()

    data["allow_inline_secrets"] = True
    vars_file.write_text(json.dumps(data))
    _, proc = ansible_playbook(tmp_path, vars_file=vars_file)
    assert key not in proc.stdout + proc.stderr
    out = tmp_path / "ansible-out"
    assert key in (out / "cib.xml").read_text() and key in (out / "pcs-commands.sh").read_text()
    modes = {name: (out / name).stat().st_mode & 0o777 for name in os.listdir(out)}
    assert modes == {"corosync.conf": 0o644, "cib.xml": 0o600, "pcs-commands.sh": 0o600,
                     "hakari.conf": 0o644, "keystone-commands.sh": 0o644}


@pytest.mark.slow
def test_ansible_role_with_the_api_installs_it_and_registers_it_once(tmp_path):
    require_tools("cibadmin", "crm_diff", "bash")
    require_files(str(VENV_BIN / "ansible-playbook"), str(VENV_BIN / "hakari"),
                  str(VENV_BIN / "pip"))
    empty_cib(tmp_path / "live.xml")
    env, catalog = fake_openstack(tmp_path)
    data = with_api(example())
    # The role's hakari_cluster_api_conf follows the variables, as the clone's api_config.
    data["api"]["conf_path"] = str(tmp_path / "etc-api.conf")
    vars_file = tmp_path / "cluster.json"
    vars_file.write_text(json.dumps(data))
    # --diff: a first run shows what it changes, never api.conf's credentials.
    changed, proc = ansible_playbook(tmp_path, "--diff", vars_file=vars_file, environ=env)
    assert changed > 0
    assert "+compute_nodes = cmp1,cmp2,cmp3" in proc.stdout  # hakari.conf's diff is shown
    for secret in (API_PASSWORD, DB_PASSWORD):
        assert secret not in proc.stdout + proc.stderr
    assert re.search(r"TASK \[hakari_cluster : Install hakari's api extra\] \*+\n(ok|changed):",
                     proc.stdout), proc.stdout

    ours = write(tmp_path, data)
    theirs = tmp_path / "ansible-out"
    assert sorted(os.listdir(theirs)) == sorted(os.listdir(ours)) == sorted(render.OUTPUTS)
    for name in render.OUTPUTS:
        assert (theirs / name).read_bytes() == (ours / name).read_bytes(), name
        assert (theirs / name).stat().st_mode & 0o777 == (ours / name).stat().st_mode & 0o777
    assert (theirs / "hakari.conf").stat().st_mode & 0o777 == 0o644
    assert (theirs / "api.conf").stat().st_mode & 0o777 == 0o600
    # hakari.conf, readable by haclient on every node, holds none of the API's secrets;
    # api.conf, root's alone, holds them.
    installed, installed_api = tmp_path / "etc-hakari.conf", tmp_path / "etc-api.conf"
    assert installed.read_bytes() == (ours / "hakari.conf").read_bytes()
    assert installed_api.read_bytes() == (ours / "api.conf").read_bytes()
    for secret in (API_PASSWORD, DB_PASSWORD):
        assert secret not in installed.read_text() and secret in installed_api.read_text()
    assert installed.stat().st_mode & 0o777 == 0o640
    assert installed_api.stat().st_mode & 0o777 == 0o600
    if os.geteuid() == 0:
        assert (installed_api.stat().st_uid, installed_api.stat().st_gid) == (0, 0)
    live = semantics((tmp_path / "live.xml").read_bytes())
    assert live["resources"]["hakari-api"]["clone"]["id"] == "hakari-api-clone"
    assert live["resources"]["hakari-api"]["params"]["api_config"] == str(installed_api)
    state = json.loads(catalog.read_text())
    assert len(state["services"]) == 1 and len(state["endpoints"]) == 3

    changed, proc = ansible_playbook(tmp_path, vars_file=vars_file, environ=env)
    assert changed == 0, proc.stdout
    assert len(json.loads(catalog.read_text())["endpoints"]) == 3

    # Disabled: the rendered api.conf goes, as with hakari render, and the clone with it.
    data["api"]["enabled"] = False
    vars_file.write_text(json.dumps(data))
    ansible_playbook(tmp_path, vars_file=vars_file, environ=env)
    assert sorted(os.listdir(theirs)) == sorted(os.listdir(write(tmp_path, data)))
    assert "api.conf" not in os.listdir(theirs)
    assert "hakari-api" not in semantics((tmp_path / "live.xml").read_bytes())["resources"]


def test_role_templates_are_the_package_templates():
    templates = ROOT / "ansible/roles/hakari_cluster/templates"
    assert templates.is_symlink() and templates.resolve() == render.TEMPLATES_DIR
