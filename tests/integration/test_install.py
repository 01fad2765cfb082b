"""`hakari install` into temporary prefixes: the tree, owners and modes, idempotency,
refusals, uninstall, and the check that hacluster and nobody can run the agents."""

from __future__ import annotations

import json
import os
import pathlib
import pwd
import stat
import subprocess
import sys

import pytest

from hakari import config
from hakari.alerts.statedir import StateDirError, read_state_dir
from hakari.errors import ConfigError
from hakari.install import (
    InstallError, Installer, Launcher, make_plan, render_launcher, sample_config)
from hakari.state_dirs import make_state_dirs
from tests.agents_helpers import _runs_as, open_tmp, shared_python  # noqa: F401
from tests.conftest import require_root

ROOT = pathlib.Path(__file__).resolve().parents[2]
IS_ROOT = os.geteuid() == 0


def install(prefix, **kwargs):
    messages = []
    plan = make_plan(prefix=str(prefix), **kwargs)
    Installer(plan, report=messages.append).install()
    return plan, messages


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def owner(path):
    st = os.stat(path)
    import grp
    return f"{pwd.getpwuid(st.st_uid).pw_name}:{grp.getgrgid(st.st_gid).gr_name}"


def test_launchers():
    plan = make_plan()
    alert = render_launcher(plan, Launcher("/x", "hakari.alerts.agent", fast=True))
    assert alert.startswith(f"#!{sys.executable} -IS\n")
    assert f"sys.path.insert(0, {str(ROOT)!r})" in alert
    agent = render_launcher(plan, Launcher("/y", "hakari.resource_agents.evacuator"))
    assert agent.startswith(f"#!{sys.executable} -I\n")
    assert "from hakari.resource_agents.evacuator import main" in agent
    with pytest.raises(InstallError, match="#! line"):
        make_plan(python="/opt/my python/bin/python3")


def test_the_installed_tree(tmp_path):
    plan, messages = install(tmp_path)
    p = plan.under
    for launcher, module in [
            ("/usr/lib/ocf/resource.d/hakari/evacuator", "evacuator"),
            ("/usr/lib/ocf/resource.d/hakari/compute-guard", "compute_guard"),
            ("/usr/lib/ocf/resource.d/hakari/api", "resource_agents.api"),
            ("/usr/sbin/fence_hakari", "fence_hakari"),
            ("/usr/libexec/hakari/alert", "agent")]:
        assert mode(p(launcher)) == 0o755
        assert module in pathlib.Path(p(launcher)).read_text()
    assert pathlib.Path(p("/etc/hakari/hakari.conf.sample")).read_text() == \
        (ROOT / "etc/hakari/hakari.conf.sample").read_text()
    assert pathlib.Path(p("/etc/hakari/hakari.conf")).exists()
    expect = {"/etc/hakari": (0o750, "root:haclient"),
              "/var/lib/hakari": (0o750, "root:haclient"),
              "/var/lib/hakari/spool": (0o750, "hacluster:haclient"),
              "/var/lib/hakari/spool-done": (0o750, "root:haclient"),
              "/var/lib/hakari/spool-quarantine": (0o750, "root:root"),
              "/var/log/hakari": (0o750, "root:root"),
              "/etc/hakari/hakari.conf": (0o640, "root:haclient")}
    for path, (want_mode, want_owner) in expect.items():
        assert mode(p(path)) == want_mode, path
        if IS_ROOT:
            assert owner(p(path)) == want_owner, path
    assert not any("world" in m for m in messages)


def test_install_is_idempotent_and_keeps_the_operators_config(tmp_path):
    plan, _ = install(tmp_path)
    conf = pathlib.Path(plan.under(plan.config_file))
    conf.write_text("[DEFAULT]\nstate_dir = /var/lib/hakari\n# mine\n")
    spool = plan.under("/var/lib/hakari/spool")
    os.chmod(spool, 0o777)
    _, messages = install(tmp_path)
    assert messages == [f"kept {conf}", f"fixed mode of {spool} to 0750"]
    assert conf.read_text().endswith("# mine\n")
    _, messages = install(tmp_path)
    assert messages == [f"kept {conf}"]


def test_state_dir_comes_from_the_config(tmp_path):
    conf = tmp_path / "etc/hakari/hakari.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("[DEFAULT]\nstate_dir = /srv/hakari-state\n")
    plan, _ = install(tmp_path)
    assert os.path.isdir(plan.under("/srv/hakari-state/spool"))
    conf.write_text("[DEFAULT]\nstate_dir = $x\n")
    with pytest.raises(InstallError, match="interpolation"):
        install(tmp_path)


def test_foreign_files_are_not_overwritten(tmp_path):
    fence = tmp_path / "usr/sbin/fence_hakari"
    fence.parent.mkdir(parents=True)
    fence.write_text("#!/bin/sh\necho someone else's\n")
    with pytest.raises(InstallError, match="not installed by hakari"):
        install(tmp_path)
    plan = make_plan(prefix=str(tmp_path))
    Installer(plan, force=True, report=lambda _m: None).install()
    assert "fence_hakari import main" in fence.read_text()


def test_world_writable_parents_are_refused(tmp_path):
    bad = tmp_path / "shared"
    bad.mkdir()
    os.chmod(bad, 0o777)
    with pytest.raises(InstallError, match="world-writable"):
        install(bad)


def test_uninstall_keeps_state_and_config_unless_purged(tmp_path):
    plan, _ = install(tmp_path)
    keep = pathlib.Path(plan.under("/usr/sbin/other-agent"))
    keep.write_text("x")
    messages = []
    Installer(plan, report=messages.append).uninstall()
    for launcher in plan.launchers:
        assert not os.path.lexists(plan.under(launcher.path))
    assert not os.path.exists(plan.under(plan.ocf_dir))
    assert not os.path.exists(plan.under("/usr/libexec/hakari"))
    assert keep.exists() and os.path.isdir(plan.under("/var/lib/hakari/spool"))
    assert os.path.exists(plan.under(plan.config_file))
    Installer(plan, report=messages.append).uninstall()  # idempotent
    Installer(plan, report=messages.append).uninstall(purge=True)
    for gone in ("/var/lib/hakari", "/etc/hakari", "/var/log/hakari"):
        assert not os.path.exists(plan.under(gone))


def test_the_sample_is_what_make_sample_config_writes():
    assert sample_config() == (ROOT / "etc/hakari/hakari.conf.sample").read_text()


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "hakari", "install", *args],
                          capture_output=True, timeout=timeout)


def test_cli_installs_checks_and_uninstalls(open_tmp, shared_python):  # noqa: F811
    res = cli("--prefix", str(open_tmp), "--python", shared_python)
    assert res.returncode == 0, res.stderr.decode()
    assert b"hakari install: done" in res.stdout
    res = cli("--prefix", str(open_tmp), "--python", shared_python)
    assert res.returncode == 0 and b"installed" not in res.stdout
    res = cli("--prefix", str(open_tmp), "--uninstall", "--purge")
    assert res.returncode == 0
    assert sorted(os.listdir(open_tmp)) == ["etc", "usr", "var"]
    assert not os.path.exists(open_tmp / "etc/hakari")


@pytest.mark.root
def test_cli_reports_agents_the_cluster_users_cannot_run(open_tmp):  # noqa: F811
    require_root()
    if _runs_as(sys.executable, "hacluster"):
        pytest.skip(f"{sys.executable} is runnable by hacluster here")
    res = cli("--prefix", str(open_tmp))
    assert res.returncode == 1
    err = res.stderr.decode()
    assert "hacluster cannot run the alert agent" in err and "--python" in err
    assert "Traceback" not in err


def test_cli_usage_errors(tmp_path):
    res = cli("--prefix", str(tmp_path), "--purge")
    assert res.returncode == 2
    assert res.stderr.decode().startswith("hakari: error: --purge only goes with")


def tree(path):
    """Every path below ``path`` with its mode and content, to show nothing changed."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, path)] = (
                mode(p), None if os.path.isdir(p) else pathlib.Path(p).read_bytes())
    return out


def test_purge_removes_only_what_install_created(tmp_path):
    """hakari.conf beside the system's files, and a state directory the operator made:
    both directories were there before, so they and their other contents stay."""
    etc = tmp_path / "etc"
    etc.mkdir(mode=0o755)
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    state = tmp_path / "srv/hakari"
    state.mkdir(parents=True, mode=0o711)
    (state / "operator-notes").write_text("mine")
    (etc / "hakari.conf").write_text("[DEFAULT]\nstate_dir = /srv/hakari\n")
    plan, _ = install(tmp_path, config_file="/etc/hakari.conf")
    assert mode(etc) == 0o755 and mode(state) == 0o711   # not taken over
    assert (etc / "hakari.conf.sample").exists()
    messages = []
    Installer(plan, report=messages.append).uninstall(purge=True)
    assert sorted(os.listdir(etc)) == ["hakari.conf", "passwd"]  # the operator's conf too
    assert sorted(os.listdir(state)) == ["operator-notes"]
    assert mode(etc) == 0o755 and mode(state) == 0o711
    assert not os.path.exists(plan.under("/var/log/hakari"))   # that one hakari created
    assert os.path.isdir(tmp_path / "var/log")


def test_purge_refuses_system_directories_whatever_the_manifest_says(tmp_path):
    plan, _ = install(tmp_path)
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text("precious")
    manifest = plan.under("/var/lib/hakari/install.json")
    doc = json.loads(pathlib.Path(manifest).read_text())
    doc["dirs"] += ["/", "/etc", "/var/lib", "/usr"]
    pathlib.Path(manifest).write_text(json.dumps(doc))
    messages = []
    Installer(plan, report=messages.append).uninstall(purge=True)
    assert (tmp_path / "var/lib/dpkg/status").read_text() == "precious"
    assert os.path.isdir(tmp_path / "etc") and os.path.isdir(tmp_path / "usr")
    assert not os.path.exists(plan.under("/var/lib/hakari"))
    assert not os.path.exists(plan.under("/etc/hakari"))
    assert any("/var/lib: /var/lib is a system directory" in m for m in messages)


def test_purge_without_a_manifest_removes_nothing_but_the_agents(tmp_path):
    plan, _ = install(tmp_path)
    os.unlink(plan.under("/var/lib/hakari/install.json"))
    before = tree(tmp_path / "var")
    messages = []
    Installer(plan, report=messages.append).uninstall(purge=True)
    assert tree(tmp_path / "var") == before
    assert os.path.isdir(plan.under("/etc/hakari"))
    assert any("nothing to purge" in m for m in messages)


@pytest.mark.parametrize("config_file", ["hakari.conf", "./hakari.conf", "etc/x.conf",
                                         "/etc/../hakari.conf", "/etc//hakari.conf"])
def test_the_config_file_must_be_an_absolute_plain_path(tmp_path, config_file):
    (tmp_path / "precious").write_text("x")
    with pytest.raises(InstallError, match="absolute path"):
        make_plan(prefix=str(tmp_path), config_file=config_file)
    res = subprocess.run([sys.executable, "-m", "hakari", "--config-file", config_file,
                          "install", "--prefix", str(tmp_path), "--uninstall", "--purge"],
                         capture_output=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 2 and b"absolute path" in res.stderr, res.stderr
    assert (tmp_path / "precious").read_text() == "x"


def test_existing_directories_keep_their_owner_and_mode(tmp_path):
    """Only a directory hakari created is re-moded; the engine's start (make_state_dirs)
    included, and a world-writable one is refused, not fixed."""
    etc = tmp_path / "etc"
    etc.mkdir(mode=0o755)
    os.chmod(etc, 0o755)
    (etc / "hakari.conf").write_text("[DEFAULT]\nstate_dir = /var/lib/hakari\n")
    install(tmp_path, config_file="/etc/hakari.conf")
    assert mode(etc) == 0o755
    state = tmp_path / "operator-state"
    state.mkdir(mode=0o700)
    os.chmod(state, 0o700)
    make_state_dirs(str(state))
    assert mode(state) == 0o700 and mode(state / "spool") == 0o750
    make_state_dirs(str(state))          # the next engine start: still the operator's
    assert mode(state) == 0o700
    sticky = tmp_path / "shared-tmp"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    with pytest.raises(InstallError, match="world-writable"):
        make_state_dirs(str(sticky))
    assert mode(sticky) == 0o1777


@pytest.mark.parametrize("state_dir", ["/", "/etc", "/var/lib", "/tmp", "/tmp/../etc",
                                       "/var/lib/../../etc", "relative/dir", "/usr"])
def test_state_dir_must_be_hakaris_own_directory(tmp_path, state_dir):
    conf = tmp_path / "hakari.conf"
    conf.write_text(f"[DEFAULT]\nstate_dir = {state_dir}\n")
    with pytest.raises(StateDirError, match="state_dir"):
        read_state_dir(str(conf))
    with pytest.raises(ConfigError, match=r"\[DEFAULT\] state_dir"):
        config.load([str(conf)])
    (tmp_path / "etc/hakari").mkdir(parents=True)
    (tmp_path / "etc/hakari/hakari.conf").write_text(conf.read_text())
    with pytest.raises(InstallError, match="state_dir"):
        install(tmp_path)
