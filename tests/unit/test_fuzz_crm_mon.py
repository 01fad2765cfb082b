"""Fuzzing the crm_mon and stonith_admin history parsers with mutated corpus files.

Whatever Pacemaker (or a broken pipe, or a disk) hands us, the parsers either return a
snapshot/event list or raise hakari's own ParseError/HakariError: the engine treats those
as "cannot tell", never as evidence. Any other exception would crash the engine loop.
"""

from __future__ import annotations

import copy
import pathlib

import pytest
from hypothesis import given, strategies as st
from lxml import etree

from hakari.cluster.crm_mon import parse_crm_mon
from hakari.cluster.fence_history import parse_stonith_history
from hakari.errors import HakariError
from tests.fuzzing import FUZZ
from tests.soak_counters import record

# A hang would show as this timeout, not as a slow suite.
pytestmark = pytest.mark.timeout(120)

DATA = pathlib.Path(__file__).resolve().parents[1] / "data"
CORPUS = sorted((DATA / "crm_mon").glob("*.xml")) + sorted((DATA / "live").glob("*.xml"))
_BYTES = {p.name: p.read_bytes() for p in CORPUS}
_TREES = {}
for _name, _data in _BYTES.items():
    try:
        _TREES[_name] = etree.fromstring(_data)
    except etree.XMLSyntaxError:
        pass
# The values the parsers care about most, mixed with arbitrary text.
INTERESTING = st.sampled_from(["true", "false", "", "0", "1", "-1", "yes", "unknown",
                               "success", "failed", "pending", "reboot", "off", "on",
                               "2026-11-23 22:31:49Z", "Mon Nov 23 22:31:49 2026",
                               "99999999999999999999", "\u00e9", "node2", "member",
                               "remote", "ping"])
# Text lxml can store (no control characters or surrogates); raw bytes are fuzzed below.
TEXT = st.one_of(INTERESTING, st.text(st.characters(blacklist_categories=("Cs", "Cc")),
                                      max_size=40))


def parser_for(name: str):
    return parse_stonith_history if "stonith-history" in name else parse_crm_mon


def check(parse, data: bytes) -> None:
    try:
        parse(data)
    except HakariError:
        pass  # defined refusal (ParseError, or the tool's own error in the document)


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(_TREES)))
    root = copy.deepcopy(_TREES[name])
    elements = [e for e in root.iter() if isinstance(e.tag, str)]  # no comments/PIs
    for _ in range(draw(st.integers(1, 4))):
        el = draw(st.sampled_from(elements))
        op = draw(st.sampled_from(["attr", "new-attr", "drop-attr", "drop", "dup", "text"]))
        if op == "attr" and el.attrib:
            el.set(draw(st.sampled_from(sorted(el.attrib))), draw(TEXT))
        elif op == "new-attr":
            el.set(draw(st.sampled_from(["name", "id", "online", "unclean", "status",
                                         "completed", "with_quorum", "type", "target",
                                         "action", "x"])), draw(INTERESTING))
        elif op == "drop-attr" and el.attrib:
            del el.attrib[draw(st.sampled_from(sorted(el.attrib)))]
        elif op == "drop" and el.getparent() is not None:
            el.getparent().remove(el)
        elif op == "dup" and el.getparent() is not None:
            el.addnext(copy.deepcopy(el))
        elif op == "text":
            el.text = draw(TEXT)
        elements = [e for e in root.iter() if isinstance(e.tag, str)]
    return name, etree.tostring(root)


@FUZZ
@given(mutated())
def test_mutated_tree_parses_or_raises_parse_error(case):
    name, data = case
    check(parser_for(name), data)
    record("fuzz-xml", scenarios=1)


@FUZZ
@given(st.sampled_from(sorted(_BYTES)), st.data())
def test_byte_level_damage_parses_or_raises_parse_error(name, data):
    raw = bytearray(_BYTES[name])
    op = data.draw(st.sampled_from(["truncate", "overwrite", "insert", "prefix"]))
    at = data.draw(st.integers(0, len(raw)))
    if op == "truncate":
        del raw[at:]
    elif op == "overwrite":
        junk = data.draw(st.binary(min_size=1, max_size=64))
        raw[at:at + len(junk)] = junk
    elif op == "insert":
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=64))
    else:
        raw[:0] = data.draw(st.binary(max_size=64))
    check(parser_for(name), bytes(raw))
    # The other parser on the same bytes: a crm_mon document is no stonith history and
    # vice versa, which must be a refusal, not a crash.
    other = parse_crm_mon if parser_for(name) is parse_stonith_history else parse_stonith_history
    check(other, bytes(raw))
    record("fuzz-xml", scenarios=1)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data):
    check(parse_crm_mon, data)
    check(parse_stonith_history, data)
    record("fuzz-xml", scenarios=1)
