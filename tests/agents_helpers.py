"""Fixtures and helpers for tests of the installed agents (alert, OCF, fence launchers).

Pacemaker runs the alert as hacluster and ocf-tester runs meta-data as nobody, so the
tree the agents are installed in must be traversable by them (pytest's tmp_path, below
/root-owned 0700 directories, is not), and so must the interpreter: this machine's venv
Python may live below /root. ``shared_python`` finds one they can run.
"""

from __future__ import annotations

import os
import pathlib
import pwd
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.conftest import _unavailable, require_root

ROOT = pathlib.Path(__file__).resolve().parents[1]
FAKE_HAKARI = ROOT / "tests" / "fake_hakari.py"
ALERT_ENVS = ROOT / "tests" / "data" / "alerts"


def load_env(path: pathlib.Path) -> dict[str, str]:
    """One captured alert environment (.env: NAME=value lines, # comments)."""
    env = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    return env


def corpus_envs(folder: str) -> list[tuple[str, dict[str, str]]]:
    """(node, env) for every captured alert of a corpus folder, in capture order."""
    files = sorted((ALERT_ENVS / folder).rglob("*.env"),
                   key=lambda p: p.name.split("-")[1])
    return [(p.parent.name, load_env(p)) for p in files]


def as_user(user: str) -> dict:
    """subprocess.run keyword arguments that drop root for user (and its group only)."""
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def _runs_as(python: str, user: str) -> bool:
    try:
        res = subprocess.run([python, "-I", "-S", "-c", "pass"], capture_output=True,
                             timeout=30, **as_user(user))
    except (OSError, subprocess.SubprocessError):
        return False
    return res.returncode == 0


@pytest.fixture(scope="session")
def shared_python() -> str:
    """An interpreter of this Python version that hacluster and nobody can run."""
    require_root()
    candidates = [sys.executable]
    system = shutil.which("python3", path="/usr/bin:/bin")
    if system:
        candidates.append(system)
    for python in candidates:
        try:
            version = subprocess.run(
                [python, "-I", "-S", "-c", "import sys; print(sys.version_info[:2])"],
                capture_output=True, timeout=30, check=True).stdout.decode().strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if version == str(sys.version_info[:2]) and all(
                _runs_as(python, u) for u in ("hacluster", "nobody")):
            return python
    _unavailable("no Python of this version that hacluster and nobody can run")


@pytest.fixture
def open_tmp():
    """A temporary directory everyone may traverse (0755, below sticky /tmp)."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="hakari-test-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def installed(open_tmp, shared_python):
    """hakari installed into a fresh prefix, with a state directory the alert can use
    and a hakari.conf pointing at it: (plan, conf_path, state_dir)."""
    from hakari.install import Installer, make_plan
    from hakari.state_dirs import make_state_dirs

    plan = make_plan(prefix=str(open_tmp), python=shared_python)
    Installer(plan, report=lambda _m: None).install()
    state_dir = open_tmp / "state"
    make_state_dirs(str(state_dir))
    conf = pathlib.Path(plan.under(plan.config_file))
    conf.write_text(f"[DEFAULT]\nstate_dir = {state_dir}\n\n[openstack]\ncloud = lab\n")
    return plan, conf, state_dir


def fake_hakari_command() -> str:
    return f"{sys.executable} {FAKE_HAKARI}"


def run_as(argv, user: str | None, env: dict[str, str], timeout: float = 60.0):
    kwargs = as_user(user) if user else {}
    base = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(argv, env={**base, **env}, capture_output=True, cwd="/",
                          timeout=timeout, **kwargs)


def environ_without_ocf() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("OCF_", "CIB_"))}
