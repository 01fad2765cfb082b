"""parse_crm_mon edge cases and the hardened XML front door."""

from __future__ import annotations

import pytest

from hakari.cluster.crm_mon import parse_crm_mon
from hakari.cluster.xml import hardened_parser, parse_xml
from hakari.errors import ClusterNotConnected, ParseError, ToolFailed

SECRET = "s3cr3t-do-not-leak-4711"


def doc(nodes: str = "", summary: str | None = None, root: str = "pacemaker-result",
        status: str = '<status code="0" message="OK"/>') -> bytes:
    if summary is None:
        summary = '<current_dc present="true" name="n1" id="1" with_quorum="true"/>'
    if root == "crm_mon":
        return f'<crm_mon version="1.1.13"><summary>{summary}</summary><nodes>{nodes}' \
               f'</nodes></crm_mon>'.encode()
    return f'<pacemaker-result api-version="2.25" request="crm_mon -1 --output-as=xml">' \
           f'<summary>{summary}</summary><nodes>{nodes}</nodes>{status}' \
           f'</pacemaker-result>'.encode()


def test_legacy_container_id_makes_a_guest():
    snap = parse_crm_mon(doc(
        '<node name="vm1" id="vm1" online="true" type="remote" container_id="vm1-rsc"/>'
        '<node name="r1" id="r1" online="true" type="remote"/>', root="crm_mon"))
    vm1, r1 = snap.nodes
    assert (vm1.type, vm1.container) == ("guest", "vm1-rsc")
    assert (r1.type, r1.container) == ("remote", None)


def test_container_attribute_only_counts_on_remote_nodes():
    snap = parse_crm_mon(doc('<node name="m" id="1" type="member" id_as_resource="x"/>'))
    assert (snap.nodes[0].type, snap.nodes[0].container) == ("member", None)


@pytest.mark.parametrize("attr,expected", [
    ('type="ping"', "ping"), ('type="unknown"', "unknown"), ('type="cluster"', "unknown"),
    ("", "unknown"), ('type="member"', "member"),
])
def test_node_types(attr, expected):
    assert parse_crm_mon(doc(f'<node name="a" id="1" {attr}/>')).nodes[0].type == expected


def test_flags_and_ids():
    snap = parse_crm_mon(doc(
        '<node name="a" id="7" online="true" standby="true" maintenance="true" '
        'pending="true" unclean="true" shutdown="true" expected_up="true" is_dc="true" '
        'type="member"/><node name="b" id="8" online="false" standby="false" '
        'maintenance="false" pending="false" unclean="false" shutdown="false" '
        'expected_up="false" is_dc="false" type="member"/>'))
    a, b = snap.nodes
    assert (a.id, a.online, a.standby, a.maintenance, a.pending, a.unclean, a.shutdown,
            a.expected_up, a.is_dc) == ("7", True, True, True, True, True, True, True, True)
    assert (b.id, b.online, b.standby, b.maintenance, b.pending, b.unclean, b.shutdown,
            b.expected_up, b.is_dc) == ("8",) + (False,) * 8


def test_nameless_node_falls_back_to_id_and_none_at_all_is_an_error():
    assert parse_crm_mon(doc('<node id="42" online="true"/>')).nodes[0].name == "42"
    with pytest.raises(ParseError, match="neither name nor id"):
        parse_crm_mon(doc('<node online="true"/>'))


def test_comments_and_resource_children_in_nodes_are_ignored():
    snap = parse_crm_mon(doc(
        '<!-- a comment --><node name="a" id="1" online="true" type="member">'
        '<resource id="r"><node name="a" id="1"/></resource></node><?pi x?>'))
    assert [n.name for n in snap.nodes] == ["a"]


@pytest.mark.parametrize("summary,dc,quorate", [
    ('<current_dc present="false"/>', None, None),
    ('<current_dc present="true" name="n1" with_quorum="false"/>', "n1", False),
    ('<current_dc present="true" name="n1"/>', "n1", None),
    # no name: the node flagged is_dc is the DC
    ('<current_dc present="true" with_quorum="true"/>', "a", True),
    # no summary at all (crm_mon --exclude=summary): DC from the flag, quorum unknown
    ("", "a", None),
])
def test_dc_and_quorum(summary, dc, quorate):
    snap = parse_crm_mon(doc('<node name="a" id="1" online="true" is_dc="true"/>',
                             summary=summary))
    assert (snap.dc, snap.quorate) == (dc, quorate)


def test_no_dc_means_unknown_quorum_even_if_a_node_claims_it():
    snap = parse_crm_mon(doc('<node name="a" id="1" is_dc="true"/>',
                             summary='<current_dc present="false" with_quorum="true"/>'))
    assert (snap.dc, snap.quorate) == (None, None)


def test_error_status_codes():
    failed = doc(status='<status code="114" message="No DC"><errors><error>crm_mon: no DC'
                        '</error></errors></status>')
    with pytest.raises(ToolFailed, match=r"crm_mon: No DC \(exit status 114\): crm_mon: no DC"):
        parse_crm_mon(failed)
    with pytest.raises(ClusterNotConnected):
        parse_crm_mon(doc(status='<status code="102" message="Not connected"/>'))
    with pytest.raises(ParseError, match="not a number"):
        parse_crm_mon(doc(status='<status code="x" message="?"/>'))


def test_result_without_cluster_status_names_the_reason():
    data = (b'<pacemaker-result api-version="2.25" request="crm_mon -1 --output-as=xml">'
            b'<status code="0" message="OK"><errors><error>Could not connect to the CIB: '
            b'Update does not conform to the configured schema</error></errors></status>'
            b'</pacemaker-result>')
    with pytest.raises(ParseError, match="no cluster status.*does not conform"):
        parse_crm_mon(data)
    other_tool = (b'<pacemaker-result api-version="2.25" request="crm_node -l">'
                  b'<nodes-list/><status code="0" message="OK"/></pacemaker-result>')
    with pytest.raises(ParseError, match="not crm_mon output"):
        parse_crm_mon(other_tool)


# --- the hardened parser -------------------------------------------------------------

@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text(SECRET + "\n")
    return path


def _doctype_documents(secret_path) -> dict[str, bytes]:
    url = f"file://{secret_path}"
    return {
        "entity-in-text": (
            f'<?xml version="1.0"?><!DOCTYPE crm_mon [<!ENTITY x SYSTEM "{url}">]>'
            f'<crm_mon version="1.1.18"><nodes><node name="a"/>&x;</nodes></crm_mon>'),
        "entity-in-attribute": (
            f'<?xml version="1.0"?><!DOCTYPE crm_mon [<!ENTITY x SYSTEM "{url}">]>'
            f'<crm_mon version="1.1.18"><nodes><node name="&x;"/></nodes></crm_mon>'),
        "parameter-entity": (
            f'<?xml version="1.0"?><!DOCTYPE crm_mon [<!ENTITY % x SYSTEM "{url}"> %x;]>'
            f'<crm_mon version="1.1.18"/>'),
        "external-dtd": (
            f'<?xml version="1.0"?><!DOCTYPE crm_mon SYSTEM "{url}">'
            f'<crm_mon version="1.1.18"/>'),
        "internal-entity": (
            '<!DOCTYPE crm_mon [<!ENTITY a "node-x">]>'
            '<crm_mon version="1.1.18"><nodes><node name="&a;"/></nodes></crm_mon>'),
        "billion-laughs": (
            '<!DOCTYPE crm_mon [<!ENTITY a "aaaaaaaaaa">'
            + "".join(f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">'
                      for i in range(8))
            + ']><crm_mon version="1"><nodes><node name="&i;"/></nodes></crm_mon>'),
    }


@pytest.mark.parametrize("kind", ["entity-in-text", "entity-in-attribute",
                                  "parameter-entity", "external-dtd", "internal-entity",
                                  "billion-laughs"])
def test_doctype_is_refused_without_leaking(kind, secret_file):
    data = _doctype_documents(secret_file)[kind].encode()
    with pytest.raises(ParseError) as exc:
        parse_crm_mon(data)
    msg = str(exc.value)
    assert SECRET not in msg and str(secret_file) not in msg
    assert "\n" not in msg
    assert msg.startswith("crm_mon XML: ")


@pytest.mark.parametrize("data,match", [
    (b"", "empty document"),
    (b" \n\t", "empty document"),
    (b'<pacemaker-result api-version="2.25"><summary><current_dc present="tr',
     "not well-formed"),
    (b'<pacemaker-result><nodes><node name="a"></nodes></pacemaker-result>', "not well-formed"),
    (b'{"nodes": []}', "not well-formed"),
    (b'<cib><configuration/><status/></cib>', r"unexpected root element <cib>"),
    (b'<x:crm_mon xmlns:x="urn:x"/>', "unexpected root element"),
    (b'<crm_mon version="1">&undefined;</crm_mon>', "not well-formed"),
])
def test_bad_documents(data, match):
    with pytest.raises(ParseError, match=match) as exc:
        parse_crm_mon(data)
    assert "\n" not in str(exc.value)


def test_parse_xml_wants_bytes():
    with pytest.raises(TypeError):
        parse_xml("<crm_mon/>", "x", ("crm_mon",))


def test_hardened_parser_does_not_expand_or_fetch(secret_file):
    from lxml import etree
    data = _doctype_documents(secret_file)["entity-in-text"].encode()
    root = etree.fromstring(data, hardened_parser())
    assert SECRET not in etree.tostring(root, encoding="unicode")
