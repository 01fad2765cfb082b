"""Recovery ownership through the real cibadmin, on an offline CIB (CIB_file)."""

import datetime as dt
import os
import shlex
import shutil
import threading
import time

import pytest
from lxml import etree

from hakari.cluster import ownership
from hakari.cluster.ownership import OwnedElsewhere, Owner, OwnershipError, OwnershipLost
from hakari.cluster.runner import run
from hakari.cluster.xml import parse_xml
from hakari.errors import ClusterNotConnected, HakariError, ToolNotFound, ToolTimeout
from tests.conftest import require_tools
from tests.fake_tools import fake_tool, path_with, shell_tool
from tests.fixtures_nova import wait_for
from tests.unit.test_ownership_value import ODD_HOSTS

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 1, 2, 12, 3, 4, tzinfo=UTC)
STALE = 60.0
HOST = "compute3"


def op(by: str, pid: int, at: dt.datetime = T0) -> Owner:
    return Owner.start("operator", by, pid=pid, now=at)


def engine(node: str, pid: int, at: dt.datetime = T0) -> Owner:
    return Owner.start("engine", node, pid=pid, now=at)


def later(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def acquire(owner: Owner, at: dt.datetime = T0, host: str = HOST) -> Owner:
    return ownership.acquire(host, owner, timeout=30, stale_after=STALE, now=at)


def crm_config(cib) -> etree._Element:
    return parse_xml(cib.read_bytes(), "CIB", ("cib",)).find("configuration/crm_config")


def put_raw(host: str, nvpair_xml: str) -> None:
    """A record hakari did not write (hand-edited, or damaged)."""
    rid = ownership.record_id(host)
    run(["cibadmin", "--create", "--scope", "crm_config", "--xml-text",
         f'<cluster_property_set id="{rid}">{nvpair_xml}</cluster_property_set>'])


@pytest.fixture
def cib(offline_cib):
    return offline_cib()


def test_acquire_on_an_empty_cib_records_the_owner(cib):
    me = op("alice@node2", 4242)
    got = acquire(me, later(5))
    assert got == Owner("operator", "alice@node2", 4242, T0, later(5))
    assert ownership.read(HOST) == got
    (record,) = crm_config(cib)
    assert record.tag == "cluster_property_set"
    assert record.get("id") == ownership.record_id(HOST)
    assert record.find("nvpair").get("value") == got.to_value()


def test_read_of_nobody_is_none(cib):
    assert ownership.read(HOST) is None
    assert ownership.release(HOST, op("alice@node2", 1)) is False


def test_second_owner_is_refused_naming_who_where_since(cib):
    holder = acquire(op("alice@node2", 4242), later(10))
    with pytest.raises(OwnedElsewhere) as caught:
        acquire(op("bob@node3", 7), later(20))
    assert str(caught.value) == (
        "compute3 is being recovered by operator alice@node2 (pid 4242) since "
        "2026-01-02 12:03:04Z (last seen 2026-01-02 12:03:14Z)")
    assert caught.value.owner == holder
    with pytest.raises(OwnedElsewhere, match="by operator alice@node2"):
        acquire(engine("node1", 99), later(20))
    assert ownership.read(HOST) == holder


def test_engine_is_refused_while_an_operator_holds_and_vice_versa(cib):
    acquire(engine("node1", 10))
    with pytest.raises(OwnedElsewhere, match="by the engine on node1 \\(pid 10\\)"):
        acquire(op("alice@node1", 10), later(1))


def test_engine_instances_are_one_owner_across_failover(cib):
    first = acquire(engine("node1", 100))
    successor = acquire(engine("node2", 200, later(30)), later(30))
    assert ownership.read(HOST) == successor
    # The predecessor, should it still run, must learn that it no longer holds the host.
    with pytest.raises(OwnershipLost, match="now held by the engine on node2 \\(pid 200\\)"):
        ownership.refresh(HOST, first, now=later(31))
    assert ownership.release(HOST, first) is False
    assert ownership.read(HOST) == successor


def test_operator_reenters_only_as_the_same_process(cib):
    first = acquire(op("alice@node2", 4242))
    again = acquire(op("alice@node2", 4242, later(5)), later(5))
    assert again.since == later(5) and ownership.read(HOST) == again
    for other in (op("alice@node2", 4243), op("alice@node3", 4242), engine("node2", 4242)):
        with pytest.raises(OwnedElsewhere):
            acquire(other, later(6))
    assert ownership.read(HOST) == again != first


def test_stale_record_is_taken_over_only_once_stale(cib):
    acquire(op("alice@node2", 4242))
    with pytest.raises(OwnedElsewhere):
        acquire(op("bob@node3", 7), later(STALE))
    taker = acquire(op("bob@node3", 7), later(STALE + 1))
    assert ownership.read(HOST) == taker


def test_release_is_idempotent_and_never_removes_another_owners_record(cib):
    alice = acquire(op("alice@node2", 4242))
    assert ownership.release(HOST, op("bob@node3", 7)) is False
    # Same process, but a holding that started at another time: not this record.
    assert ownership.release(HOST, op("alice@node2", 4242, later(1))) is False
    assert ownership.read(HOST) == alice
    bob = acquire(op("bob@node3", 7), later(STALE + 1))
    assert ownership.release(HOST, alice) is False
    assert ownership.read(HOST) == bob
    assert ownership.release(HOST, bob) is True
    assert ownership.read(HOST) is None and len(crm_config(cib)) == 0
    assert ownership.release(HOST, bob) is False


def test_refresh_moves_the_stamp_and_keeps_the_owner(cib):
    held = acquire(op("alice@node2", 4242))
    fresh = ownership.refresh(HOST, held, now=later(20))
    assert fresh.refreshed == later(20) and fresh.since == T0
    assert ownership.read(HOST) == fresh
    # Keeps a late taker out for stale_after from the refresh, not from the start.
    with pytest.raises(OwnedElsewhere):
        acquire(op("bob@node3", 7), later(STALE + 10))


def test_refresh_adopts_a_write_whose_answer_was_lost(cib):
    held = acquire(op("alice@node2", 4242))
    ownership.refresh(HOST, held, now=later(20))
    # The caller never saw the answer above and still holds the older value.
    assert ownership.refresh(HOST, held, now=later(40)).refreshed == later(40)
    assert ownership.release(HOST, held) is True


def test_refresh_after_losing_ownership_raises(cib):
    alice = acquire(op("alice@node2", 4242))
    acquire(op("bob@node3", 7), later(STALE + 1))
    with pytest.raises(OwnershipLost, match="^compute3: lost the ownership of its recovery: "
                       "it is now held by operator bob@node3 \\(pid 7\\)$"):
        ownership.refresh(HOST, alice, now=later(STALE + 2))
    ownership.release(HOST, ownership.read(HOST))
    with pytest.raises(OwnershipLost, match="its record is gone"):
        ownership.refresh(HOST, alice, now=later(STALE + 3))
    assert ownership.read(HOST) is None


@pytest.mark.parametrize("nvpair", [
    '<nvpair id="{rid}-v" name="hakari-owner" value="not json"/>',
    '<nvpair id="{rid}-v" name="hakari-owner" value="it&apos;s &quot;junk&quot;"/>',
    '<nvpair id="{rid}-v" name="hakari-owner" value="{long}"/>',
    '<nvpair id="{rid}-v" name="hakari-owner"/>',
    '<nvpair id="{rid}-other" name="hakari-owner" value="x"/>',
])
def test_unreadable_record_is_reported_then_taken_over(cib, nvpair):
    rid = ownership.record_id(HOST)
    put_raw(HOST, nvpair.format(rid=rid, long="x" * 5000))
    with pytest.raises(ownership.UnreadableOwner, match=f"^compute3: unreadable ownership "
                       f"record {rid} in the CIB \\(.+\\)$"):
        ownership.read(HOST)
    me = acquire(op("alice@node2", 4242))
    assert ownership.read(HOST) == me
    (record,) = crm_config(cib)
    assert [n.get("value") for n in record] == [me.to_value()]


def test_a_newer_writers_record_is_respected(cib):
    value = op("bob@node3", 7, later(30)).to_value()[:-1] + ',"incident":"x"}'
    put_raw(HOST, f'<nvpair id="{ownership.record_id(HOST)}-v" name="hakari-owner" '
                  f'value="{value.replace(chr(34), "&quot;")}"/>')
    with pytest.raises(OwnedElsewhere, match="bob@node3"):
        acquire(op("alice@node2", 4242), later(31))


@pytest.mark.slow
def test_odd_host_names_give_valid_distinct_records(cib):
    require_tools("crm_verify")
    run(["cibadmin", "--create", "--scope", "crm_config", "--xml-text",
         '<cluster_property_set id="cib-bootstrap-options"><nvpair '
         'id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" '
         'value="false"/></cluster_property_set>'])
    owners = {}
    for i, host in enumerate(ODD_HOSTS, start=1):
        # cibadmin validates every change against the schema, IDs included.
        owners[host] = acquire(op("alice@node2", i), host=host)
    for host, owner in owners.items():
        assert ownership.read(host) == owner
    ids = [s.get("id") for s in crm_config(cib)]
    assert len(set(ids)) == len(ODD_HOSTS) + 1
    verify = run(["crm_verify", "--xml-file", str(cib), "-V"], timeout=60)
    assert "hakari" not in verify.stderr
    for host, owner in owners.items():
        assert ownership.release(host, owner) is True
    assert [s.get("id") for s in crm_config(cib)] == ["cib-bootstrap-options"]


@pytest.fixture
def serialized(cib, tmp_path, monkeypatch):
    """cibadmin that applies one operation at a time, as the cluster's CIB manager does.

    An offline CIB file has no locking of its own: two concurrent cibadmin processes
    may both read the old file and both "succeed". Each query lingers after it has
    answered, so that racing takers have all read before any of them writes. Returns
    the log of operations, in the order they were applied.
    """
    require_tools("flock")
    real = shutil.which("cibadmin")
    log = tmp_path / "ops.log"
    lock = tmp_path / "cib.lock"
    bindir = tmp_path / "serial-bin"
    shell_tool(bindir, "cibadmin", "\n".join([
        f"LOG={shlex.quote(str(log))} REAL={shlex.quote(real)}; export LOG REAL",
        f"flock {shlex.quote(str(lock))} "
        + 'sh -c \'echo "$1" >> "$LOG"; exec "$REAL" "$@"\' sh "$@"',
        "rc=$?",
        'if [ "$1" = --query ]; then sleep 0.15; fi',
        "exit $rc",
    ]))
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return log


def race(takers: list[Owner], at: dt.datetime) -> tuple[list[Owner], list[HakariError]]:
    won, refused = [], []
    barrier = threading.Barrier(len(takers))

    def take(me: Owner) -> None:
        barrier.wait()
        try:
            won.append(acquire(me, at))
        except HakariError as err:
            refused.append(err)

    threads = [threading.Thread(target=take, args=(me,)) for me in takers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return won, refused


@pytest.mark.slow
def test_concurrent_takers_of_a_stale_record_have_exactly_one_winner(serialized):
    rounds, read_together = 8, 0
    for n in range(rounds):
        at = later(1000 * (n + 1))
        ghost = acquire(op("ghost@node9", 1, at - dt.timedelta(hours=1)),
                        at - dt.timedelta(hours=1))
        serialized.write_text("")
        takers = [op(f"taker{i}@node{i}", 100 + i, at) for i in range(3)]
        won, refused = race(takers, at)
        assert len(won) == 1, (won, refused)
        assert len(refused) == 2 and all(isinstance(e, OwnedElsewhere) for e in refused)
        assert all(e.owner == won[0] for e in refused)
        assert ownership.read(HOST) == won[0]
        assert ownership.release(HOST, ghost) is False
        ops = serialized.read_text().split()
        if ops[:3] == ["--query"] * 3:
            read_together += 1
        assert ownership.release(HOST, won[0]) is True
    # The lingering queries must really have made the takers collide.
    assert read_together >= rounds // 2


@pytest.mark.slow
def test_concurrent_takers_of_a_free_host_have_exactly_one_winner(serialized):
    for n in range(8):
        at = later(n)
        won, refused = race([op("alice@node2", 1, at), engine("node1", 2, at)], at)
        assert len(won) == 1 and len(refused) == 1, (won, refused)
        assert isinstance(refused[0], OwnedElsewhere)
        assert ownership.read(HOST) == won[0]
        ownership.release(HOST, won[0])


# Slow, and kept out of make test-fast's parallel run: its refresh thread rewrites the CIB
# file ten times a second, and under that load a cibadmin reading the file mid-write
# fails ("does not conform to the schema"); a live CIB daemon serializes access.
@pytest.mark.slow
def test_owning_refreshes_in_the_background_and_releases(cib):
    me = Owner.start("operator", "alice@node2", pid=4242)
    with ownership.owning(HOST, me, timeout=10, stale_after=30, refresh_every=0.1) as held:
        first = ownership.read(HOST)
        assert first.since == me.since
        fresh = wait_for(lambda: (o := ownership.read(HOST)).refreshed > first.refreshed
                         and o, timeout=10, interval=0.05, what="a refresh")
        assert fresh.since == me.since
        wait_for(lambda: held.owner.refreshed >= fresh.refreshed, timeout=10,
                 interval=0.05, what="the holding to follow")
        held.check()
        with pytest.raises(OwnedElsewhere):
            acquire(op("bob@node3", 7, fresh.refreshed), fresh.refreshed)
    assert ownership.read(HOST) is None
    assert not any(t.name.startswith("hakari-owner-") for t in threading.enumerate())


def test_owning_releases_when_the_block_fails(cib):
    with pytest.raises(KeyError):
        with ownership.owning(HOST, op("alice@node2", 4242), stale_after=30,
                              refresh_every=5):
            raise KeyError("boom")
    assert ownership.read(HOST) is None


def test_owning_reports_a_lost_ownership(cib):
    with pytest.raises(OwnershipLost, match="compute3: lost the ownership"):
        with ownership.owning(HOST, op("alice@node2", 4242), stale_after=30,
                              refresh_every=0.1) as held:
            # Someone removes the record by hand.
            run(["cibadmin", "--delete", "--xpath",
                 f"//cluster_property_set[@id='{ownership.record_id(HOST)}']"])
            wait_for(lambda: held.lost is not None, timeout=10, interval=0.05,
                     what="the loss to be noticed")
            with pytest.raises(OwnershipLost):
                held.check()
    assert ownership.read(HOST) is None


def test_owning_refuses_a_held_host(cib):
    acquire(engine("node1", 10), dt.datetime.now(UTC))
    with pytest.raises(OwnedElsewhere):
        with ownership.owning(HOST, op("alice@node2", 4242), stale_after=30):
            pytest.fail("must not run")
    with pytest.raises(ValueError, match="refresh_every"):
        with ownership.owning(HOST, op("alice@node2", 4242), stale_after=30,
                              refresh_every=30):
            pytest.fail("must not run")


@pytest.mark.parametrize("call", [
    lambda: ownership.read(HOST, timeout=0.5),
    lambda: ownership.acquire(HOST, op("alice@node2", 1), timeout=0.5, stale_after=STALE),
    lambda: ownership.refresh(HOST, op("alice@node2", 1), timeout=0.5),
    lambda: ownership.release(HOST, op("alice@node2", 1), timeout=0.5),
])
def test_a_hanging_cibadmin_is_a_timeout_error(tmp_path, monkeypatch, call):
    fake_tool(tmp_path / "bin", "cibadmin", sleep=30)
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin"))
    started = time.monotonic()
    with pytest.raises(ToolTimeout, match="^cibadmin: no answer within 0.5s, killed$"):
        call()
    assert time.monotonic() - started < 5


def test_a_missing_cibadmin_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", path_with(tmp_path / "empty"))
    with pytest.raises(ToolNotFound, match="^cibadmin: command not found"):
        ownership.acquire(HOST, op("alice@node2", 1), stale_after=STALE)


def test_no_cluster_is_not_connected_not_no_record(tmp_path, monkeypatch):
    require_tools("cibadmin")
    # With CIB_file, a missing file is how cibadmin fails to connect (exit 105).
    monkeypatch.setenv("CIB_file", str(tmp_path / "missing.xml"))
    with pytest.raises(ClusterNotConnected, match="^cibadmin: not connected to the "
                       "cluster: Could not connect to the CIB"):
        ownership.read(HOST)
    with pytest.raises(ClusterNotConnected):
        ownership.acquire(HOST, op("alice@node2", 1), stale_after=STALE)


def test_a_disconnected_live_cluster_is_not_connected(tmp_path, monkeypatch):
    fake_tool(tmp_path / "bin", "cibadmin", rc=102,
              stderr="Could not connect to the CIB: Transport endpoint is not connected\n")
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin"))
    with pytest.raises(ClusterNotConnected, match="not connected to the cluster"):
        ownership.release(HOST, op("alice@node2", 1))


def test_garbage_from_cibadmin_is_a_one_line_error(tmp_path, monkeypatch):
    fake_tool(tmp_path / "bin", "cibadmin", stdout=b"<nodes/>")
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin"))
    with pytest.raises(HakariError, match="unexpected root element <nodes>"):
        ownership.read(HOST)


def test_a_record_that_keeps_changing_gives_up_with_a_message(tmp_path, monkeypatch):
    # Every query shows a stale record and every swap finds it changed.
    stale = op("ghost@node9", 1, T0 - dt.timedelta(hours=1)).to_value()
    rid = ownership.record_id(HOST)
    record = etree.Element("cluster_property_set", id=rid)
    etree.SubElement(record, "nvpair", id=f"{rid}-v", name="hakari-owner", value=stale)
    payload = tmp_path / "record.xml"
    payload.write_bytes(etree.tostring(record))
    shell_tool(tmp_path / "bin", "cibadmin",
               f'if [ "$1" = --query ]; then cat {shlex.quote(str(payload))}; exit 0; fi\n'
               'echo "Call failed: No such device or address" >&2; exit 105')
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin"))
    with pytest.raises(OwnershipError, match="kept changing over 5 attempts"):
        acquire(op("alice@node2", 4242))
