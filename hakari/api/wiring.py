"""The API assembled from its real parts: what `hakari api` and hakari.api.wsgi serve."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from hakari.api import auth, policy
from hakari.api.app import V1, Root
from hakari.api.compute import nova_host
from hakari.api.faults import ApiError
from hakari.api.records import Records
from hakari.api.resources import Resources
from hakari.api.worker import Parts, Recoveries
from hakari.errors import HakariError
from hakari.hostnames import HostNameMap
from hakari.nova.client import Nova
from hakari.records.journal import Journal


@dataclasses.dataclass
class Service:
    app: Callable
    recoveries: Recoveries
    records: Records

    def close(self) -> None:
        self.recoveries.stop()
        self.records.engine.dispose()


class LazyNova:
    """One Nova connection, made at first use (a request, a notification) and kept: a
    cloud unreachable at start-up must not keep the API from serving its records."""

    def __init__(self, connect: Callable[[], Nova]):
        self._connect = connect
        self._nova: Nova | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Nova:
        with self._lock:
            if self._nova is None:
                self._nova = self._connect()
            return self._nova


def build(conf, parts: Parts | None = None) -> Service:
    """The WSGI application with its notification workers started. ``parts``: what the
    workers talk to (Nova, the CIB), by default the real ones."""
    journal = Journal.open(conf.state_dir)
    records = Records.open(conf.api.connection, conf.state_dir)
    parts = parts or Parts.real(conf, journal, LazyNova(lambda: Nova.connect(conf)))
    names = HostNameMap.from_config(conf)

    def compute_host(name: str) -> bool:
        try:
            return nova_host(parts.nova(), names, name) is not None
        except HakariError as err:
            raise ApiError(503, f"Nova cannot tell whether it has host {name}: {err}") \
                from None

    recoveries = Recoveries(conf, records, journal, parts)
    resources = Resources(conf, records, recoveries, journal, compute_host, parts.nova)
    limit = conf.api.max_request_body_size
    app = Root(auth.protect(V1(resources, policy.enforcer(conf), limit), conf), limit)
    recoveries.start()
    return Service(app, recoveries, records)
