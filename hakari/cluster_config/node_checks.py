"""Checks of the nodes and their fencing: names, ids, addresses, devices, topology."""

from __future__ import annotations

import ipaddress

from hakari.cluster_config.fields import (
    DEVICE_NAME_RE, FENCE_AGENT_RE, HOSTNAME_RE, MAX_LINKS, NODE_NAME_RE, PARAM_RE, PLUG_RE,
    Fields, is_key_param, is_secret_param, kind, param_key)

# Set by hakari itself: a user value would be silently wrong.
_RESERVED_FENCE_PARAMS = frozenset({"pcmk_host_list", "pcmk_host_map", "action"})

# Well-known power agents: the parameters they cannot work without, as alternatives.
_AGENT_NEEDS = {
    "fence_ipmilan": (("ip", "ipaddr"), ("username", "login")),
    "fence_ipmilanplus": (("ip", "ipaddr"), ("username", "login")),
    "fence_idrac": (("ip", "ipaddr"), ("username", "login")),
    "fence_ilo3": (("ip", "ipaddr"), ("username", "login")),
    "fence_ilo4": (("ip", "ipaddr"), ("username", "login")),
    "fence_ilo5": (("ip", "ipaddr"), ("username", "login")),
    "fence_imm": (("ip", "ipaddr"), ("username", "login")),
    "fence_redfish": (("ip", "ipaddr"), ("username", "login")),
    "fence_virsh": (("ip", "ipaddr"), ("username", "login"), ("port", "plug")),
    "fence_apc_snmp": (("ip", "ipaddr"),),
}
_CREDENTIAL_REFS = ("password_script", "passwd_script", "identity_file")

NODE_KEYS = {"name", "nodeid", "addresses", "fence"}
COMPUTE_KEYS = NODE_KEYS | {"remote", "nova_host"}
FENCING_KEYS = {"evacuation_wait", "devices", "extra_levels"}
DEVICE_KEYS = {"name", "agent", "params", "host_map"}
LEVEL_KEYS = {"node", "devices"}
FENCE_KEYS = {"agent", "params"}


class NodeChecks(Fields):
    def nodes(self, data) -> dict[str, dict]:
        """Check controllers and computes; return the valid nodes by name."""
        by_name: dict[str, dict] = {}
        seen_names: dict[str, str] = {}
        seen_ids: dict[int, str] = {}
        seen_addrs: dict[str, str] = {}
        members: list[tuple[str, list]] = []
        for role, keys in (("controllers", NODE_KEYS), ("computes", COMPUTE_KEYS)):
            if role not in data:
                continue
            entries = data[role]
            if not isinstance(entries, list) or not entries:
                self.err(role, "must be a non-empty list of nodes")
                continue
            for i, node in enumerate(entries):
                where = f"{role}[{i}]"
                if isinstance(node, dict) and isinstance(node.get("name"), str) and \
                        NODE_NAME_RE.fullmatch(node["name"]):
                    where = f"{role}[{i}] {node['name']}"
                if self.mapping(node, where, keys, ("name", "addresses", "fence")) is None:
                    continue
                name = None
                if "name" in node:
                    name = self.text(node["name"], f"{role}[{i}].name", NODE_NAME_RE,
                                     "a node name: letters, digits, '.', '-', starting "
                                     "with a letter, at most 63 characters")
                if name:
                    if name.lower() in seen_names:
                        self.err(where, f"duplicate node name (also {seen_names[name.lower()]})")
                    else:
                        seen_names[name.lower()] = f"{role}[{i}]"
                remote = node.get("remote", False)
                if "remote" in node:
                    self.boolean(remote, f"{where}.remote")
                if remote is True:
                    if "nodeid" in node:
                        self.err(where, "a remote node (pacemaker_remote) has no corosync "
                                 "nodeid: remove it")
                    if name and name.startswith("hakari-"):
                        self.err(where, "a remote node's name may not start with 'hakari-' "
                                 "(it is also its connection resource's id)")
                elif "nodeid" not in node:
                    self.err(where, "missing required field 'nodeid' (corosync node id, "
                             "1-65535)")
                else:
                    nid = self.integer(node["nodeid"], f"{where}.nodeid", 1, 65535)
                    if nid is not None:
                        if nid in seen_ids:
                            self.err(where, f"duplicate nodeid {nid} (also {seen_ids[nid]})")
                        else:
                            seen_ids[nid] = where
                addrs = self.addresses(node.get("addresses"), f"{where}.addresses",
                                       seen_addrs)
                if addrs is not None:
                    if remote is True and len(addrs) != 1:
                        self.err(f"{where}.addresses", "a remote node has exactly one "
                                 "address: the one pacemaker_remote listens on")
                    elif remote is not True:
                        members.append((where, addrs))
                if "nova_host" in node:
                    self.text(node["nova_host"], f"{where}.nova_host", HOSTNAME_RE,
                              "a host name as Nova knows it")
                if "fence" in node:
                    self.power_fence(node["fence"], f"{where}.fence")
                if name:
                    by_name[name] = {"role": role, "remote": remote is True}
        self.links(members)
        return by_name

    def addresses(self, value, where, seen) -> list | None:
        if not isinstance(value, list) or not value:
            self.err(where, "must be a non-empty list of IP addresses or host names")
            return None
        if len(value) > MAX_LINKS:
            self.err(where, f"at most {MAX_LINKS} addresses (knet links)")
        out = []
        for j, addr in enumerate(value):
            if isinstance(addr, bool) or not isinstance(addr, str):
                self.err(f"{where}[{j}]", f"must be a string, not {kind(addr)}")
                out.append(None)
                continue
            try:
                ip = ipaddress.ip_address(addr)
                key = ip.compressed
                family = ip.version
            except ValueError:
                if not HOSTNAME_RE.fullmatch(addr) or addr.replace(".", "").isdigit():
                    self.err(f"{where}[{j}]", f"invalid address {addr[:60]!r}: an IP "
                             "address or a host name")
                    out.append(None)
                    continue
                key, family = addr.lower(), None
            if key in seen:
                self.err(f"{where}[{j}]", f"duplicate address {addr} (also {seen[key]})")
            else:
                seen[key] = where
            out.append(family)
        return out

    def links(self, members) -> None:
        if not members:
            return
        counts = {len(a) for _, a in members}
        if len(counts) > 1:
            detail = ", ".join(f"{w}: {len(a)}" for w, a in members)
            self.err("addresses", "every cluster member needs the same number of "
                     f"addresses, one per knet link ({detail})")
            return
        for link in range(counts.pop()):
            families = {a[link] for _, a in members if a[link] is not None}
            if len(families) > 1:
                self.err("addresses", f"link {link} mixes IPv4 and IPv6 addresses")

    def power_fence(self, value, where) -> None:
        if self.mapping(value, where, FENCE_KEYS, ("agent", "params")) is None:
            return
        agent = None
        if "agent" in value:
            agent = self.text(value["agent"], f"{where}.agent", FENCE_AGENT_RE,
                              "a fence agent name such as fence_ipmilan")
            if agent == "fence_hakari":
                self.err(f"{where}.agent", "fence_hakari is added to every compute's "
                         "topology by hakari; name the power device here")
        if "params" in value:
            self.fence_params(value["params"], f"{where}.params", agent)

    def fence_params(self, params, where, agent) -> None:
        if not isinstance(params, dict) or not params:
            self.err(where, "must be a non-empty mapping of fence agent parameters")
            return
        for key, val in params.items():
            if not isinstance(key, str) or not PARAM_RE.fullmatch(key):
                self.err(where, f"invalid parameter name {str(key)[:40]!r}")
                continue
            if key in _RESERVED_FENCE_PARAMS:
                self.err(f"{where}.{key}", "set by hakari; remove it")
                continue
            self.scalar(val, f"{where}.{key}")
            if is_secret_param(key):
                if self.allow_inline:
                    self.warnings.append(
                        f"{where}.{key}: inline secret; cib.xml and pcs-commands.sh are "
                        "written with mode 0600")
                else:
                    self.err(f"{where}.{key}", "inline secret refused: reference it "
                             "instead (e.g. password_script: a command that prints it), "
                             "or set allow_inline_secrets: true")
        for alternatives in _AGENT_NEEDS.get(agent, ()):
            if not any(a in params for a in alternatives):
                self.err(where, f"{agent} needs {' or '.join(alternatives)}")
        names = {param_key(k) for k in params if isinstance(k, str)}
        # A BMC key (hexadecimal_kg) secures the session; the login still needs a password.
        if agent in _AGENT_NEEDS and names & {"username", "login"} and not (
                names & set(_CREDENTIAL_REFS)) and not any(
                is_secret_param(k) and not is_key_param(k) for k in names):
            self.err(where, f"{agent} needs a credential: password_script (a command "
                     "that prints the password) or identity_file")

    def fencing(self, value, nodes) -> None:
        if self.mapping(value, "fencing", FENCING_KEYS) is None:
            return
        if "evacuation_wait" in value:
            self.integer(value["evacuation_wait"], "fencing.evacuation_wait", 1, 3600)
        devices: dict[str, set] = {}
        for i, dev in enumerate(value.get("devices") or []):
            where = f"fencing.devices[{i}]"
            if self.mapping(dev, where, DEVICE_KEYS,
                            ("name", "agent", "params", "host_map")) is None:
                continue
            name = None
            if "name" in dev:
                name = self.text(dev["name"], f"{where}.name", DEVICE_NAME_RE,
                                 "letters, digits and '-', starting with a letter")
            if name:
                where = f"fencing.devices[{i}] {name}"
                if name in devices:
                    self.err(where, "duplicate device name")
            self.power_fence({k: dev[k] for k in FENCE_KEYS if k in dev}, where)
            hosts = set()
            hmap = dev.get("host_map")
            if not isinstance(hmap, dict) or not hmap:
                if "host_map" in dev:
                    self.err(f"{where}.host_map", "must be a non-empty mapping of node "
                             "name to the plug (port) that powers it")
            else:
                for node, plug in hmap.items():
                    if node not in nodes:
                        self.err(f"{where}.host_map", f"unknown node {str(node)[:60]!r}")
                        continue
                    hosts.add(node)
                    if isinstance(plug, int) and not isinstance(plug, bool):
                        plug = str(plug)
                    self.text(plug, f"{where}.host_map.{node}", PLUG_RE,
                              "a plug name: letters, digits and _.@/+-")
            if name:
                devices[name] = hosts
        if "devices" in value and not isinstance(value["devices"], list):
            self.err("fencing.devices", "must be a list")
        # null is no list either: the templates (Ansible's too) would iterate it.
        levels = value.get("extra_levels", [])
        if not isinstance(levels, list):
            self.err("fencing.extra_levels", "must be a list")
            return
        for i, level in enumerate(levels):
            where = f"fencing.extra_levels[{i}]"
            if self.mapping(level, where, LEVEL_KEYS, ("node", "devices")) is None:
                continue
            node = level.get("node")
            # Names are strings; anything else (a list, a mapping) is unknown, and would
            # not even be hashable for the set lookup.
            if "node" in level and (not isinstance(node, str) or node not in nodes):
                self.err(f"{where}.node", f"unknown node {str(node)[:60]!r}: not in "
                         "controllers or computes")
                node = None
            devs = level.get("devices")
            if "devices" not in level:
                continue
            if not isinstance(devs, list) or not devs:
                self.err(f"{where}.devices", "must be a non-empty list of device names")
                continue
            if len(set(map(str, devs))) != len(devs):
                self.err(f"{where}.devices", "lists a device twice")
            for dev in devs:
                if not isinstance(dev, str) or dev not in devices:
                    self.err(f"{where}.devices", f"unknown device {str(dev)[:60]!r}: not "
                             "in fencing.devices")
                elif node is not None and node not in devices[dev]:
                    self.err(f"{where}.devices", f"device {dev} has no host_map entry "
                             f"for {node}")
