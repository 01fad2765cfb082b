"""`hakari api`'s embedded HTTP(S) server: the standard library's WSGI server, one
thread per connection, TLS when [api] cert_file and key_file are set.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from hakari.display import one_line
from hakari.errors import ConfigError

LOG = logging.getLogger("hakari.api")


class _Handler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        LOG.info("%s %s", self.address_string(), format % args)


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class ThreadingServer6(ThreadingServer):
    address_family = socket.AF_INET6


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext | None:
    """The server's TLS context, or None for plain HTTP; ConfigError for half a pair or
    files that do not load."""
    if not cert_file and not key_file:
        return None
    if not (cert_file and key_file):
        raise ConfigError("[api] cert_file and key_file go together: set both for HTTPS, "
                          "neither for HTTP")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"[api] cert_file/key_file: {one_line(err)}") from None
    return context


def make_server(host: str, port: int, app, tls: ssl.SSLContext | None = None
                ) -> ThreadingServer:
    """Bound and listening (port 0: any free port, see ``server_address``)."""
    cls = ThreadingServer6 if ":" in host else ThreadingServer
    try:
        server = cls((host, port), _Handler)
    except OSError as err:
        raise ConfigError(f"[api] cannot listen on {host} port {port}: "
                          f"{err.strerror or err}") from None
    server.set_app(app)
    if tls is not None:
        # The handshake happens in the connection's own thread, on its first read: a
        # slow or silent client never holds up accepting the next one.
        server.socket = tls.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    return server
