"""Operators' decisions on incidents and hosts, kept in the CIB so they hold on every
controller and across engine failovers: release a BLOCKED incident, retry a FAILED one,
hold and unhold a host. Each goes through hakari.lifecycle (as the operator) and names
who decided and why, in the CIB record and in this machine's journal.
"""

from __future__ import annotations

import dataclasses
import os

from hakari import holds, lifecycle
from hakari.cluster import attributes
from hakari.errors import HakariError
from hakari.hostnames import HostNameMap
from hakari.model import Incident
from hakari.records.journal import Journal, utcnow
from hakari.records.store import ClusterStore, parse_records


def who() -> str:
    """The operator, as records name them: the login behind sudo, and this node."""
    user = next((os.environ[v] for v in ("SUDO_USER", "LOGNAME", "USER") if os.environ.get(v)),
                str(os.getuid()))
    return f"{user}@{os.uname().nodename}"


@dataclasses.dataclass(frozen=True)
class Outcome:
    node: str
    done: bool
    message: str
    incident: Incident | None = None


class Decisions:
    def __init__(self, conf, journal: Journal | None = None):
        self.conf = conf
        self.names = HostNameMap.from_config(conf)
        self.timeout = conf.cluster.tool_timeout
        self.journal = journal or Journal.open(conf.state_dir)
        self.store = ClusterStore(self.journal, self.timeout)

    def node_of(self, host: str) -> str:
        return self.names.to_node(host)

    def incidents(self) -> dict[str, Incident]:
        return parse_records(attributes.read_all(timeout=self.timeout)).incidents

    def release(self, hosts: list[str] | None, why: str, by: str) -> list[Outcome]:
        """BLOCKED -> RELEASED for the named hosts (None: every blocked one). The engine
        then recovers each that is still lost, exempt from the brake, and closes each
        that is back."""
        return self._move(hosts, lifecycle.BLOCKED, why, by, "released")

    def retry(self, hosts: list[str], why: str, by: str) -> list[Outcome]:
        """FAILED -> RELEASED: the engine tries again (or closes it if the host is back),
        with a fresh [recovery] max_attempts for every instance."""
        return self._move(hosts, lifecycle.FAILED, why, by, "retried", retried_at=utcnow())

    def _move(self, hosts, source: str, why: str, by: str, verb: str,
              retried_at=None) -> list[Outcome]:
        incidents = self.incidents()
        nodes = sorted(n for n, i in incidents.items() if i.state == source) \
            if hosts is None else [self.node_of(h) for h in hosts]
        out = []
        for node in nodes:
            inc = incidents.get(node)
            if inc is None or inc.state != source:
                state = inc.state if inc else "no incident"
                out.append(Outcome(node, False, f"{node}: not {source} ({state}); "
                                   "nothing done", inc))
                continue
            host = self.names.to_nova(node)
            reason = f"{verb} by {by}" + (f": {why}" if why else "")
            inc = self.store.transition(inc, host, lifecycle.RELEASED, reason,
                                        by=lifecycle.OPERATOR, released_by=by,
                                        retried_at=retried_at)
            self.journal.record(inc.id, host, verb, operator=by, why=why)
            out.append(Outcome(node, True, f"{node}: incident {inc.id} {verb}: the engine "
                               "recovers it if it is still lost, or closes it if it is "
                               "back", inc))
        return out

    def hold(self, host: str, why: str, by: str) -> Outcome:
        node = self.node_of(host)
        holds.place(node, by, why, timeout=self.timeout)
        return Outcome(node, True, f"{node}: held; hakari will not act on it until "
                       f"`hakari unhold {node}`")

    def unhold(self, host: str) -> Outcome:
        node = self.node_of(host)
        current = holds.of_node(node, self.conf.recovery.excluded_hosts, self.names,
                                timeout=self.timeout)
        if current is not None and (current.configured or current.segment):
            raise HakariError(f"{node} is {current.describe()}: {current.lifted_by()}")
        if current is None:
            return Outcome(node, False, f"{node}: not held; nothing done")
        holds.lift(node, timeout=self.timeout)
        return Outcome(node, True, f"{node}: no longer held; the engine acts on it again")
