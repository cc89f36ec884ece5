"""Protocol errors that say whose fault it was (after h11's Local/RemoteProtocolError).

``PeerError`` means the peer sent something we cannot accept (a malformed or unsupported packet);
the transport maps it to a protocol answer (a TFTP ERROR with ``code``) or a silent drop (DHCP) or
a DNS FORMERR. ``UsageError`` means this program misused a protocol API: it is a bug.
"""

from __future__ import annotations


class PeerError(Exception):
    """The peer's packet is malformed or unsupported; ``code`` is a protocol error code hint."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class UsageError(Exception):
    """A protocol API was called wrongly by our own code (a bug, never the peer's fault)."""
