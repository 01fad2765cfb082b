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
from hakari.resource_agents import api, ocf
from hakari.resource_agents.ocf import Context

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


# -- api_config: api.conf after hakari.conf ------------------------------------------------

@pytest.mark.parametrize("mode, who", [
    (0o600, None), (0o400, None), (0o640, "group"), (0o604, "others"),
    (0o644, "group and others"), (0o100620, None),
])
def test_readers(mode, who):
    assert api.readers(mode) == who


def agent_context(tmp_path, api_mode=0o600, **params):
    """A start's context with hakari.conf and api.conf in tmp_path."""
    conf = tmp_path / "hakari.conf"
    conf.write_text(f"[DEFAULT]\nstate_dir = {tmp_path}/state\n[openstack]\ncloud = c1\n"
                    "[api]\nbind_port = 1111\nmax_limit = 7\n")
    api_conf = tmp_path / "api.conf"
    api_conf.write_text("[api]\nbind_host = 192.0.2.11\nbind_port = 2222\n"
                        "[keystone_authtoken]\nauth_type = password\n")
    api_conf.chmod(api_mode)
    env = {"OCF_RESOURCE_INSTANCE": "hakari-api:0", "OCF_RESKEY_config": str(conf),
           "OCF_RESKEY_api_config": str(api_conf)}
    env.update({f"OCF_RESKEY_{k}": v for k, v in params.items()})
    return Context("start", env, api.INFO)


def test_api_conf_is_read_after_hakari_conf_and_wins(tmp_path, capsys):
    ctx = agent_context(tmp_path)
    conf = api.load_config(ctx)
    assert api.listener(conf).url == "http://192.0.2.11:2222/"
    assert conf.api.max_limit == 7  # hakari.conf's, where api.conf says nothing
    argv = api.daemon_argv(ctx)
    assert argv[argv.index("-m"):] == ["-m", "hakari", "--config-file",
                                       f"{tmp_path}/hakari.conf", "--config-file",
                                       f"{tmp_path}/api.conf", "api"]
    assert capsys.readouterr().err == ""  # 0600: no warning


def test_the_daemon_gets_api_conf_after_the_cloud_and_before_the_subcommand(tmp_path):
    ctx = agent_context(tmp_path, cloud="c2", hakari_command="/usr/bin/hakari --debug")
    assert api.daemon_argv(ctx) == [
        "/usr/bin/hakari", "--debug", "--config-file", f"{tmp_path}/hakari.conf",
        "--os-cloud", "c2", "--config-file", f"{tmp_path}/api.conf", "api"]


def test_api_config_defaults_to_etc_hakari_api_conf(tmp_path):
    ctx = agent_context(tmp_path, api_config="")  # Pacemaker's empty value: the default
    assert ctx.params["api_config"] == "/etc/hakari/api.conf"


@pytest.mark.parametrize("value, rc, reason", [
    ("api.conf", ocf.OCF_ERR_CONFIGURED, "api_config: must be an absolute path"),
    ("/nonexistent/api.conf", ocf.OCF_ERR_INSTALLED,
     "api_config file /nonexistent/api.conf: not found (hakari render writes api.conf"),
])
def test_a_missing_api_config_is_refused(tmp_path, value, rc, reason):
    with pytest.raises(ocf.OCFError) as err:
        api.load_config(agent_context(tmp_path, api_config=value))
    assert err.value.rc == rc and err.value.reason.startswith(reason)


def test_a_bad_api_conf_names_both_files(tmp_path):
    ctx = agent_context(tmp_path)
    (tmp_path / "api.conf").write_text("[api]\nbind_port = x\n")
    with pytest.raises(ocf.OCFError) as err:
        api.load_config(ctx)
    assert err.value.rc == ocf.OCF_ERR_ARGS
    assert f"{tmp_path}/hakari.conf, {tmp_path}/api.conf: [api] bind_port" in err.value.reason


@pytest.mark.parametrize("mode, who", [(0o640, "group"), (0o644, "group and others")])
def test_a_readable_api_conf_is_a_warning(tmp_path, capsys, mode, who):
    conf = api.load_config(agent_context(tmp_path, api_mode=mode))
    assert conf.api.bind_port == 2222  # still read: not a failure
    assert capsys.readouterr().err == (
        f"WARNING: api_config file {tmp_path}/api.conf: readable by {who} (mode {mode:04o}) but "
        "holds the API's database and Keystone passwords: make it root:root 0600\n")
