"""`hakari retry HOST…`: try again a recovery that FAILED (hakari.operator)."""

from __future__ import annotations

from hakari.commands import load_config
from hakari.commands.decision_output import report


def add_parser(sub) -> None:
    p = sub.add_parser(
        "retry", help="retry hosts whose recovery FAILED",
        description="A FAILED incident stays failed (its host's nova-compute held back, "
        "nothing retried) until an operator runs this. The engine then recovers what is "
        "left if the host is still lost (nothing is evacuated twice: Nova's migrations "
        "decide), or closes the incident if the host is back.")
    p.add_argument("hosts", nargs="+", metavar="HOST",
                   help="Nova compute host or Pacemaker node name")
    p.add_argument("--why", default="", metavar="TEXT",
                   help="the reason, recorded with your name")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run)


def run(args) -> int:
    # Lazy: every `hakari` invocation imports this module to build its parser; lxml and
    # the cluster tools' modules would add 13 ms to the 60 ms of `hakari --help`.
    from hakari.operator import Decisions, who

    return report(Decisions(load_config(args)).retry(args.hosts, args.why, who()),
                  args.format)
