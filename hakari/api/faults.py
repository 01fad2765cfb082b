"""The API's errors: a status code and a one-line message, as Masakari shapes them.

The body is ``{"<name>": {"code": <status>, "message": "<why>"}}`` with Masakari's name
for the status (``badRequest``, ``itemNotFound``…; ``masakariFault`` for the others),
which Masakari's clients and openstacksdk read the message from. Pure.
"""

from __future__ import annotations

from http import HTTPStatus

NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}
OTHER = "masakariFault"


class ApiError(Exception):
    """Refuse a request: ``code`` is the HTTP status, ``str(err)`` the message."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def body(code: int, message: str) -> dict:
    return {NAMES.get(code, OTHER): {"code": code, "message": message}}


def status_line(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"
