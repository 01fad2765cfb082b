"""Real Pacemaker delivers alerts to the installed hakari alert agent: the alert as
hakari renders it (select, timestamp format, recipient = hakari.conf), run by Pacemaker
as hacluster, lands fencing results in the spool and wakes a listening engine."""

from __future__ import annotations

import json
import pathlib
import shutil
import tempfile
import time

import pytest

from hakari.alerts.spool import Spool, WakeSocket
from tests.agents_helpers import shared_python  # noqa: F401 - fixture


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

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="hakari-live-", dir="/tmp"))
    tmp.chmod(0o755)
    try:
        plan = make_plan(prefix=str(tmp), python=shared_python)
        Installer(plan, report=lambda _m: None).install()
        state_dir = tmp / "state"
        make_state_dirs(str(state_dir))
        conf = pathlib.Path(plan.under(plan.config_file))
        conf.write_text(f"[DEFAULT]\nstate_dir = {state_dir}\n")
        launcher = plan.under("/usr/libexec/hakari/alert")
        lab = pacemaker_lab_factory("tal", nodes=1, ghosts=2,
                                    cib_xml=[alert_xml(launcher, str(conf))])
        yield lab, state_dir
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def wait_for_event(spool: Spool, predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        for item in spool.pending():
            if predicate(item.event):
                return item
        assert time.monotonic() < deadline, \
            f"no such event; spool has {[i.event.key for i in spool.pending()]}"
        time.sleep(0.1)


def spooled(state_dir, item) -> dict:
    """The record as the alert agent spooled it (the engine reads less of it)."""
    return json.loads((state_dir / "spool" / item.name).read_text())


def test_a_fencing_result_reaches_the_spool_and_wakes_the_engine(live):
    lab, state_dir = live
    spool = Spool(str(state_dir))
    # Start-up fencing of the ghosts was delivered too.
    wait_for_event(spool, lambda e: e.kind == "fencing" and e.node == "node2")
    with WakeSocket(str(state_dir)) as wake:
        wake.drain()
        lab.exec("node1", ["stonith_admin", "--fence", "node3"], timeout=60)
        item = wait_for_event(spool, lambda e: e.kind == "fencing" and e.node == "node3"
                              and "Operation off of node3" in (e.desc or ""))
        names = wake.wait(10) + wake.drain()
    fencing = spooled(state_dir, item)
    assert fencing["fencing"]["ok"] and fencing["rc"] == 0
    assert fencing["fencing"]["action"] == "off"
    assert fencing["fencing"]["origin"] == "node1" and fencing["fencing"]["client"].startswith(
        "stonith_admin.")
    assert fencing["pacemaker_version"] and item.event.epoch > 1_600_000_000
    assert item.name in names
    assert spool.quarantined == []
    # Pacemaker ran it as hacluster: the spool file is hacluster's.
    import pwd
    owner = (state_dir / "spool" / item.name).stat().st_uid
    assert pwd.getpwuid(owner).pw_name == "hacluster"
