"""`hakari release HOST…|--all`: let recovery of hosts the mass-failure brake blocked go
ahead (hakari.operator)."""

from __future__ import annotations

from hakari.commands import load_config
from hakari.commands.decision_output import report
from hakari.errors import HakariError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "release", help="release hosts the mass-failure brake BLOCKED",
        description="A BLOCKED incident stays blocked, whatever the engine sees, until "
        "an operator releases it. Released, the engine recovers the host if it is still "
        "lost (its fencing proof is checked again; the brake no longer applies to it) "
        "or closes the incident if the host is back. Kept in the CIB, with who and why.")
    p.add_argument("hosts", nargs="*", metavar="HOST",
                   help="Nova compute host or Pacemaker node name")
    p.add_argument("--all", action="store_true", help="every BLOCKED incident")
    p.add_argument("--why", default="", metavar="TEXT",
                   help="the reason, recorded with your name")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run)


def run(args) -> int:
    # Lazy: every `hakari` invocation imports this module to build its parser; lxml and
    # the cluster tools' modules would add 13 ms to the 60 ms of `hakari --help`.
    from hakari.operator import Decisions, who

    if bool(args.hosts) == bool(args.all):
        raise HakariError("name the hosts to release, or --all")
    outcomes = Decisions(load_config(args)).release(args.hosts or None, args.why, who())
    return report(outcomes, args.format, nothing="no BLOCKED incident: nothing to release")
