"""DNS wire format via dnspython's message codec only (no dnspython I/O helpers here).

:func:`parse` raises :class:`PeerError` for anything that is not a well-formed DNS message;
:func:`header_id` recovers the ID of a broken query so a FORMERR can still be addressed.
"""

from __future__ import annotations

import dns.exception
import dns.message

from provisioner.proto.errors import PeerError

Message = dns.message.Message


def parse(data: bytes) -> dns.message.Message:
    try:
        return dns.message.from_wire(data)
    except (dns.exception.DNSException, ValueError, UnicodeError, IndexError) as exc:
        raise PeerError(f"malformed DNS message: {exc}") from None


def header_id(data: bytes) -> int | None:
    return int.from_bytes(data[:2], "big") if len(data) >= 12 else None


def encode(msg: dns.message.Message, max_size: int = 65535) -> bytes:
    return msg.to_wire(max_size=max_size)
