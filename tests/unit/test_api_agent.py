"""ocf:hakari:api's own decisions: where it asks, what counts as the versions document,
and its probe against a real HTTP server on loopback."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time

import pytest

from hakari import config
from hakari.resource_agents import api

VERSIONS = json.dumps({"versions": [{"id": "v1.0", "status": "CURRENT"}]}).encode()


@pytest.mark.parametrize("status, body, problem", [
    (200, VERSIONS, None),
    (503, VERSIONS, "GET / answered HTTP 503"),
    (200, b"<html>hello</html>", "not the versions document"),
    (200, b'{"versions": []}', "not the versions document"),
    (200, b"[1, 2]", "not the versions document"),
    (200, b"\xff\xfe", "not the versions document"),
])
def test_answer_problem(status, body, problem):
    got = api.answer_problem(status, body)
    assert got == problem if problem is None else problem in got


@pytest.mark.parametrize("bind_host, port, cert, url", [
    ("0.0.0.0", 15868, "", "http://127.0.0.1:15868/"),
    ("::", 15869, "", "http://[::1]:15869/"),
    ("192.0.2.11", 15868, "/etc/hakari/api.crt", "https://192.0.2.11:15868/"),
    ("2001:db8::11", 80, "", "http://[2001:db8::11]:80/"),
])
def test_listener_is_where_hakari_api_listens(tmp_path, bind_host, port, cert, url):
    path = tmp_path / "hakari.conf"
    path.write_text(f"[DEFAULT]\nstate_dir = {tmp_path}/state\n[api]\n"
                    f"bind_host = {bind_host}\nbind_port = {port}\ncert_file = {cert}\n")
    assert api.listener(config.load([str(path)])).url == url


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200
    body = VERSIONS

    def do_GET(self):  # noqa: N802 - the base class's name
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        _Handler.status, _Handler.body = 200, VERSIONS


def test_probe_reads_the_versions_document(server):
    where = api.Listener("127.0.0.1", server.server_address[1], False)
    assert api.probe(where, 5.0) is None
    _Handler.status = 500
    assert api.probe(where, 5.0) == "GET / answered HTTP 500"


def test_probe_of_a_closed_port_says_no_answer():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    problem = api.probe(api.Listener("127.0.0.1", port, False), 5.0)
    assert problem.startswith("no answer: ConnectionRefusedError")


def test_probe_of_a_silent_listener_gives_up_at_the_timeout():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)  # the kernel accepts, nobody ever answers
        t = time.monotonic()
        problem = api.probe(api.Listener("127.0.0.1", s.getsockname()[1], False), 0.5)
        took = time.monotonic() - t
    assert problem.startswith("no answer: TimeoutError") and 0.4 < took < 3
