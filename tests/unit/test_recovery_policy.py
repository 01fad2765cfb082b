"""Pure recovery policies: selection, exclusion, order, targets, expected states, brake."""

from __future__ import annotations

import pytest

from hakari import config
from hakari.recovery.host.brake import mass_failure
from hakari.nova.resources import Aggregate, Server
from hakari.model import SegmentMembership
from hakari.recovery.policy import (Policy, ReservedRotation, expected_statuses,
                                    for_segment, ordered, priority, reserved_pool,
                                    skip_reason, tagged_by, truthy, uses_reserved)


def server(sid="s1", status="ACTIVE", metadata=None, extra_specs=None, image_props=None,
           vm_state=None):
    return Server(id=sid, name=f"n-{sid}", status=status, host="node2", project_id="p",
                  task_state=None, vm_state=vm_state or status.lower(),
                  metadata=dict(metadata or {}),
                  flavor={"extra_specs": dict(extra_specs or {})}, image_id="img",
                  image_properties=dict(image_props or {}))


@pytest.mark.parametrize("value,expected", [
    ("true", True), ("True", True), ("yes", True), ("1", True), ("on", True), (True, True),
    ("false", False), ("0", False), ("", False), ("no", False), ("maybe", False)])
def test_truthy(value, expected):
    assert truthy(value) is expected


def test_selection_all_takes_everything_but_excluded():
    p = Policy(excluded_instances=frozenset({"s2"}))
    assert skip_reason(server("s1"), p) is None
    assert "excluded_instances" in skip_reason(server("s2"), p)


@pytest.mark.parametrize("kwargs,source", [
    ({"metadata": {"evacuable": "true"}}, "server metadata"),
    ({"extra_specs": {"evacuable": "yes"}}, "flavor extra spec"),
    ({"image_props": {"evacuable": "1"}}, "image property"),
])
def test_tagged_sources(kwargs, source):
    p = Policy(selection="tagged")
    s = server(**kwargs)
    assert tagged_by(s, p) == source
    assert skip_reason(s, p) is None


def test_tagged_by_aggregate_of_the_failed_host():
    p = Policy(selection="tagged")
    agg = Aggregate("1", "ha-zone", ("node2",), {"evacuable": "true"})
    assert tagged_by(server(), p, [agg]) == "aggregate ha-zone"
    assert skip_reason(server(), p) is not None


def test_tagged_value_false_and_sources_respected():
    p = Policy(selection="tagged", sources=frozenset({"flavor"}))
    assert tagged_by(server(metadata={"evacuable": "true"}), p) is None
    assert "not tagged evacuable" in skip_reason(server(metadata={"evacuable": "false"}), p)
    assert tagged_by(server(extra_specs={"evacuable": "true"}), p) == "flavor extra spec"


def test_custom_tag_key():
    p = Policy(selection="tagged", tag="ha:enabled")
    assert tagged_by(server(metadata={"ha:enabled": "on"}), p) == "server metadata"


def test_error_instances_skipped_unless_configured_or_hakari_caused():
    s = server(status="ERROR")
    assert "ERROR" in skip_reason(s, Policy())
    assert skip_reason(s, Policy(evacuate_error=True)) is None
    # In ERROR because hakari's own attempt failed: retried.
    assert skip_reason(s, Policy(), prior_attempts=1) is None


def test_priority_and_order_is_stable():
    servers = [server("a"), server("b", metadata={"hakari:priority": "10"}),
               server("c", metadata={"hakari:priority": "junk"}),
               server("d", metadata={"hakari:priority": "-1"}),
               server("e", metadata={"hakari:priority": " 10 "})]
    assert priority(servers[2], "hakari:priority") == 0
    assert [s.id for s in ordered(servers, "hakari:priority")] == ["b", "e", "a", "c", "d"]


def test_expected_statuses():
    assert expected_statuses("ACTIVE", False) == {"ACTIVE"}
    assert expected_statuses("SHUTOFF", False) == {"SHUTOFF"}
    assert expected_statuses("ERROR", False) == {"ACTIVE"}
    assert expected_statuses("ACTIVE", True) == {"SHUTOFF"}
    assert expected_statuses(None, False) == {"ACTIVE", "SHUTOFF"}


@pytest.mark.parametrize("method,attempts", [
    ("auto", [False, False, False]),
    ("reserved_host", [True, True, True]),
    ("rh_priority", [True, False, False]),
    ("auto_priority", [False, True, True]),
])
def test_uses_reserved(method, attempts):
    assert [uses_reserved(method, i) for i in range(3)] == attempts


def test_reserved_pool_from_config_and_aggregate_minus_unusable():
    p = Policy(target="reserved_host", reserved_hosts=("r1", "r2"), reserved_aggregate="spare")
    aggs = [Aggregate("1", "spare", ("r2", "r3", "r4"), {})]
    assert reserved_pool(p, aggs) == ["r1", "r2", "r3", "r4"]
    assert reserved_pool(p, aggs, lost=["r1"], unusable=["r4"]) == ["r2", "r3"]


def test_a_segments_host_recovers_by_its_segment_and_others_by_the_configuration():
    base = Policy(target="auto", reserved_hosts=("spare1",), reserved_aggregate="spare",
                  max_attempts=5)
    rack1 = SegmentMembership("u1", "rack1", "rh_priority")
    members = {"c1": rack1, "c2": rack1,
               "r2": SegmentMembership("u1", "rack1", "rh_priority", reserved=True),
               "r1": SegmentMembership("u1", "rack1", "rh_priority", reserved=True),
               "r3": SegmentMembership("u1", "rack1", "rh_priority", reserved=True),
               "x1": SegmentMembership("u2", "rack2", "auto", reserved=True)}
    policy = for_segment(base, "c1", members, lambda n: f"{n}.nova", held={"r3"})
    # The segment's method; its own reserved hosts not held, by name; not the
    # configuration's, nor another segment's; everything else as configured.
    assert (policy.target, policy.reserved_hosts, policy.reserved_aggregate,
            policy.max_attempts) == ("rh_priority", ("r1.nova", "r2.nova"), "", 5)
    # A reserved host that is lost is not its own target.
    assert for_segment(base, "r1", members, str).reserved_hosts == ("r2", "r3")
    # In no segment: the default segment, the configuration.
    assert for_segment(base, "c9", members, str) is base
    # Hosts of one segment recover with one policy (the engine batches by it).
    assert for_segment(base, "c1", members, str) == for_segment(base, "c2", members, str)


def test_reserved_rotation_round_robin_avoids_source():
    r = ReservedRotation(["r1", "r2"])
    assert [r.take() for _ in range(3)] == ["r1", "r2", "r1"]
    assert r.take(avoid="r2") == "r1"
    assert ReservedRotation([]).take() is None


def test_policy_from_config(tmp_path):
    f = tmp_path / "h.conf"
    f.write_text("[recovery]\ninstance_selection = tagged\nevacuable_tag = ha\n"
                 "excluded_instances = a, b\ntarget = rh_priority\nreserved_hosts = r1,r2\n"
                 "evacuable_sources = server,image\nstop_at_destination = true\n")
    p = Policy.from_config(config.load([str(f)]))
    assert p.selection == "tagged" and p.tag == "ha"
    assert p.excluded_instances == {"a", "b"}
    assert p.target == "rh_priority" and p.reserved_hosts == ("r1", "r2")
    assert p.sources == {"server", "image"} and p.stop_at_destination


def test_bad_policy_values_are_config_errors(tmp_path):
    f = tmp_path / "h.conf"
    f.write_text("[recovery]\ntarget = somewhere\n")
    with pytest.raises(Exception, match="target"):
        config.load([str(f)])


# --- the mass-failure brake ------------------------------------------------------------

HOSTS3 = ["node1", "node2", "node3"]


def test_default_brake_recovers_one_of_three_but_not_two():
    assert not mass_failure(["node2"], HOSTS3).blocked
    v = mass_failure(["node2", "node3"], HOSTS3)
    assert v.blocked and "2 of 3" in v.reason and "mass_failure_max_percent" in v.reason


def test_brake_by_count():
    hosts = [f"c{i}" for i in range(100)]
    assert not mass_failure(hosts[:3], hosts, max_hosts=3).blocked
    v = mass_failure(hosts[:4], hosts, max_hosts=3)
    assert v.blocked and "mass_failure_max_hosts = 3" in v.reason


def test_brake_disabled_with_100_percent_and_no_count():
    assert not mass_failure(HOSTS3, HOSTS3, max_percent=100).blocked


def test_brake_exactly_at_threshold_passes():
    hosts = [f"c{i}" for i in range(10)]
    assert not mass_failure(hosts[:5], hosts, max_percent=50).blocked
    assert mass_failure(hosts[:6], hosts, max_percent=50).blocked


def test_brake_per_aggregate():
    hosts = [f"c{i}" for i in range(10)]
    aggs = {"rack1": ["c0", "c1", "c2"], "rack2": hosts[3:]}
    v = mass_failure(["c0", "c1"], hosts, aggregates=aggs)
    assert v.blocked and "aggregate rack1" in v.reason
    assert not mass_failure(["c0", "c1"], hosts, aggregates=aggs, per_aggregate=False).blocked
    # One host of a small aggregate is never "mass".
    assert not mass_failure(["c0"], hosts, aggregates={"pair": ["c0", "c1"]}).blocked


def test_brake_counts_lost_hosts_unknown_to_nova():
    assert mass_failure(["x", "y"], ["node1"]).blocked
    assert not mass_failure([], HOSTS3).blocked
