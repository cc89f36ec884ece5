"""Domain errors raised by the core and mapped to protocol errors at the edges.

HTTP maps them to 404/400/409; TFTP to error codes 1/0; DHCP drops silently; DNS answers NXDOMAIN.
"""

from __future__ import annotations


class ProvisionerError(Exception):
    """Base class of every domain error."""

    http_status = 500


class NotFound(ProvisionerError):
    """The named object does not exist."""

    http_status = 404


class Invalid(ProvisionerError):
    """Input was rejected; ``field`` names what was wrong when known."""

    http_status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Conflict(ProvisionerError):
    """The write would clash with an existing object (duplicate name, MAC or IP)."""

    http_status = 409


class Forbidden(ProvisionerError):
    """The path is hostile or points outside the root (TFTP error 2, HTTP 403)."""

    http_status = 403


class Unauthorized(ProvisionerError):
    """Missing or wrong credentials (a host token, an API token)."""

    http_status = 401


class StoreError(ProvisionerError):
    """The store failed (unreachable database, disk full...): a server-side error."""

    http_status = 503


class RenderError(ProvisionerError):
    """A template failed to render; never served as a partial document."""

    http_status = 500

    def __init__(self, message: str, template: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.template = template
        self.line = line
