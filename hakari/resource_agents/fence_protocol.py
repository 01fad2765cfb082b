"""The fence-agent calling convention, independent of any one agent.

Pacemaker runs a fence agent with no arguments and ``key=value`` lines on stdin; people
run it with getopt-style options. Both end up as one dict of parameter values. Exit codes
and metadata follow fence-agents (see INTERFACES.md, section b).
"""

from __future__ import annotations

import dataclasses
import re

from lxml import etree

EXIT_OK = 0
EXIT_FAIL = 1
# `status`/`monitor`: reachable, and the target is off.
EXIT_OFF = 2

_TRUE = frozenset({"1", "yes", "on", "true"})
_FALSE = frozenset({"0", "no", "off", "false"})
MAX_LINE = 4096
MAX_LINES = 256


class UsageError(Exception):
    """Bad input to the agent: the message is one line for the operator."""


@dataclasses.dataclass(frozen=True)
class Param:
    name: str
    shortdesc: str
    getopt: str  # e.g. "-n, --plug=[id]" as fence-agents prints it
    type: str = "string"  # string | boolean | integer | second | select
    default: str | None = None
    required: bool = False
    obsoletes: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def long_option(self) -> str:
        return re.search(r"--([\w-]+)", self.getopt).group(1)

    @property
    def short_option(self) -> str | None:
        m = re.match(r"-(\w)\b", self.getopt)
        return m.group(1) if m else None

    @property
    def takes_value(self) -> bool:
        return "=" in self.getopt


def _key(name: str) -> str:
    return name.strip().replace("-", "_").lower()


def parse_stdin(text: str, params: list[Param]) -> tuple[dict[str, str], list[str]]:
    """Parse Pacemaker's ``key=value`` lines. Returns (values, warnings).

    Unknown keys are reported and ignored, as fence-agents do: Pacemaker passes
    attributes meant for itself (``nodename``, ``pcmk_*``) to every agent.
    """
    lookup = _lookup(params)
    values: dict[str, str] = {}
    warnings: list[str] = []
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise UsageError(f"too many input lines ({len(lines)} > {MAX_LINES})")
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE:
            raise UsageError(f"input line {number} is too long")
        if "=" not in line:
            raise UsageError(f"input line {number}: expected key=value")
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if not _printable(value):
            raise UsageError(f"input line {number}: control characters in value")
        param = lookup.get(_key(key))
        if param is None:
            if not _key(key).startswith("pcmk_"):
                warnings.append(f"ignoring unknown parameter {_safe(key)!r}")
            continue
        values[param.name] = value  # last duplicate wins
    return values, warnings


def parse_argv(argv: list[str], params: list[Param]) -> dict[str, str]:
    """Parse ``-o off -n node2`` / ``--action=off --plug node2`` style options."""
    by_long = {p.long_option: p for p in params}
    by_short = {p.short_option: p for p in params if p.short_option}
    values: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        inline = None
        if arg.startswith("--"):
            name, _, inline = arg[2:].partition("=")
            param = by_long.get(name) or by_long.get(name.replace("_", "-"))
            inline = inline if "=" in arg else None
        elif arg.startswith("-") and len(arg) >= 2:
            param = by_short.get(arg[1])
            inline = arg[2:] or None
        else:
            raise UsageError(f"unexpected argument {_safe(arg)!r}")
        if param is None:
            raise UsageError(f"unknown option {_safe(arg.split('=')[0])!r}")
        if param.takes_value:
            if inline is None:
                i += 1
                if i >= len(argv):
                    raise UsageError(f"option {arg} needs a value")
                inline = argv[i]
            values[param.name] = inline
        else:
            values[param.name] = "1"
        i += 1
    return values


def to_bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise UsageError(f"not a boolean: {_safe(value)!r}")


def metadata(name: str, shortdesc: str, longdesc: str, params: list[Param],
             actions: list[tuple[str, dict]]) -> bytes:
    """Metadata XML in fence-agents' format (not the OCF one: no <version>)."""
    root = etree.Element("resource-agent", name=name, shortdesc=shortdesc)
    etree.SubElement(root, "longdesc").text = longdesc
    etree.SubElement(root, "vendor-url").text = ""
    ps = etree.SubElement(root, "parameters")
    for p in params:
        attrs = {"name": p.name, "unique": "0", "required": "1" if p.required else "0"}
        if p.obsoletes:
            attrs["obsoletes"] = p.obsoletes
        el = etree.SubElement(ps, "parameter", **attrs)
        etree.SubElement(el, "getopt", mixed=p.getopt)
        content = {"type": p.type}
        if p.default is not None:
            content["default"] = p.default
        etree.SubElement(el, "content", **content)
        etree.SubElement(el, "shortdesc", lang="en").text = p.shortdesc
    acts = etree.SubElement(root, "actions")
    for action, attrs in actions:
        etree.SubElement(acts, "action", name=action, **attrs)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _lookup(params: list[Param]) -> dict[str, Param]:
    table: dict[str, Param] = {}
    for p in params:
        for name in (p.name, p.long_option, *p.aliases, *( [p.obsoletes] if p.obsoletes else [])):
            table[_key(name)] = p
    return table


def _printable(value: str) -> bool:
    return all(ch == "\t" or ord(ch) >= 32 for ch in value) and "\x7f" not in value


def _safe(text: str) -> str:
    """Echo untrusted input back shortened and stripped of control characters."""
    return "".join(ch if ch.isprintable() else "?" for ch in text[:60])
