"""`hakari unhold HOST`: hakari acts on this host again (hakari.holds)."""

from __future__ import annotations

from hakari.cli import load_config
from hakari.commands.decision_output import report
from hakari.operator import Decisions


def add_parser(sub) -> None:
    p = sub.add_parser(
        "unhold", help="act on a held host again",
        description="Lift a `hakari hold`. A host held by [recovery] excluded_hosts is "
        "unheld by removing it there and sending the engine SIGHUP.")
    p.add_argument("host", metavar="HOST", help="Nova compute host or Pacemaker node name")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run)


def run(args) -> int:
    return report([Decisions(load_config(args)).unhold(args.host)], args.format,
                  refused_is_error=False)
