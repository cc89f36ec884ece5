"""Errors of remote hosts and migration, importable by the core (no libvirt here)."""

from __future__ import annotations

from provisioner.errors import HostError, Invalid


class ConnectError(HostError):
    """Connecting to a host failed; ``kind`` names the cause (``libvirt_conn.KINDS``)."""

    def __init__(self, kind: str, host: str, message: str) -> None:
        super().__init__(f"{host}: {message}")
        self.kind, self.host = kind, host


class MigrationRefused(Invalid):
    """The migration was not attempted (the guest is unchanged); the message says why."""
