"""`hakari status`: the cluster as hakari sees it.

Rendering is split into pure functions (snapshot in, document or text out) so the
contract in docs/design.md can be tested without a cluster.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
from collections.abc import Iterable

from hakari.commands import load_config
from hakari.display import escape_text
from hakari.errors import HakariError
from hakari.fencing.verdict import FENCING_ACTIONS, fence_verdict
from hakari.hostnames import HostNameMap
from hakari.inputfile import read_bounded
from hakari.model import ClusterSnapshot, FenceEvent, NodeState

# Without an incident's loss time, status judges a lost node by its whole history.
_BEGINNING = dt.datetime(1970, 1, 2, tzinfo=dt.timezone.utc)

TEXT_MAX_EVENTS = 10

# A saved crm_mon document. The densest in tests/data/crm_mon has 12.1 kB per node
# (4.5 kB is typical), so a 4,096-node cluster comes to about 50 MB; this leaves room
# for more resources per node and a long fence history, and stops a wrong file
# (/dev/zero through '-') long before memory runs out.
MAX_CRM_MON_BYTES = 128 << 20


# A saved CIB (cibadmin --query). bench/cibgen.py's 4,096-node cloud is 46 MB.
MAX_CIB_BYTES = 128 << 20


def add_parser(sub) -> None:
    p = sub.add_parser(
        "status", help="show nodes, quorum, DC and fencing as hakari sees them",
        description="Read the cluster as the engine does (the CIB and the fencer's "
        "history), or a saved CIB or crm_mon XML file, and show nodes, quorum, the DC "
        "and recent fencing.")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--cib-file", metavar="F",
                        help="read this saved CIB (cibadmin --query) instead of the live "
                        "one; a CIB holds no fencing history, so none is shown. '-' "
                        "reads standard input")
    source.add_argument("--crm-mon-file", metavar="F",
                        help="parse this saved crm_mon XML (2.x --output-as=xml or legacy "
                        "--as-xml) instead; '-' reads standard input")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="output format (default: text)")
    p.set_defaults(run=run)


def run(args) -> int:
    # Lazy: every `hakari` invocation imports this module to build its parser; lxml and
    # the cluster tools' modules would add 12 ms to the 60 ms of `hakari --help`.
    from hakari.cluster import live

    # The live CIB is asked for first: cibadmin then runs while the configuration is
    # read and the rest imported (bench/scale.py: hakari status against cibadmin).
    live_cib = not (args.cib_file or args.crm_mon_file)
    with live.start_cib() if live_cib else contextlib.nullcontext() as cib:
        from hakari import holds
        from hakari.cluster.cib_status import parse_cib_tree
        from hakari.cluster.crm_mon import parse_crm_mon

        # Configuration first: a broken config file is reported even when a saved file
        # is given, so an operator learns about it before the engine trips over it.
        conf = load_config(args)
        if args.crm_mon_file:
            # crm_mon's document carries no node attributes: the holds are unknown there.
            seen = live.Look(_from_file(args.crm_mon_file, MAX_CRM_MON_BYTES,
                                        parse_crm_mon), {})
        elif args.cib_file:
            seen = _from_file(args.cib_file, MAX_CIB_BYTES,
                              lambda data: live.look_in(parse_cib_tree(data)))
        else:
            seen = live.look(conf, cib, process=False)
    # What the parsing and the derivation leave behind (the parsed CIB among it) is left
    # for the exit to drop with the whole process: freeing it piece by piece costs a
    # tenth of a second at a thousand nodes.
    gc.freeze()
    snapshot = seen.snapshot
    held = {} if args.crm_mon_file else holds.current(
        seen.attributes, conf.recovery.excluded_hosts, HostNameMap.from_config(conf))
    if args.format == "json":
        print(render_json(snapshot, held))
    else:
        print(render_text(snapshot, held=held), end="")
    return 0


def _from_file(path: str, limit: int, parse):
    data = read_bounded(path, limit)
    try:
        return parse(data)
    except HakariError as err:
        # Same exception class (callers and exit codes rely on it), with the file named.
        err.args = (f"{path}: {err}",)
        raise


# --- pure rendering -------------------------------------------------------------------

def fenced_at(events: Iterable[FenceEvent]) -> dict[str, dt.datetime]:
    """Per target, completion time of its latest successful off/reboot ("on" is
    unfencing and proves nothing)."""
    latest: dict[str, dt.datetime] = {}
    for ev in events:
        if ev.status != "success" or ev.action not in FENCING_ACTIONS or ev.completed is None:
            continue
        seen = latest.get(ev.target)
        if seen is None or ev.completed > seen:
            latest[ev.target] = ev.completed
    return latest


def fencing(snap: ClusterSnapshot, node: NodeState) -> str | None:
    """For a lost node: is its fencing confirmed, pending, failed or absent (none)?

    None for a node that is up, and for a node that is cleanly down with no fencing on
    record (a planned stop): after fencing Pacemaker marks a node offline and expected
    down, exactly as after a clean shutdown, so only the history tells them apart.
    """
    if node.online and not node.unclean:
        return None
    kind = fence_verdict(snap.fence_events, node.name, _BEGINNING,
                         guest_hosts=snap.guest_hosts).kind
    if kind == "none" and not node.unclean:
        return None
    return kind


def _iso(when: dt.datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def status_document(snap: ClusterSnapshot, held: dict | None = None) -> dict:
    """The `hakari status --format json` document (README); ``held``: node -> Hold."""
    fenced = fenced_at(snap.fence_events)
    held = held or {}
    return {
        "quorate": snap.quorate,
        "dc": snap.dc,
        "nodes": [
            {
                "name": n.name,
                "id": n.id,
                "type": n.type,
                "state": n.state,
                "online": n.online,
                "standby": n.standby,
                "maintenance": n.maintenance,
                "pending": n.pending,
                "unclean": n.unclean,
                "shutdown": n.shutdown,
                "expected_up": n.expected_up,
                "is_dc": n.is_dc,
                "fenced_at": _iso(fenced.get(n.name)),
                "fencing": fencing(snap, n),
                "hold": _hold_document(held.get(n.name)),
            }
            for n in snap.nodes
        ],
        "fence_events": [
            {
                "target": e.target,
                "action": e.action,
                "status": e.status,
                "completed": _iso(e.completed),
                "delegate": e.delegate,
                "origin": e.origin,
                "client": e.client,
                "exit_reason": e.exit_reason,
            }
            for e in snap.fence_events
        ],
    }


def _hold_document(hold) -> dict | None:
    if hold is None:
        return None
    return {"by": hold.by, "why": hold.why, "at": _iso(hold.at),
            "configured": hold.configured}


def render_json(snap: ClusterSnapshot, held: dict | None = None) -> str:
    return json.dumps(status_document(snap, held), indent=2)


def newest_first(events: Iterable[FenceEvent]) -> list[FenceEvent]:
    """Pending first, then by completion time, newest first; ties keep input order."""
    events = list(events)
    pending = [e for e in events if e.completed is None]
    done = sorted((e for e in events if e.completed is not None),
                  key=lambda e: e.completed, reverse=True)
    return pending + done


def _table(rows: list[list[str]]) -> list[str]:
    # Cells hold names and reasons from the cluster: escaped, none can start a line.
    rows = [[escape_text(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def _when(when: dt.datetime | None) -> str:
    return when.isoformat(sep=" ") if when is not None else "-"


def render_text(snap: ClusterSnapshot, max_events: int = TEXT_MAX_EVENTS,
                held: dict | None = None) -> str:
    fenced = fenced_at(snap.fence_events)
    held = held or {}
    lines: list[str] = []
    if snap.nodes:
        rows = [["NODE", "TYPE", "STATE", "FENCING", "FENCED AT", "NOTES"]]
        for n in snap.nodes:
            notes = []
            if n.is_dc:
                notes.append("DC")
            if n.container:
                host = snap.guest_hosts.get(n.name)
                notes.append(f"guest in {n.container}" + (f" on {host}" if host else ""))
            if n.shutdown:
                notes.append("shutting down")
            if n.name in held:
                notes.append(held[n.name].describe())
            rows.append([n.name, n.type, n.state, fencing(snap, n) or "-",
                         _when(fenced.get(n.name)), ", ".join(notes)])
        lines += _table(rows)
    else:
        lines.append("No nodes reported.")
    lines.append("")
    if snap.quorate is None:
        quorum = "unknown (no DC)" if snap.dc is None else "unknown"
    else:
        quorum = "yes" if snap.quorate else "NO (hakari will not act)"
    lines.append(f"Quorum: {quorum}")
    lines.append(f"DC:     {escape_text(snap.dc) if snap.dc else 'none'}")
    lines.append("")
    events = newest_first(snap.fence_events)
    if not events:
        lines.append("Recent fencing: none recorded")
    else:
        shown = events[:max_events]
        more = f", {len(shown)} of {len(events)}" if len(events) > len(shown) else ""
        lines.append(f"Recent fencing (newest first{more}):")
        rows = []
        for e in shown:
            by = f"by {e.delegate}" if e.delegate else ""
            detail = [by] if by else []
            if e.origin:
                detail.append(f"asked by {e.origin}")
            if e.exit_reason:
                detail.append(f"reason: {e.exit_reason}")
            rows.append(["  " + _when(e.completed), e.action, e.target, e.status,
                         ", ".join(detail)])
        lines += _table(rows)
    return "\n".join(lines) + "\n"
