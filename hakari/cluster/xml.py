"""The one way hakari turns tool output into an XML tree.

Everything we parse comes from a subprocess or a file an operator names, so the parser
is locked down: no entity expansion, no DTD loading, no network, no huge-tree mode. A
DOCTYPE is refused outright: no Pacemaker tool emits one, and refusing it means no
entity trick can reach a file or the network, nor end up quoted in an error message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from lxml import etree

from hakari.display import one_line
from hakari.errors import ParseError

_local = threading.local()
# Bytes fed to a FeedParser at a time by parse_xml_pruned.
_PIECE = 1 << 16


# Every external-resource and expansion feature off.
_HARDENED = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    attribute_defaults=False,
    huge_tree=False,
    # No xml:id hash table: nothing here looks elements up by ID, and skipping it
    # saves work on large documents.
    collect_ids=False,
)


def hardened_parser(remove_blank_text: bool = False) -> etree.XMLParser:
    """A new parser with every external-resource and expansion feature off."""
    return etree.XMLParser(remove_blank_text=remove_blank_text, **_HARDENED)


def _thread_parser() -> etree.XMLParser:
    # lxml parsers keep state while parsing and must not be shared across threads; one
    # per thread avoids building a parser per call on the hot path.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = hardened_parser()
    return parser


def parse_xml(data: bytes, what: str, roots: tuple[str, ...], *,
              remove_blank_text: bool = False) -> etree._Element:
    """Parse ``data`` and return its root element, or raise a one-line ParseError.

    ``what`` names the document in messages ("crm_mon XML"); ``roots`` lists the root
    tags accepted. ``remove_blank_text`` drops formatting whitespace, for callers that
    compare or re-serialise trees.
    """
    _check_data(data, what)
    try:
        parser = hardened_parser(True) if remove_blank_text else _thread_parser()
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as err:
        raise _syntax_error(err, what) from None
    return _checked(root, what, roots)


def parse_xml_pruned(data: bytes, what: str, roots: tuple[str, ...], tags: tuple[str, ...],
                     prune: Callable[[etree._Element], None]) -> etree._Element:
    """Like parse_xml, calling ``prune(element)`` as each element named in ``tags`` is
    complete, to drop what the caller will not read while the tree is being built: a
    large document then never sits in memory whole. Formatting whitespace is dropped."""
    _check_data(data, what)
    parser = FeedParser(what, roots, tags, prune)
    # In pieces, as a tool's output comes: libxml2 refuses one larger than 10 MB.
    for start in range(0, len(data), _PIECE):
        parser.feed(data[start:start + _PIECE])
    return parser.close()


class FeedParser:
    """parse_xml_pruned for a document that arrives in pieces (a tool's output as it
    writes it): ``feed`` each piece, then ``close`` for the root or the ParseError.
    ``feed`` never raises: the first error is kept for ``close``, what follows it
    ignored, so that a tool's output can still be read to its end."""

    def __init__(self, what: str, roots: tuple[str, ...], tags: tuple[str, ...],
                 prune: Callable[[etree._Element], None]):
        self.what, self.roots, self._prune = what, roots, prune
        self._parser = etree.XMLPullParser(events=("end",), tag=tags,
                                           remove_blank_text=True, **_HARDENED)
        self._empty = True
        self._error: Exception | None = None

    def feed(self, data: bytes) -> None:
        if self._error is not None:
            return
        self._empty = self._empty and data.isspace()
        try:
            self._parser.feed(data)
            for _, element in self._parser.read_events():
                self._prune(element)
        except Exception as err:  # noqa: BLE001 - kept for close(), which judges it
            self._error = err

    def close(self) -> etree._Element:
        """The root; ParseError for a document that is not well-formed; what ``prune``
        raised, as it raised it."""
        if self._empty and self._error is None:
            raise ParseError(f"{self.what}: empty document")
        try:
            if self._error is not None:
                raise self._error
            root = self._parser.close()
            for _, element in self._parser.read_events():
                self._prune(element)
        except etree.XMLSyntaxError as err:
            raise _syntax_error(err, self.what) from None
        return _checked(root, self.what, self.roots)


def xpath_literal(text: str) -> str:
    """``text`` as an XPath 1.0 string literal, for queries the Pacemaker tools run."""
    # XPath 1.0 has no escapes: a literal with both quote kinds must be a concat().
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ", \"'\", ".join(f"'{part}'" for part in text.split("'")) + ")"


def _check_data(data: bytes, what: str) -> None:
    if not isinstance(data, bytes):
        raise TypeError("parse_xml wants bytes: the XML declaration decides the encoding")
    if not data or data.isspace():
        raise ParseError(f"{what}: empty document")


def _syntax_error(err: etree.XMLSyntaxError, what: str) -> ParseError:
    # err.msg is libxml2's own text plus line/column; it never contains entity
    # replacement text because none is ever loaded.
    return ParseError(f"{what}: not well-formed XML: {one_line(err.msg or 'unknown error')}")


def _checked(root: etree._Element, what: str, roots: tuple[str, ...]) -> etree._Element:
    if root.getroottree().docinfo.doctype:
        raise ParseError(f"{what}: a DOCTYPE declaration is not accepted (no Pacemaker "
                         "tool emits one)")
    if root.tag not in roots:
        expected = " or ".join(f"<{r}>" for r in roots)
        raise ParseError(f"{what}: unexpected root element <{_tag_name(root.tag)}>, "
                         f"expected {expected}")
    return root


def _tag_name(tag) -> str:
    text = tag if isinstance(tag, str) else "?"
    return one_line(text)[:80]


