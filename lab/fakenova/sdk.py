"""openstacksdk helpers for the fake (or any cloud described by the same ``info`` dict).

Imported lazily: the fake server itself needs only the standard library.

Microversions with openstacksdk 4.x: without configuration each resource call negotiates
min(resource maximum, server maximum) -- Server 2.100, Service 2.69, Migration 2.80 -- so
``evacuate_server`` posts at >= 2.95 and leaves instances SHUTOFF. Two ways to pin:
  * ``connect(info, microversion="2.68")`` sets ``compute_api_version="2.68"``; openstacksdk
    turns the minor part into the compute proxy's ``default_microversion``, used by every
    resource call (services, servers, evacuate, migrations) on that connection.
  * per call, on any connection: ``conn.compute.post(url, json=..., microversion="2.68")``
    (also get/put/delete; the proxy is a keystoneauth Adapter).
"""

from __future__ import annotations

import os
import pathlib


def connect(info: dict, *, microversion: str | None = None, api_timeout: float | None = None,
            **kwargs):
    """A Connection built from ``info`` (FakeNova.info()), never reading clouds.yaml or
    OS_* variables."""
    from openstack import connection

    opts = {
        "auth_type": "password",
        "auth": {"auth_url": info["auth_url"], "username": info["username"],
                 "password": info["password"], "project_name": info["project_name"],
                 "user_domain_name": info.get("user_domain_name", "Default"),
                 "project_domain_name": info.get("project_domain_name", "Default")},
        "region_name": info.get("region_name", "RegionOne"),
        "interface": "public",
    }
    if microversion:
        opts["compute_api_version"] = microversion
    if api_timeout is not None:
        opts["api_timeout"] = api_timeout
    opts.update(kwargs)
    return connection.Connection(**opts)


def write_clouds_yaml(path, info: dict, *, cloud: str = "fakenova",
                      microversion: str | None = None) -> pathlib.Path:
    """A clouds.yaml with one cloud for ``info``; JSON is valid YAML, so no yaml library."""
    import json

    entry = {"auth_type": "password",
             "auth": {"auth_url": info["auth_url"], "username": info["username"],
                      "password": info["password"], "project_name": info["project_name"],
                      "user_domain_name": info.get("user_domain_name", "Default"),
                      "project_domain_name": info.get("project_domain_name", "Default")},
             "region_name": info.get("region_name", "RegionOne"), "interface": "public"}
    if microversion:
        entry["compute_api_version"] = microversion
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({"clouds": {cloud: entry}}, indent=2) + "\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path
