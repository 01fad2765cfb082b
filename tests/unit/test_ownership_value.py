"""The ownership record's value and ID: pure, no CIB involved."""

import datetime as dt
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hakari.cluster.ownership import (
    MAX_BY, MAX_VALUE, OwnedElsewhere, Owner, is_stale, record_id)
from hakari.errors import HakariError
from tests.fuzzing import FUZZ

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 1, 2, 12, 3, 4, tzinfo=UTC)
# xsd:ID as Pacemaker's schema checks it, restricted to the ASCII we promise.
NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")


def alice(**changes) -> Owner:
    fields = dict(who="operator", by="alice@node2", pid=4242, since=T0, refreshed=T0)
    fields.update(changes)
    return Owner(**fields)


def value(**changes) -> str:
    data = {"who": "operator", "by": "alice@node2", "pid": 4242,
            "since": "2026-01-02T12:03:04Z", "refreshed": "2026-01-02T12:03:04Z"}
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not ...})


def test_value_is_compact_json_and_round_trips():
    owner = alice(refreshed=T0 + dt.timedelta(minutes=5))
    text = owner.to_value()
    assert text == ('{"who":"operator","by":"alice@node2","pid":4242,'
                    '"since":"2026-01-02T12:03:04Z","refreshed":"2026-01-02T12:08:04Z"}')
    assert Owner.from_value(text) == owner


def test_times_are_normalised_to_whole_utc_seconds():
    cet = dt.timezone(dt.timedelta(hours=1))
    owner = alice(since=dt.datetime(2026, 1, 2, 13, 3, 4, 999_999, tzinfo=cet))
    assert owner.since == T0 and owner.since.tzinfo == UTC
    assert Owner.from_value(owner.to_value()) == owner


def test_apostrophes_and_unicode_never_reach_the_value_raw():
    owner = alice(by="o'brien \"ops\" äöü@node2")
    text = owner.to_value()
    assert "'" not in text and text.isascii()
    assert Owner.from_value(text) == owner


def test_start_uses_this_process_and_now(monkeypatch):
    monkeypatch.setattr("os.getpid", lambda: 31337)
    owner = Owner.start("engine", "node1", now=T0)
    assert (owner.pid, owner.since, owner.refreshed) == (31337, T0, T0)


@pytest.mark.parametrize("raw, why", [
    ("", "not JSON"),
    ("not json", "not JSON"),
    ("[]", "not a JSON object"),
    ("null", "not a JSON object"),
    ('{"who": "engine"}', "by: missing"),
    (value(pid="4242"), "pid: missing or not a int"),
    (value(pid=True), "pid: missing or not a int"),
    (value(pid=4242.0), "pid: missing or not a int"),
    (value(pid=0), "pid must be a positive integer"),
    (value(pid=-1), "pid must be a positive integer"),
    (value(pid=2**40), "pid must be a positive integer"),
    (value(who="admin"), "who must be one of"),
    (value(who=None), "who: missing"),
    (value(by=""), "by must be"),
    (value(by="a\nb"), "by must be"),
    (value(by="x" * (MAX_BY + 1)), "by must be"),
    (value(by=["alice"]), "by: missing"),
    (value(since=...), "since: missing"),
    (value(since="2026-01-02 12:03:04"), "since: not a UTC timestamp"),
    (value(since="2026-01-02T12:03:04+00:00"), "since: not a UTC timestamp"),
    (value(since="2026-1-2T12:03:04Z"), "since: not a UTC timestamp"),
    (value(since="٢٠٢٦-01-02T12:03:04Z"), "since: not a UTC timestamp"),
    (value(refreshed="2026-02-30T12:03:04Z"), "refreshed: no such date"),
    (value(refreshed=1767355384), "refreshed: missing or not a str"),
    ("[" * 400 + "]" * 400, "not a JSON object"),
])
def test_malformed_values_are_refused_with_a_reason(raw, why):
    with pytest.raises(ValueError, match=re.escape(why)):
        Owner.from_value(raw)


@pytest.mark.parametrize("raw", [None, b'{"who": "engine"}', 42])
def test_non_text_is_refused(raw):
    with pytest.raises(ValueError, match="not text"):
        Owner.from_value(raw)


def test_huge_values_are_refused_before_parsing():
    raw = value(padding="x" * MAX_VALUE)
    with pytest.raises(ValueError, match=f"more than {MAX_VALUE}"):
        Owner.from_value(raw)
    with pytest.raises(ValueError, match=f"more than {MAX_VALUE}"):
        Owner.from_value("[" * 100_000)


def test_unknown_keys_from_a_newer_writer_are_ignored():
    assert Owner.from_value(value(incident="compute3-20260102T120304Z")) == alice()


@pytest.mark.parametrize("changes, why", [
    ({"since": dt.datetime(2026, 1, 2, 12, 3, 4)}, "since must be a timezone-aware"),
    ({"refreshed": "2026-01-02T12:03:04Z"}, "refreshed must be a timezone-aware"),
    ({"pid": True}, "pid must be"),
    ({"who": "Engine"}, "who must be"),
    # Every character escapes to 12 in ASCII JSON: the whole value would not fit.
    ({"by": "\U0001F600" * MAX_BY}, f"exceed {MAX_VALUE} characters"),
])
def test_constructor_validates(changes, why):
    with pytest.raises(ValueError, match=why):
        alice(**changes)


def test_same_owner_rules():
    engine1 = Owner("engine", "node1", 10, T0, T0)
    engine2 = Owner("engine", "node2", 20, T0 + dt.timedelta(hours=1), T0)
    assert engine1.same_owner(engine2) and engine2.same_owner(engine1)
    assert alice().same_owner(alice(since=T0 + dt.timedelta(hours=1)))
    assert not alice().same_owner(alice(pid=4243))
    assert not alice().same_owner(alice(by="alice@node3"))
    assert not alice().same_owner(Owner("engine", "alice@node2", 4242, T0, T0))
    assert not engine1.same_owner(Owner("operator", "node1", 10, T0, T0))


def test_staleness_is_strictly_older_than_the_limit():
    owner = alice()
    assert not is_stale(owner, T0 + dt.timedelta(seconds=60), 60)
    assert is_stale(owner, T0 + dt.timedelta(seconds=61), 60)
    # A stamp from a clock ahead of ours is live, not stale.
    assert not is_stale(owner, T0 - dt.timedelta(hours=1), 60)


def test_owned_elsewhere_is_one_line_naming_who_where_since():
    err = OwnedElsewhere("compute3", alice(refreshed=T0 + dt.timedelta(seconds=30)))
    assert isinstance(err, HakariError)
    assert str(err) == ("compute3 is being recovered by operator alice@node2 (pid 4242) "
                        "since 2026-01-02 12:03:04Z (last seen 2026-01-02 12:03:34Z)")
    engine = OwnedElsewhere("c1", Owner("engine", "node1", 7, T0, T0))
    assert "by the engine on node1 (pid 7)" in str(engine)
    assert err.exit_code == 2  # a refusal, as `hakari evacuate` reports them


ODD_HOSTS = ["compute3", "3compute", "0", "compute3.example.org", "compute3_example_org",
             "compute3-example-org", "a b", "a_b", "a/b", "コンピュート3", "コンピュート4",
             "x" * 255, "x" * 254 + "y", "-lead", ".lead", "it's", "\udcff", "ä" * 255]


def test_record_ids_are_valid_distinct_bounded_and_stable():
    ids = [record_id(h) for h in ODD_HOSTS]
    for host, rid in zip(ODD_HOSTS, ids):
        assert NCNAME.fullmatch(rid), rid
        assert NCNAME.fullmatch(rid + "-v")
        assert rid.startswith("hakari-owner-") and len(rid) <= 80
        assert record_id(host) == rid
    assert len(set(ids)) == len(ids)
    assert record_id("compute3.example.org").startswith("hakari-owner-compute3.example.org-")


@pytest.mark.parametrize("host", ["", None])
def test_record_id_wants_a_host(host):
    with pytest.raises(ValueError):
        record_id(host)


@FUZZ
@given(st.text(max_size=MAX_BY + 4), st.integers(min_value=-2, max_value=2**32))
def test_any_owner_round_trips_or_is_refused(by, pid):
    try:
        owner = alice(by=by, pid=pid)
    except ValueError:
        return
    text = owner.to_value()
    assert len(text) <= MAX_VALUE and "'" not in text
    assert Owner.from_value(text) == owner


@FUZZ
@given(st.one_of(st.text(max_size=2 * MAX_VALUE),
                 st.dictionaries(st.sampled_from(["who", "by", "pid", "since", "refreshed",
                                                  "x"]),
                                 st.one_of(st.none(), st.booleans(), st.integers(),
                                           st.text(max_size=40), st.lists(st.integers())))
                 .map(json.dumps)))
def test_any_text_gives_an_owner_or_a_value_error(raw):
    try:
        owner = Owner.from_value(raw)
    except ValueError:
        return
    assert Owner.from_value(owner.to_value()) == owner
