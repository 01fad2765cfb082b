"""`hakari render`: the cluster's configuration files from one variables file."""

from __future__ import annotations

import sys

from hakari.errors import EXIT_OK, EXIT_USAGE


def add_parser(sub) -> None:
    p = sub.add_parser(
        "render", help="render corosync.conf, cib.xml, pcs-commands.sh, hakari.conf, "
        "keystone-commands.sh and api.conf",
        description="Validate a cluster variables file (YAML or JSON; see "
        "examples/cluster.yaml) and render corosync.conf, cib.xml, pcs-commands.sh, "
        "hakari.conf, keystone-commands.sh (the API's catalog entry) and, with the api "
        "enabled, api.conf (hakari api's sections and credentials, mode 0600) from "
        "hakari's templates. Every problem in the file is reported, one "
        "per line; nothing is written unless the whole file is valid.")
    p.add_argument("--vars", required=True, metavar="FILE",
                   help="the cluster variables file ('-': standard input)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--output-dir", metavar="DIR",
                        help="write the files here (created if missing; six with the "
                        "api enabled, else five and no api.conf); each is replaced "
                        "atomically")
    target.add_argument("--check", action="store_true",
                        help="only validate the variables and the rendered output")
    p.set_defaults(run=run)


def run(args) -> int:
    # Lazy: every `hakari` invocation imports this module to build its parser; jinja2,
    # yaml, lxml and oslo.config would add 75 ms to the 60 ms of `hakari --help`.
    from hakari.cluster_config import render, schema

    data = schema.load_vars(args.vars)
    errors, warnings = schema.validate(data)
    for w in warnings:
        print(f"hakari: warning: {args.vars}: {w}", file=sys.stderr)
    if not errors:
        files = render.render_all(data)
        errors = render.check_rendered(files)
    if errors:
        for e in errors:
            print(f"hakari: error: {args.vars}: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.check:
        print(f"{args.vars}: valid")
        return EXIT_OK
    modes = render.file_modes(data)
    render.write_files(args.output_dir, files, modes)
    for name in files:
        print(f"wrote {args.output_dir.rstrip('/')}/{name} (mode {modes[name]:04o})")
    return EXIT_OK
