"""The lab's pure parts: names, addresses, corosync.conf, the seed CIB, crm_mon reading."""

from __future__ import annotations

import pytest

from lab import cib, config, corosync_conf, crm_view
from tests.conftest import require_tools


def test_names_and_addresses():
    assert config.node_address(1) == "10.213.0.11"
    assert config.netns_name("lab", "node1") == "hakari-lab-node1"
    assert config.NOVA_ADDRESS == "10.213.0.2"
    assert config.NOVA_ADDRESS not in {config.node_address(i) for i in range(1, 201)}
    for bad in ("Lab", "lab-1", "", "1lab", "a" * 13):
        with pytest.raises(ValueError):
            config.check_name(bad)
    # No lab's namespace prefix may match another lab's namespaces.
    assert not config.netns_name("lab3", "node1").startswith(config.netns_prefix("lab"))


def test_corosync_conf_gives_node1_the_ghost_votes():
    members = [corosync_conf.Member("node1", 1, "10.213.0.11", 3),
               corosync_conf.Member("node2", 2, "10.213.0.12"),
               corosync_conf.Member("node3", 3, "10.213.0.13")]
    text = corosync_conf.render("hakari-x", members, token_ms=1000)
    assert "transport: knet" in text and "token: 1000" in text
    assert text.count("quorum_votes") == 1 and "quorum_votes: 3" in text
    assert "ring0_addr: 10.213.0.13" in text


def test_seed_cib_is_valid_and_complete():
    require_tools("cibadmin", "crm_verify")
    alert = ('<alert id="a" path="/bin/true"><select><select_fencing/></select>'
             '<recipient id="a-r" value="x"/></alert>')
    dummy = '<primitive id="d" class="ocf" provider="pacemaker" type="Dummy"/>'
    data = cib.build("/var/lib/hakari-lab/x", ["node1", "node2"],
                     {"stonith-max-attempts": "2"}, [alert, dummy])
    cib.verify(data)
    text = data.decode()
    assert 'name="dc-deadtime" value="2s"' in text
    assert 'name="stonith-enabled" value="true"' in text
    assert 'name="stonith-max-attempts" value="2"' in text
    assert 'type="fence_hakarilab"' in text and 'value="node1 node2"' in text
    assert '<alerts><alert id="a"' in text and 'id="d"' in text
    with pytest.raises(ValueError):
        cib.build("/x", ["node1"], None, ["<bogus/>"])


CRM_MON = b"""<pacemaker-result api-version="2.25" request="crm_mon">
  <summary><current_dc present="true" name="node1" id="1" with_quorum="true"/></summary>
  <nodes>
    <node name="node1" id="1" online="true" pending="false" unclean="false" type="member"/>
    <node name="node2" id="2" online="false" pending="false" unclean="true" type="member"/>
  </nodes>
  <fence_history>
    <fence_event action="reboot" target="node2" status="failed"
                 completed="2026-01-01 00:00:00Z"/>
  </fence_history>
  <status code="0" message="OK"/>
</pacemaker-result>"""


def test_crm_view_reads_what_the_lab_waits_on():
    view = crm_view.parse(CRM_MON)
    assert (view.dc, view.quorate) == ("node1", True)
    assert view.joined("node1") and view.unclean("node2") and not view.online("node2")
    assert view.fenced("node2") == [] and len(view.fenced("node2", "failed")) == 1
    assert "node2[unclean]" in view.summary()
    no_dc = crm_view.parse(b'<pacemaker-result><summary><current_dc present="false"/>'
                           b'</summary></pacemaker-result>')
    assert (no_dc.dc, no_dc.quorate) == (None, None)


def test_controllers_sort_before_computes_and_names_are_checked():
    names = ["compute10", "node2", "compute2", "node1"]
    assert sorted(names, key=config.node_order) == ["node1", "node2", "compute2", "compute10"]
    for bad in ("node0", "compute", "nodeX", "ghost1", "compute01"):
        with pytest.raises(ValueError):
            config.node_order(bad)


def test_each_node_has_its_own_hakari_directories():
    journal = config.inside("/lab", "compute1", "/var/lib/hakari/journal.jsonl")
    assert journal == "/lab/nodes/compute1/var-lib-hakari/journal.jsonl"
    assert config.inside("/lab", "node2", "/etc/hakari") == "/lab/nodes/node2/etc-hakari"
    assert config.inside("/lab", "node1", "/var/lib/hakari") != \
        config.inside("/lab", "node2", "/var/lib/hakari")
    with pytest.raises(ValueError):
        config.inside("/lab", "node1", "/var/lib/hakari-other/x")


def test_remote_connection_is_the_one_pcs_would_make():
    from xml.etree import ElementTree as ET

    el = ET.fromstring(cib.remote_xml("compute3", "10.213.0.16"))
    assert (el.get("id"), el.get("class"), el.get("provider"), el.get("type")) == (
        "compute3", "ocf", "pacemaker", "remote")
    params = {nv.get("name"): nv.get("value") for nv in el.iter("nvpair")}
    assert params["server"] == "10.213.0.16" and params["port"] == "3121"
    assert params["reconnect_interval"]  # else a fenced compute never comes back
