"""The engine's instance watch: the I/O around recovery.instance.watch.

Every ``[instance_failure] watch_interval`` it asks Nova for the servers changed since its
previous look, judges them (recovery.instance.watch), reads the newest instance action only
of the HA instances found SHUTOFF or in ERROR, and hands each crash to instance recovery
(recovery.instance.recovery: its retry limit, its incident in the CIB, its journal) in a
small pool of threads, so that a slow start delays neither the next watch nor, running
in its own thread, the engine's looks at the cluster. Nothing here acts without a
quorate look at the cluster younger than a few reconcile intervals (``keep_out``).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping

from hakari.errors import HakariError
from hakari.nova.client import Nova
from hakari.nova.errors import NovaNotFound
from hakari.nova.resources import Server
from hakari.records.failures import INSTANCE, FailureBook
from hakari.records.journal import Journal, utcnow
from hakari.records.store import HostLock
from hakari.recovery.instance import watch
from hakari.recovery.instance.decision import RECOVERABLE
from hakari.recovery.instance.recovery import InstanceRecovery, Settings
from hakari.recovery.policy import Policy, host_aggregates

LOG = logging.getLogger("hakari.engine.instances")
SOURCE = "engine instance watch"
# Instance recoveries in flight at once: a storage or network fault can stop many guests
# at once, and their starts should not all land on Nova together.
RECOVERIES_AT_ONCE = 8


class InstanceWatcher:
    """``conf``: the engine's configuration now (SIGHUP may replace it); ``keep_out``: the
    Nova hosts hakari keeps out of, by the engine's last quorate look, or None when there
    is no such look recent enough to act on."""

    def __init__(self, conf: Callable[[], object], nova: Callable[[], Nova],
                 journal: Journal, book: Callable[[], FailureBook],
                 keep_out: Callable[[], Mapping[str, str] | None],
                 started: dt.datetime | None = None):
        self._conf = conf
        self._nova = nova
        self.journal = journal
        self._book = book
        self._keep_out = keep_out
        self.watch = watch.Watch(started or utcnow())
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._futures: list[concurrent.futures.Future] = []
        self._pool = concurrent.futures.ThreadPoolExecutor(
            RECOVERIES_AT_ONCE, thread_name_prefix="hakari-instance")
        self._said: dict[str, str] = {}

    def run(self, stop: threading.Event) -> None:
        """Watch until ``stop``; never raises."""
        while True:
            interval = self._conf().instance_failure.watch_interval
            if stop.wait(interval or self._conf().cluster.reconcile_interval):
                break
            if not interval:
                continue
            try:
                self.once()
                self._said.pop("error", None)
            except HakariError as err:
                self._say("error", f"instance watch: {err}", logging.ERROR)
            except Exception:  # noqa: BLE001 - the watch must outlive one bad answer
                LOG.exception("instance watch failed; trying again at the next watch")
        self._pool.shutdown(wait=False, cancel_futures=True)

    def once(self) -> list[tuple[Server, watch.Verdict]]:
        """One look at Nova: every server judged, and the crashes' recoveries started."""
        keep_out = self._keep_out()
        if keep_out is None:
            self._say("quorum", "instance watch: no recent quorate look at the cluster, "
                      "not watching", logging.WARNING)
            return []
        self._said.pop("quorum", None)
        conf = self._conf()
        started = utcnow()
        nova = self._nova()
        servers = {s.id: s for s in nova.servers_changed_since(self.watch.since)}
        for sid in self.watch.pending - servers.keys():
            try:
                servers[sid] = nova.server(sid)
            except NovaNotFound:
                pass
        if not servers:
            self.watch.looked(started, ())
            return []
        policy = Policy.from_config(conf)
        settings = Settings.from_config(conf)
        with self._lock:
            running = frozenset(self._running)
        ctx = watch.Context(
            policy=policy, now=started, not_before=self.watch.not_before,
            services={s.host: s for s in nova.compute_services()}, keep_out=keep_out,
            incidents={f.target: f for f in self._book().all_open(INSTANCE)},
            running=running,
            # The longest a live recovery goes without updating its incident: one
            # attempt of two verbs, each verified for up to verify_timeout.
            stale_after=dt.timedelta(seconds=2 * settings.verify_timeout + 60))
        aggregates = nova.aggregates() if policy.selection == "tagged" and \
            "aggregate" in policy.sources else []
        judged = []
        for server in servers.values():
            of_host = host_aggregates(server.host, aggregates) if server.host else []
            verdict = watch.precheck(server, ctx, of_host)
            if verdict is None:
                try:
                    action = nova.latest_action(server.id) \
                        if watch.needs_action(server, ctx) else None
                except NovaNotFound:
                    continue        # deleted since the listing
                verdict = watch.judge(server, action, ctx, of_host)
            judged.append((server, verdict))
        self._said = {k: v for k, v in self._said.items()
                      if k in servers or k in ("error", "quorum")}
        for server, verdict in judged:
            self._act(server, verdict)
        self.watch.looked(started, [s.id for s, v in judged if v.action == watch.WAIT])
        return judged

    def _act(self, server: Server, verdict: watch.Verdict) -> None:
        if verdict.action in (watch.RECOVER, watch.CLOSE):
            with self._lock:
                if server.id in self._running:
                    return
                self._running.add(server.id)
            LOG.warning("instance %s (%s) on %s: %s", server.id, server.name, server.host,
                        verdict.reason)
            self._futures = [f for f in self._futures if not f.done()]
            self._futures.append(self._pool.submit(self._recover, server, verdict))
        elif server.status in RECOVERABLE:
            # Said once per server and reason, not at every watch.
            self._say(server.id, f"instance {server.id} ({server.name}) on {server.host}: "
                      f"{verdict.action}: {verdict.reason}", logging.INFO)

    def _recover(self, server: Server, verdict: watch.Verdict) -> None:
        conf = self._conf()
        try:
            recovery = InstanceRecovery(self._nova(), self.journal, Policy.from_config(conf),
                                        Settings.from_config(conf), book=self._book())
            # The lock `hakari recover-instance` and the API take: one recovery of an
            # instance at a time on this machine.
            with HostLock(conf.state_dir, f"instance-{server.id}"):
                report = recovery.run(server.id, source=SOURCE, cause=verdict.reason)
            level = logging.ERROR if report.failed else logging.WARNING
            LOG.log(level, "instance %s (%s): %s: %s (%d attempt(s), incident %s)",
                    report.id, report.name, report.result, report.reason, report.attempts,
                    report.incident)
        except HakariError as err:
            LOG.error("instance %s: not recovered: %s", server.id, err)
        except Exception:  # noqa: BLE001 - one instance must not end the watch's pool
            LOG.exception("instance %s: recovery crashed", server.id)
        finally:
            with self._lock:
                self._running.discard(server.id)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for the recoveries started so far; True when none is left running."""
        done, pending = concurrent.futures.wait(list(self._futures), timeout)
        return not pending

    def _say(self, key: str, message: str, level: int) -> None:
        if self._said.get(key) != message:
            self._said[key] = message
            LOG.log(level, "%s", message)
