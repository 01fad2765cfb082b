"""Fence history: ``<fence_event>`` elements, from crm_mon or ``stonith_admin --history``.

One parser for both sources, because safety rule 1 rests on these events: two copies
that drift apart would mean two different answers to "is this host fenced?".
"""

from __future__ import annotations

import datetime as dt
import functools
import re

from lxml import etree

from hakari.cluster.result import check_status
from hakari.cluster.xml import parse_xml
from hakari.errors import ParseError
from hakari.model import FENCE_STATUSES, FenceEvent

STONITH_WHAT = "stonith_admin history XML"
STONITH_ROOTS = ("pacemaker-result",)

_STATUSES = frozenset(FENCE_STATUSES)

# 2.0.3-2.1.5: "2026-11-23 22:31:49Z" or "2015-04-13 16:06:27 +02:00"; 2.1.6+ adds
# microseconds. "T" and a missing colon in the offset are accepted for hand-written input.
_ISO = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
    r"\s*(?:(Z)|([+-])(\d\d):?(\d\d))?")
# Legacy (1.1.x crm_mon -X) prints ctime(3): "Mon Apr 13 16:06:27 2015", "Mon Apr  3 ...".
_CTIME = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) +"
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) "
    r"(\d\d):(\d\d):(\d\d) (\d{4})")
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


@functools.lru_cache(maxsize=1024)
def parse_completed(text: str) -> dt.datetime | None:
    """A fence event's ``completed`` attribute as a timezone-aware datetime.

    Empty means "not completed" (pending events; normalized test output). Times without
    an offset, including legacy ctime, are the local time of the machine that printed
    them, which for crm_mon is this one.
    """
    text = text.strip()
    if not text:
        return None
    try:
        m = _ISO.fullmatch(text)
        if m:
            micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
            naive = dt.datetime(*map(int, m.group(1, 2, 3, 4, 5, 6)), micro)
            if m.group(8):
                return naive.replace(tzinfo=dt.timezone.utc)
            if m.group(9):
                offset = dt.timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
                if m.group(9) == "-":
                    offset = -offset
                return naive.replace(tzinfo=dt.timezone(offset))
            return naive.astimezone()
        m = _CTIME.fullmatch(text)
        if m:
            naive = dt.datetime(int(m.group(6)), _MONTHS[m.group(1)], int(m.group(2)),
                                int(m.group(3)), int(m.group(4)), int(m.group(5)))
            return naive.astimezone()
    except ValueError:
        pass  # out-of-range fields: fall through to the one error message
    raise ParseError(f"fence event: unrecognised completion time {text[:60]!r}")


def _opt(el: etree._Element, name: str) -> str | None:
    return el.get(name) or None


def parse_fence_event(el: etree._Element) -> FenceEvent:
    """One ``<fence_event>``: 2.x ``status=`` or legacy 1.1 ``state=``."""
    target = el.get("target")
    action = el.get("action")
    if not target or not action:
        raise ParseError("fence event without target or action")
    status = el.get("status") or el.get("state")
    if status not in _STATUSES:
        # An unknown status must never be read as success; refuse the document instead.
        what = f"unknown status {status[:40]!r}" if status else "no status"
        raise ParseError(f"fence event for {target}: {what}")
    completed = el.get("completed")
    return FenceEvent(
        target=target,
        action=action,
        status=status,
        completed=parse_completed(completed) if completed else None,
        delegate=_opt(el, "delegate"),
        origin=_opt(el, "origin"),
        client=_opt(el, "client"),
        exit_reason=_opt(el, "exit-reason"),
    )


def parse_fence_events(container: etree._Element | None) -> tuple[FenceEvent, ...]:
    """The events directly under ``container``, in the order Pacemaker printed them.

    Pacemaker prints newest first (pending before completed); the order is kept because
    it is the only tie-breaker for events completed within the same second.
    """
    if container is None:
        return ()
    return tuple(parse_fence_event(el) for el in container.iterchildren("fence_event"))


def parse_stonith_history(data: bytes) -> tuple[FenceEvent, ...]:
    """``stonith_admin --history '*' --verbose --output-as=xml``."""
    return stonith_history_from_root(parse_xml(data, STONITH_WHAT, STONITH_ROOTS))


def stonith_history_from_root(root: etree._Element) -> tuple[FenceEvent, ...]:
    check_status(root, STONITH_WHAT)
    lists = list(root.iterchildren("list"))
    if not lists and "stonith_admin" not in (root.get("request") or ""):
        # stonith_admin may leave the list out when there is no history; any other
        # document without one is not a fencing history at all.
        raise ParseError(f"{STONITH_WHAT}: no <list> of fence events (is this "
                         "stonith_admin --history output?)")
    events: list[FenceEvent] = []
    for part in lists:
        events.extend(parse_fence_events(part))
    return tuple(events)
