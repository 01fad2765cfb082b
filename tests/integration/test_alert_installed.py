"""The installed alert launcher, run as Pacemaker runs it: as hacluster, a fresh process
per event, with real captured environments and with hostile ones (raw bytes)."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys

import pytest

from hakari.alerts.spool import Spool
from tests.agents_helpers import (  # noqa: F401 - fixtures
    as_user, corpus_envs, installed, open_tmp, shared_python)
from tests.unit.test_alert_record import FENCING


def run_alert(plan, env, user="hacluster"):
    launcher = plan.under("/usr/libexec/hakari/alert")
    return subprocess.run([launcher], env=env, capture_output=True, timeout=60, cwd="/",
                          **as_user(user))


def test_real_environments_from_three_nodes_land_once_each(installed):  # noqa: F811
    plan, conf, state_dir = installed
    for node, env in corpus_envs("multinode-crash-node1"):
        res = run_alert(plan, {**env, "CRM_alert_recipient": str(conf)})
        assert res.returncode == 0 and res.stderr == b"", (node, res.stderr)
    pending = Spool(str(state_dir)).pending()
    by_kind = {}
    for item in pending:
        by_kind.setdefault(item.event.kind, []).append(item.event)
    assert len(by_kind["fencing"]) == 1 and ": OK (ref=" in by_kind["fencing"][0].desc
    assert [e.node for e in by_kind["node"]] == ["node1"]
    uid = pwd.getpwnam("hacluster").pw_uid
    for item in pending:
        st = os.stat(state_dir / "spool" / item.name)
        assert st.st_uid == uid and st.st_mode & 0o777 == 0o640


def test_others_cannot_write_the_spool(installed):  # noqa: F811
    plan, conf, state_dir = installed
    res = run_alert(plan, {**FENCING, "CRM_alert_recipient": str(conf)}, user="nobody")
    assert res.returncode == 1
    assert res.stderr.decode().startswith("hakari-alert: cannot spool fencing alert:")
    assert os.listdir(state_dir / "spool") == []


HOSTILE = [
    {},
    {b"CRM_alert_kind": b"fencing"},
    {**{k.encode(): v.encode() for k, v in FENCING.items()}, b"CRM_alert_node": b"node\xff2"},
    {**{k.encode(): v.encode() for k, v in FENCING.items()},
     b"CRM_alert_desc": b"Operation " + b"\xc3\x28" * 50000},
    {**{k.encode(): v.encode() for k, v in FENCING.items()},
     b"CRM_alert_timestamp_epoch": b"1795472516\x1b[2J"},
    {**{k.encode(): v.encode() for k, v in FENCING.items()},
     b"CRM_alert_recipient": b"../../etc/shadow"},
    {**{k.encode(): v.encode() for k, v in FENCING.items()},
     b"CRM_alert_recipient": b"/etc/shadow"},
    {b"CRM_alert_kind": b"node", b"CRM_alert_node": b"x" * 120000},
]


@pytest.mark.parametrize("env", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_environments_get_one_line_and_a_defined_exit(installed, env):  # noqa: F811
    plan, conf, state_dir = installed
    if b"CRM_alert_recipient" not in env:
        env = {**env, b"CRM_alert_recipient": str(conf).encode()}
    res = run_alert(plan, env)
    err = res.stderr.decode("utf-8", "replace")
    assert res.returncode in (1, 2), err
    assert err.startswith("hakari-alert: ") and err.count("\n") == 1 and len(err) < 500
    assert "Traceback" not in err and "root:" not in err
    assert os.listdir(state_dir / "spool") == []


def test_the_cli_entry_point_is_the_same_agent(installed):  # noqa: F811
    plan, conf, state_dir = installed
    env = {**os.environ, **FENCING}
    env.pop("CRM_alert_recipient")
    res = subprocess.run([sys.executable, "-m", "hakari", "--config-file", str(conf),
                          "alert"], env=env, capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    (item,) = Spool(str(state_dir)).pending()
    assert item.event.key == '["fencing","ref=abff4124-2ef1-4cd8"]'
