"""`hakari install` into temporary prefixes: the tree, owners and modes, idempotency,
refusals, uninstall, and the check that hacluster and nobody can run the agents."""

from __future__ import annotations

import os
import pathlib
import pwd
import stat
import subprocess
import sys

import pytest

from hakari.install import (
    InstallError, Installer, Launcher, make_plan, render_launcher, sample_config)
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
              "/var/lib/hakari/spool/done": (0o750, "root:haclient"),
              "/var/lib/hakari/spool/quarantine": (0o750, "root:haclient"),
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
