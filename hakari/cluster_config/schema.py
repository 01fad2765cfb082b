"""The cluster variables file: load it and check every field before anything is rendered.

All problems are collected, one line each, so an operator fixes the file in one pass.
Names are checked strictly because they end up in XML ids, shell commands, corosync.conf
and hakari.conf; free-form values (fence parameters) only need to be printable, since the
templates escape them for XML and quote them for the shell.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import yaml

from hakari import config, paths
from hakari.cluster_config.fields import (CLOUD_RE, CLUSTER_NAME_RE, HOSTNAME_RE, MAX_LINKS,
                                          OPTION_RE, PROPERTY_RE, RECIPIENT_RE,
                                          SERVICE_AGENT_RE, SQL_URL_RE, URL_RE,
                                          is_secret_param, kind, seconds)
from hakari.cluster_config.node_checks import NodeChecks
from hakari.errors import HakariError
from hakari.inputfile import InputError, read_bounded

# The templates' defaults (cib.xml.j2, pcs-commands.sh.j2), and the time fence_hakari's
# `on` needs besides its wait: start-up and two Nova calls.
DEFAULT_EVACUATION_WAIT = 50
DEFAULT_STONITH_TIMEOUT = "120s"
UNFENCING_MARGIN = 10

TOP_KEYS = {
    "cluster_name", "cloud", "clouds_file", "state_dir", "node_domain",
    "hakari_conf_path", "allow_inline_secrets", "corosync", "quorum", "controllers",
    "computes", "fencing", "nova_compute", "alert", "properties", "policies", "api",
}
COROSYNC_KEYS = {"crypto_cipher", "crypto_hash", "keyfile", "token", "links"}
LINK_KEYS = {"priority", "transport"}
QUORUM_KEYS = {"two_node", "wait_for_all", "qdevice"}
QDEVICE_KEYS = {"host", "algorithm", "tls", "port"}
NOVA_COMPUTE_KEYS = {"managed", "agent"}
ALERT_KEYS = {"recipient", "timeout"}
API_KEYS = {"enabled", "bind_host", "bind_port", "url", "public_url", "internal_url",
            "admin_url", "region", "connection", "keystone_authtoken", "policy_file",
            "conf_path"}
ENDPOINT_KINDS = ("public", "internal", "admin")
# _macros.j2's default for api.conf_path.
API_CONF_PATH = "/etc/hakari/api.conf"

# A variables file in examples/cluster.yaml's layout is 1.2 MB (YAML or JSON) for
# 4,096 nodes and takes PyYAML about 3 s to load. PyYAML's time grows with the number
# of values, not bytes: 2 MiB of nothing but one-character list items takes it about
# 25 s, which bounds what the worst file can cost.
MAX_VARS_BYTES = 2 << 20
# The deepest path in a valid file is 6 levels (fencing.devices[i].host_map.node).
MAX_DEPTH = 32
# A 4,096-node file in that layout has about 100,000 values (keys included).
MAX_VALUES = 1_000_000

CIPHERS = ("none", "aes256", "aes192", "aes128")
HASHES = ("none", "md5", "sha1", "sha256", "sha384", "sha512")

# hakari.conf options the templates derive from the top-level fields.
DERIVED_OPTIONS = {
    "cluster": {"compute_nodes", "node_map", "node_domain"},
    "openstack": {"cloud", "clouds_file"},
    "DEFAULT": {"state_dir"},
    "api": {"bind_host", "bind_port", "connection"},
}


class VarsError(HakariError):
    """The variables file is unusable; ``errors`` holds one line per problem."""

    def __init__(self, source: str, errors: list[str]):
        self.source = source
        self.errors = list(errors)
        super().__init__(f"{source}: " + "; ".join(self.errors))


def load_vars(path: str) -> dict:
    """Read a YAML (or JSON, a subset of YAML) variables file into a mapping."""
    try:
        text = read_bounded(path, MAX_VARS_BYTES).decode("utf-8")
    except InputError as err:
        raise VarsError(err.label, [err.reason]) from None
    except UnicodeDecodeError:
        raise VarsError(path, ["not UTF-8 text"]) from None
    try:
        if path.endswith(".json"):
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        raise VarsError(path, [f"not valid YAML/JSON: {' '.join(str(err).split())}"]) from None
    except RecursionError:
        # Both parsers recurse once per level of nesting.
        raise VarsError(path, [f"nested more than {MAX_DEPTH} levels deep"]) from None
    if not isinstance(data, dict):
        raise VarsError(path, ["the top level must be a mapping of variables"])
    return data


def nesting_problem(data: Any) -> str | None:
    """Why ``data`` is too deep or too big to be walked, or None.

    Iterative, so no nesting can exhaust the stack; it stops after MAX_VALUES values,
    so YAML aliases that multiply one list many times over cannot make it (or the
    checks that follow) run for ever.
    """
    pending = [(data, 1)]
    seen = 0
    while pending:
        value, depth = pending.pop()
        seen += 1
        if seen > MAX_VALUES:
            return f"more than {MAX_VALUES} values"
        if isinstance(value, dict):
            children = list(value.keys()) + list(value.values())
        elif isinstance(value, (list, tuple)):
            children = value
        else:
            continue
        if depth >= MAX_DEPTH and children:
            return f"nested more than {MAX_DEPTH} levels deep"
        pending.extend((child, depth + 1) for child in children)
    return None


def validate(data: Any) -> tuple[list[str], list[str]]:
    """Check the variables; return (errors, warnings), each a list of one-line texts."""
    problem = nesting_problem(data)
    if problem is not None:
        # The checks below format values into messages; bounded input keeps that cheap.
        return [f"variables: {problem}"], []
    v = _Validator()
    v.check(data)
    return v.errors, v.warnings


def _host_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return HOSTNAME_RE.fullmatch(text) is not None


def _members(data) -> list[dict]:
    """The cluster members, from data not yet known to be well-formed."""
    out = []
    for role in ("controllers", "computes"):
        entries = data.get(role)
        if isinstance(entries, list):
            out += [n for n in entries if isinstance(n, dict) and n.get("remote") is not True]
    return out


class _Validator(NodeChecks):
    def check(self, data) -> None:
        if self.mapping(data, "variables", TOP_KEYS,
                        ("cluster_name", "cloud", "controllers", "computes")) is None:
            return
        if "allow_inline_secrets" in data:
            self.boolean(data["allow_inline_secrets"], "allow_inline_secrets")
            self.allow_inline = data["allow_inline_secrets"] is True
        if "cluster_name" in data:
            self.text(data["cluster_name"], "cluster_name", CLUSTER_NAME_RE,
                      "1-32 letters, digits, '_' or '-', starting with a letter")
        if "cloud" in data:
            self.text(data["cloud"], "cloud", CLOUD_RE,
                      "a clouds.yaml cloud name (letters, digits, '.', '_', '-')")
        for key in ("clouds_file", "state_dir", "hakari_conf_path"):
            if key in data:
                self.path(data[key], key)
        problem = paths.own_dir_problem(data["state_dir"]) \
            if isinstance(data.get("state_dir"), str) else None
        if problem is not None:
            # hakari creates, re-modes and may purge it: never a system directory.
            self.err("state_dir", problem)
        if "node_domain" in data:
            self.text(data["node_domain"], "node_domain", HOSTNAME_RE, "a DNS domain")
        nodes = self.nodes(data)
        self.corosync(data.get("corosync", {}), nodes)
        self.link_count(data)
        self.quorum(data.get("quorum", {}), nodes)
        self.fencing(data.get("fencing", {}), nodes)
        self.nova_compute(data.get("nova_compute", {}))
        self.alert(data.get("alert", {}))
        self.properties(data.get("properties", {}))
        self.unfencing_fits(data)
        self.policies(data.get("policies", {}))
        self.api(data.get("api", {}), len(data["controllers"])
                 if isinstance(data.get("controllers"), list) else 0,
                 data.get("hakari_conf_path", paths.DEFAULT_CONFIG_FILE))

    def corosync(self, value, nodes) -> None:
        if self.mapping(value, "corosync", COROSYNC_KEYS) is None:
            return
        cipher, hash_ = value.get("crypto_cipher", "aes256"), value.get("crypto_hash", "sha256")
        if "crypto_cipher" in value and cipher not in CIPHERS:
            self.err("corosync.crypto_cipher", f"one of {', '.join(CIPHERS)}")
        if "crypto_hash" in value and hash_ not in HASHES:
            self.err("corosync.crypto_hash", f"one of {', '.join(HASHES)}")
        if cipher != "none" and hash_ == "none":
            self.err("corosync", "crypto_cipher needs a crypto_hash other than none")
        if "keyfile" in value:
            self.path(value["keyfile"], "corosync.keyfile")
        if "token" in value:
            self.integer(value["token"], "corosync.token", 100, 600000)
        if "links" in value:
            links = value["links"]
            if not isinstance(links, list):
                self.err("corosync.links", "must be a list (one entry per link)")
                return
            if len(links) > MAX_LINKS:
                self.err("corosync.links", f"at most {MAX_LINKS} links")
            for i, link in enumerate(links):
                where = f"corosync.links[{i}]"
                if self.mapping(link, where, LINK_KEYS) is None:
                    continue
                if "priority" in link:
                    self.integer(link["priority"], f"{where}.priority", 0, 255)
                if "transport" in link and link["transport"] not in ("udp", "sctp"):
                    self.err(f"{where}.transport", "udp or sctp")

    def link_count(self, data) -> None:
        links = (data.get("corosync") or {}).get("links") if isinstance(
            data.get("corosync"), dict) else None
        counts = {len(n["addresses"]) for n in _members(data)
                  if isinstance(n.get("addresses"), list)}
        if isinstance(links, list) and len(counts) == 1 and len(links) > min(counts):
            self.err("corosync.links", f"{len(links)} links configured but members have "
                     f"{min(counts)} address(es) each")

    def quorum(self, value, nodes) -> None:
        if self.mapping(value, "quorum", QUORUM_KEYS) is None:
            return
        for key in ("two_node", "wait_for_all"):
            if key in value:
                self.boolean(value[key], f"quorum.{key}")
        members = sum(1 for n in nodes.values() if not n["remote"])
        if value.get("two_node") is True and members != 2:
            self.err("quorum.two_node", f"needs exactly 2 cluster members, not {members}")
        if "qdevice" in value:
            q = value["qdevice"]
            if value.get("two_node") is True:
                self.err("quorum", "two_node and qdevice exclude each other: the quorum "
                         "device breaks the tie")
            if self.mapping(q, "quorum.qdevice", QDEVICE_KEYS, ("host",)) is None:
                return
            if "host" in q:
                self.text(q["host"], "quorum.qdevice.host", HOSTNAME_RE,
                          "the qnetd server's host name or IPv4 address")
            if "algorithm" in q and q["algorithm"] not in ("ffsplit", "lms"):
                self.err("quorum.qdevice.algorithm", "ffsplit or lms")
            if "tls" in q and q["tls"] not in ("on", "off", "required"):
                self.err("quorum.qdevice.tls", "on, off or required")
            if "port" in q:
                self.integer(q["port"], "quorum.qdevice.port", 1, 65535)

    def nova_compute(self, value) -> None:
        if self.mapping(value, "nova_compute", NOVA_COMPUTE_KEYS) is None:
            return
        if "managed" in value:
            self.boolean(value["managed"], "nova_compute.managed")
        if "agent" in value:
            self.text(value["agent"], "nova_compute.agent", SERVICE_AGENT_RE,
                      "a resource agent such as systemd:nova-compute or "
                      "ocf:provider:type")

    def alert(self, value) -> None:
        if self.mapping(value, "alert", ALERT_KEYS) is None:
            return
        if "recipient" in value:
            self.text(value["recipient"], "alert.recipient", RECIPIENT_RE,
                      "the absolute path of hakari.conf on the nodes (the alert agent "
                      "reads its state_dir from it): '/' then printable ASCII without "
                      "spaces, at most 256 characters")
        if "timeout" in value:
            self.duration(value["timeout"], "alert.timeout")

    def properties(self, value) -> None:
        if not isinstance(value, dict):
            self.err("properties", f"must be a mapping, not {kind(value)}")
            return
        for key, val in value.items():
            if not isinstance(key, str) or not PROPERTY_RE.fullmatch(key):
                self.err("properties", f"invalid cluster property name {str(key)[:40]!r}")
                continue
            self.scalar(val, f"properties.{key}")
            if key == "stonith-enabled" and str(val).lower() not in ("true", "1", "yes", "on"):
                self.err("properties.stonith-enabled", "hakari never evacuates without "
                         "fencing: it must stay true")

    def unfencing_fits(self, data) -> None:
        """fence_hakari's unfencing (`on`) waits up to evacuation_wait for the host's
        evacuations; Pacemaker kills it at the fencing timeout, counts a failed
        unfencing and, after stonith-max-attempts of them, gives up on the node."""
        fencing = data.get("fencing") if isinstance(data.get("fencing"), dict) else {}
        props = data.get("properties") if isinstance(data.get("properties"), dict) else {}
        wait = fencing.get("evacuation_wait", DEFAULT_EVACUATION_WAIT)
        raw = props.get("stonith-timeout", DEFAULT_STONITH_TIMEOUT)
        timeout = seconds(raw)
        if not isinstance(wait, int) or isinstance(wait, bool) or timeout is None:
            return  # reported by the checks of each
        if wait + UNFENCING_MARGIN > timeout:
            self.err("fencing.evacuation_wait",
                     f"{wait}s does not fit in stonith-timeout {raw}: fence_hakari's "
                     f"unfencing waits up to evacuation_wait and Pacemaker stops it at the "
                     f"fencing timeout; keep it at least {UNFENCING_MARGIN}s below")

    def policies(self, value) -> None:
        if not isinstance(value, dict):
            self.err("policies", f"must be a mapping, not {kind(value)}")
            return
        known = {group: {opt.name for opt in opts} for group, opts in config.list_opts()}
        for group, options in value.items():
            if group not in known:
                self.err("policies", f"unknown hakari.conf section {str(group)[:40]!r} "
                         f"(known: {', '.join(sorted(known))})")
                continue
            if not isinstance(options, dict):
                self.err(f"policies.{group}", "must be a mapping of option to value")
                continue
            for name, val in options.items():
                where = f"policies.{group}.{name}"
                if name in DERIVED_OPTIONS.get(group, ()):
                    self.err(where, "set in the api section" if group == "api" else
                             "derived from the top-level fields; set it there")
                elif name not in known[group]:
                    self.err(where, f"unknown option in [{group}]")
                else:
                    self.scalar(val, where, ini=True)

    def api(self, value, controllers: int, hakari_conf) -> None:
        """`hakari api` as a clone on the controllers (docs/api.md). Values that may
        hold a password (connection, keystone_authtoken's secrets) are never quoted
        in a message."""
        if self.mapping(value, "api", API_KEYS) is None:
            return
        if "enabled" in value:
            self.boolean(value["enabled"], "api.enabled")
        if "bind_host" in value and self.text(value["bind_host"], "api.bind_host") \
                is not None and not _host_address(value["bind_host"]):
            self.err("api.bind_host", f"invalid value {value['bind_host'][:60]!r}: an IPv4 "
                     "or IPv6 address or a host name (0.0.0.0: every address)")
        if "bind_port" in value:
            self.integer(value["bind_port"], "api.bind_port", 1, 65535)
        for key in ["url"] + [f"{i}_url" for i in ENDPOINT_KINDS]:
            if key in value:
                self.text(value[key], f"api.{key}", URL_RE,
                          "http(s)://host[:port][/path], the load balancer's address "
                          "(/v1/%(tenant_id)s is added)")
        if "region" in value:
            self.text(value["region"], "api.region", CLOUD_RE,
                      "a Keystone region id (letters, digits, '.', '_', '-')")
        if "connection" in value:
            conn = value["connection"]
            if isinstance(conn, bool) or not isinstance(conn, str):
                self.err("api.connection", f"must be a string, not {kind(conn)}")
            elif not SQL_URL_RE.fullmatch(conn) or "$" in conn:
                self.err("api.connection", "must be an SQLAlchemy URL such as "
                         "mysql+pymysql://USER:PASSWORD@HOST/DATABASE (printable, no "
                         "spaces or '$'); its value is not shown here")
        for key in ("policy_file", "conf_path"):
            if key in value:
                self.path(value[key], f"api.{key}")
        auth = value.get("keystone_authtoken", {})
        if isinstance(auth, dict):
            for name, val in auth.items():
                where = f"api.keystone_authtoken.{str(name)[:40]}"
                if not isinstance(name, str) or not OPTION_RE.fullmatch(name):
                    self.err("api.keystone_authtoken", f"invalid option name "
                             f"{str(name)[:40]!r}")
                elif is_secret_param(name):
                    # The generic check, without a value that could end up in a log.
                    if val is None or isinstance(val, (dict, list)) or "$" in str(val) \
                            or not str(val).isprintable() or not str(val):
                        self.err(where, "must be printable text without '$'; its value "
                                 "is not shown here")
                else:
                    self.scalar(val, where, ini=True)
        else:
            self.err("api.keystone_authtoken", f"must be a mapping, not {kind(auth)}")
        if value.get("enabled") is not True:
            return
        if value.get("conf_path", API_CONF_PATH) == hakari_conf:
            self.err("api.conf_path", "must not be hakari_conf_path: api.conf holds the "
                     "API's passwords and is installed root-only, hakari.conf readable by "
                     "the haclient group")
        if not any(k in value for k in ("url", "public_url")):
            self.err("api", "enabled without an endpoint: set url (every interface) or "
                     "public_url for the Keystone catalog")
        if isinstance(auth, dict) and "auth_type" not in auth and "auth_section" not in auth:
            self.err("api.keystone_authtoken", "missing auth_type: hakari api validates "
                     "every token with Keystone (auth_type: password, auth_url, username, "
                     "password, project_name, user_domain_name, project_domain_name)")
        if "connection" not in value and controllers > 1:
            self.warnings.append(
                f"api.connection: not set: each of the {controllers} controllers' hakari "
                "api keeps its own SQLite records; set a database they all share")
