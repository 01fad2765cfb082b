"""Masakari's URLs: which handler and policy rule a method and path select. Pure.

Every resource is served with and without the project id after ``/v1`` (Masakari's
catalog endpoint is ``…/v1/<project id>``; openstacksdk also calls ``…/v1`` directly).
A project id is hexadecimal with dashes, so it never reads as a resource name.
"""

from __future__ import annotations

import dataclasses
import re

from hakari.api import policy
from hakari.api.faults import ApiError

_PROJECT = r"(?:/(?P<project>[0-9a-f-]+))?"
_ID = r"(?P<id>[^/]+)"


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    handler: str
    rule: str
    args: dict
    project: str | None


_TABLE = [
    (r"/v1/?", {"GET": ("version", policy.VERSIONS % "index")}),
    (rf"/v1{_PROJECT}/segments/?", {
        "GET": ("segments_index", policy.SEGMENTS % "index"),
        "POST": ("segments_create", policy.SEGMENTS % "create")}),
    (rf"/v1{_PROJECT}/segments/{_ID}/?", {
        "GET": ("segments_show", policy.SEGMENTS % "detail"),
        "PUT": ("segments_update", policy.SEGMENTS % "update"),
        "DELETE": ("segments_delete", policy.SEGMENTS % "delete")}),
    (rf"/v1{_PROJECT}/segments/(?P<segment_id>[^/]+)/hosts/?", {
        "GET": ("hosts_index", policy.HOSTS % "index"),
        "POST": ("hosts_create", policy.HOSTS % "create")}),
    (rf"/v1{_PROJECT}/segments/(?P<segment_id>[^/]+)/hosts/{_ID}/?", {
        "GET": ("hosts_show", policy.HOSTS % "detail"),
        "PUT": ("hosts_update", policy.HOSTS % "update"),
        "DELETE": ("hosts_delete", policy.HOSTS % "delete")}),
    (rf"/v1{_PROJECT}/notifications/?", {
        "GET": ("notifications_index", policy.NOTIFICATIONS % "index"),
        "POST": ("notifications_create", policy.NOTIFICATIONS % "create")}),
    (rf"/v1{_PROJECT}/notifications/{_ID}/?", {
        "GET": ("notifications_show", policy.NOTIFICATIONS % "detail")}),
    (rf"/v1{_PROJECT}/notifications/(?P<notification_id>[^/]+)/vmoves/?", {
        "GET": ("vmoves_index", policy.VMOVES % "index")}),
    (rf"/v1{_PROJECT}/notifications/(?P<notification_id>[^/]+)/vmoves/{_ID}/?", {
        "GET": ("vmoves_show", policy.VMOVES % "detail")}),
]
ROUTES = [(re.compile(f"^{pattern}$"), methods) for pattern, methods in _TABLE]


def route(method: str, path: str) -> Route:
    """The route of ``method`` on ``path`` (below the application's root); ApiError 404
    for an unknown path, 405 for a method the path does not have."""
    for pattern, methods in ROUTES:
        m = pattern.match(path)
        if m is None:
            continue
        if method not in methods:
            raise ApiError(405, f"The method {method} is not allowed on {path}; allowed: "
                                f"{', '.join(sorted(methods))}.")
        handler, rule = methods[method]
        args = {k: v for k, v in m.groupdict().items() if k != "project"}
        return Route(handler, rule, args, m.groupdict().get("project"))
    raise ApiError(404, f"The resource {path} could not be found.")
