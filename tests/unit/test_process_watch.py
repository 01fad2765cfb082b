"""ProcessWatch: each failure occurrence in the CIB is new once, whatever the looks show.

The sequences are those a real cluster writes: the executing node records the result
(last-rc-change), the DC counts it a moment later (fail count, last-failure, by its own
clock), a later failure of another operation overwrites the history entry.
"""

from __future__ import annotations

import dataclasses

from hakari.cluster.failed_ops import ProcessFailure
from hakari.engine.process_watch import HINT_TTL, SAME_FAILURE_SLACK, ProcessWatch

T = 1_800_000_000          # a failure's time (epoch seconds)
WINDOW = 600.0


def failure(at=T, *, counted_at=None, count=0, entry=True, node="compute1",
            task="monitor", interval=10000):
    return ProcessFailure(node, "nova-compute", task, interval, 7 if entry else None,
                          0 if entry else None, at if entry else None, counted_at, count)


def new(watch, *failures, now=T + 10):
    return watch.new(failures, now, WINDOW)


def test_one_occurrence_seen_in_many_looks_is_new_once():
    watch = ProcessWatch()
    first = failure()
    assert new(watch, first) == [first]
    counted = failure(counted_at=T + 1, count=1)      # the DC counted it meanwhile
    assert new(watch, counted) == []
    assert new(watch, counted, now=T + 100) == []
    # A later failure of the same operation: a later entry, the count not updated yet.
    second = failure(T + 40, counted_at=T + 1, count=1)
    assert new(watch, second, now=T + 41) == [second]
    assert new(watch, failure(T + 40, counted_at=T + 41, count=2), now=T + 42) == []


def test_an_entry_overwritten_leaves_the_count_which_is_no_new_failure():
    watch = ProcessWatch()
    assert len(new(watch, failure(counted_at=T + 1, count=1))) == 1
    # The restart's start failed: the history entry now holds the start.
    start = failure(T + 5, counted_at=T + 6, count=1, task="start", interval=0)
    monitor_count = failure(counted_at=T + 1, count=1, entry=False)
    assert new(watch, monitor_count, start) == [start]
    assert new(watch, monitor_count, start) == []


def test_the_dcs_later_clock_is_absorbed_by_the_slack_only_against_the_entry():
    watch = ProcessWatch()
    new(watch, failure())                             # the entry only, not counted yet
    # Overwritten before the count was seen: the DC's stamp is a little later.
    late = failure(counted_at=T + SAME_FAILURE_SLACK, count=1, entry=False)
    assert new(watch, late) == []
    # A count far later than the entry is another failure whose entry was overwritten.
    other = failure(counted_at=T + 60, count=2, entry=False)
    assert new(watch, other, now=T + 61) == [other]
    # From then on counts compare with counts, exactly.
    assert new(watch, other, now=T + 62) == []
    again = failure(counted_at=T + 61, count=3, entry=False)
    assert new(watch, again, now=T + 62) == [again]


def test_a_new_entry_where_only_a_count_was_seen_is_new():
    watch = ProcessWatch()
    assert len(new(watch, failure(counted_at=T, count=1, entry=False))) == 1
    fresh = failure(T + 1, counted_at=T, count=1)     # count not updated yet
    assert new(watch, fresh) == [fresh]


def test_a_fresh_watch_takes_only_failures_within_the_window():
    """An engine that starts (or takes over) signals what may still count; the process
    recovery's key check drops what its predecessor already signalled."""
    recent, old = failure(), failure(T - 3600, node="compute2")
    watch = ProcessWatch()
    assert new(watch, recent, old, now=T + WINDOW) == [recent]
    assert new(watch, recent, old, now=T + WINDOW) == []
    assert ProcessWatch().new([recent], T + WINDOW + 1, WINDOW) == []


def test_a_cleaned_up_failure_is_forgotten_and_the_next_one_is_new():
    watch = ProcessWatch()
    new(watch, failure())
    assert new(watch) == []                           # cleaned up
    later = failure(T + 30)
    assert new(watch, later, now=T + 31) == [later]


def test_nodes_and_operations_are_told_apart():
    watch = ProcessWatch()
    a, b = failure(), failure(node="compute2")
    c = dataclasses.replace(failure(), task="start", interval=0)
    assert new(watch, a, b, c) == [a, b, c]
    assert len({a.key, b.key, c.key}) == 3


def test_an_alerts_failure_is_awaited_until_the_cib_shows_it_or_briefly():
    watch = ProcessWatch()
    watch.hint("compute1", "nova-compute:0", T, now=100.0)
    assert watch.awaited(100.0)
    new(watch, failure(T - 3600))                     # an older failure: still awaited
    assert watch.awaited(100.5)
    new(watch, failure(T - 1))                        # this one, by another clock
    assert not watch.awaited(100.5)
    watch.hint("compute2", "nova-compute", T, now=200.0)
    new(watch, failure())                             # another node's: still awaited
    assert watch.awaited(200.0 + HINT_TTL - 0.1)
    assert not watch.awaited(200.0 + HINT_TTL)        # the periodic look takes over
