"""`hakari unhold HOST`: hakari acts on this host again (hakari.holds)."""

from __future__ import annotations

from hakari.commands import load_config
from hakari.commands.decision_output import report


def add_parser(sub) -> None:
    p = sub.add_parser(
        "unhold", help="act on a held host again",
        description="Lift a `hakari hold`. A host held by [recovery] excluded_hosts is "
        "unheld by removing it there and sending the engine SIGHUP.")
    p.add_argument("host", metavar="HOST", help="Nova compute host or Pacemaker node name")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run)


def run(args) -> int:
    # Lazy: every `hakari` invocation imports this module to build its parser; lxml and
    # the cluster tools' modules would add 13 ms to the 60 ms of `hakari --help`.
    from hakari.operator import Decisions

    return report([Decisions(load_config(args)).unhold(args.host)], args.format,
                  refused_is_error=False)
