"""`hakari apply-cib`: merge hakari's objects from a rendered cib.xml into the CIB."""

from __future__ import annotations

import json

from hakari.errors import EXIT_OK
from hakari.inputfile import read_bounded

# The rendered cib.xml of a 4,096-node cluster in examples/cluster.yaml's layout is
# 7.4 MB (1.8 kB per node); this leaves room for shared devices and extra fencing
# levels on every node.
MAX_CIB_XML_BYTES = 32 << 20


def add_parser(sub) -> None:
    p = sub.add_parser(
        "apply-cib", help="merge hakari's objects from a rendered cib.xml into the CIB",
        description="Bring the CIB in line with a cib.xml from `hakari render`: hakari's "
        "properties, resources, constraints, fencing levels and alert are created or "
        "replaced, objects hakari no longer renders are removed, everything else is left "
        "alone. Only the differences are pushed, in one patch; a second run changes "
        "nothing. Honours CIB_file to work on a CIB file instead of the live cluster.")
    p.add_argument("cib_xml", metavar="CIB_XML",
                   help="the rendered cib.xml ('-': standard input)")
    p.add_argument("--check", action="store_true",
                   help="only report what would change (exit 0 either way)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="output format (default: text)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="timeout of each cibadmin/crm_diff call (default: 30)")
    p.set_defaults(run=run)


def run(args) -> int:
    # Lazy: every `hakari` invocation imports this module to build its parser; lxml and
    # the cluster tools' modules would add 14 ms to the 60 ms of `hakari --help`.
    from hakari.cluster_config import cib_apply

    data = read_bounded(args.cib_xml, MAX_CIB_XML_BYTES)
    plan = cib_apply.apply(data, check=args.check, timeout=args.timeout)
    if args.format == "json":
        print(json.dumps({**plan.as_dict(), "check": args.check}, sort_keys=True))
        return EXIT_OK
    verb = "would change" if args.check else "changed"
    if not plan.changed:
        print("unchanged: the CIB already has hakari's configuration")
    for what, items in (("created", plan.created), ("replaced", plan.replaced),
                        ("removed", plan.removed), ("property", plan.properties)):
        for item in items:
            print(f"{verb}: {what} {item}")
    return EXIT_OK
