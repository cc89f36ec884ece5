"""The peer's fault (after h11's RemoteProtocolError): a packet we cannot accept.

``PeerError`` means the peer sent something malformed or unsupported; the transport maps it to a
protocol answer (a TFTP ERROR with ``code``), a silent drop (DHCP) or a DNS FORMERR. Our own
misuse of a protocol API is a plain bug (an ``AssertionError``/``TypeError``), not a class here.
"""

from __future__ import annotations


class PeerError(Exception):
    """The peer's packet is malformed or unsupported; ``code`` is a protocol error code hint."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code
