"""The fence-agent calling convention, independent of any one agent.

Pacemaker runs a fence agent with no arguments and ``key=value`` lines on stdin; people
run it with getopt-style options. Both end up as one dict of parameter values. Exit codes
and metadata follow fence-agents (docs/design.md, "Facts hakari relies on").
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

from lxml import etree

EXIT_OK = 0
EXIT_FAIL = 1
# `status`/`monitor`: reachable, and the target is off.
EXIT_OFF = 2

_TRUE = frozenset({"1", "yes", "on", "true"})
_FALSE = frozenset({"0", "no", "off", "false"})
MAX_LINE = 4096
MAX_LINES = 256
# All Pacemaker can send: read no more than this from stdin, whatever is piped in.
MAX_INPUT = MAX_LINES * (MAX_LINE + 2)
# Refused anywhere in a stdin line (tab aside): controls, format characters, lone
# surrogates (undecodable input) and line/paragraph separators. Pacemaker separates lines
# with "\n" only, so any of these inside a line is data posing as a line break
# (str.splitlines() breaks on \x0b, \x1c, \x85, U+2028 ... too) or hiding text.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


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

    Lines end with "\n" (a "\r" before it is tolerated); a line holding any other
    control or line-separator character is refused. A parameter given twice (aliases
    included) must have the same value both times, otherwise the input is refused: no
    later line can override an earlier one, so nothing smuggled into a value can change
    the action or the target. Errors name the line number, never a value (values may be
    secrets).

    Unknown keys are reported and ignored, as fence-agents do: Pacemaker passes
    attributes meant for itself (``nodename``, ``pcmk_*``) to every agent.
    """
    lookup = _lookup(params)
    values: dict[str, str] = {}
    warnings: list[str] = []
    if len(text) > MAX_INPUT:
        raise UsageError(f"input larger than {MAX_INPUT} characters")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if len(lines) > MAX_LINES:
        raise UsageError(f"too many input lines ({len(lines)} > {MAX_LINES})")
    for number, raw in enumerate(lines, 1):
        if raw.endswith("\r"):
            raw = raw[:-1]
        if len(raw) > MAX_LINE:
            raise UsageError(f"input line {number} is too long")
        bad = _refused_char(raw)
        if bad is not None:
            raise UsageError(f"input line {number}: control or line-separator character "
                             f"U+{ord(bad):04X} refused")
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise UsageError(f"input line {number}: expected key=value")
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        param = lookup.get(_key(key))
        if param is None:
            if not _key(key).startswith("pcmk_"):
                warnings.append(f"ignoring unknown parameter {_safe(key)!r}")
            continue
        if values.get(param.name, value) != value:
            named = "" if _key(key) == param.name else f" (here as {_safe(key.strip())!r})"
            raise UsageError(f"input line {number}: key {param.name!r} given twice with "
                             f"different values{named}")
        values[param.name] = value
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


def _refused_char(line: str) -> str | None:
    if line.isprintable():  # false for every refused category: the common case is cheap
        return None
    for ch in line:
        if ch != "\t" and unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return ch
    return None


def _safe(text: str) -> str:
    """Echo untrusted input back shortened and stripped of control characters."""
    return "".join(ch if ch.isprintable() else "?" for ch in text[:60])
