"""`hakari install`: the agents where Pacemaker finds them, the state directory in place."""

from __future__ import annotations

import sys

from hakari.errors import EXIT_FAILED, EXIT_OK, HakariError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "install", help="install the OCF agents, fence_hakari, the alert agent and the "
        "state directory",
        description="Install ocf:hakari:evacuator, ocf:hakari:compute-guard and "
        "ocf:hakari:api under "
        "$OCF_ROOT/resource.d/hakari, fence_hakari in /usr/sbin, the alert agent as "
        "/usr/libexec/hakari/alert, /etc/hakari (hakari.conf is created from the sample "
        "only if missing) and the state directory with the spool the hacluster user "
        "writes. Idempotent. As root it then runs the agents as hacluster and nobody to "
        "prove they can. See docs/deployment.md.")
    p.add_argument("--prefix", default="/", metavar="DIR",
                   help="install below DIR instead of / (packaging, tests); the "
                   "launchers still run this Python from where hakari is now")
    p.add_argument("--python", metavar="PATH",
                   help="interpreter the launchers run (default: this one). It must be "
                   "the same Python version, and runnable by the hacluster user and by "
                   "nobody (an interpreter below /root is not)")
    p.add_argument("--ocf-root", metavar="DIR",
                   help="OCF root (default: $OCF_ROOT or /usr/lib/ocf)")
    p.add_argument("--uninstall", action="store_true",
                   help="remove what install put in place; the state directory and "
                   "/etc/hakari stay unless --purge")
    p.add_argument("--purge", action="store_true",
                   help="with --uninstall: also remove the state directory (incident "
                   "journal, spool), /etc/hakari and /var/log/hakari")
    p.add_argument("--force", action="store_true",
                   help="replace (or remove) agent files hakari did not install")
    p.set_defaults(run=run)


def run(args) -> int:
    # Lazy: every `hakari` invocation imports this module to build its parser;
    # oslo.config's sample generator would add 55 ms to the 60 ms of `hakari --help`.
    from hakari.install import Installer, make_plan

    if args.purge and not args.uninstall:
        raise HakariError("--purge only goes with --uninstall")
    config_file = None
    if args.config_file:
        config_file = args.config_file[-1]
    plan = make_plan(prefix=args.prefix, python=args.python, ocf_root=args.ocf_root,
                     config_file=config_file)
    installer = Installer(plan, force=args.force,
                          report=lambda msg: print(f"hakari install: {msg}"))
    if args.uninstall:
        installer.uninstall(purge=args.purge)
        return EXIT_OK
    state_dir = installer.install()
    problems = installer.verify()
    for problem in problems:
        print(f"hakari: error: {problem}", file=sys.stderr)
    if problems:
        return EXIT_FAILED
    print(f"hakari install: done (state directory {plan.under(state_dir)})")
    return EXIT_OK
