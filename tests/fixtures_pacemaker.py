"""pytest fixtures for real Pacemaker clusters (the lab, lab/).

- pacemaker_lab_factory: make(name, nodes=…, ghosts=…, cib_xml=…) → a started Lab,
  every lab it made torn down at the end of the session.
- pacemaker_single: one real node1 plus ghosts node2, node3 (fenced at start-up), per module.
- pacemaker_lab3: the production shape for the whole session, three controllers and two
  Pacemaker Remote computes; pacemaker_lab3_clean is the same lab, put back to "all on,
  all cabled, fencing normal" after each test that uses it.

Labs are started and stopped by PID (lab.teardown), never by process name. Lab names carry
this session's tag, so two test sessions on one machine (or a person's `make lab-up`) never
touch each other's labs; a lab whose session was killed is removed by the next session.
Set HAKARI_LAB_KEEP_LOGS=1 to keep the daemons' logs under /var/lib/hakari-lab/<name>.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.conftest import check_marked, require_root, require_tools

LAB_TOOLS = ("corosync", "pacemakerd", "crm_mon", "cibadmin", "crm_verify",
             "corosync-quorumtool", "stonith_admin", "ip", "nsenter", "unshare")


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


SESSION_TAG = _base36(os.getpid())


def lab_name(prefix: str) -> str:
    """A lab name unique to this test session: prefix (letters/digits) + session tag."""
    return f"{prefix}{SESSION_TAG}"


def require_lab() -> None:
    check_marked("lab", "a Pacemaker lab")
    require_root()
    require_tools(*LAB_TOOLS)


def _keep_logs() -> bool:
    return os.environ.get("HAKARI_LAB_KEEP_LOGS", "") not in ("", "0")


def hakari_status(lab, node: str = "node1", fmt: str = "json", timeout: float = 30.0):
    """`python -m hakari status --format fmt` run on node; parsed JSON or text."""
    res = lab.exec(node, [sys.executable, "-m", "hakari", "status", "--format", fmt],
                   timeout=timeout, check=False)
    assert res.returncode == 0, (
        f"hakari status on {node} exited {res.returncode}: "
        f"{res.stderr.decode('utf-8', 'replace').strip()}")
    out = res.stdout.decode("utf-8", "replace")
    return json.loads(out) if fmt == "json" else out


def restore(lab, timeout: float = 60.0) -> None:
    """Back to every real node powered, cabled and joined, fencing behaving normally."""
    lab.clear_fence()
    for node in lab.real_nodes:
        if lab.is_cut(node):
            lab.heal(node)
    for node in lab.real_nodes:
        if not lab.is_on(node):
            lab.power_on(node, wait=False)
    lab.wait_ready(timeout=timeout)


@pytest.fixture(scope="session")
def pacemaker_labs():
    """Session-wide: check prerequisites, remove labs of killed sessions; start(name, …)."""
    require_lab()
    from lab import teardown
    from lab.cluster import Lab

    teardown.down_abandoned()

    def start(prefix: str, **kwargs):
        kwargs.setdefault("owner_pid", os.getpid())
        return Lab.up(lab_name(prefix), **kwargs)

    return start


@pytest.fixture(scope="session")
def pacemaker_lab_factory(pacemaker_labs):
    """make(prefix, **Lab.up kwargs) → started Lab; all torn down at session end."""
    made = []

    def make(prefix: str, **kwargs):
        lab = pacemaker_labs(prefix, **kwargs)
        made.append(lab)
        return lab

    try:
        yield make
    finally:
        for lab in reversed(made):
            lab.down(keep_logs=_keep_logs())


@pytest.fixture(scope="module")
def pacemaker_single(pacemaker_labs):
    """node1 real, node2 and node3 ghosts (votes: node1 3 of 5), stonith enabled."""
    lab = pacemaker_labs("ts", nodes=1, ghosts=2)
    try:
        yield lab
    finally:
        lab.down(keep_logs=_keep_logs())


@pytest.fixture(scope="session")
def pacemaker_lab3(pacemaker_labs):
    """Controllers node1..node3 (10.213.0.11-13) and Pacemaker Remote computes compute1,
    compute2 (.14, .15), one bridge, the lab fence device."""
    from tests.conftest import require_remoted

    require_remoted()
    lab = pacemaker_labs("t3", nodes=3, computes=2)
    try:
        yield lab
    finally:
        lab.down(keep_logs=_keep_logs())


@pytest.fixture
def pacemaker_lab3_clean(pacemaker_lab3):
    """The session's 3-node lab, whole before the test and restored after it."""
    restore(pacemaker_lab3)
    yield pacemaker_lab3
    restore(pacemaker_lab3)
