"""`hakari recover-instance UUID`: an external monitor found an HA instance stopped or in
ERROR; bring it back to ACTIVE (start or hard reboot, per [instance_failure]), verified,
with a retry limit kept across runs. See hakari/recovery/instance/decision.py.
"""

from __future__ import annotations

import json
import sys

from hakari.commands import load_config
from hakari.errors import EXIT_FAILED, EXIT_OK
from hakari.records.journal import Journal, ensure_state_dir
from hakari.recovery.policy import Policy


def add_parser(sub) -> None:
    p = sub.add_parser(
        "recover-instance", help="restart an HA instance found stopped or in ERROR",
        description="Recover one instance an external monitor found SHUTOFF or in ERROR "
        "unexpectedly: start it or hard reboot it ([instance_failure] method) and wait "
        "until it is ACTIVE, retrying up to [instance_failure] max_attempts (counted "
        "across runs). Instances that are not HA by the [recovery] selection policy are "
        "skipped. Exit 0 when the instance ends ACTIVE or is skipped, 1 when it failed.")
    p.add_argument("server", metavar="UUID", help="the server's id")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="output format (default: text)")
    p.set_defaults(run=run)


def run(args) -> int:
    # Lazy: every `hakari` invocation imports this module to build its parser;
    # openstacksdk would add 0.2 s to the 60 ms of `hakari --help`.
    from hakari.nova.client import Nova
    from hakari.records.store import HostLock
    from hakari.records.failures import failure_book
    from hakari.recovery.instance.recovery import InstanceRecovery, Settings

    conf = load_config(args)
    ensure_state_dir(conf.state_dir)
    progress = None
    if args.format == "text" or sys.stderr.isatty():
        stream = sys.stdout if args.format == "text" else sys.stderr
        progress = lambda message: print(f"  {message}", file=stream, flush=True)  # noqa: E731
    journal = Journal.open(conf.state_dir)
    recovery = InstanceRecovery(Nova.connect(conf), journal, Policy.from_config(conf),
                                Settings.from_config(conf), progress=progress,
                                book=failure_book(journal, conf.cluster.tool_timeout))
    # One recovery of an instance at a time on this machine.
    with HostLock(conf.state_dir, f"instance-{args.server}"):
        report = recovery.run(args.server, source="hakari recover-instance")
    if args.format == "json":
        print(json.dumps(report.document(), indent=2))
    else:
        print(f"{report.id} {report.name or '-'}: {report.result}: {report.reason} "
              f"(status {report.status}, {report.attempts} attempt(s)"
              + (f", incident {report.incident}" if report.incident else "") + ")")
    return EXIT_FAILED if report.failed else EXIT_OK
