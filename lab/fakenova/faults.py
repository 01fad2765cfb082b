"""Latency and fault rules, drawn from one seeded RNG so a failing run can be replayed."""

from __future__ import annotations

import dataclasses
import fnmatch
import random
import re
import threading
from collections.abc import Callable

ACTIONS = ("error", "hang", "drop", "reset")
PHASES = ("before", "after")
THEN = ("drop", "reset", "respond", "error")


def _patterns(route) -> tuple[str, ...]:
    if route is None:
        return ("*",)
    if isinstance(route, str):
        return (route,)
    return tuple(route)


def route_matches(patterns: tuple[str, ...], route: str) -> bool:
    return any(fnmatch.fnmatchcase(route, p) for p in patterns)


@dataclasses.dataclass
class LatencyRule:
    route: tuple[str, ...]
    seconds: float
    jitter: float = 0.0

    def as_dict(self) -> dict:
        return {"route": list(self.route), "seconds": self.seconds, "jitter": self.jitter}


@dataclasses.dataclass
class FaultRule:
    """One way to misbehave.

    ``phase="after"`` lets the request take effect and then spoils the answer: the case a
    client cannot tell apart from "never happened" and must handle by re-reading state.
    """
    id: int
    route: tuple[str, ...] = ("*",)
    method: str | None = None
    path: str | None = None                # regex searched in the path below the API root
    action: str = "error"
    status: int = 500
    message: str | None = None
    probability: float = 1.0
    count: int | None = None               # triggers left; None: unlimited
    skip: int = 0                          # let this many matching requests through first
    phase: str = "before"
    hang: float = 5.0                      # seconds, capped by the server's max_hang
    then: str = "drop"                     # after a hang: drop, reset, respond or error
    match: Callable | None = None          # in-process only: predicate on the request
    matched: int = 0
    triggered: int = 0

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["route"] = list(self.route)
        d["match"] = None if self.match is None else repr(self.match)
        return d


class FaultPlan:
    def __init__(self, seed: int):
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._latency: list[LatencyRule] = []
        self._faults: list[FaultRule] = []
        self._next_id = 1

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng.seed(seed)

    # -- latency ---------------------------------------------------------------------

    def set_latency(self, seconds: float, route="*", jitter: float = 0.0) -> None:
        if seconds < 0 or jitter < 0:
            raise ValueError("latency and jitter must be >= 0")
        pats = _patterns(route)
        with self._lock:
            self._latency = [r for r in self._latency if r.route != pats]
            if seconds or jitter:
                self._latency.append(LatencyRule(pats, float(seconds), float(jitter)))

    def clear_latency(self) -> None:
        with self._lock:
            self._latency = []

    def latency_for(self, route: str) -> float:
        """Matching rules add up: a global rule plus a per-route rule both apply."""
        with self._lock:
            total = 0.0
            for r in self._latency:
                if route_matches(r.route, route):
                    total += r.seconds + (self._rng.uniform(0, r.jitter) if r.jitter else 0.0)
            return total

    def latency_rules(self) -> list[dict]:
        with self._lock:
            return [r.as_dict() for r in self._latency]

    # -- faults ----------------------------------------------------------------------

    def add_fault(self, **kw) -> int:
        kw["route"] = _patterns(kw.get("route"))
        if kw.get("action", "error") not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}")
        if kw.get("phase", "before") not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}")
        if kw.get("then", "drop") not in THEN:
            raise ValueError(f"then must be one of {THEN}")
        if kw.get("path"):
            re.compile(kw["path"])
        if kw.get("method"):
            kw["method"] = kw["method"].upper()
        with self._lock:
            rule = FaultRule(id=self._next_id, **kw)
            self._next_id += 1
            self._faults.append(rule)
            return rule.id

    def remove_fault(self, fault_id: int) -> None:
        with self._lock:
            self._faults = [f for f in self._faults if f.id != fault_id]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = []

    def faults(self) -> list[dict]:
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def pick(self, phase: str, route: str, method: str, path: str, request) -> FaultRule | None:
        """The first rule that fires for this request in this phase, its counters updated."""
        with self._lock:
            for f in self._faults:
                if f.phase != phase or not route_matches(f.route, route):
                    continue
                if f.method and f.method != method:
                    continue
                if f.path and not re.search(f.path, path):
                    continue
                if f.match is not None and not f.match(request):
                    continue
                if f.count is not None and f.count <= 0:
                    continue
                f.matched += 1
                if f.matched <= f.skip:
                    continue
                if f.probability < 1.0 and self._rng.random() >= f.probability:
                    continue
                f.triggered += 1
                if f.count is not None:
                    f.count -= 1
                return dataclasses.replace(f)
            return None

    def draw(self) -> float:
        with self._lock:
            return self._rng.random()
