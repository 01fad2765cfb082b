"""Shared test helpers, and the test tiers (tests/README.md).

Tests that need root or Debian packages skip locally with a reason, but in CI
(CI=true) a missing prerequisite is a failure: those tests must really run there.

Every test that needs root, a Pacemaker lab or real Nova carries the marker that lets
`make test-fast` (-m "not root and not lab and not nova and not slow") leave it out, even
as root. Tests get them from the fixtures they use (MARKER_OF_FIXTURE), from their
directory (tests/e2e) or from pytestmark; require_root, require_lab and require_nova_venv
fail a test that reaches them without its marker, with root or without.
"""

from __future__ import annotations

import os
import pathlib
import shutil

import pytest

from lab import config as lab_config

pytest_plugins = ["tests.fixtures_pacemaker", "tests.fixtures_nova"]

DATA = pathlib.Path(__file__).parent / "data"
E2E = pathlib.Path(__file__).parent / "e2e"
IN_CI = os.environ.get("CI", "").lower() == "true"

# The marker a fixture gives every test that uses it, directly or through other fixtures.
MARKER_OF_FIXTURE = {
    "pacemaker_labs": "lab",
    "nova_lab": "nova",
    # runs the installed agents as hacluster and nobody
    "shared_python": "root",
}
# A Pacemaker lab runs corosync and pacemakerd in network namespaces and takes tens of
# seconds to come up; real Nova takes seconds to start and each test minutes.
IMPLIED = {"lab": ("root", "slow"), "nova": ("slow",)}

_running: pytest.Item | None = None


def pytest_collection_modifyitems(items):
    for item in items:
        has = {m.name for m in item.iter_markers()}
        needs = has | {MARKER_OF_FIXTURE[f] for f in item.fixturenames if f in MARKER_OF_FIXTURE}
        if E2E in item.path.parents:
            needs.add("lab")
        needs |= {m for name in tuple(needs) for m in IMPLIED.get(name, ())}
        for name in sorted(needs - has):
            item.add_marker(name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # The test being set up, run or torn down, for check_marked.
    global _running
    _running = item
    try:
        return (yield)
    finally:
        _running = None


def check_marked(marker: str, need: str) -> None:
    """Fail the running test if it needs `need` but does not carry `marker`: the fast run
    selects by marker, so an unmarked test would start daemons in it when run as root."""
    if _running is not None and _running.get_closest_marker(marker) is None:
        pytest.fail(f"{_running.nodeid} needs {need} but is not marked {marker!r}: add "
                    f"pytestmark = pytest.mark.{marker} or @pytest.mark.{marker} "
                    "(tests/README.md)", pytrace=False)


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI must run this test (it runs as root after make test "
                    "installed the packages)")
    pytest.skip(reason)


def require_root() -> None:
    check_marked("root", "root")
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


def require_remoted() -> None:
    """The lab's computes run Debian's pacemaker-remoted, unpacked by `make remoted`."""
    require_files(lab_config.REMOTED)


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
