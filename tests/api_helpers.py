"""`hakari api` served on 127.0.0.1 for tests, in front of the fake Nova.

The fake Nova's Keystone stand-in (lab/keystone.py) is the identity service: openstacksdk
authenticates there, and keystonemiddleware validates every token the API receives
against it over HTTP, as it would against Keystone. Its catalog gets an ``instance-ha``
endpoint (``…/v1/<project id>``, as Masakari registers itself) pointing at the API, and a
second user, ``operator``, with the member role only.
"""

from __future__ import annotations

import dataclasses
import pathlib
import threading

from hakari import config
from hakari.api import server, wiring
from lab import keystone
from lab.fakenova.sdk import connect
from tests.recovery_helpers import conf_for_fake

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


def serve(fake, tmp_path: pathlib.Path, extra: str = ""):
    """(Api, stop) with the API on a free port of 127.0.0.1."""
    ks = fake.keystone
    ks.users[MEMBER] = keystone.stable_id("user", MEMBER)
    ks.assignments[(MEMBER, fake.project_name)] = ("member", "reader")
    conf_for_fake(fake, tmp_path)
    with open(tmp_path / "hakari.conf", "a") as f:
        f.write(f"[keystone_authtoken]\nauth_type = password\nauth_url = {fake.url}/identity\n"
                f"www_authenticate_uri = {fake.url}/identity\nusername = {fake.username}\n"
                f"password = {fake.password}\nproject_name = {fake.project_name}\n"
                "user_domain_name = Default\nproject_domain_name = Default\n" + extra)
    conf = config.load([str(tmp_path / "hakari.conf")])
    service = wiring.build(conf)
    httpd = server.make_server("127.0.0.1", 0, service.app)
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    catalog = ks.catalog
    entry = {"type": "instance-ha", "name": "masakari",
             "id": keystone.stable_id("service", "instance-ha"),
             "endpoints": [{"id": keystone.stable_id("endpoint", f"instance-ha-{i}"),
                            "interface": i, "region": keystone.REGION,
                            "region_id": keystone.REGION,
                            "url": f"{url}/v1/{fake.project_id}"}
                           for i in ("public", "internal", "admin")]}
    ks.catalog = lambda base: catalog(base) + [entry]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def stop():
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)
        service.close()

    return Api(url, conf, fake), stop
