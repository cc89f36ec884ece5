"""The one error hierarchy: raised by the core (and the modules under it), mapped at the edges.

A message says what was wrong; ``hint`` says how to fix it when the message alone does not.
Each edge maps the class, in one table of its own:

* HTTP (``web/app.py``: :data:`~provisioner.web.app.HTTP_STATUS`): 404, 400, 409, 403, 401,
  503, 502, 500; JSON ``{"error": {"code", "message", "field", "hint"}}`` under ``/api/``,
  ``error: <message>`` text elsewhere, an error page in the UI.
* CLI (``cli.py``): ``provisioner: error: <message>`` (and ``provisioner: hint: ...``), exit 2.
* TFTP (``proto/tftp/session.py``): NotFound -> error 1, Forbidden -> 2, anything else -> 0.
* DHCP drops the packet silently; DNS answers NXDOMAIN.
"""

from __future__ import annotations


class ProvisionerError(Exception):
    """Base class of every domain error."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class NotFound(ProvisionerError):
    """The named object does not exist."""


class Invalid(ProvisionerError):
    """Input was rejected; ``field`` names what was wrong when known."""

    def __init__(self, message: str, field: str | None = None, *,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field


class Conflict(ProvisionerError):
    """The write would clash with an existing object (duplicate name, MAC or IP)."""


class Forbidden(ProvisionerError):
    """The path is hostile or points outside the root (TFTP error 2, HTTP 403)."""


class Unauthorized(ProvisionerError):
    """Missing or wrong credentials (a host token, an API token)."""


class StoreError(ProvisionerError):
    """The store failed (unreachable database, disk full...): a server-side error."""


class HostError(ProvisionerError):
    """A managed host or its hypervisor failed (connection, migration): not the caller's input."""


class PowerError(HostError):
    """A power controller (BMC, agent) failed or refused; ``kind`` says which way:
    ``unreachable``, ``auth`` (wrong credentials), ``tls`` (certificate not trusted),
    ``rejected`` (the controller refused the request, e.g. a boot override), ``unsupported``
    (this driver or controller cannot do it), ``missing`` (the service lacks a property or
    action it needs), ``timeout`` (no answer within the deadline), ``failed`` (anything else)."""

    KINDS = ("unreachable", "auth", "tls", "rejected", "unsupported", "missing", "timeout",
             "failed")

    def __init__(self, kind: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind if kind in self.KINDS else "failed"


class RenderError(ProvisionerError):
    """A template failed to render; never served as a partial document."""

    def __init__(self, message: str, template: str | None = None, line: int | None = None, *,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.template = template
        self.line = line
