"""`hakari api` served on 127.0.0.1 for tests, in front of the fake Nova or the Nova lab.

``serve``: the fake Nova's Keystone stand-in (lab/keystone.py) is the identity service:
openstacksdk authenticates there, and keystonemiddleware validates every token the API
receives against it over HTTP, as it would against Keystone. Its catalog gets an
``instance-ha`` endpoint (``…/v1/<project id>``, as Masakari registers itself) pointing at
the API, and a second user, ``operator``, with the member role only.

``serve_lab``: the Nova lab's real Keystone, where the API's ``instance-ha`` service and
endpoints are registered as Masakari's are (``…/v1/$(project_id)s``) while it runs; the
lab's member users (projects demo and alt) are the ones without the admin role.
"""

from __future__ import annotations

import dataclasses
import pathlib
import threading

from openstack import config as os_config
from openstack import connection

from hakari import config
from hakari.api import server, wiring
from lab import keystone
from lab.fakenova.sdk import connect
from lab.nova.keystone_process import REGION
from tests.recovery_helpers import conf_for_fake, conf_for_lab

MEMBER = "operator"


@dataclasses.dataclass
class Api:
    url: str
    conf: object
    fake: object

    @property
    def endpoint(self) -> str:
        return f"{self.url}/v1/{self.fake.project_id}"

    def sdk(self, user: str | None = None, **options):
        """An openstacksdk connection as the fake's admin, or as ``user``."""
        info = dict(self.fake.info())
        if user is not None:
            info["username"] = user
        return connect(info, **options)

    def token(self, user: str | None = None) -> str:
        return self.fake.keystone.mint(user or self.fake.username, self.fake.project_name)


@dataclasses.dataclass
class LabApi:
    url: str
    conf: object
    lab: object

    @property
    def endpoint(self) -> str:
        return f"{self.url}/v1/{self.lab.projects['admin']}"

    def sdk(self, project: str = "admin", **options):
        """An openstacksdk connection from the lab's clouds.yaml: the admin user, or the
        member user of project demo or alt."""
        config = os_config.OpenStackConfig(config_files=[self.lab.clouds_yaml],
                                           load_envvars=False)
        return connection.Connection(
            config=config.get_one(self.lab.cloud_name(project), **options))


def _with_keystone(conf_path: pathlib.Path, auth_url: str, username: str, password: str,
                   project: str, extra: str):
    """conf_path with hakari api's [keystone_authtoken] added, loaded."""
    with open(conf_path, "a") as f:
        f.write(f"[keystone_authtoken]\nauth_type = password\nauth_url = {auth_url}\n"
                f"www_authenticate_uri = {auth_url}\nusername = {username}\n"
                f"password = {password}\nproject_name = {project}\n"
                "user_domain_name = Default\nproject_domain_name = Default\n" + extra)
    return config.load([str(conf_path)])


def _start(conf):
    """(url, stop): hakari api for conf on a free port of 127.0.0.1, in a thread."""
    service = wiring.build(conf)
    httpd = server.make_server("127.0.0.1", 0, service.app)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def stop():
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)
        service.close()

    return f"http://127.0.0.1:{httpd.server_address[1]}", stop


def serve(fake, tmp_path: pathlib.Path, extra: str = ""):
    """(Api, stop) with the API on a free port of 127.0.0.1."""
    ks = fake.keystone
    ks.users[MEMBER] = keystone.stable_id("user", MEMBER)
    ks.assignments[(MEMBER, fake.project_name)] = ("member", "reader")
    conf_for_fake(fake, tmp_path)
    conf = _with_keystone(tmp_path / "hakari.conf", f"{fake.url}/identity", fake.username,
                          fake.password, fake.project_name, extra)
    url, stop = _start(conf)
    catalog = ks.catalog
    entry = {"type": "instance-ha", "name": "masakari",
             "id": keystone.stable_id("service", "instance-ha"),
             "endpoints": [{"id": keystone.stable_id("endpoint", f"instance-ha-{i}"),
                            "interface": i, "region": keystone.REGION,
                            "region_id": keystone.REGION,
                            "url": f"{url}/v1/{fake.project_id}"}
                           for i in ("public", "internal", "admin")]}
    ks.catalog = lambda base: catalog(base) + [entry]
    return Api(url, conf, fake), stop


def serve_lab(lab, admin, tmp_path: pathlib.Path, extra: str = ""):
    """(LabApi, stop): the API on a free port of 127.0.0.1 against the Nova lab ``lab``,
    registered in its Keystone through ``admin`` (an openstacksdk admin connection) until
    stop()."""
    conf_for_lab(lab, tmp_path)
    conf = _with_keystone(tmp_path / "hakari.conf", f"{lab.base_url}/identity", "admin",
                          lab.password, "admin", extra)
    url, stop_api = _start(conf)
    service = admin.identity.create_service(type="instance-ha", name="masakari")
    for interface in ("public", "internal", "admin"):
        admin.identity.create_endpoint(service_id=service.id, interface=interface,
                                       url=f"{url}/v1/$(project_id)s", region_id=REGION)

    def stop():
        admin.identity.delete_service(service)  # and its endpoints
        stop_api()

    return LabApi(url, conf, lab), stop
