"""`hakari evacuate HOST`: manual recovery of one fenced compute host.

Without --assume-fenced the cluster must prove the host fenced since it was lost (safety
rule 1) from a quorate partition (rule 2). The loss time used for that proof:

1. the host's open incident (the CIB attribute ``hakari-incident``, or the local journal
   on a machine without a cluster), whose lost_at the engine or an earlier run recorded;
2. otherwise Nova's ``updated_at`` of the host's nova-compute, read before hakari changes
   anything: the host's last heartbeat, or, when fence_hakari ran in the fencing level,
   its force-down, which precedes the completion of that same fencing operation. A
   fencing that completed before the host last reported to Nova proves nothing about it
   now, so this can only make hakari refuse, never accept, too early a fencing.

Every step is re-checked against Nova, so running it again evacuates nothing twice.
"""

from __future__ import annotations

import json
import sys

from hakari.commands import load_config
from hakari.display import escape_text, escaped_copy
from hakari.errors import EXIT_FAILED, EXIT_OK, HakariError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evacuate", help="evacuate the instances of one fenced compute host",
        description="Force the host's nova-compute down, disable it, and evacuate its "
        "instances (in parallel, verified, each at most once). Requires proof from the "
        "cluster that the host is fenced, unless --assume-fenced. Refused while the "
        "engine or another operator is recovering the host (cluster-wide), while the "
        "host is held, and when the mass-failure brake would stop it, unless --force.")
    p.add_argument("host", metavar="HOST",
                   help="the Nova compute host (or its Pacemaker node name)")
    p.add_argument("--assume-fenced", action="store_true",
                   help="skip the fencing proof: you assert the host is powered off. "
                   "Recorded in the journal. Evacuating a running host corrupts the "
                   "instances' disks")
    p.add_argument("--force", action="store_true",
                   help="override the mass-failure brake for this host (recorded loudly "
                   "in the journal); prefer `hakari release` once you have checked")
    p.add_argument("--dry-run", action="store_true",
                   help="show what would be done; change nothing")
    p.add_argument("--yes", action="store_true",
                   help="do not ask for confirmation (required when not on a terminal)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="output format (default: text)")
    p.set_defaults(run=run)


def run(args) -> int:
    # Lazy: every `hakari` invocation imports this module to build its parser;
    # openstacksdk would add 0.2 s to the 60 ms of `hakari --help`.
    from hakari.recovery.host.manual import ManualEvacuation

    conf = load_config(args)
    job = ManualEvacuation(conf, args.host, assume_fenced=args.assume_fenced,
                           force=args.force, warn=_warn)
    preview = job.prepare()
    if args.dry_run:
        if args.format == "json":
            print(json.dumps(preview.document(), indent=2))
        else:
            print(escaped_copy(preview).render_text(), end="")
        return EXIT_OK
    if not args.yes:
        _confirm(preview)
    progress = None
    if args.format == "text":
        print(escaped_copy(preview).headline(), flush=True)
        progress = _print_progress(sys.stdout)
    elif sys.stderr.isatty():
        progress = _print_progress(sys.stderr)
    report = job.execute(preview, progress=progress)
    if args.format == "json":
        print(json.dumps(report.document(), indent=2))
    else:
        print(job.summary(escaped_copy(report)))
    return EXIT_FAILED if report.failed else EXIT_OK


def _confirm(preview) -> None:
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise HakariError("refusing to evacuate without confirmation: not on a terminal; "
                          "pass --yes (or --dry-run to look first)")
    shown = escaped_copy(preview)
    sys.stderr.write(shown.render_text() + shown.question() + " [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise HakariError("not confirmed; nothing changed")


def _print_progress(stream):
    def show(outcome) -> None:
        outcome = escaped_copy(outcome)
        dest = f"-> {outcome.dest_host}" if outcome.dest_host and \
            outcome.result == "evacuated" else ""
        detail = dest or outcome.reason
        print(f"  {outcome.result:<9}  {outcome.id}  {outcome.name or '-'}  {detail}".rstrip(),
              file=stream, flush=True)
    return show


def _warn(message: str) -> None:
    print(f"hakari: WARNING: {escape_text(' '.join(message.split()))}", file=sys.stderr,
          flush=True)
