"""Every corpus crm_mon file parses to the key facts the corpus INDEX.md lists for it.

The table mirrors ../shared/reference/corpus/INDEX.md, in its notation: each node as
name[flags], flags in INDEX order: online|OFFLINE, UNCLEAN, PENDING, STANDBY, MAINTENANCE,
SHUTDOWN, expected_up=false (members only), DC, type=remote (remote and guest nodes),
guest-of=<container>. Two deliberate differences from INDEX.md:
- its "DC=-" (current_dc present but without a name, in normalized/synthetic files) is
  written here as what hakari reports: the node flagged is_dc, or None;
- "health=..." is left out: hakari's model does not carry node health.
A node without a type attribute (masakari's synthetic strings) is INDEX's "type=None",
hakari's type "unknown".
"""

from __future__ import annotations

import pytest

from hakari.cluster.crm_mon import parse_crm_mon
from hakari.errors import ClusterNotConnected
from hakari.model import NodeState
from tests.conftest import DATA
from tests.crm_mon_text import mismatches, parse_text

CRM_MON = DATA / "crm_mon"

# (file, dc, quorate, nodes)
KEY_FACTS = [
    ('upstream_head_crm_mon_basic_remote_bundle_one_offline.xml', 'cluster02', True, [
        'cluster01[online]',
        'cluster02[online,DC]',
        'httpd-bundle-0[online,type=remote,guest-of=httpd-bundle-docker-0]',
        'httpd-bundle-1[online,type=remote,guest-of=httpd-bundle-docker-1]',
        'httpd-bundle-2[OFFLINE,type=remote,guest-of=httpd-bundle-docker-2]',
    ]),
    ('upstream_head_crm_mon_group_by_node.xml', 'cluster02', True, [
        'cluster01[online]',
        'cluster02[online,DC]',
        'httpd-bundle-0[online,type=remote,guest-of=httpd-bundle-docker-0]',
        'httpd-bundle-1[online,type=remote,guest-of=httpd-bundle-docker-1]',
        'httpd-bundle-2[OFFLINE,type=remote,guest-of=httpd-bundle-docker-2]',
    ]),
    ('upstream_head_crm_mon_filtered_by_node.xml', 'cluster02', True, [
        'cluster01[online]',
    ]),
    ('upstream_head_crm_mon_filter_unknown_node_empty_nodes.xml', 'cluster02', True, [
    ]),
    ('upstream_head_crm_mon_partial_remote_offline.xml', 'cluster02', True, [
        'cluster01[online]',
        'cluster02[online,DC]',
        'httpd-bundle-0[online,type=remote,guest-of=httpd-bundle-docker-0]',
        'httpd-bundle-1[online,type=remote,guest-of=httpd-bundle-docker-1]',
    ]),
    ('upstream_head_crm_mon_unmanaged_offline_node.xml', 'cluster02', True, [
        'cluster01[online]',
        'cluster02[OFFLINE,expected_up=false,DC]',
    ]),
    ('upstream_head_crm_mon_cluster_maintenance_mode.xml', 'cluster02', True, [
        'cluster01[online]',
        'cluster02[online,DC]',
        'httpd-bundle-0[online,MAINTENANCE,type=remote,guest-of=httpd-bundle-docker-0]',
        'httpd-bundle-1[online,MAINTENANCE,type=remote,guest-of=httpd-bundle-docker-1]',
        'httpd-bundle-2[OFFLINE,type=remote,guest-of=httpd-bundle-docker-2]',
    ]),
    ('upstream_head_crm_mon_node_maintenance.xml', 'cluster02', True, [
        'cluster01[online]',
        'cluster02[online,MAINTENANCE,DC]',
        'httpd-bundle-0[online,type=remote,guest-of=httpd-bundle-docker-0]',
        'httpd-bundle-1[online,MAINTENANCE,type=remote,guest-of=httpd-bundle-docker-1]',
        'httpd-bundle-2[OFFLINE,type=remote,guest-of=httpd-bundle-docker-2]',
    ]),
    ('upstream_2.0.5_crm_mon_basic.xml', 'cluster02', True, [
        'cluster01[online]',
        'cluster02[online,DC]',
        'httpd-bundle-0[OFFLINE,type=remote,guest-of=httpd-bundle-docker-0]',
        'httpd-bundle-1[OFFLINE,type=remote,guest-of=httpd-bundle-docker-1]',
        'httpd-bundle-2[OFFLINE,type=remote,guest-of=httpd-bundle-docker-2]',
    ]),
    ('upstream_head_crm_mon_mixed_feature_set_remote.xml', 'cluster01', True, [
        'cluster01[online,DC]',
        'cluster02[online]',
        'cluster03[OFFLINE,expected_up=false]',
        'guest01-0[OFFLINE,type=remote,guest-of=guest01-docker-0]',
        'remote01[OFFLINE,type=remote]',
    ]),
    ('gen_2.1.5_rec-node-1.xml', None, None, [
        'node1[OFFLINE,UNCLEAN,expected_up=false]',
        'node2[online]',
    ]),
    ('gen_2.1.5_rec-node-2.xml', None, None, [
        'node1[OFFLINE,UNCLEAN,expected_up=false]',
        'node2[online]',
    ]),
    ('gen_2.1.5_rec-node-4.xml', None, None, [
        'node1[OFFLINE,UNCLEAN]',
        'node2[online]',
    ]),
    ('gen_2.1.5_stonith-0.xml', 'c001n03', True, [
        'c001n02[online]',
        'c001n03[online,UNCLEAN,DC]',
        'c001n04[online]',
        'c001n05[online,UNCLEAN]',
        'c001n06[online]',
        'c001n07[online]',
        'c001n08[online]',
    ]),
    ('gen_2.1.5_stonith-1.xml', 'sles-1', True, [
        'sles-1[online,DC]',
        'sles-2[online]',
        'sles-3[OFFLINE,UNCLEAN]',
        'sles-4[online]',
    ]),
    ('gen_2.1.5_legacy_as-xml_stonith-1.xml', 'sles-1', True, [
        'sles-1[online,DC]',
        'sles-2[online]',
        'sles-3[OFFLINE,UNCLEAN]',
        'sles-4[online]',
    ]),
    ('gen_2.1.5_stonith-2.xml', 'sles-1', True, [
        'sles-1[online,DC]',
        'sles-2[online]',
        'sles-3[online]',
        'sles-4[online]',
        'sles-5[OFFLINE,UNCLEAN]',
        'sles-6[online]',
    ]),
    ('gen_2.1.5_concurrent-fencing.xml', 'node2', False, [
        'node1[OFFLINE,UNCLEAN]',
        'node2[OFFLINE,UNCLEAN,DC]',
        'node3[OFFLINE,UNCLEAN]',
    ]),
    ('gen_2.1.5_dc-fence-ordering.xml', 'rhel7-1', True, [
        'rhel7-1[online,UNCLEAN,SHUTDOWN,expected_up=false,DC]',
        'rhel7-2[online,SHUTDOWN,expected_up=false]',
        'rhel7-3[OFFLINE,expected_up=false]',
        'rhel7-4[online,SHUTDOWN,expected_up=false]',
        'rhel7-5[online,SHUTDOWN,expected_up=false]',
    ]),
    ('gen_2.1.5_priority-fencing-delay.xml', 'kiff-02', True, [
        'kiff-01[OFFLINE,UNCLEAN]',
        'kiff-02[online,DC]',
        'lxc-01_kiff-01[OFFLINE,type=remote,guest-of=R-lxc-01_kiff-01]',
        'lxc-01_kiff-02[online,type=remote,guest-of=R-lxc-01_kiff-02]',
        'lxc-02_kiff-01[OFFLINE,type=remote,guest-of=R-lxc-02_kiff-01]',
        'lxc-02_kiff-02[online,type=remote,guest-of=R-lxc-02_kiff-02]',
    ]),
    ('gen_2.1.5_remote-fence-unclean.xml', '18builder', True, [
        '18builder[online,DC]',
        '18node1[online]',
        '18node2[online]',
        'remote1[OFFLINE,UNCLEAN,type=remote]',
    ]),
    ('gen_2.1.5_legacy_as-xml_remote-fence-unclean.xml', '18builder', True, [
        '18builder[online,DC]',
        '18node1[online]',
        '18node2[online]',
        'remote1[OFFLINE,UNCLEAN,type=remote]',
    ]),
    ('gen_2.1.5_remote-fence-unclean2.xml', 'rhel7-alt2', True, [
        'rhel7-alt1[online,STANDBY]',
        'rhel7-alt2[online,STANDBY,DC]',
        'rhel7-alt3[OFFLINE,expected_up=false]',
        'rhel7-alt4[OFFLINE,UNCLEAN,type=remote]',
    ]),
    ('gen_2.1.5_remote-unclean2.xml', 'rhel7-auto1', True, [
        'rhel7-auto1[online,DC]',
        'rhel7-auto2[online]',
        'rhel7-auto3[online]',
        'rhel7-auto4[OFFLINE,UNCLEAN,type=remote]',
    ]),
    ('gen_2.1.5_remote-recover-fail.xml', 'rhel7-auto3', True, [
        'rhel7-auto1[OFFLINE,expected_up=false]',
        'rhel7-auto2[online]',
        'rhel7-auto3[online,DC]',
        'rhel7-auto4[OFFLINE,UNCLEAN,type=remote]',
    ]),
    ('gen_2.1.5_remote-startup.xml', '18builder', True, [
        '18builder[online,DC]',
        '18node1[online]',
        '18node2[online]',
        'remote1[OFFLINE,UNCLEAN,type=remote]',
    ]),
    ('gen_2.1.5_guest-node-host-dies.xml', 'rhel7-3', True, [
        'lxc1[OFFLINE,type=remote,guest-of=container1]',
        'lxc2[OFFLINE,type=remote,guest-of=container2]',
        'rhel7-1[OFFLINE,UNCLEAN,expected_up=false]',
        'rhel7-2[online]',
        'rhel7-3[online,DC]',
        'rhel7-4[online]',
        'rhel7-5[online]',
    ]),
    ('gen_2.1.5_legacy_as-xml_guest-node-host-dies.xml', 'rhel7-3', True, [
        'lxc1[OFFLINE,type=remote,guest-of=container1]',
        'lxc2[OFFLINE,type=remote,guest-of=container2]',
        'rhel7-1[OFFLINE,UNCLEAN,expected_up=false]',
        'rhel7-2[online]',
        'rhel7-3[online,DC]',
        'rhel7-4[online]',
        'rhel7-5[online]',
    ]),
    ('gen_2.1.5_guest-host-not-fenceable.xml', 'node1', False, [
        'galera-bundle-0[online,type=remote,guest-of=galera-bundle-docker-0]',
        'galera-bundle-1[OFFLINE,type=remote,guest-of=galera-bundle-docker-1]',
        'galera-bundle-2[OFFLINE,type=remote,guest-of=galera-bundle-docker-2]',
        'node1[online,DC]',
        'node2[OFFLINE,UNCLEAN,expected_up=false]',
        'node3[OFFLINE,UNCLEAN]',
        'rabbitmq-bundle-0[online,type=remote,guest-of=rabbitmq-bundle-docker-0]',
        'rabbitmq-bundle-1[OFFLINE,type=remote,guest-of=rabbitmq-bundle-docker-1]',
        'rabbitmq-bundle-2[OFFLINE,type=remote,guest-of=rabbitmq-bundle-docker-2]',
    ]),
    ('gen_2.1.5_whitebox-fail1.xml', '18node2', True, [
        '18node1[online]',
        '18node2[online,DC]',
        '18node3[online]',
        'lxc1[OFFLINE,type=remote,guest-of=container1]',
        'lxc2[online,type=remote,guest-of=container2]',
    ]),
    ('gen_2.1.5_bundle-order-fencing.xml', 'controller-2', True, [
        'controller-0[OFFLINE,UNCLEAN]',
        'controller-1[online]',
        'controller-2[online,DC]',
        'galera-bundle-0[OFFLINE,type=remote,guest-of=galera-bundle-docker-0]',
        'galera-bundle-1[online,type=remote,guest-of=galera-bundle-docker-1]',
        'galera-bundle-2[online,type=remote,guest-of=galera-bundle-docker-2]',
        'rabbitmq-bundle-0[OFFLINE,type=remote,guest-of=rabbitmq-bundle-docker-0]',
        'rabbitmq-bundle-1[online,type=remote,guest-of=rabbitmq-bundle-docker-1]',
        'rabbitmq-bundle-2[online,type=remote,guest-of=rabbitmq-bundle-docker-2]',
        'redis-bundle-0[OFFLINE,type=remote,guest-of=redis-bundle-docker-0]',
        'redis-bundle-1[online,type=remote,guest-of=redis-bundle-docker-1]',
        'redis-bundle-2[online,type=remote,guest-of=redis-bundle-docker-2]',
    ]),
    ('gen_2.1.5_node-pending-timeout.xml', 'node-1', True, [
        'node-1[online,DC]',
        'node-2[OFFLINE,UNCLEAN,expected_up=false]',
    ]),
    ('gen_2.1.5_legacy_as-xml_node-pending-timeout.xml', 'node-1', True, [
        'node-1[online,DC]',
        'node-2[OFFLINE,UNCLEAN,expected_up=false]',
    ]),
    ('gen_2.1.5_pending-node-no-uname.xml', 'node-1', True, [
        'node-1[online,DC]',
        'node-2[OFFLINE,UNCLEAN,expected_up=false]',
    ]),
    ('gen_2.1.5_probe-pending-node.xml', 'gcdoubwap01', True, [
        'gcdoubwap01[online,DC]',
        'gcdoubwap02[online,PENDING,STANDBY,expected_up=false]',
    ]),
    ('gen_2.1.5_standby.xml', 'sapcl03', True, [
        'sapcl01[online]',
        'sapcl02[online,STANDBY]',
        'sapcl03[online,STANDBY,DC]',
    ]),
    ('gen_2.1.5_legacy_as-xml_standby.xml', 'sapcl03', True, [
        'sapcl01[online]',
        'sapcl02[online,STANDBY]',
        'sapcl03[online,STANDBY,DC]',
    ]),
    ('gen_2.1.5_node-maintenance-1.xml', None, None, [
        'node1[online]',
        'node2[online,MAINTENANCE]',
    ]),
    ('gen_2.1.5_shutdown-maintenance-node.xml', 'sle12sp2-1', True, [
        'sle12sp2-1[online,DC]',
        'sle12sp2-2[OFFLINE,MAINTENANCE,expected_up=false]',
    ]),
    ('gen_2.1.5_shutdown-lock.xml', 'node1', True, [
        'node1[online,SHUTDOWN,expected_up=false,DC]',
        'node2[OFFLINE,expected_up=false]',
        'node3[online]',
        'node4[online]',
        'node5[online]',
    ]),
    ('gen_2.1.5_quorum-1.xml', None, None, [
        'node1[online]',
        'node2[online]',
    ]),
    ('gen_2.1.5_legacy_as-xml_quorum-1.xml', None, None, [
        'node1[online]',
        'node2[online]',
    ]),
    ('gen_2.1.5_no_quorum_demote.xml', 'rhel7-1', False, [
        'rhel7-1[online,DC]',
        'rhel7-2[online]',
        'rhel7-3[OFFLINE,expected_up=false]',
        'rhel7-4[OFFLINE,expected_up=false]',
        'rhel7-5[OFFLINE,SHUTDOWN,expected_up=false]',
    ]),
    ('gen_2.1.5_stop-failure-with-fencing.xml', 'pcmk-1', False, [
        'pcmk-1[online,DC]',
        'pcmk-2[online,UNCLEAN,SHUTDOWN,expected_up=false]',
        'pcmk-3[OFFLINE,UNCLEAN,expected_up=false]',
        'pcmk-4[OFFLINE,UNCLEAN,expected_up=false]',
    ]),
    ('gen_2.1.5_allow-unhealthy-nodes.xml', 'rhel8-2', True, [
        'rhel8-1[online]',
        'rhel8-2[online,DC]',
        'rhel8-3[online]',
        'rhel8-4[online]',
        'rhel8-5[online]',
    ]),
    ('gen_2.1.5_on-fail-ignore.xml', '407888-db1', True, [
        '407888-db1[online,DC]',
        '407892-db2[online]',
    ]),
    ('masakari_crmmon_crmmon_xml.xml', None, True, [
        'node-1[online,type=None]',
        'node-2[OFFLINE,type=None]',
        'node-3[online,type=None]',
    ]),
    ('masakari_crmmon_crmmon_xml_no_quorum.xml', None, False, [
    ]),
    ('masakari_crmmon_crmmon_nonodes_xml.xml', None, None, [
    ]),
    ('masakari_crmmon_crmmon_nonodes_tag_xml.xml', None, None, [
    ]),
    ('ha_cluster_exporter_fake_crm_mon_legacy_2.0.0.xml', 'node01', True, [
        'node01[online,DC]',
        'node02[online]',
    ]),
]


def notation(node: NodeState) -> str:
    flags = ["online" if node.online else "OFFLINE"]
    for flag, word in ((node.unclean, "UNCLEAN"), (node.pending, "PENDING"),
                       (node.standby, "STANDBY"), (node.maintenance, "MAINTENANCE"),
                       (node.shutdown, "SHUTDOWN")):
        if flag:
            flags.append(word)
    if node.type == "member" and not node.expected_up:
        flags.append("expected_up=false")
    if node.is_dc:
        flags.append("DC")
    if node.type in ("remote", "guest"):
        flags.append("type=remote")
    if node.type == "unknown":
        flags.append("type=None")
    if node.type == "guest":
        flags.append(f"guest-of={node.container}")
    return f"{node.name}[{','.join(flags)}]"


def test_table_covers_every_corpus_file():
    listed = {row[0] for row in KEY_FACTS} | {"gen_2.1.5_error_not_connected.xml"}
    on_disk = {p.name for p in CRM_MON.glob("*.xml")}
    assert on_disk == listed
    assert len(on_disk) == 52


@pytest.mark.parametrize("name,dc,quorate,nodes", KEY_FACTS,
                         ids=[row[0] for row in KEY_FACTS])
def test_key_facts(name, dc, quorate, nodes):
    snap = parse_crm_mon((CRM_MON / name).read_bytes())
    assert snap.dc == dc
    assert snap.quorate is quorate
    assert [notation(n) for n in snap.nodes] == nodes
    # The DC named in the summary is the node flagged is_dc, when that node is listed.
    flagged = [n.name for n in snap.nodes if n.is_dc]
    assert flagged == ([dc] if dc in {n.name for n in snap.nodes} else [])


def test_not_connected_result_is_an_error_not_an_empty_cluster():
    with pytest.raises(ClusterNotConnected, match="not connected.*Connection refused"):
        parse_crm_mon((CRM_MON / "gen_2.1.5_error_not_connected.xml").read_bytes())


LEGACY_PAIRS = ["stonith-1", "remote-fence-unclean", "guest-node-host-dies",
                "node-pending-timeout", "standby", "quorum-1"]


@pytest.mark.parametrize("scenario", LEGACY_PAIRS)
def test_legacy_and_2x_renderings_agree(scenario):
    legacy = parse_crm_mon((CRM_MON / f"gen_2.1.5_legacy_as-xml_{scenario}.xml").read_bytes())
    modern = parse_crm_mon((CRM_MON / f"gen_2.1.5_{scenario}.xml").read_bytes())
    assert legacy.nodes  # an empty pair would agree trivially
    assert legacy == modern


@pytest.mark.parametrize("name,expected", [
    ("gen_2.1.5_guest-node-host-dies.xml", {"lxc1": "rhel7-1", "lxc2": "rhel7-1"}),
    ("gen_2.1.5_legacy_as-xml_guest-node-host-dies.xml",
     {"lxc1": "rhel7-1", "lxc2": "rhel7-1"}),
    ("gen_2.1.5_whitebox-fail1.xml", {"lxc1": "18node2", "lxc2": "18node2"}),
    ("gen_2.1.5_bundle-order-fencing.xml", {
        f"{svc}-bundle-{i}": f"controller-{i}"
        for svc in ("galera", "rabbitmq", "redis") for i in range(3)}),
    ("gen_2.1.5_priority-fencing-delay.xml", {
        "lxc-01_kiff-01": "kiff-01", "lxc-02_kiff-01": "kiff-01",
        "lxc-01_kiff-02": "kiff-02", "lxc-02_kiff-02": "kiff-02"}),
    # httpd-bundle-2's container is stopped: no host to name.
    ("upstream_head_crm_mon_basic_remote_bundle_one_offline.xml",
     {"httpd-bundle-0": "cluster01", "httpd-bundle-1": "cluster02"}),
    ("upstream_head_crm_mon_group_by_node.xml",
     {"httpd-bundle-0": "cluster01", "httpd-bundle-1": "cluster02"}),
    ("upstream_2.0.5_crm_mon_basic.xml", {}),
    ("gen_2.1.5_stonith-1.xml", {}),
])
def test_guest_hosts(name, expected):
    assert parse_crm_mon((CRM_MON / name).read_bytes()).guest_hosts == expected


@pytest.mark.parametrize("name,node,state", [
    # unclean wins over online (the DC itself must be fenced)
    ("gen_2.1.5_dc-fence-ordering.xml", "rhel7-1", "unclean"),
    # pending wins over standby
    ("gen_2.1.5_probe-pending-node.xml", "gcdoubwap02", "pending"),
    # offline wins over maintenance
    ("gen_2.1.5_shutdown-maintenance-node.xml", "sle12sp2-2", "offline"),
    ("gen_2.1.5_node-maintenance-1.xml", "node2", "maintenance"),
    ("gen_2.1.5_standby.xml", "sapcl02", "standby"),
    ("gen_2.1.5_remote-fence-unclean.xml", "remote1", "unclean"),
    ("gen_2.1.5_rec-node-1.xml", "node2", "online"),
])
def test_state_precedence_on_real_output(name, node, state):
    assert parse_crm_mon((CRM_MON / name).read_bytes()).node(node).state == state


@pytest.mark.parametrize("scenario", ["stonith-1", "remote-fence-unclean",
                                      "guest-node-host-dies", "node-pending-timeout",
                                      "standby", "quorum-1"])
def test_corpus_text_rendering_agrees(scenario):
    """crm_mon's own text for the same CIB (saved in the corpus) tells the same story."""
    snap = parse_crm_mon((CRM_MON / f"gen_2.1.5_{scenario}.xml").read_bytes())
    text = (DATA / "crm_mon_text" / f"gen_2.1.5_text_{scenario}.txt").read_text()
    view = parse_text(text)
    assert view.nodes
    assert mismatches(snap, view) == []
