"""API versions: the versions document and the microversion a request asks for. Pure.

Masakari's API v1 has microversions 1.0 to 1.3 (1.1: a notification shows its recovery
workflow details; 1.2: a segment's ``enabled``; 1.3: a COMPUTE_HOST notification's vm
moves), all served here. As in Masakari, the vm moves' routes answer whatever
microversion is asked (openstacksdk asks none for them). A request names its
microversion in ``OpenStack-API-Version: instance-ha X.Y`` (or ``latest``); none means
1.0.
"""

from __future__ import annotations

import re

from hakari.api.faults import ApiError

SERVICE_TYPE = "instance-ha"
HEADER = "OpenStack-API-Version"
MIN_VERSION = (1, 0)
MAX_VERSION = (1, 3)
# Masakari's own date for its v1, which clients never compare against anything.
UPDATED = "2016-07-01T11:33:21Z"
_VERSION = re.compile(r"^([1-9]\d*)\.(0|[1-9]\d*)$")


def text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def requested(header: str | None) -> tuple[int, int]:
    """The microversion an ``OpenStack-API-Version`` header value asks of this service
    (entries for other services are someone else's); 400 for a malformed one, 406 for
    one outside MIN_VERSION..MAX_VERSION."""
    asked = None
    for entry in (header or "").split(","):
        service, _, value = entry.strip().partition(" ")
        if service.lower() == SERVICE_TYPE:
            asked = value.strip()
    if asked is None:
        return MIN_VERSION
    if asked.lower() == "latest":
        return MAX_VERSION
    m = _VERSION.match(asked)
    if not m:
        raise ApiError(400, f"Invalid API version {asked!r}: expected X.Y or 'latest'.")
    version = (int(m.group(1)), int(m.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise ApiError(406, f"API version {asked} is not supported: this service "
                            f"serves {text(MIN_VERSION)} to {text(MAX_VERSION)}.")
    return version


def versions_document(root_url: str) -> dict:
    """``GET /``: the one major version, with its microversion range."""
    return {"versions": [{
        "id": "v1.0", "status": "CURRENT", "version": text(MAX_VERSION),
        "min_version": text(MIN_VERSION), "updated": UPDATED,
        "links": [{"rel": "self", "href": root_url.rstrip("/") + "/v1/"}]}]}


def version_document(root_url: str) -> dict:
    """``GET /v1``: the same version described on its own."""
    return {"version": {
        "id": "v1", "status": "CURRENT", "version": text(MAX_VERSION),
        "min_version": text(MIN_VERSION), "updated": UPDATED,
        "links": [{"rel": "self", "href": root_url.rstrip("/") + "/v1/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.masakari+json;version=1"}]}}
