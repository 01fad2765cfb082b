"""OCF resource agent plumbing (OCF 1.1 as Pacemaker runs it), independent of any agent.

An agent declares its parameters and actions and implements handlers; ``run()`` does the
rest: the action is the first argument (extra ones ignored), ``meta-data`` needs neither
root nor valid parameters, unknown actions exit 3, ``OCF_RESKEY_*`` values are checked
and converted, ``OCFError`` becomes an exit code plus an exit reason on stderr
(``OCF_EXIT_REASON_PREFIX``), and nothing escapes as a traceback.

Meta-data validates against resource-agents' ra-api-1.dtd (what ocf-tester checks with
xmllint) and carries ``<version>1.1</version>``. The DTD knows no ``advanced`` flag, so
parameters for tests and debugging say so in their descriptions.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Callable, Mapping
from xml.sax.saxutils import escape, quoteattr

# Exit codes, OCF 1.1 names (resource-agents' ocf-returncodes, Pacemaker's PCMK_OCF_*).
OCF_SUCCESS = 0
OCF_ERR_GENERIC = 1
OCF_ERR_ARGS = 2
OCF_ERR_UNIMPLEMENTED = 3
OCF_ERR_PERM = 4
OCF_ERR_INSTALLED = 5
OCF_ERR_CONFIGURED = 6
OCF_NOT_RUNNING = 7
OCF_RUNNING_PROMOTED = 8
OCF_FAILED_PROMOTED = 9
OCF_DEGRADED = 190
OCF_DEGRADED_PROMOTED = 191

OCF_API_VERSION = "1.1"
DEFAULT_EXIT_REASON_PREFIX = "ocf-exit-reason:"
MAX_VALUE = 4096
MAX_REASON = 300
PARAM_TYPES = ("string", "integer", "boolean")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_INSTANCE_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


class OCFError(Exception):
    """Fail the action with ``rc``; ``reason`` (one line) becomes the exit reason."""

    def __init__(self, rc: int, reason: str):
        super().__init__(reason)
        self.rc = rc
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Parameter:
    name: str
    shortdesc: str
    longdesc: str
    type: str = "string"          # string | integer | boolean
    default: str | None = None
    required: bool = False
    unique: bool = False
    minimum: int | None = None    # integers
    maximum: int | None = None

    def convert(self, raw: str):
        """The typed value of raw (from the environment); OCFError if invalid."""
        if len(raw) > MAX_VALUE:
            raise OCFError(OCF_ERR_CONFIGURED, f"{self.name}: value too long")
        if not raw.isprintable():
            raise OCFError(OCF_ERR_CONFIGURED, f"{self.name}: control characters in value")
        if self.type == "boolean":
            low = raw.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise OCFError(OCF_ERR_CONFIGURED, f"{self.name}: not a boolean: {_show(raw)}")
        if self.type == "integer":
            if not _INTEGER.fullmatch(raw.strip()):
                raise OCFError(OCF_ERR_CONFIGURED,
                               f"{self.name}: not an integer: {_show(raw)}")
            value = int(raw)
            if (self.minimum is not None and value < self.minimum) or (
                    self.maximum is not None and value > self.maximum):
                raise OCFError(OCF_ERR_CONFIGURED, f"{self.name}: {value} out of range "
                               f"[{self.minimum}, {self.maximum}]")
            return value
        return raw


@dataclasses.dataclass(frozen=True)
class Action:
    name: str
    timeout: str                  # e.g. "20s"
    interval: str | None = None
    depth: str | None = None


@dataclasses.dataclass(frozen=True)
class AgentInfo:
    name: str
    version: str
    shortdesc: str
    longdesc: str
    parameters: tuple[Parameter, ...]
    actions: tuple[Action, ...]


@dataclasses.dataclass
class Context:
    """One invocation: the action and what Pacemaker told the agent."""

    action: str
    environ: Mapping[str, str]
    info: AgentInfo
    _params: dict | None = None

    @property
    def params(self) -> dict:
        """Parameters by name, typed, defaults applied. Parsed on first use so that an
        action that needs none (stop, a probe) still works with broken ones."""
        if self._params is None:
            self._params = parse_params(self.environ, self.info.parameters)
        return self._params

    @property
    def instance(self) -> str:
        """OCF_RESOURCE_INSTANCE, made safe for a file name."""
        raw = self.environ.get("OCF_RESOURCE_INSTANCE", "") or self.info.name
        return _INSTANCE_UNSAFE.sub("_", raw[:200]).lstrip(".") or self.info.name

    @property
    def interval_ms(self) -> int:
        return _int_env(self.environ, "OCF_RESKEY_CRM_meta_interval", 0)

    @property
    def is_probe(self) -> bool:
        return self.action == "monitor" and self.interval_ms == 0

    @property
    def timeout(self) -> float:
        """Seconds Pacemaker gives this action (OCF_RESKEY_CRM_meta_timeout), else the
        meta-data default."""
        ms = _int_env(self.environ, "OCF_RESKEY_CRM_meta_timeout", 0)
        if ms > 0:
            return ms / 1000.0
        for action in self.info.actions:
            if action.name == self.action:
                return parse_duration(action.timeout)
        return 20.0

    @property
    def check_level(self) -> int:
        return _int_env(self.environ, "OCF_CHECK_LEVEL", 0)

    @property
    def node(self) -> str | None:
        """The Pacemaker node this runs on, when Pacemaker says so."""
        value = self.environ.get("OCF_RESKEY_CRM_meta_on_node", "")
        return value if value and value.isprintable() and len(value) <= 255 else None


Handler = Callable[[Context], int]


def parse_params(environ: Mapping[str, str], parameters) -> dict:
    values = {}
    for p in parameters:
        raw = environ.get(f"OCF_RESKEY_{p.name}")
        if raw is None or raw == "":
            if p.required:
                raise OCFError(OCF_ERR_CONFIGURED, f"parameter {p.name} is required")
            raw = p.default
        values[p.name] = None if raw is None else p.convert(raw)
    return values


def parse_duration(text: str) -> float:
    """Pacemaker-style time: 30, 30s, 500ms, 2m, 2min, 1h."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|min|h)?\s*", text or "")
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    factor = {"ms": 0.001, None: 1, "s": 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]
    return float(m.group(1)) * factor


def metadata(info: AgentInfo) -> str:
    """The agent's meta-data XML (valid against ra-api-1.dtd and OCF 1.1)."""
    out = ['<?xml version="1.0"?>',
           '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">',
           f"<resource-agent name={quoteattr(info.name)} version={quoteattr(info.version)}>",
           f"  <version>{OCF_API_VERSION}</version>",
           f'  <longdesc lang="en">{escape(info.longdesc)}</longdesc>',
           f'  <shortdesc lang="en">{escape(info.shortdesc)}</shortdesc>',
           "  <parameters>"]
    for p in info.parameters:
        if p.type not in PARAM_TYPES:
            raise ValueError(f"{p.name}: type {p.type!r} not in {PARAM_TYPES}")
        out.append(f"    <parameter name={quoteattr(p.name)} unique=\"{int(p.unique)}\" "
                   f"required=\"{int(p.required)}\">")
        out.append(f'      <longdesc lang="en">{escape(p.longdesc)}</longdesc>')
        out.append(f'      <shortdesc lang="en">{escape(p.shortdesc)}</shortdesc>')
        default = "" if p.default is None else f" default={quoteattr(p.default)}"
        out.append(f'      <content type="{p.type}"{default}/>')
        out.append("    </parameter>")
    out.append("  </parameters>")
    out.append("  <actions>")
    for a in info.actions:
        attrs = f"name={quoteattr(a.name)} timeout={quoteattr(a.timeout)}"
        if a.interval is not None:
            attrs += f" interval={quoteattr(a.interval)}"
        if a.depth is not None:
            attrs += f" depth={quoteattr(a.depth)}"
        out.append(f"    <action {attrs}/>")
    out.append("  </actions>")
    out.append("</resource-agent>")
    return "\n".join(out) + "\n"


def exit_reason(message: str, environ: Mapping[str, str] | None = None) -> None:
    """Tell Pacemaker why the action failed (shown as exit-reason in crm_mon)."""
    environ = os.environ if environ is None else environ
    prefix = environ.get("OCF_EXIT_REASON_PREFIX") or DEFAULT_EXIT_REASON_PREFIX
    _stderr(f"{prefix}{_one_line(message)[:MAX_REASON]}")


def log(message: str) -> None:
    """A line for Pacemaker's log (agents' stderr ends up there)."""
    _stderr(_one_line(message)[:1000])


def run(info: AgentInfo, handlers: Mapping[str, Handler], argv: list[str] | None = None,
        environ: Mapping[str, str] | None = None) -> int:
    """Run the action named by argv[1] and return the exit code."""
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    action = argv[1] if len(argv) > 1 else ""
    try:
        if action == "meta-data":
            sys.stdout.write(metadata(info))
            sys.stdout.flush()
            return OCF_SUCCESS
        if action in ("usage", "help", "--help", "-h"):
            sys.stdout.write(usage(info, handlers))
            return OCF_SUCCESS
        handler = handlers.get(action)
        if handler is None:
            _stderr(usage(info, handlers).rstrip("\n"))
            return OCF_ERR_UNIMPLEMENTED
        return int(handler(Context(action, environ, info)))
    except OCFError as err:
        exit_reason(err.reason, environ)
        return err.rc
    except Exception as err:  # noqa: BLE001 - Pacemaker needs an exit code, not a traceback
        exit_reason(f"internal error in {info.name} {_show(action)}: "
                    f"{type(err).__name__}: {err}", environ)
        return OCF_ERR_GENERIC


def usage(info: AgentInfo, handlers: Mapping[str, Handler]) -> str:
    names = ["meta-data", *sorted(handlers)]
    return f"usage: {info.name} {{{'|'.join(names)}}}\n"


def _int_env(environ: Mapping[str, str], name: str, default: int) -> int:
    value = (environ.get(name) or "").strip()
    return int(value) if _INTEGER.fullmatch(value) else default


def _one_line(text: str) -> str:
    return " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())


def _show(text: str) -> str:
    return repr("".join(ch if ch.isprintable() else "?" for ch in text[:40]))


def _stderr(line: str) -> None:
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - nowhere left to report to
        pass
