"""`hakari api`: serve the Masakari-compatible API (docs/api.md) until SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from hakari.commands import load_config
from hakari.errors import EXIT_OK, HakariError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "api", help="serve the Masakari-compatible API (needs the api extra)",
        description="Serve Masakari's API v1 (segments, hosts, notifications) so that "
        "masakari-monitors, openstacksdk's instance_ha proxy and `openstack segment|"
        "notification …` work against hakari. Tokens are validated by keystonemiddleware "
        "([keystone_authtoken]), access follows oslo.policy rules with Masakari's names "
        "(admin only by default; [oslo_policy] policy_file overrides them). Records are "
        "kept in SQL ([api] connection; an SQLite file in the state directory by "
        "default). Notifications run hakari's recoveries: PROCESS disables the host's "
        "nova-compute, VM starts or hard-reboots the instance, COMPUTE_HOST follows the "
        "host's incident and never evacuates by itself. Listens on [api] bind_host and "
        "bind_port, over HTTPS when [api] cert_file and key_file are set; for uwsgi or "
        "mod_wsgi use hakari.api.wsgi:application instead. Runs until SIGTERM or SIGINT. "
        "Needs `pip install 'hakari[api]'`.")
    p.add_argument("--bind-host", metavar="ADDRESS",
                   help="listen on this address instead of [api] bind_host")
    p.add_argument("--bind-port", type=int, metavar="PORT",
                   help="listen on this port instead of [api] bind_port (0: any free port)")
    p.set_defaults(run=run)


def run(args) -> int:
    conf = load_config(args)
    try:
        # Lazy, and only here: the api extra (keystonemiddleware, oslo.policy,
        # SQLAlchemy, WebOb) may not be installed, and every other command works
        # without it; importing it costs `hakari --help` 0.5 s besides.
        from hakari.api import server, wiring
    except ImportError as err:
        raise HakariError(f"hakari api needs the api extra (pip install 'hakari[api]'): "
                          f"{err}") from None
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s hakari-api %(levelname)s %(message)s")
    for noisy in ("openstack", "keystoneauth", "urllib3", "stevedore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    host = args.bind_host if args.bind_host is not None else conf.api.bind_host
    port = args.bind_port if args.bind_port is not None else conf.api.bind_port
    tls = server.tls_context(conf.api.cert_file, conf.api.key_file)
    service = wiring.build(conf)
    httpd = server.make_server(host, port, service.app, tls)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    serving = threading.Thread(target=httpd.serve_forever, name="hakari-api-http",
                               daemon=True)
    serving.start()
    bound = httpd.server_address
    print(f"hakari api: serving on {'https' if tls else 'http'}://{bound[0]}:{bound[1]}",
          file=sys.stderr, flush=True)
    try:
        stop.wait()
    finally:
        httpd.shutdown()
        httpd.server_close()
        service.close()
    return EXIT_OK
