"""Where hakari's OpenStack credentials come from: openstacksdk's conventions
(OS_CLIENT_CONFIG_FILE, OS_CLOUD, the clouds.yaml search path), an explicit setting
always first, and nothing contacted while the cloud is only being checked."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import socket

import pytest

from hakari import cli, config
from hakari.errors import HakariError
from hakari.nova import cloud as nova
from hakari.resource_agents import fence_hakari
from lab.fakenova.sdk import write_clouds_yaml

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """No OS_* variable, HOME and the working directory empty temporary directories."""
    for key in list(os.environ):
        if key.startswith("OS_"):
            monkeypatch.delenv(key)
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.chdir(work)
    return tmp_path


@pytest.fixture
def offline(monkeypatch):
    """Records (and refuses) every attempt to resolve a name or open a connection."""
    attempts: list[tuple] = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] or args)
        raise ConnectionRefusedError("this test must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts
    assert attempts == [], "cloud_region contacted something"


def clouds_yaml(path: pathlib.Path, *names: str, tag: str) -> pathlib.Path:
    """A clouds.yaml whose clouds' auth_url says which file (tag) they came from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"clouds": {name: {
        "auth_type": "password", "region_name": "RegionOne",
        "auth": {"auth_url": f"http://192.0.2.1/{tag}/{name}", "username": "admin",
                 "password": "pw-" + tag, "project_name": "admin",
                 "user_domain_name": "Default", "project_domain_name": "Default"}}
        for name in names}}))
    return path


def load(tmp_path, openstack: str = "", os_cloud: str | None = None):
    path = tmp_path / "hakari.conf"
    path.write_text(f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n[openstack]\n{openstack}")
    return config.load([str(path)], os_cloud)


def source(conf) -> str:
    """Which file and cloud the credentials came from, as "tag/cloud"."""
    return nova.cloud_region(conf).config["auth"]["auth_url"].split("/", 3)[3]


def test_os_client_config_file_names_the_clouds_yaml(env, offline, monkeypatch):
    named = clouds_yaml(env / "elsewhere" / "admin-clouds.yaml", "prod", tag="envfile")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(named))
    assert source(load(env, "cloud = prod\n")) == "envfile/prod"


def test_os_cloud_names_the_cloud_when_nothing_else_does(env, offline, monkeypatch):
    clouds = clouds_yaml(env / "clouds.yaml", "prod", "staging", tag="file")
    monkeypatch.setenv("OS_CLOUD", "staging")
    conf = load(env, f"clouds_file = {clouds}\n")
    assert nova.cloud_name(conf) == "staging"
    assert source(conf) == "file/staging"


def test_search_path_finds_clouds_yaml_under_home(env, offline):
    clouds_yaml(env / "home" / ".config" / "openstack" / "clouds.yaml", "prod", tag="home")
    assert source(load(env, "cloud = prod\n")) == "home/prod"


def test_search_path_order_working_directory_then_home(env, offline):
    clouds_yaml(env / "home" / ".config" / "openstack" / "clouds.yaml", "prod", tag="home")
    clouds_yaml(env / "work" / "clouds.yaml", "prod", tag="cwd")
    conf = load(env, "cloud = prod\n")
    assert source(conf) == "cwd/prod"
    files = nova.clouds_files(conf)
    assert files.index(str(env / "work" / "clouds.yaml")) < \
        files.index(str(env / "home" / ".config" / "openstack" / "clouds.yaml")) < \
        files.index("/etc/openstack/clouds.yaml")


def test_file_precedence_config_then_environment_then_search_path(env, offline, monkeypatch):
    configured = clouds_yaml(env / "configured.yaml", "prod", tag="config")
    from_env = clouds_yaml(env / "from-env.yaml", "prod", tag="envfile")
    clouds_yaml(env / "home" / ".config" / "openstack" / "clouds.yaml", "prod", tag="home")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(from_env))
    assert source(load(env, f"cloud = prod\nclouds_file = {configured}\n")) == "config/prod"
    assert source(load(env, "cloud = prod\n")) == "envfile/prod"
    monkeypatch.delenv("OS_CLIENT_CONFIG_FILE")
    assert source(load(env, "cloud = prod\n")) == "home/prod"


def test_cloud_precedence_flag_then_config_then_environment(env, offline, monkeypatch):
    clouds = clouds_yaml(env / "clouds.yaml", "flag", "configured", "environment", tag="f")
    monkeypatch.setenv("OS_CLOUD", "environment")
    text = f"cloud = configured\nclouds_file = {clouds}\n"
    assert source(load(env, text, os_cloud="flag")) == "f/flag"
    assert source(load(env, text)) == "f/configured"
    assert source(load(env, f"clouds_file = {clouds}\n")) == "f/environment"


def test_credential_variables_never_make_or_override_a_cloud(env, offline, monkeypatch):
    clouds = clouds_yaml(env / "clouds.yaml", "prod", tag="file")
    for key, value in {"OS_AUTH_URL": "http://192.0.2.9/identity", "OS_USERNAME": "member",
                       "OS_PASSWORD": "openrc-pw", "OS_PROJECT_NAME": "demo",
                       "OS_REGION_NAME": "Elsewhere", "OS_CLOUD_NAME": "prod"}.items():
        monkeypatch.setenv(key, value)
    region = nova.cloud_region(load(env, f"cloud = prod\nclouds_file = {clouds}\n"))
    assert region.config["auth"]["auth_url"] == "http://192.0.2.1/file/prod"
    assert region.config["auth"]["password"] == "pw-file"
    assert region.region_name == "RegionOne"
    with pytest.raises(HakariError, match="no cloud configured: .*OS_CLOUD"):
        nova.cloud_region(load(env, f"clouds_file = {clouds}\n"))


@pytest.mark.parametrize("setting", ["config", "environment"])
def test_a_named_clouds_file_that_is_missing_is_an_error(env, offline, monkeypatch, setting):
    # Same cloud on the search path: a silent fallback would hand out its credentials.
    clouds_yaml(env / "home" / ".config" / "openstack" / "clouds.yaml", "prod", tag="home")
    missing = env / "missing.yaml"
    if setting == "config":
        conf = load(env, f"cloud = prod\nclouds_file = {missing}\n")
        expected = r"\[openstack\] clouds_file .*missing.yaml: not found"
    else:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(missing))
        conf = load(env, "cloud = prod\n")
        expected = "OS_CLIENT_CONFIG_FILE .*missing.yaml: not found"
    with pytest.raises(HakariError, match=expected):
        nova.cloud_region(conf)


def test_secure_file_from_the_environment_is_merged(env, offline, monkeypatch):
    clouds = clouds_yaml(env / "clouds.yaml", "prod", tag="file")
    secure = env / "secure.yaml"
    secure.write_text(json.dumps({"clouds": {"prod": {"auth": {"password": "from-secure"}}}}))
    monkeypatch.setenv("OS_CLIENT_SECURE_FILE", str(secure))
    region = nova.cloud_region(load(env, f"cloud = prod\nclouds_file = {clouds}\n"))
    assert region.config["auth"]["password"] == "from-secure"


def test_unusable_auth_settings_are_a_one_line_hakari_error(env, offline):
    clouds = env / "clouds.yaml"
    clouds.write_text(json.dumps({"clouds": {"prod": {
        "auth_type": "no-such-plugin", "auth": {"auth_url": "http://192.0.2.1/v3"}}}}))
    with pytest.raises(HakariError, match="cloud 'prod': .*no-such-plugin") as err:
        nova.cloud_region(load(env, f"cloud = prod\nclouds_file = {clouds}\n"))
    assert "\n" not in str(err.value)


def fence_validate(stdin: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = fence_hakari.main([], stdin=io.StringIO(stdin))
    return rc, err.getvalue()


def test_fence_agent_reads_credentials_the_same_way(env, offline, monkeypatch):
    named = clouds_yaml(env / "admin-clouds.yaml", "prod", "other", tag="envfile")
    conf = env / "hakari.conf"
    conf.write_text(f"[DEFAULT]\nstate_dir = {env / 'state'}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(named))
    rc, err = fence_validate(f"action=validate-all\nconfig_file={conf}\ncloud=prod\n")
    assert rc == 0, err
    rc, err = fence_validate(f"action=validate-all\nconfig_file={conf}\n")
    assert rc == 1 and "no cloud" in err and "OS_CLOUD" in err
    monkeypatch.setenv("OS_CLOUD", "other")
    rc, err = fence_validate(f"action=validate-all\nconfig_file={conf}\n")
    assert rc == 0, err
    rc, err = fence_validate(f"action=validate-all\nconfig_file={conf}\ncloud=absent\n")
    assert rc == 1 and "absent" in err and "pw-envfile" not in err


def test_cli_os_cloud_with_os_client_config_file_reaches_nova(env, fake_nova, monkeypatch,
                                                             capsys):
    named = write_clouds_yaml(env / "elsewhere" / "clouds.yaml", fake_nova.info(),
                              cloud="fake")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(named))
    conf = env / "hakari.conf"
    conf.write_text(f"[DEFAULT]\nstate_dir = {env / 'state'}\n")
    rc = cli.main(["--config-file", str(conf), "--os-cloud", "fake", "evacuate", "node2",
                   "--assume-fenced", "--dry-run", "--format", "json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert json.loads(out)["host"] == "node2"
