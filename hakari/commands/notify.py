"""`hakari notify process HOST`: an external monitor reports nova-compute failing (or,
with --healthy, healthy again) on a live host. See hakari/recovery/process/decision.py.
"""

from __future__ import annotations

import json

from hakari.commands import load_config
from hakari.errors import EXIT_OK, HakariError
from hakari.hostnames import HostNameMap
from hakari.nova.errors import NovaNotFound
from hakari.records.journal import Journal
from hakari.recovery.process import decision as pd


def add_parser(sub) -> None:
    p = sub.add_parser(
        "notify", help="report a failure from an external monitor",
        description="Events from external monitors. `notify process HOST`: nova-compute "
        "keeps failing on HOST, a live host: disable its compute service (reason "
        "'hakari: process failure …') so nothing new lands there. With --healthy: it "
        "is healthy again: re-enable the service if hakari disabled it and Nova "
        "reports it up. The engine also re-enables it by itself ([process_failure] "
        "enable_after).")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    proc = kinds.add_parser("process", help="nova-compute failing (or healthy again)",
                            description="Process failure of nova-compute on HOST.")
    proc.add_argument("host", metavar="HOST",
                      help="the Nova compute host (or its Pacemaker node name)")
    proc.add_argument("--healthy", action="store_true",
                      help="the process is healthy again: re-enable what hakari disabled")
    proc.add_argument("--format", choices=("text", "json"), default="text",
                      help="output format (default: text)")
    proc.set_defaults(run=run)


def run(args) -> int:
    # Lazy: every `hakari` invocation imports this module to build its parser;
    # openstacksdk would add 0.2 s to the 60 ms of `hakari --help`.
    from hakari.nova.client import Nova
    from hakari.records.failures import failure_book
    from hakari.recovery.process.recovery import ProcessRecovery

    conf = load_config(args)
    nova = Nova.connect(conf)
    host = args.host
    mapped = HostNameMap.from_config(conf).to_nova(host)
    for candidate in dict.fromkeys((host, mapped)):
        try:
            nova.compute_service(candidate)
        except NovaNotFound:
            continue
        host = candidate
        break
    else:
        raise HakariError(f"Nova has no nova-compute service on host {args.host!r}")
    journal = Journal.open(conf.state_dir)
    recovery = ProcessRecovery(nova, journal, pd.Thresholds.from_config(conf),
                               state_dir=conf.state_dir,
                               book=failure_book(journal, conf.cluster.tool_timeout))
    if args.healthy:
        report = recovery.signal(host, pd.HEALTHY, source="hakari notify process --healthy")
    else:
        report = recovery.signal(host, pd.FAILURE, source="hakari notify process",
                                 immediate=True)
    if args.format == "json":
        print(json.dumps(report.document(), indent=2))
    else:
        print(f"{report.host}: {report.action}: {report.reason}; nova-compute "
              f"{report.service_state}, {report.service_status}"
              + (f" (incident {report.incident}: {report.state})" if report.incident else ""))
    return EXIT_OK
