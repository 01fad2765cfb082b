"""`hakari hold HOST --why TEXT`: hands off this host (hakari.holds)."""

from __future__ import annotations

from hakari.commands import load_config
from hakari.commands.decision_output import report


def add_parser(sub) -> None:
    p = sub.add_parser(
        "hold", help="never act on a host until it is unheld",
        description="A held host is never acted on: if it is lost the engine reports it "
        "and does nothing else, fence_hakari leaves its Nova service alone, and `hakari "
        "evacuate` refuses it. Kept in the CIB (every controller, across failovers) "
        "until `hakari unhold`. Evacuations already sent for it run to their end.")
    p.add_argument("host", metavar="HOST", help="Nova compute host or Pacemaker node name")
    p.add_argument("--why", required=True, metavar="TEXT",
                   help="the reason, recorded with your name (shown by status)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run)


def run(args) -> int:
    # Lazy: every `hakari` invocation imports this module to build its parser; lxml and
    # the cluster tools' modules would add 13 ms to the 60 ms of `hakari --help`.
    from hakari.operator import Decisions, who

    return report([Decisions(load_config(args)).hold(args.host, args.why, who())],
                  args.format)
