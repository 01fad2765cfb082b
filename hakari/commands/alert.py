"""`hakari alert`: the Pacemaker alert agent, through the full CLI.

Pacemaker should run /usr/libexec/hakari/alert (`hakari install`), which starts in a
fraction of the time; this is the same agent for people and scripts.
"""

from __future__ import annotations

import os

from hakari.alerts.agent import main


def add_parser(sub) -> None:
    p = sub.add_parser(
        "alert", help="Pacemaker alert agent: spool the CRM_alert_* event, wake the engine",
        description="Read one Pacemaker alert from the CRM_alert_* environment variables, "
        "write it to the spool in the state directory of the hakari.conf named by "
        "CRM_alert_recipient (or --config-file), and wake the engine. Exit 0: spooled "
        "(or a duplicate, or an event hakari ignores); 1: could not spool; 2: malformed "
        "environment. Configure Pacemaker with /usr/libexec/hakari/alert, the fast "
        "entry point of the same agent.")
    p.set_defaults(run=run)


def run(args) -> int:
    env = dict(os.environ)
    if args.config_file:
        env["CRM_alert_recipient"] = os.path.abspath(args.config_file[-1])
    return main(env)
