"""Real Pacemaker delivers alerts to the installed hakari alert agent, on the production
shape: three controllers and a Pacemaker Remote compute. The alert as hakari renders it
(select, timestamp format, recipient = hakari.conf), run by Pacemaker as hacluster on
each controller, lands each event in that controller's own spool (its /var/lib/hakari,
named in its own /etc/hakari/…conf), wakes a listening engine, and keeps its own spool
pruned: no engine ever reads the spools of the controllers it does not run on."""

from __future__ import annotations

import json
import os
import pathlib
import pwd
import shutil
import tempfile
import time

import pytest

from hakari.alerts import spoolio
from hakari.alerts.spool import Spool, WakeSocket
from tests.agents_helpers import shared_python  # noqa: F401 - fixture
from tests.conftest import require_remoted

CONF = "/etc/hakari/alert-live.conf"  # each node's own
STATE = "/var/lib/hakari"


def alert_xml(launcher: str, conf: str) -> str:
    """The alert from hakari's templates, with the launcher's path for this test."""
    from hakari.cluster_config.render import environment

    template = environment().from_string(
        "{% import '_macros.j2' as m %}{{ m.alert_xml(cluster) }}")
    xml = template.render(cluster={"hakari_conf_path": conf})
    assert 'path="/usr/libexec/hakari/alert"' in xml
    return xml.replace('path="/usr/libexec/hakari/alert"', f'path="{launcher}"')


@pytest.fixture(scope="module")
def live(pacemaker_lab_factory, shared_python):  # noqa: F811
    from hakari.install import Installer, make_plan
    from hakari.state_dirs import make_state_dirs

    require_remoted()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="hakari-live-", dir="/tmp"))
    tmp.chmod(0o755)
    lab = None
    try:
        plan = make_plan(prefix=str(tmp), python=shared_python)
        Installer(plan, report=lambda _m: None).install()
        launcher = plan.under("/usr/libexec/hakari/alert")
        lab = pacemaker_lab_factory("tal", nodes=3, computes=1)
        # What a deployment puts on every machine: its own configuration and state.
        for node in lab.real_nodes:
            with open(lab.inside(node, CONF), "w") as f:
                f.write(f"[DEFAULT]\nstate_dir = {STATE}\n")
            os.chmod(lab.inside(node, CONF), 0o644)
            make_state_dirs(lab.inside(node, STATE))
        lab.exec("node1", ["cibadmin", "--modify", "--allow-create", "-o", "configuration",
                           "--xml-text", "<configuration><alerts>"
                           f"{alert_xml(launcher, CONF)}</alerts></configuration>"],
                 timeout=60)
        yield lab
    finally:
        if lab is not None:
            lab.down()
        shutil.rmtree(tmp, ignore_errors=True)


def spool_dir(lab, node: str) -> str:
    return os.path.join(lab.inside(node, STATE), "spool")


def wait_for_event(spool: Spool, predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        for item in spool.pending():
            if predicate(item.event):
                return item
        assert time.monotonic() < deadline, \
            f"no such event; spool has {[i.event.key for i in spool.pending()]}"
        time.sleep(0.1)


def test_a_fencing_result_reaches_every_controllers_own_spool_and_wakes_the_engine(live):
    lab = live
    spools = {n: Spool(lab.inside(n, STATE)) for n in lab.controllers}
    with WakeSocket(lab.inside("node1", STATE)) as wake:
        wake.drain()
        lab.exec("node1", ["stonith_admin", "--fence", "compute1"], timeout=60)
        items = {n: wait_for_event(s, lambda e: e.kind == "fencing" and e.node == "compute1"
                                   and "Operation off of compute1" in (e.desc or ""))
                 for n, s in spools.items()}
        names = wake.wait(10) + wake.drain()
    # One event, one name on every controller (its dedupe key), each in its own spool.
    assert len({i.name for i in items.values()}) == 1
    item = items["node1"]
    records = {n: json.loads(open(os.path.join(spool_dir(lab, n), i.name)).read())
               for n, i in items.items()}
    assert {r["seen_on"] for r in records.values()} == set(lab.controllers)
    fencing = records["node1"]
    assert fencing["fencing"]["ok"] and fencing["rc"] == 0
    assert fencing["fencing"]["action"] == "off"
    assert fencing["fencing"]["origin"] == "node1" and fencing["fencing"]["client"].startswith(
        "stonith_admin.")
    assert fencing["pacemaker_version"] and item.event.epoch > 1_600_000_000
    assert item.name in names
    assert all(s.quarantined == [] for s in spools.values())
    # Pacemaker ran it as hacluster: the spool file is hacluster's.
    owner = os.stat(os.path.join(spool_dir(lab, "node1"), item.name)).st_uid
    assert pwd.getpwuid(owner).pw_name == "hacluster"
    # A remote compute runs no alerts: nothing reached its own spool.
    assert not [n for n in os.listdir(spool_dir(lab, "compute1")) if not n.startswith(".")]


def spooled(lab, node: str) -> set[str]:
    spool = spool_dir(lab, node)
    return {n for n in os.listdir(spool) if not n.startswith(".")
            and os.path.isfile(os.path.join(spool, n))}


def fence(lab, target: str) -> None:
    lab.exec("node1", ["stonith_admin", "--fence", target, "--timeout", "20"], timeout=60,
             check=False)


def test_every_controller_prunes_its_own_spool(live):
    """Nothing consumes the spools of controllers without the engine: the alert agent
    prunes each itself. Many alerts go in (failed fencings: every controller runs the
    fencing alerts); then the spools are aged past spoolio.PENDING_MAX_AGE, their last
    pruning past spoolio.PRUNE_EVERY (as hours would have passed), and the next alert on
    each controller removes what is old there."""
    lab = live
    controllers = lab.controllers
    before = {n: spooled(lab, n) for n in controllers}
    lab.set_fence("compute1", fail=True)
    try:
        for _ in range(12):
            fence(lab, "compute1")
    finally:
        lab.clear_fence()
    deadline = time.monotonic() + 30
    while any(len(spooled(lab, n) - before[n]) < 12 for n in controllers):
        assert time.monotonic() < deadline, {n: len(spooled(lab, n)) for n in controllers}
        time.sleep(0.2)
    many = {n: spooled(lab, n) for n in controllers}
    print("spooled per controller:", {n: len(v) for n, v in many.items()})

    old = time.time() - spoolio.PENDING_MAX_AGE - 60
    for node in controllers:
        spool = spool_dir(lab, node)
        for name in many[node]:
            os.utime(os.path.join(spool, name), (old, old))
        mark = os.path.join(spool, spoolio.PRUNE_MARK)
        if os.path.exists(mark):
            then = time.time() - spoolio.PRUNE_EVERY - 60
            os.utime(mark, (then, then))
    fence(lab, "compute1")
    deadline = time.monotonic() + 30
    while any(spooled(lab, n) & many[n] or not spooled(lab, n) for n in controllers):
        assert time.monotonic() < deadline, {
            n: len(spooled(lab, n) & many[n]) for n in controllers}
        time.sleep(0.2)
    for node in controllers:
        # The old ones went; the alert that pruned them is there, fresh.
        left = spooled(lab, node)
        assert left and not left & many[node], (node, left)
        mark = os.path.join(spool_dir(lab, node), spoolio.PRUNE_MARK)
        assert time.time() - os.stat(mark).st_mtime < 30, node
