"""Shared test helpers.

Tests that need root or Debian packages skip locally with a reason, but in CI
(CI=true) a missing prerequisite is a failure: those tests must really run there.
"""

from __future__ import annotations

import os
import pathlib
import shutil

import pytest

pytest_plugins = ["tests.fixtures_pacemaker", "tests.fixtures_nova"]

DATA = pathlib.Path(__file__).parent / "data"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI must run this test (it runs as root after make test "
                    "installed the packages)")
    pytest.skip(reason)


def require_root() -> None:
    if os.geteuid() != 0:
        _unavailable("needs root")


def require_tools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        _unavailable(f"needs {', '.join(missing)} (make test installs them as root)")


def require_files(*paths: str) -> None:
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        _unavailable(f"needs {', '.join(missing)} (make test installs it as root)")


@pytest.fixture
def offline_cib(tmp_path, monkeypatch):
    """make(*node_xml) -> path of an empty CIB with those <node> entries, which every
    Pacemaker tool of the test then uses (CIB_file) instead of a live cluster."""
    import subprocess

    require_tools("cibadmin", "crm_attribute")

    def make(*nodes: str) -> pathlib.Path:
        path = tmp_path / "cib.xml"
        path.write_bytes(subprocess.run(["cibadmin", "--empty"], capture_output=True,
                                        check=True, timeout=30).stdout)
        monkeypatch.setenv("CIB_file", str(path))
        for xml in nodes:
            subprocess.run(["cibadmin", "--create", "-o", "nodes", "--xml-text", xml],
                           check=True, timeout=30)
        return path

    return make


@pytest.fixture
def data_dir() -> pathlib.Path:
    return DATA


@pytest.fixture
def rename_fails(monkeypatch):
    """fail(name): from now on, renaming the directory entry ``name`` (os.rename with
    dir fds, as the spool does) fails with EIO, as on a failing disk."""
    real = os.rename
    failing: set[str] = set()

    def rename(src, dst, **kw):
        if src in failing:
            raise OSError(5, "Input/output error")
        return real(src, dst, **kw)

    monkeypatch.setattr(os, "rename", rename)
    return failing.add
