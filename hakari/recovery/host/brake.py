"""Safety rule 4, the mass-failure brake, as a pure function.

Many computes lost at once is more likely a network partition, a switch or a power feed
than many dead hosts; evacuating then would overload the survivors and, if the "lost"
hosts are in fact running, start the same instances twice. So above a threshold hakari
stops and reports (incident BLOCKED) until an operator releases it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping

from hakari import lifecycle
from hakari.model import Incident


@dataclasses.dataclass(frozen=True, slots=True)
class BrakeVerdict:
    blocked: bool
    reason: str = ""


def mass_failure(lost: Iterable[str], computes: Iterable[str], *,
                 max_hosts: int = 0, max_percent: int = 50,
                 aggregates: Mapping[str, Iterable[str]] | None = None,
                 per_aggregate: bool = True) -> BrakeVerdict:
    """Whether losing ``lost`` out of ``computes`` at once must block recovery.

    ``max_hosts``: more lost hosts than this blocks (0: no count limit).
    ``max_percent``: a lost share strictly above this blocks (100: no share limit), of
    all computes and, with ``per_aggregate``, of each aggregate's computes.
    1 lost of 3 (33 %) passes the default; 2 of 3 (67 %) does not.
    """
    computes = set(computes)
    lost = set(lost)
    # A lost host Nova does not list as a compute still counts: it is gone either way.
    total = computes | lost
    if not lost:
        return BrakeVerdict(False)
    if max_hosts and len(lost) > max_hosts:
        return BrakeVerdict(True, f"{len(lost)} compute hosts lost at once "
                                  f"(more than mass_failure_max_hosts = {max_hosts}): "
                                  f"{_names(lost)}")
    if max_percent < 100:
        share = _percent(len(lost), len(total))
        if share > max_percent:
            return BrakeVerdict(True, f"{len(lost)} of {len(total)} compute hosts lost at "
                                      f"once ({share:.0f}% > mass_failure_max_percent = "
                                      f"{max_percent}%): {_names(lost)}")
        if per_aggregate and aggregates:
            for name, members in sorted(aggregates.items()):
                members = set(members)
                if not members:
                    continue
                gone = lost & members
                share = _percent(len(gone), len(members))
                # One host alone is never "mass": a 1- or 2-host aggregate would
                # otherwise block every single failure.
                if len(gone) > 1 and share > max_percent:
                    return BrakeVerdict(True, f"{len(gone)} of {len(members)} hosts of "
                                              f"aggregate {name} lost at once ({share:.0f}% "
                                              f"> mass_failure_max_percent = {max_percent}%):"
                                              f" {_names(gone)}")
    return BrakeVerdict(False)


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def _names(hosts: Iterable[str], limit: int = 10) -> str:
    hosts = sorted(hosts)
    more = f" and {len(hosts) - limit} more" if len(hosts) > limit else ""
    return ", ".join(hosts[:limit]) + more


def lost_within(incidents: Mapping[str, Incident], now: dt.datetime,
                window: float) -> set[str]:
    """Nodes lost in the last ``window`` seconds whose incident is not over: recovering,
    evacuated, blocked and failed ones count alike, so hosts failing one after another
    add up to the mass failure they are."""
    return {node for node, inc in incidents.items()
            if inc.state not in lifecycle.HOST_BACK
            and (now - inc.lost_at).total_seconds() <= window}


def to_block(incidents: Mapping[str, Incident], lost: Iterable[str]) -> set[str]:
    """Of the ``lost`` nodes, those whose recovery the tripped brake stops: not finished
    (lifecycle.BRAKEABLE) and not released by an operator. Nodes with no incident yet
    are being opened in this very look: they are stopped too."""
    out = set()
    for node in lost:
        inc = incidents.get(node)
        if inc is None or (inc.state in lifecycle.BRAKEABLE and not inc.released_by):
            out.add(node)
    return out
