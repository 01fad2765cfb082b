"""The errors of the Nova layer."""

from __future__ import annotations

from hakari.errors import HakariError


class NovaError(HakariError):
    """A Nova call failed for good (after any retries).

    ``ambiguous``: the request may have reached Nova and taken effect (5xx, read
    timeout, connection lost after sending). A caller of a non-idempotent call must
    look at Nova's state before trying again.
    """

    exit_code = 1

    def __init__(self, message, status=None, request_id=None, ambiguous=False):
        super().__init__(message)
        self.status = status
        self.request_id = request_id
        self.ambiguous = ambiguous


class NovaNotFound(NovaError):
    pass


class NovaConflict(NovaError):
    """409, or the 400 Nova gives when the source compute is still considered up."""


