"""The incident state machine: the one declaration, what it allows and refuses, that the
stores write nothing for a refused change, and that the docs are generated from it."""

from __future__ import annotations

import ast
import datetime as dt
import itertools
import json
import pathlib

import pytest

from hakari import lifecycle
from hakari.model import Incident
from hakari.records import failures
from hakari.records.journal import Journal
from hakari.records.store import ClusterStore, LocalStore, from_record, to_record
from tests.unit.test_recovery_journal_store import FakeAttributes

ROOT = pathlib.Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.timezone.utc)
PAIRS = {(t.source, t.target): t for t in lifecycle.TRANSITIONS}


def test_every_state_and_transition_is_declared_once_and_reachable():
    assert len(set(lifecycle.NAMES)) == len(lifecycle.NAMES)
    assert len(PAIRS) == len(lifecycle.TRANSITIONS)
    reached = {lifecycle.DETECTED}
    frontier = [lifecycle.DETECTED]
    while frontier:
        state = frontier.pop()
        for t in lifecycle.TRANSITIONS:
            if t.source == state and t.target not in reached:
                reached.add(t.target)
                frontier.append(t.target)
    assert reached == set(lifecycle.NAMES)
    # Only the terminal state has no way out; everything else can end.
    for state in lifecycle.NAMES:
        leaving = [t for t in lifecycle.TRANSITIONS if t.source == state]
        assert bool(leaving) == (state not in lifecycle.TERMINAL), state


def test_every_group_names_only_declared_states():
    for group in (lifecycle.TERMINAL, lifecycle.HOST_BACK, lifecycle.PARKED,
                  lifecycle.AWAITING_FENCE, lifecycle.RECOVERING, lifecycle.NOVA_COMPUTE_HELD,
                  lifecycle.EVACUATION_FINISHED, lifecycle.RECOVERY_NOT_STARTED,
                  lifecycle.BRAKEABLE):
        assert group <= set(lifecycle.NAMES)


@pytest.mark.parametrize("source,target,by", [
    (s, t, b) for s, t in itertools.product(lifecycle.NAMES, repeat=2) if s != t
    for b in (lifecycle.ENGINE, lifecycle.OPERATOR)])
def test_check_allows_exactly_the_declared_transitions(source, target, by):
    declared = PAIRS.get((source, target))
    if declared is not None and by in declared.by:
        assert lifecycle.check(source, target, by) is declared
    else:
        with pytest.raises(lifecycle.IllegalTransition):
            lifecycle.check(source, target, by)


def test_operator_decisions_are_the_operators():
    """The engine can never undo the brake or retry a failure on its own."""
    for source, target in [(lifecycle.BLOCKED, lifecycle.RELEASED),
                           (lifecycle.FAILED, lifecycle.RELEASED),
                           (lifecycle.BLOCKED, lifecycle.FENCE_CONFIRMED),
                           (lifecycle.FAILED, lifecycle.FENCE_CONFIRMED)]:
        with pytest.raises(lifecycle.IllegalTransition, match="only operator"):
            lifecycle.check(source, target, lifecycle.ENGINE)
        lifecycle.check(source, target, lifecycle.OPERATOR)
    leaving_parked = {t.target for t in lifecycle.TRANSITIONS
                      if t.source in lifecycle.PARKED and lifecycle.ENGINE in t.by}
    assert leaving_parked == set()


@pytest.mark.parametrize("store_kind", ["local", "cluster"])
def test_a_refused_transition_writes_nothing(tmp_path, store_kind):
    journal = Journal.open(str(tmp_path))
    attrs = FakeAttributes()
    store = LocalStore(journal) if store_kind == "local" else \
        ClusterStore(journal, attributes=attrs)
    inc = store.save(Incident("i-1", "node2", T0, lifecycle.BLOCKED, reason="brake"),
                     "node2")
    before = (list(journal.read()), dict(attrs.values))
    for target in (lifecycle.FENCE_CONFIRMED, lifecycle.EVACUATING, lifecycle.DETECTED):
        with pytest.raises(lifecycle.IllegalTransition, match="i-1"):
            store.transition(inc, "node2", target)
    with pytest.raises(lifecycle.IllegalTransition, match="unknown"):
        store.transition(inc, "node2", "MAYBE", by=lifecycle.OPERATOR)
    assert (list(journal.read()), dict(attrs.values)) == before
    released = store.transition(inc, "node2", lifecycle.RELEASED, "looked at it",
                                by=lifecycle.OPERATOR, released_by="alice")
    assert released.released_by == "alice"


def test_the_release_mark_survives_the_cib_record_and_later_transitions(tmp_path):
    attrs = FakeAttributes()
    store = ClusterStore(Journal.open(str(tmp_path)), attributes=attrs)
    inc = store.save(Incident("i-1", "node2", T0, lifecycle.BLOCKED), "node2")
    inc = store.transition(inc, "node2", lifecycle.RELEASED, by=lifecycle.OPERATOR,
                           released_by="alice@node1")
    inc = store.transition(inc, "node2", lifecycle.FENCE_CONFIRMED)
    raw = attrs.values[("node2", "hakari-incident")]
    assert json.loads(raw)["released_by"] == "alice@node1"
    assert from_record("node2", raw).released_by == "alice@node1"
    assert from_record("node2", to_record(Incident("x", "n", T0))).released_by == ""


def test_the_states_document_is_generated_from_the_declaration():
    doc = (ROOT / "docs" / "incidents.md").read_text()
    assert doc == lifecycle.markdown(), \
        "docs/incidents.md is stale: python -m hakari.lifecycle > docs/incidents.md"
    for t in lifecycle.TRANSITIONS:
        assert f"| `{t.source}` | `{t.target}` |" in doc


# Where a test may spell a host-incident state's name as a string: the words are not
# host-incident states there (or the file is not migrated yet), and why.
_FAILURE_STATES = frozenset(name for names in failures.STATES.values() for name in names)
STATE_NAMES_ALLOWED = {
    "tests/integration/test_engine_process_failure.py": (
        _FAILURE_STATES, "a process failure's own DETECTED (hakari.records.failures)"),
    "tests/integration/test_failures_nova.py": (
        _FAILURE_STATES, "`hakari notify process`: a process failure's own ENABLED"),
    "tests/unit/test_failure_decisions.py": (
        _FAILURE_STATES, "process/instance decisions: the failure machine's DETECTED, ENABLED"),
}


def test_tests_name_incident_states_only_through_the_declaration():
    """Every test that needs an incident-state name imports it from hakari.lifecycle: no
    string constant anywhere in tests/ equals one, but where STATE_NAMES_ALLOWED says."""
    stray, used = [], set()
    for path in sorted((ROOT / "tests").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        allowed = STATE_NAMES_ALLOWED.get(rel, (frozenset(), ""))[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), rel)):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value in lifecycle.NAMES):
                continue
            if node.value in allowed:
                used.add(rel)
            else:
                stray.append(f"{rel}:{node.lineno}: {node.value!r}")
    assert not stray, ("use lifecycle.<STATE> (or one of its groups), not the string:\n"
                       + "\n".join(stray))
    assert used == set(STATE_NAMES_ALLOWED), \
        f"STATE_NAMES_ALLOWED entries no longer needed: {sorted(set(STATE_NAMES_ALLOWED) - used)}"
