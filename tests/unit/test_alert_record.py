"""CRM_alert_* environments → event records: real Pacemaker 2.1.5 environments, the
dedupe keys across nodes, and hostile input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hakari.alerts import record
from hakari.alerts.events import AlertEvent, BadRecord, ResourceResult
from hakari.alerts.record import Ignored, Rejected, normalize
from tests.agents_helpers import ALERT_ENVS, corpus_envs

FOLDERS = sorted(p.name for p in ALERT_ENVS.iterdir() if p.is_dir())

FENCING = {
    "CRM_alert_kind": "fencing", "CRM_alert_node": "node2",
    "CRM_alert_desc": "Operation reboot of node2 by node1 for "
                      "pacemaker-controld.16265@node3: OK (ref=abff4124-2ef1-4cd8)",
    "CRM_alert_node_sequence": "12", "CRM_alert_rc": "0",
    "CRM_alert_recipient": "/etc/hakari/hakari.conf", "CRM_alert_task": "st_notify_fence",
    "CRM_alert_timestamp": "2026-11-23T22:21:56.612886Z",
    "CRM_alert_timestamp_epoch": "1795472516", "CRM_alert_timestamp_usec": "612886",
    "CRM_alert_version": "2.1.5",
}
NODE = {
    "CRM_alert_kind": "node", "CRM_alert_node": "node2", "CRM_alert_desc": "lost",
    "CRM_alert_nodeid": "2", "CRM_alert_node_sequence": "11",
    "CRM_alert_timestamp_epoch": "1795472515", "CRM_alert_timestamp_usec": "312886",
    "CRM_alert_version": "2.1.5",
}


def outcome(env):
    try:
        return normalize(env)
    except Ignored:
        return "ignored"


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_captured_environment_is_understood(folder):
    for node, env in corpus_envs(folder):
        result = outcome(env)  # Rejected would fail the test
        if result == "ignored":
            assert env["CRM_alert_kind"] == "attribute"
            continue
        assert result["kind"] == env["CRM_alert_kind"]
        assert result["node"] == env["CRM_alert_node"]
        assert result["epoch"] == int(env["CRM_alert_timestamp_epoch"])
        json.dumps(result)


def test_fencing_description_is_parsed():
    rec = normalize(FENCING)
    assert rec["fencing"] == {
        "action": "reboot", "target": "node2", "executioner": "node1",
        "client": "pacemaker-controld.16265", "origin": "node3", "result": "OK",
        "reason": None, "ref": "abff4124-2ef1-4cd8", "ok": True}
    assert rec["rc"] == 0 and rec["task"] == "st_notify_fence"
    assert rec["key"] == '["fencing","ref=abff4124-2ef1-4cd8"]'


def test_failed_fencing_from_the_corpus():
    failed = [normalize(env) for _, env in corpus_envs("single-startup-fencing-failing")
              if env["CRM_alert_kind"] == "fencing" and env["CRM_alert_rc"] != "0"]
    assert len(failed) == 10
    for rec in failed:
        assert rec["rc"] == -61
        assert rec["fencing"]["result"] == "Error" and rec["fencing"]["ok"] is False
    assert len({rec["key"] for rec in failed}) == 10  # each attempt is its own operation


@pytest.mark.parametrize("desc,result,reason,executioner", [
    ("Operation off of n3 by the cluster for stonith_admin.9@n1: Error (ref=r1)",
     "Error", None, "the cluster"),
    ("Operation off of n3 by n1 for a.1@n1: Timed out (after 60s (hard)) (ref=r1)",
     "Timed out", "after 60s (hard)", "n1"),
])
def test_fencing_description_variants(desc, result, reason, executioner):
    parts = record.parse_fencing_desc(desc, -62)
    assert (parts["result"], parts["reason"], parts["executioner"]) == \
        (result, reason, executioner)
    assert parts["ok"] is False


def test_ok_text_with_a_failure_code_is_no_success():
    assert normalize({**FENCING, "CRM_alert_rc": "-5"})["fencing"]["ok"] is False


def test_the_same_fencing_seen_by_two_nodes_has_one_key():
    recs = [normalize(env) for node, env in corpus_envs("multinode-network-cut")
            if env["CRM_alert_kind"] == "fencing"]
    assert len(recs) == 2 and recs[0]["usec"] != recs[1]["usec"]
    assert recs[0]["key"] == recs[1]["key"]


@pytest.mark.parametrize("folder,node", [("multinode-network-cut", "node2"),
                                         ("multinode-crash-node1", "node1"),
                                         ("multinode-manual-fence-node1", "node1")])
def test_the_same_loss_seen_by_the_peers_has_one_key(folder, node):
    recs = [normalize(env) for _, env in corpus_envs(folder)
            if env["CRM_alert_kind"] == "node" and env["CRM_alert_node"] == node]
    assert len(recs) == 2
    assert recs[0]["desc"] == "lost" and recs[0]["key"] == recs[1]["key"]


def test_distinct_events_keep_distinct_keys():
    recs = [r for _, env in corpus_envs("multinode-network-cut")
            if (r := outcome(env)) != "ignored"]
    # 11 alerts: 1 attribute ignored; fencing and node2-lost each seen twice.
    assert len(recs) == 10
    assert len({r["key"] for r in recs}) == 8


def test_several_recipients_of_one_resource_event_collapse():
    _, env = next(e for e in corpus_envs("multinode-network-cut")
                  if e[1]["CRM_alert_kind"] == "resource")
    assert normalize(env)["key"] == normalize({**env, "CRM_alert_recipient": "/x"})["key"]
    later = {**env, "CRM_alert_node_sequence": str(int(env["CRM_alert_node_sequence"]) + 1)}
    assert normalize(env)["key"] != normalize(later)["key"]


def test_spool_names_are_safe_and_stable():
    rec = normalize(FENCING)
    name = record.spool_name(rec["key"], rec["kind"])
    assert name == record.spool_name(rec["key"], "fencing")
    assert name.startswith("fencing-") and name.endswith(".json") and len(name) == 45


@pytest.mark.parametrize("changes,why", [
    ({"CRM_alert_kind": None}, "CRM_alert_kind: missing"),
    ({"CRM_alert_kind": "Fencing!"}, "CRM_alert_kind: invalid"),
    ({"CRM_alert_node": None}, "CRM_alert_node: missing"),
    ({"CRM_alert_node": ""}, "CRM_alert_node: missing"),
    ({"CRM_alert_node": "node2\nrm -rf"}, "control"),
    ({"CRM_alert_node": "node 2"}, "spaces"),
    ({"CRM_alert_node": "n" * 256}, "too long"),
    ({"CRM_alert_node": "node\udcff"}, "undecodable"),
    ({"CRM_alert_node": "node\u2028"}, "control"),
    ({"CRM_alert_timestamp_epoch": None}, "timestamp_epoch: missing"),
    ({"CRM_alert_timestamp_epoch": " 1795472516"}, "not an integer"),
    ({"CRM_alert_timestamp_epoch": "1_795_472_516"}, "not an integer"),
    ({"CRM_alert_timestamp_epoch": "١٧٩٥"}, "not an integer"),
    ({"CRM_alert_timestamp_epoch": "9" * 19}, "out of range"),
    ({"CRM_alert_timestamp_usec": "1000000"}, "out of range"),
    ({"CRM_alert_node_sequence": "-1"}, "out of range"),
    ({"CRM_alert_rc": "zero"}, "not an integer"),
    ({"CRM_alert_desc": "lost"}, "not a fencing result"),
    ({"CRM_alert_desc": "x" * 5000}, "too long"),
    ({"CRM_alert_desc": FENCING["CRM_alert_desc"].replace("(ref=", "(ref=a b")},
     "invalid ref"),
    ({"CRM_alert_desc": FENCING["CRM_alert_desc"].replace(" for ", " from ")},
     "not a fencing result"),
    ({"CRM_alert_desc": FENCING["CRM_alert_desc"].replace("reboot", "re$boot")},
     "invalid fencing action"),
    ({"CRM_alert_node": "node3"}, "is not CRM_alert_node"),
    ({"CRM_alert_task": None}, "CRM_alert_task: missing"),
])
def test_malformed_environments_are_rejected(changes, why):
    env = {k: v for k, v in {**FENCING, **changes}.items() if v is not None}
    with pytest.raises(Rejected, match=why.replace("(", r"\(")):
        normalize(env)


def test_node_resource_and_attribute_fields_are_checked():
    with pytest.raises(Rejected, match="desc: missing"):
        normalize({**NODE, "CRM_alert_desc": ""})
    _, res = next(e for e in corpus_envs("multinode-network-cut")
                  if e[1]["CRM_alert_kind"] == "resource")
    with pytest.raises(Rejected, match="rsc: missing"):
        normalize({k: v for k, v in res.items() if k != "CRM_alert_rsc"})
    with pytest.raises(Rejected, match="status: out of range"):
        normalize({**res, "CRM_alert_status": "999"})
    attr = {**NODE, "CRM_alert_kind": "attribute", "CRM_alert_attribute_name": "shutdown",
            "CRM_alert_attribute_value": "1795472515\x00"}
    with pytest.raises(Rejected, match="attribute_value: control"):
        normalize(attr)


@pytest.mark.parametrize("env", [
    {**NODE, "CRM_alert_kind": "telepathy"},
    {**NODE, "CRM_alert_kind": "attribute", "CRM_alert_attribute_name": "#feature-set",
     "CRM_alert_attribute_value": "3.16.1"},
    {**NODE, "CRM_alert_kind": "attribute",
     "CRM_alert_attribute_name": "fail-count-test#monitor_2000",
     "CRM_alert_attribute_value": "1"},
])
def test_events_of_no_interest_are_ignored(env):
    with pytest.raises(Ignored):
        normalize(env)


def test_attributes_of_interest_are_kept():
    base = {**NODE, "CRM_alert_kind": "attribute"}
    rec = normalize({**base, "CRM_alert_attribute_name": "shutdown",
                     "CRM_alert_attribute_value": "1795472515"})
    assert rec["attribute"] == {"name": "shutdown", "value": "1795472515"}
    removed = normalize({**base, "CRM_alert_attribute_name": "hakari-x"})
    assert removed["attribute"] == {"name": "hakari-x", "value": None}


def test_the_typed_event_keeps_what_the_engine_reads():
    rec = {**normalize(FENCING), "seen_on": "node1", "spooled_at": 1795472516.7}
    event = AlertEvent.from_record(json.loads(json.dumps(rec)))
    assert (event.key, event.kind, event.node) == (rec["key"], "fencing", "node2")
    assert event.timestamp.isoformat() == "2026-11-23T22:21:56.612886+00:00"
    assert event.desc == FENCING["CRM_alert_desc"] and event.resource is None
    resource = normalize({**NODE, "CRM_alert_kind": "resource", "CRM_alert_rsc": "nova",
                          "CRM_alert_task": "monitor", "CRM_alert_interval": "10000",
                          "CRM_alert_status": "0", "CRM_alert_rc": "7",
                          "CRM_alert_target_rc": "0", "CRM_alert_desc": "not running"})
    assert AlertEvent.from_record(resource).resource == ResourceResult(
        "nova", "monitor", 0, 7, 0)


@pytest.mark.parametrize("damage", [
    lambda r: r.update(format="other/1"),
    lambda r: r.update(kind="node"),
    lambda r: r.update(epoch="1795472516"),
    lambda r: r.update(sequence=True),
    lambda r: r["fencing"].update(ok="yes"),
    lambda r: r["fencing"].pop("ref"),
    lambda r: r.update(node="node3"),           # no longer matches its key
    lambda r: r.update(resource={"rsc": "x"}),
])
def test_damaged_records_are_refused(damage):
    rec = json.loads(json.dumps(normalize(FENCING)))
    damage(rec)
    with pytest.raises(BadRecord):
        AlertEvent.from_record(rec)


# -- fuzzing ------------------------------------------------------------------------------

NAMES = ["kind", "node", "desc", "nodeid", "rc", "task", "timestamp_epoch",
         "timestamp_usec", "node_sequence", "version", "rsc", "interval", "status",
         "target_rc", "exec_time", "attribute_name", "attribute_value", "recipient"]
odd_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.binary(max_size=60).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.sampled_from(["", " ", "0", "-1", "99999999999999999999", "node", "fencing",
                     "resource", "attribute", "lost", "member", "OK", "\x00", "\n",
                     "Operation off of node2 by x for y@z: OK (ref=1)"]),
    st.integers(-2**70, 2**70).map(str),
)


def _check(env):
    try:
        rec = normalize(env)
    except (Rejected, Ignored) as err:
        assert "\n" not in str(err) and len(str(err)) < 300
        return
    json.dumps(rec)
    event = AlertEvent.from_record({**rec, "seen_on": None, "spooled_at": None})
    assert event.key == rec["key"]


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES), odd_text, max_size=len(NAMES)))
def test_random_environments_never_crash(raw):
    _check({f"CRM_alert_{k}": v for k, v in raw.items()})


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([FENCING, NODE]), st.sampled_from(NAMES), odd_text)
def test_one_odd_variable_in_a_real_event_never_crashes(base, name, value):
    _check({**base, f"CRM_alert_{name}": value})


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="Operation ofbyr@:()=ref OK-x.", max_size=2048))
def test_fencing_description_lookalikes_never_crash(desc):
    try:
        parts = record.parse_fencing_desc(desc, 0)
    except Rejected:
        return
    assert desc.endswith(f"(ref={parts['ref']})")


def test_huge_values_are_refused():
    with pytest.raises(Rejected, match="too long"):
        normalize({**FENCING, "CRM_alert_desc": "Operation " + "x" * (1 << 24)})
