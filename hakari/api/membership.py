"""What the API's segments and hosts tell the cluster, and what it shows back from it.

The CIB is the one home of what drives recovery (the engine and fence_hakari read no
SQL): each API host's segment is written on its Pacemaker node (Nova host name -> node
through [cluster] node_map/node_domain) as hakari.segments' attribute, and its
``on_maintenance`` is the node's hold (hakari.holds). The records' ``reserved`` and
``on_maintenance`` columns are then a copy, refreshed from the CIB before they are
shown, filtered on or changed (``flags``): the engine marks a reserved host it takes
into use, and `hakari hold` puts a host on maintenance.

A write the cluster refuses fails the request (and the records' transaction with it):
an unknown node is the caller's error (400), a cluster that cannot be reached is 503.
Writes already made for that request are undone, as far as the cluster lets them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from hakari import holds, segments
from hakari.api.faults import ApiError
from hakari.api.records import Host
from hakari.cluster import attributes
from hakari.errors import ClusterNotConnected, HakariError, ToolFailed
from hakari.hostnames import HostNameMap
from hakari.model import HOLD_ATTRIBUTE, SegmentMembership

# What crm_attribute exits with for a node the CIB does not have (CRM_EX_NOSUCH).
NO_SUCH_NODE = 105
MAINTENANCE_WHY = "on_maintenance set through the API"


def membership(host: Host) -> SegmentMembership:
    s = host.segment
    return SegmentMembership(s.uuid, s.name, s.recovery_method, s.enabled, host.reserved)


class Cluster:
    def __init__(self, conf):
        self.names = HostNameMap.from_config(conf)
        self.excluded = conf.recovery.excluded_hosts
        self.timeout = conf.cluster.tool_timeout

    def node(self, host_name: str) -> str:
        return self.names.to_node(host_name)

    def flags(self, host_names: Iterable[str]) -> dict[str, tuple[bool, bool]]:
        """Host name -> (reserved, on_maintenance) as the CIB has them, for the hosts
        with a segment attribute or a hold; 503 when the CIB cannot be read."""
        raw = self._call(lambda: attributes.read_all(timeout=self.timeout))
        held = holds.current(raw, self.excluded, self.names)
        found = segments.current(raw)
        flags = {}
        for name in host_names:
            node = self.node(name)
            hold = held.get(node)
            maintenance = hold is not None and not hold.segment
            if node in found or maintenance:
                flags[name] = (node in found and found[node].reserved, maintenance)
        return flags

    def write(self, changes: Sequence[tuple[Host | None, Host | None]], *,
              maintenance: bool | None = None, by: str = "") -> None:
        """Apply ``changes`` ((before, after) of each host a request changed; None: the
        host did not exist, or no longer does) to the CIB: each host still in a
        segment gets its membership, a host gone or renamed loses it from its old node.
        ``maintenance`` (not None): the after hosts' new on_maintenance, a hold by
        ``by``. All or, as far as the cluster lets it, nothing."""
        undo: list[Callable[[], None]] = []
        try:
            for before, after in changes:
                if before is not None and (after is None or self.node(before.name) !=
                                           self.node(after.name)):
                    node = self.node(before.name)
                    self._call(lambda n=node: segments.clear(n, timeout=self.timeout))
                    undo.append(lambda n=node, m=membership(before): segments.place(
                        n, m, timeout=self.timeout))
                if after is not None:
                    node = self.node(after.name)
                    self._call(lambda n=node, m=membership(after): segments.place(
                        n, m, timeout=self.timeout), after.name)
                    undo.append(self._restorer(node, before))
                    if maintenance is not None:
                        undo.append(self._hold(node, maintenance, by))
        except ApiError:
            for step in reversed(undo):
                try:
                    step()
                except HakariError:
                    pass        # the request's error is the one to report
            raise

    def _restorer(self, node: str, before: Host | None) -> Callable[[], None]:
        if before is not None and self.node(before.name) == node:
            return lambda: segments.place(node, membership(before), timeout=self.timeout)
        return lambda: segments.clear(node, timeout=self.timeout)

    def _hold(self, node: str, on: bool, by: str) -> Callable[[], None]:
        """Put the node on maintenance (a hold) or take it off; what undoes that."""
        if not on:
            hold = self._call(lambda: holds.of_node(node, self.excluded, self.names,
                                                    timeout=self.timeout))
            if hold is not None and hold.configured:
                raise ApiError(409, f"Host {self.names.to_nova(node)} is on maintenance "
                                    f"by {holds.FROM_CONFIG}: remove it there to take it "
                                    "off maintenance.")
        was = self._call(lambda: attributes.query(node, HOLD_ATTRIBUTE,
                                                  timeout=self.timeout))
        if on and not was:
            self._call(lambda: holds.place(node, by, MAINTENANCE_WHY, timeout=self.timeout))
            return lambda: holds.lift(node, timeout=self.timeout)
        if not on and was:
            self._call(lambda: holds.lift(node, timeout=self.timeout))
            return lambda: attributes.update(node, HOLD_ATTRIBUTE, was, timeout=self.timeout)
        return lambda: None

    def _call(self, action: Callable, host: str | None = None):
        try:
            return action()
        except ClusterNotConnected as err:
            raise ApiError(503, f"The cluster cannot be reached: {err}") from None
        except ToolFailed as err:
            if host is not None and err.returncode == NO_SUCH_NODE:
                raise ApiError(400, f"Pacemaker has no node {self.node(host)} for host "
                                    f"{host}: hakari recovers only the hosts of its "
                                    "cluster.") from None
            raise ApiError(503, f"The cluster refused the change: {err}") from None
        except HakariError as err:
            raise ApiError(503, f"The cluster cannot be reached: {err}") from None
