"""Pacemaker node names <-> Nova compute host names.

Many clouds register computes in Nova by FQDN while Pacemaker uses short names. Every
layer translates through this one mapping so the two never drift apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True, slots=True)
class HostNameMap:
    explicit: Mapping[str, str] = dataclasses.field(default_factory=dict)
    domain: str = ""

    @classmethod
    def from_config(cls, conf) -> "HostNameMap":
        return cls(dict(conf.cluster.node_map), conf.cluster.node_domain.strip("."))

    def to_nova(self, node: str) -> str:
        if node in self.explicit:
            return self.explicit[node]
        if self.domain:
            return f"{node}.{self.domain}"
        return node

    def to_node(self, nova_host: str) -> str:
        for node, host in self.explicit.items():
            if host == nova_host:
                return node
        suffix = f".{self.domain}"
        if self.domain and nova_host.endswith(suffix):
            return nova_host[: -len(suffix)]
        return nova_host
