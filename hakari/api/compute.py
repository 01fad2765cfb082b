"""Which Nova compute host a segment host's name stands for.

Masakari names a host as Nova does; masakari-monitors report a host by the name its
machine (or Pacemaker) gives it. Either is accepted: the name itself when Nova has a
nova-compute service by that name, else the name mapped from Pacemaker's ([cluster]
node_map, node_domain), as `hakari notify process` does.
"""

from __future__ import annotations

from hakari.hostnames import HostNameMap
from hakari.nova.client import Nova
from hakari.nova.errors import NovaNotFound


def nova_host(nova: Nova, names: HostNameMap, name: str) -> str | None:
    """The Nova compute host of ``name``; None when Nova has no nova-compute service by
    either name. NovaError (other than not found) goes to the caller."""
    for candidate in dict.fromkeys((name, names.to_nova(name))):
        try:
            nova.compute_service(candidate)
        except NovaNotFound:
            continue
        return candidate
    return None
