"""Field-level checks shared by the cluster variables validator: one error line each."""

from __future__ import annotations

import re

# Letters first: a remote node's name is also its connection resource's XML id.
NODE_NAME_RE = re.compile(r"^[A-Za-z](?:[A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$")
HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
CLUSTER_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
CLOUD_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEVICE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,47}$")
FENCE_AGENT_RE = re.compile(r"^fence_[a-z0-9_]{1,60}$")
PARAM_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
PROPERTY_RE = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
# keystonemiddleware's (and any oslo.config) option names.
OPTION_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# A catalog endpoint's base: scheme, host (or [IPv6]), port, path. Nothing the shell or
# Keystone's %(tenant_id)s substitution would read.
URL_RE = re.compile(r"^https?://(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])"
                    r"(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]{0,200})?$")
# An SQLAlchemy URL; the password in it may be any printable text but a space.
SQL_URL_RE = re.compile(r"^[a-z][a-z0-9+]{0,40}://[!-~]{0,1000}$")
PATH_RE = re.compile(r"^/[A-Za-z0-9._/+-]{0,4095}$")
DURATION_RE = re.compile(r"^[1-9][0-9]{0,8}(ms|s|m|min|h)?$")
_UNIT_SECONDS = {"": 1.0, "s": 1.0, "ms": 0.001, "m": 60.0, "min": 60.0, "h": 3600.0}


def seconds(value) -> float | None:
    """A Pacemaker duration (30, 30s, 500ms, 2min, 1h) in seconds; None if it is not one."""
    m = DURATION_RE.match(str(value))
    if m is None:
        return None
    unit = m.group(1) or ""
    return float(str(value)[:len(str(value)) - len(unit)]) * _UNIT_SECONDS[unit]
SERVICE_AGENT_RE = re.compile(
    r"^(?:(?:systemd|lsb|service):[A-Za-z0-9_.@-]{1,128}"
    r"|ocf:[A-Za-z0-9_-]{1,64}:[A-Za-z0-9_.-]{1,128})$")
# Pacemaker's pcmk_host_map uses ':' and ';' (and spaces) as separators.
PLUG_RE = re.compile(r"^[A-Za-z0-9_.@/+-]{1,128}$")
# Pacemaker passes it to the alert agent as one environment variable; the agent reads
# its state_dir from the hakari.conf it names, so anything but an absolute path makes
# every alert fail.
RECIPIENT_RE = re.compile(r"^/[!-~]{0,255}$")

MAX_LINKS = 8  # knet
MAX_VALUE_LEN = 1024

# Parameter names whose value is a credential. *_script / *_file name a way to get it.
_SECRET_WORDS = ("passw", "secret", "token", "community", "api_key", "apikey")
_SECRET_REF_SUFFIXES = ("_script", "_file", "_path")
# Whole words of a name that mark key material rather than a login credential: "kg" is
# the IPMIv2 BMC key (fence_ipmilan's hexadecimal_kg, shared by fence_idrac, fence_ilo*,
# fence_imm). A bare "key" is not one: fence_scsi's and fence_mpath's key is a SCSI
# reservation key, and fence_docker's tlskey a file path.
_KEY_WORDS = frozenset({"kg"})


def param_key(name: str) -> str:
    """The parameter as fence-agents know it: they read "hexadecimal-kg" and
    "hexadecimal_kg" alike."""
    return name.lower().replace("-", "_")


def is_key_param(name: str) -> bool:
    """Key material: a secret, yet no replacement for the password a login needs."""
    lowered = param_key(name)
    return not lowered.endswith(_SECRET_REF_SUFFIXES) and not _KEY_WORDS.isdisjoint(
        lowered.split("_"))


def is_secret_param(name: str) -> bool:
    lowered = param_key(name)
    if lowered.endswith(_SECRET_REF_SUFFIXES):
        return False
    return is_key_param(name) or any(word in lowered for word in _SECRET_WORDS)


class Fields:
    """Collects errors and warnings; the type and format checks every section uses."""

    def __init__(self):
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.allow_inline = False

    def err(self, where: str, msg: str) -> None:
        self.errors.append(f"{where}: {msg}")

    # -- generic field checks ---------------------------------------------------------

    def mapping(self, value, where, allowed, required=()) -> dict | None:
        if not isinstance(value, dict):
            self.err(where, f"must be a mapping, not {kind(value)}")
            return None
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                self.err(where, f"unknown field {str(key)[:40]!r} (known: "
                         f"{', '.join(sorted(allowed))})")
        for key in required:
            if key not in value:
                self.err(where, f"missing required field {key!r}")
        return value

    def text(self, value, where, regex=None, what="") -> str | None:
        if isinstance(value, bool) or not isinstance(value, str):
            self.err(where, f"must be a string, not {kind(value)}")
            return None
        if regex is not None and not regex.fullmatch(value):
            self.err(where, f"invalid value {value[:60]!r}: {what}")
            return None
        return value

    def boolean(self, value, where) -> None:
        if not isinstance(value, bool):
            self.err(where, f"must be true or false, not {kind(value)}")

    def integer(self, value, where, lo, hi) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(where, f"must be an integer, not {kind(value)}")
            return None
        if not lo <= value <= hi:
            self.err(where, f"{value} is out of range {lo}..{hi}")
            return None
        return value

    def scalar(self, value, where, *, ini=False) -> None:
        """A free-form value rendered into XML, shell and (if ini) hakari.conf."""
        if value is None or isinstance(value, (dict, list)):
            self.err(where, f"must be a string, number or boolean, not {kind(value)}")
            return
        if isinstance(value, str):
            if not value or len(value) > MAX_VALUE_LEN or not value.isprintable():
                self.err(where, "must be 1-1024 printable characters (no newlines or "
                         "control characters)")
            elif ini and "$" in value:
                # oslo.config would substitute $name references in hakari.conf.
                self.err(where, "'$' is not allowed in hakari.conf values")

    def path(self, value, where) -> None:
        self.text(value, where, PATH_RE, "an absolute path of letters, digits and ._/+-")

    def duration(self, value, where) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        self.text(value, where, DURATION_RE, "a duration such as 30s, 500ms or 2min")

    # -- the document -----------------------------------------------------------------

def kind(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)
