"""The alert agent end to end in-process (environment → spool file → engine's consumer
API), with real captured environments and hostile ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hakari.alerts import agent, record, spoolio
from hakari.alerts.spool import Spool, WakeSocket
from tests.agents_helpers import corpus_envs
from tests.unit.test_alert_record import FENCING, NAMES, NODE, odd_text


@pytest.fixture
def state(tmp_path):
    state_dir = tmp_path / "state"
    (state_dir / "spool").mkdir(parents=True)
    conf = tmp_path / "hakari.conf"
    conf.write_text(f"[DEFAULT]\nstate_dir = {state_dir}\n")
    return state_dir, str(conf)


def alert(env, conf):
    return agent.main({**env, "CRM_alert_recipient": conf})


def files(state_dir):
    """The events spooled (names starting with "." are the spool's own)."""
    return sorted(p.name for p in (state_dir / "spool").iterdir()
                  if p.is_file() and not p.name.startswith("."))


def test_a_cluster_event_seen_by_every_node_lands_once(state):
    state_dir, conf = state
    for node, env in corpus_envs("multinode-network-cut"):
        assert alert(env, conf) == 0, node
    pending = Spool(str(state_dir)).pending()
    kinds = [item.event.kind for item in pending]
    assert kinds.count("fencing") == 1
    # node2 lost (seen by node1 and node3), and node2's own view: node3 and node1 lost.
    assert sorted(e.event.node for e in pending if e.event.kind == "node") == \
        ["node1", "node2", "node3"]
    assert len(pending) == 8
    orders = [item.event.order for item in pending]
    assert orders == sorted(orders)
    fencing = next(item for item in pending if item.event.kind == "fencing")
    data = json.loads((state_dir / "spool" / fencing.name).read_text())
    assert data["fencing"]["ok"] and fencing.event.node == "node2"
    assert data["spooled_at"] and data["seen_on"] == os.uname().nodename


def test_files_are_complete_json_with_restrictive_modes(state):
    state_dir, conf = state
    assert alert(FENCING, conf) == 0
    (name,) = files(state_dir)
    path = state_dir / "spool" / name
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    data = json.loads(path.read_text())
    assert data["format"] == record.FORMAT and data["fencing"]["ref"] == "abff4124-2ef1-4cd8"
    assert name == record.spool_name(data["key"], "fencing")


def test_acknowledged_events_are_not_spooled_again(state):
    state_dir, conf = state
    spool = Spool(str(state_dir))
    assert alert(FENCING, conf) == 0
    (item,) = spool.pending()
    spool.ack(item.name)
    spool.ack(item.name)  # idempotent
    assert spool.pending() == []
    # The same fencing reported late by another node's recipient: still done.
    assert alert({**FENCING, "CRM_alert_timestamp_usec": "700000"}, conf) == 0
    assert spool.pending() == []
    assert (state_dir / "spool-done" / item.name).exists()


def test_events_wait_while_the_engine_is_down(state):
    state_dir, conf = state
    for i in range(5):
        env = {**NODE, "CRM_alert_timestamp_epoch": str(1795472515 + i),
               "CRM_alert_desc": "lost" if i % 2 == 0 else "member"}
        assert alert(env, conf) == 0
    pending = Spool(str(state_dir)).pending()
    assert [e.event.desc for e in pending] == ["lost", "member", "lost", "member", "lost"]


@pytest.mark.parametrize("env", [
    {k: v for k, v in FENCING.items() if k != "CRM_alert_node"},
    {**FENCING, "CRM_alert_desc": "gibberish"},
    {**FENCING, "CRM_alert_timestamp_epoch": "\x1b[31m"},
    {},
])
def test_rejected_input_writes_nothing_and_says_why_in_one_line(state, env, capsys):
    state_dir, conf = state
    assert alert(env, conf) == agent.EXIT_REJECTED
    err = capsys.readouterr().err
    assert err.startswith("hakari-alert: rejected ") and err.count("\n") == 1
    assert "\x1b" not in err
    assert os.listdir(state_dir / "spool") == []


def test_ignored_events_exit_zero_and_write_nothing(state):
    state_dir, conf = state
    env = {**NODE, "CRM_alert_kind": "attribute", "CRM_alert_attribute_name": "#feature-set",
           "CRM_alert_attribute_value": "3.16.1"}
    assert alert(env, conf) == 0
    assert alert({**NODE, "CRM_alert_kind": "future"}, conf) == 0
    assert files(state_dir) == []


def test_unusable_state_directory_is_a_failure_pacemaker_logs(state, capsys):
    state_dir, conf = state
    assert alert(FENCING, conf + ".missing") == agent.EXIT_FAILED
    assert "cannot read" in capsys.readouterr().err
    os.rmdir(state_dir / "spool")
    assert alert(FENCING, conf) == agent.EXIT_FAILED
    assert "hakari install" in capsys.readouterr().err
    (state_dir / "spool").mkdir(mode=0o777)
    os.chmod(state_dir / "spool", 0o777)
    assert alert(FENCING, conf) == agent.EXIT_FAILED
    assert "world-writable" in capsys.readouterr().err
    assert files(state_dir) == []


def test_a_full_disk_or_read_only_spool_is_reported_not_raised(state, monkeypatch, capsys):
    state_dir, conf = state

    def no_space(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    assert alert(FENCING, conf) == agent.EXIT_FAILED
    assert "No space left" in capsys.readouterr().err
    monkeypatch.undo()
    assert os.listdir(state_dir / "spool") == []  # no temporary file left behind


def test_internal_errors_never_escape(state, monkeypatch, capsys):
    _, conf = state
    monkeypatch.setattr(record, "normalize", lambda env: 1 / 0)
    assert alert(FENCING, conf) == agent.EXIT_FAILED
    assert "internal error: ZeroDivisionError" in capsys.readouterr().err


def test_the_wake_socket_hears_each_spooled_event(state):
    state_dir, conf = state
    with WakeSocket(str(state_dir), group=None) as wake:
        assert oct(os.stat(wake.path).st_mode & 0o777) == "0o660"
        assert wake.wait(0) == []
        assert alert(FENCING, conf) == 0
        (name,) = wake.wait(5)
        assert name == files(state_dir)[0]
    assert not os.path.exists(wake.path)
    # Nobody listening: the alert still succeeds.
    assert alert({**FENCING, "CRM_alert_desc": FENCING["CRM_alert_desc"].replace(
        "ref=abff", "ref=ffff")}, conf) == 0


def test_damaged_and_foreign_files_are_quarantined(state):
    state_dir, conf = state
    assert alert(FENCING, conf) == 0
    spool_dir = state_dir / "spool"
    good = files(state_dir)[0]
    (spool_dir / "notes.txt").write_text("hello")
    (spool_dir / ("node-" + "0" * 32 + ".json")).write_text("{not json")
    other = json.loads((spool_dir / good).read_text())
    other["node"] = "node9"  # content no longer matches its key
    (spool_dir / ("fencing-" + "1" * 32 + ".json")).write_text(json.dumps(other))
    (spool_dir / ("node-" + "2" * 32 + ".json")).write_bytes(b"x" * 70000)
    (spool_dir / ".tmp-in-progress").write_text("partial")
    spool = Spool(str(state_dir))
    assert [item.name for item in spool.pending()] == [good]
    assert len(spool.quarantined) == 4
    quarantine = sorted(os.listdir(state_dir / "spool-quarantine"))
    assert "notes.txt" in quarantine and "notes.txt.why" in quarantine
    assert spool.pending()[0].name == good and spool.quarantined == []


def test_prune_forgets_old_acknowledgements_and_stale_temp_files(state):
    state_dir, conf = state
    spool = Spool(str(state_dir))
    assert alert(FENCING, conf) == 0
    assert alert(NODE, conf) == 0
    first, second = spool.pending()
    spool.ack(first.name)
    tmp = state_dir / "spool" / ".tmp-x.json.1"
    tmp.write_text("")
    old = time.time() - 2 * 86400
    os.utime(tmp, (old, old))
    os.utime(state_dir / "spool-done" / first.name, (old, old))
    assert spool.prune() == 2
    assert [i.name for i in spool.pending()] == [second.name]  # pending never pruned
    assert spool.prune() == 0
    assert spool.prune(now=time.time() + 8 * 86400, pending_max_age=7 * 86400) == 1
    assert spool.pending() == []


def test_the_agent_prunes_its_own_spool_at_most_every_interval(state):
    """A node that never runs the engine spools every alert it runs, and nobody reads
    them: its alerts forget the old ones themselves, cheaply."""
    state_dir, conf = state
    spool = Spool(str(state_dir))
    assert alert(FENCING, conf) == 0                 # prunes (nothing yet), marks the time
    mark = state_dir / "spool" / spoolio.PRUNE_MARK
    assert mark.exists()
    [old] = files(state_dir)
    tmp = state_dir / "spool" / ".tmp-x.json.1"
    tmp.write_text("")
    long_ago = time.time() - spoolio.PENDING_MAX_AGE - 60
    for path in (state_dir / "spool" / old, tmp):
        os.utime(path, (long_ago, long_ago))
    env = dict(NODE)
    assert alert(env, conf) == 0                     # pruned less than PRUNE_EVERY ago
    assert old in files(state_dir) and tmp.exists()
    due = time.time() - spoolio.PRUNE_EVERY - 1
    os.utime(mark, (due, due))
    assert alert({**NODE, "CRM_alert_timestamp_epoch": "1795472599"}, conf) == 0
    assert old not in files(state_dir) and not tmp.exists()
    assert len(spool.pending()) == 2 and spool.quarantined == []
    # An engine reading meanwhile takes a file gone between its listing and its read,
    # or its acknowledgement, as handled: no error, nothing quarantined.
    [first, second] = spool.pending()
    os.unlink(state_dir / "spool" / first.name)
    spool.ack(first.name)
    assert spool.stuck == {} and [i.name for i in spool.pending()] == [second.name]


def test_a_failing_prune_never_fails_the_alert(state, monkeypatch, capsys):
    state_dir, conf = state

    def fails(spool, now):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(spoolio, "prune_if_due", fails)
    assert alert(FENCING, conf) == 0
    assert len(files(state_dir)) == 1
    assert capsys.readouterr().err.startswith("hakari-alert: cannot prune ")


def test_long_attribute_values_round_trip(state):
    state_dir, conf = state
    env = {**NODE, "CRM_alert_kind": "attribute", "CRM_alert_attribute_name": "hakari-note",
           "CRM_alert_attribute_value": "v" * record.MAX_VALUE}
    assert alert(env, conf) == 0
    spool = Spool(str(state_dir))
    (item,) = spool.pending()
    assert item.event.kind == "attribute" and spool.quarantined == []
    data = json.loads((state_dir / "spool" / item.name).read_text())
    assert data["attribute"]["value"] == "v" * record.MAX_VALUE


def test_concurrent_copies_of_one_event_land_once(state, tmp_path):
    state_dir, conf = state
    env = {**os.environ, **FENCING, "CRM_alert_recipient": conf}
    procs = [subprocess.Popen([sys.executable, "-m", "hakari.alerts.agent"], env=env)
             for _ in range(8)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 8
    assert len(files(state_dir)) == 1


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(NAMES), odd_text, max_size=len(NAMES)))
def test_fuzzed_environments_exit_cleanly_and_write_only_valid_events(state, raw):
    state_dir, conf = state
    env = {f"CRM_alert_{k}": v for k, v in raw.items()}
    env["CRM_alert_recipient"] = conf
    before = set(files(state_dir))
    rc = agent.main(env)
    assert rc in (0, 2)
    new = set(files(state_dir)) - before
    if rc != 0:
        assert not new
    spool = Spool(str(state_dir))
    spool.pending()
    assert spool.quarantined == []
    assert not any(n.startswith(".") for n in os.listdir(state_dir / "spool"))


def _within(seconds, fn, *args):
    """fn(*args) in a thread; its result, or a failure if it has not returned in time
    (a FIFO opened without O_NONBLOCK never returns)."""
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("r", fn(*args)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"{fn.__name__} hung"
    return box.get("r")


def test_root_never_follows_or_opens_what_hacluster_plants(state, tmp_path):
    """hacluster owns spool/: whatever it puts there (links to root's files or
    directories, FIFOs, directories) is never followed, opened, written or deleted
    through; it is moved aside and the scan goes on."""
    state_dir, conf = state
    spool_dir = state_dir / "spool"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "old.json").write_text("keep me")
    (victim / "profile.sh").write_text("original")
    old = time.time() - 30 * 86400
    os.utime(victim / "old.json", (old, old))
    before = {p.name: p.read_text() for p in victim.iterdir()}
    # Where root's own directories used to be, and spool-like names for links and FIFOs.
    for name in ("done", "quarantine", "spool-done", "spool-quarantine"):
        (spool_dir / name).symlink_to(victim)
    (spool_dir / ("node-" + "a" * 32 + ".json")).symlink_to(victim / "profile.sh")
    (spool_dir / "profile.sh").write_text("hacluster's payload")
    fifo = "fencing-" + "b" * 32 + ".json"
    os.mkfifo(spool_dir / fifo)
    (spool_dir / ("resource-" + "c" * 32 + ".json")).mkdir()
    (spool_dir / ".tmp-x").symlink_to(victim / "old.json")
    assert alert(FENCING, conf) == 0
    spool = Spool(str(state_dir))

    items = _within(10, spool.pending)
    assert [i.event.kind for i in items] == ["fencing"]
    spool.ack(items[0].name)
    assert _within(10, spool.prune, time.time() + 90 * 86400) >= 1
    assert {p.name: p.read_text() for p in victim.iterdir()} == before
    quarantined = set(os.listdir(state_dir / "spool-quarantine"))
    assert {fifo, "profile.sh", "done", "node-" + "a" * 32 + ".json"} <= quarantined
    assert (state_dir / "spool-quarantine" / "done").is_symlink()
    assert "root" not in (state_dir / "spool-quarantine" / f"{fifo}.why").read_text()
    # Nothing root owns lives inside the directory hacluster owns.
    assert not {spool.done_dir, spool.quarantine_dir} & {
        str(p) for p in spool_dir.iterdir()}


def test_an_entry_that_cannot_be_moved_is_reported_and_the_scan_goes_on(
        state, monkeypatch, rename_fails):
    state_dir, conf = state
    assert alert(FENCING, conf) == 0
    assert alert(NODE, conf) == 0
    (state_dir / "spool" / "garbage").write_text("x")
    rename_fails("garbage")
    spool = Spool(str(state_dir))
    assert len(spool.pending()) == 2
    assert "Input/output error" in spool.stuck["garbage"]
    monkeypatch.undo()
    assert len(spool.pending()) == 2 and spool.stuck == {}
    assert [q.name for q in spool.quarantined] == ["garbage"]
