"""`hakari engine`: the recovery engine in the foreground (what ocf:hakari:evacuator runs)."""

from __future__ import annotations

import logging
import signal
import sys

from hakari.commands import load_config


def add_parser(sub) -> None:
    p = sub.add_parser(
        "engine", help="run the recovery engine in the foreground",
        description="Watch the cluster, open an incident for each lost compute node, wait "
        "for proof it is fenced, then evacuate its instances; re-enable it when it comes "
        "back. Runs until SIGTERM. Normally started by the ocf:hakari:evacuator resource, "
        "which keeps exactly one engine running per quorate cluster.")
    p.add_argument("--once", action="store_true",
                   help="look at the cluster once, act, wait for any recovery it started, "
                   "and exit (for checks and debugging)")
    p.set_defaults(run=run)


def run(args) -> int:
    # Lazy: every `hakari` invocation imports this module to build its parser;
    # openstacksdk would add 0.3 s to the 60 ms of `hakari --help`.
    from hakari.engine import wiring

    conf = load_config(args)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s hakari-engine %(levelname)s %(message)s")
    # openstacksdk and keystoneauth are chatty at INFO; their failures reach us anyway.
    for noisy in ("openstack", "keystoneauth", "urllib3", "stevedore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    engine = wiring.build(conf, config_files=args.config_file, os_cloud=args.os_cloud)
    if args.once:
        engine.beat()
        decision = engine.reconcile()
        engine.wait_idle()
        if decision.blocked:
            print(f"hakari engine: {decision.blocked}", file=sys.stderr)
        return 0

    def stop(signum, frame):
        engine.stop.set()
        engine.wake.set()

    def reload(signum, frame):
        engine.reload.set()
        engine.wake.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    engine.run()
    return 0

