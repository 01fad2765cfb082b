"""A Pacemaker alert's environment → one normalized event record. Pure functions.

Every ``CRM_alert_*`` value is untrusted: each is length-capped, must be printable (no
control characters, no undecodable bytes), numbers must be plain ASCII integers in
range, and a field the kind needs must be present. Anything else is ``Rejected`` with a
one-line reason; a well-formed event hakari has no use for is ``Ignored``.

The record is a flat JSON-ready dict (the spool format, ``FORMAT``); ``events.AlertEvent``
is its typed view for the engine. Standard library only: this is on the alert path.

Dedupe key (``dedupe_key``), the identity of "the same event" whichever node or
recipient reports it; the spool file name is derived from it:

- fencing:   the fencer's operation id, ``ref=`` in CRM_alert_desc. Every node reports
             every fencing result with the same ref.
- node:      node, nodeid, desc (member/lost) and the timestamp to the second. There is
             no cluster-wide id for a membership change; peers see it within milliseconds
             (their timestamps differ in the sub-second part). A pair straddling a
             second boundary lands twice, which is harmless: alerts only wake the engine,
             the cluster state is the truth.
- resource:  node, resource, operation, interval, timestamp (epoch+usec) and the node's
             alert sequence. Only the node that ran the operation reports it; the key
             collapses the copies sent to several recipients.
- attribute: node, name, value, timestamp (epoch+usec) and sequence, for the same reason.
"""

from __future__ import annotations

import hashlib
import json
import re

FORMAT = "hakari-alert/1"
KINDS = ("node", "fencing", "resource", "attribute")

# Transient node attributes the engine cares about: planned shutdown, standby and
# maintenance are not failures (safety rule 6); terminate asks for fencing; and
# hakari's own. Fail counts, #feature-set and the like are ignored.
ATTRIBUTES = frozenset({"shutdown", "standby", "maintenance", "terminate",
                        "#node-unfenced"})
ATTRIBUTE_PREFIX = "hakari"

MAX_NAME = 255
MAX_SHORT = 64
MAX_DESC = 2048
MAX_VALUE = 4096

# Pacemaker's fencing description (lib/fencing/st_client.c):
#   Operation <action> of <target> by <executioner> for <client>@<origin>:
#   <OK|Error|exec-status text>[ (<reason>)] (ref=<id>)
# The executioner is "the cluster" when no node executed it. Parsed with string
# operations, not one regular expression: several lazy groups over 2 kB of hostile text
# backtrack for seconds, and the alert has a timeout.
_TOKEN = re.compile(r"\S{1,255}")
_ACTION = re.compile(r"[A-Za-z_-]{1,32}")
_REF = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_KIND = re.compile(r"[a-z_]{1,32}")
_INT = re.compile(r"-?[0-9]{1,19}")


class Rejected(Exception):
    """The environment is not a usable alert; str() is the reason, one line."""


class Ignored(Exception):
    """A valid alert hakari deliberately does not spool; str() says why."""


def normalize(env) -> dict:
    """The record for the alert in ``env`` (a mapping of environment variables)."""
    kind = _text(env, "kind", MAX_SHORT)
    if not _KIND.fullmatch(kind):
        raise Rejected(f"CRM_alert_kind: invalid value {_show(kind)}")
    if kind not in KINDS:
        raise Ignored(f"unknown alert kind {kind!r}")
    rec = {
        "format": FORMAT,
        "key": "",
        "kind": kind,
        "node": _text(env, "node", MAX_NAME),
        "nodeid": None,
        "desc": None,
        "rc": None,
        "task": None,
        "epoch": _int(env, "timestamp_epoch", 0, 1 << 40),
        "usec": _int(env, "timestamp_usec", 0, 999_999),
        "sequence": _int(env, "node_sequence", 0, (1 << 63) - 1),
        "pacemaker_version": _text(env, "version", MAX_SHORT, required=False),
        "fencing": None,
        "resource": None,
        "attribute": None,
    }
    _BY_KIND[kind](env, rec)
    rec["key"] = dedupe_key(rec)
    return rec


def _node(env, rec: dict) -> None:
    rec["desc"] = _text(env, "desc", MAX_SHORT, spaces=True)
    rec["nodeid"] = _text(env, "nodeid", MAX_SHORT, required=False)


def _fencing(env, rec: dict) -> None:
    desc = _text(env, "desc", MAX_DESC, spaces=True)
    rc = _int(env, "rc", -(1 << 31), (1 << 31) - 1)
    rec.update(desc=desc, rc=rc, task=_text(env, "task", MAX_SHORT))
    rec["fencing"] = parse_fencing_desc(desc, rc)
    if rec["fencing"]["target"] != rec["node"]:
        raise Rejected(f"fencing target {_show(rec['fencing']['target'])} in "
                       f"CRM_alert_desc is not CRM_alert_node {_show(rec['node'])}")


def _resource(env, rec: dict) -> None:
    task = _text(env, "task", MAX_SHORT)
    rc = _int(env, "rc", -(1 << 31), (1 << 31) - 1)
    rec.update(desc=_text(env, "desc", MAX_DESC, required=False, spaces=True),
               rc=rc, task=task)
    rec["resource"] = {
        "rsc": _text(env, "rsc", MAX_NAME),
        "task": task,
        "interval_ms": _int(env, "interval", 0, (1 << 31) - 1),
        "status": _int(env, "status", -1, 255),
        "rc": rc,
        "target_rc": _int(env, "target_rc", -(1 << 31), (1 << 31) - 1),
        "exec_time_ms": _int(env, "exec_time", 0, (1 << 31) - 1, required=False),
    }


def _attribute(env, rec: dict) -> None:
    name = _text(env, "attribute_name", MAX_NAME)
    if name not in ATTRIBUTES and not name.startswith(ATTRIBUTE_PREFIX):
        raise Ignored(f"attribute {name!r} is of no interest")
    rec["nodeid"] = _text(env, "nodeid", MAX_SHORT, required=False)
    value = env.get("CRM_alert_attribute_value")
    if value is not None:
        value = _check_text("attribute_value", value, MAX_VALUE, spaces=True)
    rec["attribute"] = {"name": name, "value": value}


_BY_KIND = {"node": _node, "fencing": _fencing, "resource": _resource,
            "attribute": _attribute}


def parse_fencing_desc(desc: str, rc: int) -> dict:
    """The parts of a fencing alert's description; Rejected when it has another shape."""
    bad = Rejected("CRM_alert_desc: not a fencing result description")
    head, sep, ref = desc.rpartition(" (ref=")
    if not sep or not ref.endswith(")") or not head.startswith("Operation "):
        raise bad
    ref = ref[:-1]
    action, _, rest = head[len("Operation "):].partition(" of ")
    target, _, rest = rest.partition(" by ")
    executioner, _, rest = rest.partition(" for ")
    requester, _, outcome = rest.partition(": ")
    client, _, origin = requester.partition("@")
    result, _, reason = outcome.partition(" (")
    if reason:
        if not reason.endswith(")"):
            raise bad
        reason = reason[:-1]
    if not all(_TOKEN.fullmatch(p) for p in (target, client, origin)) or not (
            executioner and result):
        raise bad
    if not _ACTION.fullmatch(action):
        raise Rejected(f"CRM_alert_desc: invalid fencing action {_show(action)}")
    if not _REF.fullmatch(ref):
        raise Rejected(f"CRM_alert_desc: invalid ref {_show(ref)}")
    return {
        "action": action, "target": target, "executioner": executioner,
        "client": client, "origin": origin, "result": result, "reason": reason or None,
        "ref": ref,
        # Both must agree: a description saying OK with a failure code is no success.
        "ok": result == "OK" and rc == 0,
    }


def dedupe_key(rec: dict) -> str:
    """The identity of the event (see the module docstring), as a JSON array string."""
    kind = rec["kind"]
    if kind == "fencing":
        parts = [f"ref={rec['fencing']['ref']}"]
    elif kind == "node":
        parts = [rec["node"], rec["nodeid"], rec["desc"], rec["epoch"]]
    elif kind == "resource":
        r = rec["resource"]
        parts = [rec["node"], r["rsc"], r["task"], r["interval_ms"], rec["epoch"],
                 rec["usec"], rec["sequence"]]
    else:
        a = rec["attribute"]
        parts = [rec["node"], a["name"], a["value"], rec["epoch"], rec["usec"],
                 rec["sequence"]]
    return json.dumps([kind, *parts], ensure_ascii=True, separators=(",", ":"))


def spool_name(key: str, kind: str) -> str:
    """The spool file name of the event with this dedupe key."""
    return f"{kind}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}.json"


# -- field checks -----------------------------------------------------------------------

def _text(env, name: str, limit: int, *, required: bool = True,
          spaces: bool = False) -> str | None:
    value = env.get(f"CRM_alert_{name}")
    if value is None or value == "":
        if required:
            raise Rejected(f"CRM_alert_{name}: missing")
        return None
    return _check_text(name, value, limit, spaces=spaces)


def _check_text(name: str, value: str, limit: int, *, spaces: bool) -> str:
    if len(value) > limit:
        raise Rejected(f"CRM_alert_{name}: too long ({len(value)} > {limit} characters)")
    # isprintable() is False for control characters, line/paragraph separators and the
    # surrogates that stand for bytes that were not UTF-8.
    if not value.isprintable():
        raise Rejected(f"CRM_alert_{name}: control or undecodable characters")
    if not spaces and " " in value:
        raise Rejected(f"CRM_alert_{name}: contains spaces")
    return value


def _int(env, name: str, lo: int, hi: int, *, required: bool = True) -> int | None:
    value = env.get(f"CRM_alert_{name}")
    if value is None or value == "":
        if required:
            raise Rejected(f"CRM_alert_{name}: missing")
        return None
    # int() alone would also take " 7", "1_000" and non-ASCII digits.
    if not _INT.fullmatch(value):
        raise Rejected(f"CRM_alert_{name}: not an integer: {_show(value)}")
    number = int(value)
    if not lo <= number <= hi:
        raise Rejected(f"CRM_alert_{name}: out of range: {number}")
    return number


def _show(value: str) -> str:
    """Untrusted text, safe to echo in a log line: short, printable, quoted."""
    text = "".join(ch if ch.isprintable() else "?" for ch in value[:40])
    return repr(text + ("…" if len(value) > 40 else ""))
