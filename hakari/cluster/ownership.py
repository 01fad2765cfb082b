"""One owner per host recovery, cluster-wide, recorded in the CIB (safety rule 8).

The engine (which fails over between controllers) and an operator's `hakari evacuate`
on any controller must never recover the same host at once; a lock file only covers one
machine. The owner of a host's recovery is therefore a ``cluster_property_set`` of its
own in ``crm_config``, one per host, holding one JSON value. Pacemaker ignores option
names it does not know, and every node sees the record at once.

The CIB applies one operation at a time, and three of its operations are atomic on a
single record, which is all the protocol needs:

- ``cibadmin --create``: create-if-absent; exit 108 ("File exists") when the set exists.
- ``cibadmin --modify --xpath <nvpair>[@value=OLD]``: compare-and-swap; exit 105 and no
  change when the value is no longer OLD. Refreshing and taking over use it, so there
  is never a moment without a record in which a third party could slip in. (A
  ``--replace`` would do the same, but older Pacemaker releases answer a replace
  outside a named section with a new DC election.)
- ``cibadmin --delete --xpath <set>[nvpair[@value=V]]``: delete-if-unchanged; exit 0
  whether or not it matched. Release uses it: it can never remove someone else's record.

Timestamps are written by each owner's own clock: controllers must be time-synchronised
well within ``stale_after``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator

from lxml import etree

from hakari.cluster.runner import DEFAULT_TIMEOUT, ToolResult, run
from hakari.cluster.xml import parse_xml, xpath_literal
from hakari.errors import EXIT_FAILED, EXIT_USAGE, ClusterNotConnected, HakariError, ToolFailed

WHO = ("engine", "operator")
MAX_BY = 128
# Bounds what we put in argv and in the CIB, and what we agree to parse from it.
MAX_VALUE = 1024
NVPAIR_NAME = "hakari-owner"
_ID_PREFIX = "hakari-owner-"
# Keeps IDs short for 255-character host names; the hash keeps them distinct.
_ID_READABLE = 48

# cibadmin (CRM_EX_EXISTS): --create found the set already there.
_EXISTS = 108
# cibadmin (CRM_EX_NOSUCH): an XPath matched nothing; also, with CIB_file, "could not
# connect" when the file is missing, which must not read as "no record".
_NO_SUCH = 105

# Reading and acting are separate CIB calls; a record that keeps changing in between is
# retried this many times before giving up with a message rather than spinning.
_ATTEMPTS = 5
# A record not refreshed for this long belongs to a process that died (engine or
# operator): it may be taken over. Holders refresh it every third of that.
STALE_AFTER = 90.0

_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


class OwnershipError(HakariError):
    exit_code = EXIT_FAILED


class OwnedElsewhere(OwnershipError):
    """Another live owner is recovering the host."""

    exit_code = EXIT_USAGE  # a refusal, like every "not now" of hakari evacuate

    def __init__(self, host: str, owner: "Owner"):
        super().__init__(f"{host} is being recovered by {owner.describe()} since "
                         f"{_show(owner.since)} (last seen {_show(owner.refreshed)})")
        self.host = host
        self.owner = owner


class OwnershipLost(OwnershipError):
    """We held the host's recovery and no longer do: stop acting on it."""


class UnreadableOwner(OwnershipError):
    """A record exists but is not a value hakari writes (acquire takes it over)."""


@dataclasses.dataclass(frozen=True)
class Owner:
    who: str
    by: str
    pid: int
    since: dt.datetime
    refreshed: dt.datetime

    def __post_init__(self):
        if self.who not in WHO:
            raise ValueError(f"who must be one of {', '.join(WHO)}, not {self.who!r}")
        if not isinstance(self.by, str) or not self.by or len(self.by) > MAX_BY \
                or not self.by.isprintable():
            raise ValueError(f"by must be 1 to {MAX_BY} printable characters")
        if type(self.pid) is not int or not 0 < self.pid < 2**31:
            raise ValueError(f"pid must be a positive integer, not {self.pid!r}")
        for name in ("since", "refreshed"):
            # Whole seconds in UTC: the value's text then decides equality, and the
            # conditional CIB operations compare exactly that text.
            object.__setattr__(self, name, _whole_utc(getattr(self, name), name))
        if len(self.to_value()) > MAX_VALUE:
            raise ValueError(f"the owner value would exceed {MAX_VALUE} characters")

    @classmethod
    def start(cls, who: str, by: str, *, pid: int | None = None,
              now: dt.datetime | None = None) -> "Owner":
        """A new owner, since now, of this process unless ``pid`` says otherwise."""
        now = now or _utcnow()
        return cls(who, by, os.getpid() if pid is None else pid, now, now)

    def to_value(self) -> str:
        text = json.dumps({"who": self.who, "by": self.by, "pid": self.pid,
                           "since": _stamp(self.since), "refreshed": _stamp(self.refreshed)},
                          separators=(",", ":"), ensure_ascii=True)
        # No apostrophe ever: our own values always fit an XPath '...' literal.
        return text.replace("'", "\\u0027")

    @classmethod
    def from_value(cls, raw: object) -> "Owner":
        """The owner in a record's value; ValueError saying why when it is not one."""
        if not isinstance(raw, str):
            raise ValueError("not text")
        if len(raw) > MAX_VALUE:
            raise ValueError(f"{len(raw)} characters, more than {MAX_VALUE}")
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise ValueError("not JSON") from None
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        # Keys we do not know are ignored: a newer hakari may add some, and its records
        # must still count as live rather than as junk to take over.
        fields = {}
        for key, kind in (("who", str), ("by", str), ("pid", int), ("since", str),
                          ("refreshed", str)):
            value = data.get(key)
            if type(value) is not kind:
                raise ValueError(f"{key}: missing or not a {kind.__name__}")
            fields[key] = value
        return cls(fields["who"], fields["by"], fields["pid"],
                   _parse_stamp(fields["since"], "since"),
                   _parse_stamp(fields["refreshed"], "refreshed"))

    def same_owner(self, other: "Owner") -> bool:
        """Whether ``other`` may continue what this owner started (acquire re-enters).

        Every engine instance is the same owner: the engine fails over between nodes
        and its successor carries on the predecessor's recoveries. An operator is one
        process: the same ``by`` and pid.
        """
        if self.who != other.who:
            return False
        return self.who == "engine" or (self.by, self.pid) == (other.by, other.pid)

    def describe(self) -> str:
        if self.who == "engine":
            return f"the engine on {self.by} (pid {self.pid})"
        return f"operator {self.by} (pid {self.pid})"


def record_id(host: str) -> str:
    """The CIB ID of ``host``'s record: an NCName whatever the host name is."""
    if not isinstance(host, str) or not host:
        raise ValueError("host must be a non-empty string")
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", host)[:_ID_READABLE]
    digest = hashlib.sha256(host.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{_ID_PREFIX}{readable}-{digest}"


def is_stale(owner: Owner, now: dt.datetime, stale_after: float) -> bool:
    # A refresh stamped in the future (clock skew) is live, never stale.
    return (now - owner.refreshed).total_seconds() > stale_after


# -- the CIB --------------------------------------------------------------------------


def read(host: str, *, timeout: float = DEFAULT_TIMEOUT) -> Owner | None:
    """The owner of ``host``'s recovery, None when nobody; UnreadableOwner on junk."""
    seen = _read(host, timeout)
    if seen is None:
        return None
    if seen.owner is None:
        raise UnreadableOwner(f"{host}: unreadable ownership record {record_id(host)} in "
                              f"the CIB ({seen.problem})")
    return seen.owner


def acquire(host: str, me: Owner, *, timeout: float = DEFAULT_TIMEOUT,
            stale_after: float, now: dt.datetime | None = None) -> Owner:
    """Own ``host``'s recovery and return the owner as recorded (use it to refresh).

    Raises OwnedElsewhere while another owner holds it and refreshed it within
    ``stale_after`` seconds. A stale or unreadable record is taken over; one by the same
    owner (see Owner.same_owner) is re-entered.
    """
    now = _whole_utc(now or _utcnow(), "now")
    mine = dataclasses.replace(me, refreshed=now)
    for _ in range(_ATTEMPTS):
        seen = _read(host, timeout)
        if seen is None:
            if _create(host, mine, timeout):
                return mine
        elif seen.owner is not None and not seen.owner.same_owner(mine) \
                and not is_stale(seen.owner, now, stale_after):
            raise OwnedElsewhere(host, seen.owner)
        elif seen.swappable:
            if _swap(host, seen.raw, mine, timeout):
                return mine
        else:
            _delete_junk(host, timeout)
        # The record changed between our read and our write: look again.
    raise OwnershipError(f"{host}: the ownership record kept changing over {_ATTEMPTS} "
                         "attempts; try again")


def refresh(host: str, me: Owner, *, timeout: float = DEFAULT_TIMEOUT,
            now: dt.datetime | None = None) -> Owner:
    """Stamp our record as alive; OwnershipLost when it is no longer ours."""
    new = dataclasses.replace(me, refreshed=now or _utcnow())
    if _swap(host, me.to_value(), new, timeout):
        return new
    # A refresh whose answer timed out may have been applied all the same: a record of
    # this very holder, whatever its stamp, is still ours.
    seen = _read(host, timeout)
    if seen is not None and _same_holder(seen.owner, me) \
            and _swap(host, seen.raw, new, timeout):
        return new
    if seen is None:
        now_held = "its record is gone"
    elif seen.owner is None:
        now_held = f"its record is now unreadable ({seen.problem})"
    else:
        now_held = f"it is now held by {seen.owner.describe()}"
    raise OwnershipLost(f"{host}: lost the ownership of its recovery: {now_held}")


def release(host: str, me: Owner, *, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Remove our record; True if there was one. Someone else's is never touched."""
    seen = _read(host, timeout)
    if seen is None or not _same_holder(seen.owner, me):
        return False
    _delete_if_holding(host, seen.raw, timeout)
    return True


class Holding:
    """What an ``owning`` block holds: the current record, and whether it was lost."""

    def __init__(self, host: str, owner: Owner, *, timeout: float, stale_after: float,
                 refresh_every: float):
        self.host = host
        self._owner = owner
        self._lost: OwnershipError | None = None
        self._timeout = timeout
        self._stale_after = stale_after
        self._every = refresh_every
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, daemon=True,
                                        name=f"hakari-owner-{host}"[:60])

    @property
    def owner(self) -> Owner:
        with self._lock:
            return self._owner

    @property
    def lost(self) -> OwnershipError | None:
        with self._lock:
            return self._lost

    def check(self) -> None:
        """Raise if ownership was lost: call between steps that act on the host."""
        lost = self.lost
        if lost is not None:
            raise lost

    def _keep(self) -> None:
        last_ok = time.monotonic()
        while not self._stop.wait(self._every):
            try:
                owner = refresh(self.host, self.owner, timeout=self._timeout)
            except OwnershipError as err:
                self._give_up(err)
                return
            except HakariError as err:
                # A failed call is not a lost record, until it has failed for so long
                # that someone may rightly take the record over as stale (a second
                # early: the stamp is truncated to whole seconds).
                down = time.monotonic() - last_ok
                if down + 1 >= self._stale_after:
                    self._give_up(OwnershipLost(
                        f"{self.host}: could not refresh the ownership of its recovery "
                        f"for {down:.0f}s, so another owner may have taken over: {err}"))
                    return
                continue
            except Exception as err:  # noqa: BLE001 - a bug here must stop the owner
                self._give_up(OwnershipLost(f"{self.host}: refreshing ownership failed: "
                                            f"{type(err).__name__}: {err}"))
                return
            with self._lock:
                self._owner = owner
            last_ok = time.monotonic()

    def _give_up(self, err: OwnershipError) -> None:
        with self._lock:
            self._lost = err

    def _start(self) -> None:
        self._thread.start()

    def _finish(self) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def owning(host: str, me: Owner, *, timeout: float = DEFAULT_TIMEOUT,
           stale_after: float, refresh_every: float | None = None) -> Iterator[Holding]:
    """Own ``host``'s recovery for the block, refreshing the record in the background.

    On leaving, the record is released. If ownership was lost meanwhile, leaving the
    block normally raises OwnershipLost: what ran may have overlapped another owner.
    """
    every = stale_after / 3 if refresh_every is None else refresh_every
    if not 0 < every < stale_after:
        raise ValueError("refresh_every must be positive and shorter than stale_after")
    held = Holding(host, acquire(host, me, timeout=timeout, stale_after=stale_after),
                   timeout=timeout, stale_after=stale_after, refresh_every=every)
    held._start()
    try:
        yield held
    except BaseException:
        held._finish()
        # The block's own error is the one to report; a record left behind goes stale.
        with contextlib.suppress(HakariError):
            release(host, held.owner, timeout=timeout)
        raise
    held._finish()
    release(host, held.owner, timeout=timeout)
    held.check()


# -- internals ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Seen:
    raw: str | None
    owner: Owner | None
    problem: str = ""

    @property
    def swappable(self) -> bool:
        # Compare-and-swap needs the value in argv; anything longer than we would ever
        # write is removed by a test that matches junk only.
        return self.raw is not None and len(self.raw) <= MAX_VALUE


def _read(host: str, timeout: float) -> _Seen | None:
    rid = record_id(host)
    result = _cibadmin(["--query", "--xpath", _set_path(rid)], timeout, (0, _NO_SUCH))
    if result.returncode == _NO_SUCH:
        return None
    root = parse_xml(result.stdout, f"CIB ownership record {rid}", ("cluster_property_set",))
    nvpair = root.find(f"nvpair[@id='{rid}-v']")
    raw = None if nvpair is None else nvpair.get("value")
    if raw is None:
        return _Seen(None, None, "no value")
    try:
        return _Seen(raw, Owner.from_value(raw))
    except ValueError as err:
        return _Seen(raw, None, str(err))


def _create(host: str, owner: Owner, timeout: float) -> bool:
    rid = record_id(host)
    record = etree.Element("cluster_property_set", id=rid)
    etree.SubElement(record, "nvpair", id=f"{rid}-v", name=NVPAIR_NAME,
                     value=owner.to_value())
    result = _cibadmin(["--create", "--scope", "crm_config", "--xml-text",
                        etree.tostring(record, encoding="unicode")], timeout, (0, _EXISTS))
    return result.returncode == 0


def _swap(host: str, old: str, owner: Owner, timeout: float) -> bool:
    rid = record_id(host)
    new = etree.Element("nvpair", id=f"{rid}-v", name=NVPAIR_NAME, value=owner.to_value())
    result = _cibadmin(["--modify", "--xpath", f"{_set_path(rid)}/{_nvpair_is(rid, old)}",
                        "--xml-text", etree.tostring(new, encoding="unicode")],
                       timeout, (0, _NO_SUCH))
    return result.returncode == 0


def _delete_if_holding(host: str, raw: str, timeout: float) -> None:
    rid = record_id(host)
    _cibadmin(["--delete", "--xpath", f"{_set_path(rid)}[{_nvpair_is(rid, raw)}]"], timeout)


def _delete_junk(host: str, timeout: float) -> None:
    """Remove the set if it holds nothing a hakari could have written."""
    rid = record_id(host)
    _cibadmin(["--delete", "--xpath",
               f"{_set_path(rid)}[not(nvpair[@id='{rid}-v'][@value]"
               f"[string-length(@value) <= {MAX_VALUE}])]"], timeout)


def _set_path(rid: str) -> str:
    return f"/cib/configuration/crm_config/cluster_property_set[@id='{rid}']"


def _nvpair_is(rid: str, raw: str) -> str:
    return f"nvpair[@id='{rid}-v'][@value={xpath_literal(raw)}]"


def _cibadmin(args: list[str], timeout: float, ok_codes: tuple[int, ...] = (0,)) -> ToolResult:
    result = run(["cibadmin", *args], timeout=timeout, ok_codes=(*ok_codes, _NO_SUCH))
    if result.returncode != _NO_SUCH:
        return result
    detail = " ".join(result.stderr.split())[:200]
    if "Could not connect" in result.stderr:
        raise ClusterNotConnected(f"cibadmin: not connected to the cluster: {detail}",
                                  result.argv, result.returncode, result.stderr)
    if _NO_SUCH not in ok_codes:
        raise ToolFailed(f"cibadmin: exit status {_NO_SUCH}: {detail}", result.argv,
                         result.returncode, result.stderr)
    return result


def _same_holder(record: Owner | None, me: Owner) -> bool:
    """Whether ``record`` was written by this very holder, whatever its refresh stamp."""
    return record is not None and (record.who, record.by, record.pid, record.since) == \
        (me.who, me.by, me.pid, me.since)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _whole_utc(value: object, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(dt.timezone.utc).replace(microsecond=0)


def _stamp(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_stamp(text: str, name: str) -> dt.datetime:
    if not _TIMESTAMP.fullmatch(text):
        raise ValueError(f"{name}: not a UTC timestamp like 2026-01-31T12:03:04Z")
    try:
        return dt.datetime.fromisoformat(text[:-1]).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise ValueError(f"{name}: no such date or time") from None


def _show(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ")
