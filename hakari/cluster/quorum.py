"""``corosync-quorumtool -s``: a second opinion on quorum, straight from corosync.

Pacemaker's ``with_quorum`` needs a DC; corosync answers even while the controller is
electing one. The exit status carries the verdict (0 quorate, 2 not quorate, 1 error);
the text adds votes, flags and members.
"""

from __future__ import annotations

import dataclasses

from hakari.errors import ClusterNotConnected, ParseError

WHAT = "corosync-quorumtool output"

EXIT_QUORATE = 0
EXIT_ERROR = 1
EXIT_NOT_QUORATE = 2


@dataclasses.dataclass(frozen=True, slots=True)
class QuorumMember:
    nodeid: int
    votes: int
    name: str
    local: bool = False
    # Qdevice column (only with a quorum device): "NR", or e.g. "A,V,NMW".
    qdevice: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class QuorumStatus:
    quorate: bool | None
    node_id: int | None = None
    nodes: int | None = None
    ring_id: str | None = None
    expected_votes: int | None = None
    highest_expected: int | None = None
    total_votes: int | None = None
    quorum: int | None = None
    # "Quorum: N Activity blocked": below quorum, votequorum blocks the partition.
    activity_blocked: bool = False
    flags: tuple[str, ...] = ()
    members: tuple[QuorumMember, ...] = ()


def _int(text: str, field: str) -> int:
    text = text.strip()
    try:
        # -H prints node ids as 0x%08x.
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise ParseError(f"{WHAT}: {field}: not a number: {text[:40]!r}") from None


def parse_quorumtool(text: str, returncode: int | None = None) -> QuorumStatus:
    """Parse ``corosync-quorumtool -s`` stdout, checked against its exit status."""
    if returncode == EXIT_ERROR:
        detail = " ".join(text.split())[:200] or "no detail"
        raise ClusterNotConnected(
            f"corosync-quorumtool: cannot read quorum (is corosync running?): {detail}",
            ["corosync-quorumtool", "-s"], returncode, text)
    if returncode not in (None, EXIT_QUORATE, EXIT_NOT_QUORATE):
        raise ParseError(f"{WHAT}: unexpected exit status {returncode}")

    fields: dict[str, str] = {}
    members: list[QuorumMember] = []
    qdevice_column = False
    in_members = False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or set(stripped) == {"-"}:
            continue
        if stripped == "Membership information":
            in_members = True
            continue
        if stripped.endswith("information"):
            in_members = False
            continue
        if in_members:
            words = stripped.split()
            if words[0] == "Nodeid":
                qdevice_column = "Qdevice" in words
                continue
            members.append(_member(words, qdevice_column))
            continue
        key, sep, value = stripped.partition(":")
        if sep:
            fields[key.strip()] = value.strip()

    quorate = None
    if "Quorate" in fields:
        answer = fields["Quorate"].lower()
        if answer not in ("yes", "no"):
            raise ParseError(f"{WHAT}: Quorate: expected Yes or No, got "
                             f"{fields['Quorate'][:20]!r}")
        quorate = answer == "yes"
    if returncode is not None:
        by_exit = returncode == EXIT_QUORATE
        if quorate is not None and quorate != by_exit:
            raise ParseError(f"{WHAT}: 'Quorate: {fields['Quorate']}' contradicts exit "
                             f"status {returncode}")
        quorate = by_exit
    if not fields and not members:
        raise ParseError(f"{WHAT}: no quorum information found")

    quorum_words = fields.get("Quorum", "").split()
    return QuorumStatus(
        quorate=quorate,
        node_id=_opt_int(fields, "Node ID"),
        nodes=_opt_int(fields, "Nodes"),
        ring_id=fields.get("Ring ID") or None,
        expected_votes=_opt_int(fields, "Expected votes"),
        highest_expected=_opt_int(fields, "Highest expected"),
        total_votes=_opt_int(fields, "Total votes"),
        quorum=_int(quorum_words[0], "Quorum") if quorum_words else None,
        activity_blocked="blocked" in quorum_words[1:] if quorum_words else False,
        flags=tuple(fields.get("Flags", "").split()),
        members=tuple(members),
    )


def _opt_int(fields: dict[str, str], key: str) -> int | None:
    value = fields.get(key)
    return _int(value, key) if value else None


def _member(words: list[str], qdevice_column: bool) -> QuorumMember:
    if len(words) < 3:
        raise ParseError(f"{WHAT}: membership line too short: {' '.join(words)[:80]!r}")
    nodeid = _int(words[0], "Nodeid")
    votes = _int(words[1], "Votes")
    rest = words[2:]
    local = rest[-1] == "(local)"
    if local:
        rest = rest[:-1]
    qdevice = None
    # The quorum device's own line ("0 1 Qdevice") leaves the Qdevice column blank.
    if qdevice_column and len(rest) >= 2:
        qdevice, rest = rest[0], rest[1:]
    if len(rest) != 1:
        raise ParseError(f"{WHAT}: cannot read membership line {' '.join(words)[:80]!r}")
    return QuorumMember(nodeid, votes, rest[0], local, qdevice)
