"""Request bodies and list parameters checked as Masakari's API checks them. Pure.

Each function takes the decoded JSON body (or the query's pairs) and returns the values
to store, or raises ApiError(400) naming the first field that is wrong, so that a bad
request stores nothing. The rules are Masakari's: which fields each body has and which
are required, names of printable characters not starting or ending with a space, the
enumerations, booleans spelled as Masakari accepts them, and the payload of each
notification type as masakari-monitors sends it.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping

from hakari.api.faults import ApiError

RECOVERY_METHODS = ("auto", "reserved_host", "auto_priority", "rh_priority")
COMPUTE_HOST, VM, PROCESS = "COMPUTE_HOST", "VM", "PROCESS"
NOTIFICATION_TYPES = (COMPUTE_HOST, VM, PROCESS)
STARTED, STOPPED = "STARTED", "STOPPED"
EVENTS = (STARTED, STOPPED)
HOST_STATUSES = ("NORMAL", "UNKNOWN")
CLUSTER_STATUSES = ("ONLINE", "OFFLINE")
TRUE = frozenset({True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes"})
FALSE = frozenset({False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No",
                   "no"})
SORT_DIRS = ("asc", "desc")
# Appended to every sort, newest first, so that pages never overlap.
DEFAULT_SORT = ("created_at", "id")

_TYPE = re.compile(r"^[a-zA-Z0-9]*$")
_HOSTNAME = re.compile(r"^[a-zA-Z0-9._-]*$")
_PAYLOAD_KEY = re.compile(r"^[a-zA-Z0-9_:. -]{1,255}$")
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I)


def _bad(path: str, why: str) -> ApiError:
    return ApiError(400, f"Invalid input for field/attribute {path}: {why}")


def _printable(c: str, spaces: bool = True) -> bool:
    # Letters, marks, numbers, punctuation, symbols and (if ``spaces``) the space
    # separators of the Basic Multilingual Plane; no control or format characters.
    category = unicodedata.category(c)
    if ord(c) >= 0xFFFF or category.startswith("C"):
        return False
    return not category.startswith("Z") or (spaces and category == "Zs")


def _string(value, path: str, *, nullable: bool = False, min_length: int = 0,
            max_length: int | None = None) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise _bad(path, f"{value!r} is not a string")
    if len(value) < min_length:
        raise _bad(path, "must not be empty" if min_length == 1 else
                   f"shorter than {min_length} characters")
    if max_length is not None and len(value) > max_length:
        raise _bad(path, f"longer than {max_length} characters")
    return value


def name(value, path: str) -> str:
    value = _string(value, path, min_length=1, max_length=255)
    if not all(_printable(c) for c in value) or not _printable(value[0], False) \
            or not _printable(value[-1], False):
        raise _bad(path, "printable characters only, not starting or ending with a space")
    return value


def description(value, path: str) -> str | None:
    value = _string(value, path, nullable=True)
    if value is not None and not all(c == "\n" or _printable(c) for c in value):
        raise _bad(path, "printable characters and new lines only")
    return value


def host_type(value, path: str) -> str | None:
    value = _string(value, path, nullable=True, max_length=255)
    if value is not None and not _TYPE.match(value):
        raise _bad(path, "letters and digits only")
    return value


def boolean(value, path: str) -> bool:
    if isinstance(value, (bool, str)):
        if value in TRUE:
            return True
        if value in FALSE:
            return False
    raise _bad(path, f"{value!r} is not a boolean (true/false, yes/no, on/off, 1/0)")


def _choice(value, choices: Iterable[str], path: str) -> str:
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise _bad(path, f"{value!r} is not one of {', '.join(choices)}")
    return value


def _object(body, key: str, fields: Mapping[str, object], required: Iterable[str] = (),
            any_of: bool = False) -> dict:
    """``body['key']`` checked field by field (``fields``: name -> checker(value, path));
    unknown fields and top-level keys are refused, as are missing required ones."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    extra = sorted(set(body) - {key})
    if extra:
        raise ApiError(400, f"Additional properties are not allowed ({extra[0]!r} was "
                            "unexpected).")
    if key not in body:
        raise ApiError(400, f"{key!r} is a required property.")
    obj = body[key]
    if not isinstance(obj, dict):
        raise _bad(key, f"{obj!r} is not an object")
    extra = sorted(set(obj) - set(fields))
    if extra:
        raise ApiError(400, f"Additional properties are not allowed ({extra[0]!r} was "
                            f"unexpected in {key}).")
    for field in required:
        if field not in obj:
            raise ApiError(400, f"{field!r} is a required property of {key}.")
    if any_of and not obj:
        raise ApiError(400, f"{key} must change at least one of: {', '.join(fields)}.")
    return {f: fields[f](v, f"{key}/{f}") for f, v in obj.items()}


# -- segments ---------------------------------------------------------------------------

def _segment_fields(version: tuple[int, int]) -> dict:
    fields = {"name": name, "description": description, "service_type": name,
              "recovery_method": lambda v, p: _choice(v, RECOVERY_METHODS, p)}
    if version >= (1, 2):
        fields["enabled"] = boolean
    return fields


def segment_create(body, version: tuple[int, int]) -> dict:
    values = _object(body, "segment", _segment_fields(version),
                     ("name", "recovery_method", "service_type"))
    values.setdefault("description", None)
    values.setdefault("enabled", True)
    return values


def segment_update(body, version: tuple[int, int]) -> dict:
    return _object(body, "segment", _segment_fields(version), any_of=True)


# -- hosts ------------------------------------------------------------------------------

HOST_FIELDS = {"name": name, "type": host_type, "control_attributes": description,
               "reserved": boolean, "on_maintenance": boolean}


def host_create(body) -> dict:
    values = _object(body, "host", HOST_FIELDS, ("name", "type", "control_attributes"))
    values.setdefault("reserved", False)
    values.setdefault("on_maintenance", False)
    return values


def host_update(body) -> dict:
    return _object(body, "host", HOST_FIELDS, any_of=True)


# -- notifications ----------------------------------------------------------------------

def timestamp(value, path: str) -> dt.datetime:
    """An ISO 8601 date and time (``2017-04-24 08:34:46``, ``…T…Z``, with an offset or
    fractions); without an offset it is UTC, as masakari-monitors sends it."""
    value = _string(value, path, min_length=1, max_length=64)
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _bad(path, f"{value!r} is not a date and time") from None
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


def hostname(value, path: str) -> str:
    value = _string(value, path, min_length=1, max_length=255)
    if not _HOSTNAME.match(value):
        raise _bad(path, "letters, digits, '.', '_' and '-' only")
    return value


def _payload_string(max_length: int):
    return lambda v, p: _string(v, p, min_length=1, max_length=max_length)


PAYLOADS = {
    COMPUTE_HOST: ({"event": lambda v, p: _choice(v, EVENTS, p),
                    "host_status": lambda v, p: _choice(v, HOST_STATUSES, p),
                    "cluster_status": lambda v, p: _choice(v, CLUSTER_STATUSES, p)},
                   ("event",)),
    PROCESS: ({"event": lambda v, p: _choice(v, EVENTS, p),
               "process_name": _payload_string(4096)}, ("process_name", "event")),
    VM: ({"instance_uuid": lambda v, p: uuid(v, p),
          "vir_domain_event": _payload_string(255), "event": _payload_string(255)},
         ("instance_uuid", "vir_domain_event", "event")),
}


def uuid(value, path: str) -> str:
    if not isinstance(value, str) or not _UUID.match(value):
        raise _bad(path, f"{value!r} is not a UUID")
    return value


def payload(value, kind: str, path: str = "notification/payload") -> dict:
    if not isinstance(value, dict):
        raise _bad(path, f"{value!r} is not an object")
    for key, item in value.items():
        if not _PAYLOAD_KEY.match(key):
            raise _bad(path, f"{key!r} is not a valid key")
        _string(item, f"{path}/{key}", max_length=255)
    fields, required = PAYLOADS[kind]
    extra = sorted(set(value) - set(fields))
    if extra:
        raise ApiError(400, f"Additional properties are not allowed ({extra[0]!r} was "
                            f"unexpected in the {kind} payload).")
    for field in required:
        if field not in value:
            raise ApiError(400, f"{field!r} is a required property of the {kind} payload.")
    return {f: fields[f](v, f"{path}/{f}") for f, v in value.items()}


def notification_create(body) -> dict:
    """type, hostname, generated_time (aware, UTC) and the payload checked for its type."""
    values = _object(body, "notification", {
        "type": lambda v, p: _choice(v, NOTIFICATION_TYPES, p), "hostname": hostname,
        "generated_time": timestamp, "payload": lambda v, p: v},
        ("type", "hostname", "generated_time", "payload"))
    values["payload"] = payload(values["payload"], values["type"])
    return values


# -- list parameters --------------------------------------------------------------------

def _integer(value: str, what: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"{what} must be an integer, not {value!r}.") from None
    if number < 0:
        raise ApiError(400, f"{what} must be 0 or more, not {value!r}.")
    return number


def pagination(params: Iterable[tuple[str, str]], max_limit: int) -> tuple[int, int | None]:
    """(limit, marker): at most ``max_limit`` items, after the item whose id is the
    marker (the last one of the previous page)."""
    params = dict(params)
    limit = min(_integer(params["limit"], "limit"), max_limit) if "limit" in params \
        else max_limit
    marker = params.get("marker")
    if marker is None:
        return limit, None
    try:
        return limit, int(marker)
    except ValueError:
        raise ApiError(400, f"Marker {marker!r} could not be found.") from None


def sorting(params: Iterable[tuple[str, str]],
            keys: Iterable[str]) -> list[tuple[str, str]]:
    """[(key, direction)…] from repeated sort_key and sort_dir parameters; the first
    direction (or desc) extends to keys without one and to the DEFAULT_SORT keys."""
    keys = frozenset(keys)
    params = list(params)
    asked = [v.strip() for k, v in params if k == "sort_key"] or [DEFAULT_SORT[0]]
    dirs = [v.strip() for k, v in params if k == "sort_dir"] or ["desc"]
    for key in asked:
        if key not in keys:
            raise ApiError(400, f"Sort key supplied is invalid: {key}")
    for d in dirs:
        if d not in SORT_DIRS:
            raise ApiError(400, "Unknown sort direction, must be 'asc' or 'desc'.")
    if len(dirs) > len(asked):
        raise ApiError(400, "Sort direction size exceeds sort key size.")
    default = dirs[0]
    dirs += [default] * (len(asked) - len(dirs))
    order = list(zip(asked, dirs))
    order += [(k, default) for k in DEFAULT_SORT if k not in asked]
    return order


def since(value: str) -> dt.datetime:
    """The ``generated-since`` filter."""
    try:
        return timestamp(value, "generated-since")
    except ApiError:
        raise ApiError(400, "Invalid generated-since value.") from None
