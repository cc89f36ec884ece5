"""codec.message_type: the type's name for counting, from raw bytes, never raising."""

from __future__ import annotations

import pytest

from provisioner.proto.dhcp.codec import DISCOVER, INFORM, REQUEST, Packet, message_type


def _raw(**options: bytes) -> bytes:
    return Packet(options={int(k[1:]): v for k, v in options.items()}).encode()


@pytest.mark.parametrize(("data", "want"), [
    (_raw(o53=bytes((DISCOVER,))), "discover"),
    (_raw(o12=b"host", o53=bytes((REQUEST,))), "request"),
    (_raw(o53=bytes((INFORM,))), "inform"),
    (_raw(o53=bytes((99,))), "other"),
    (_raw(o12=b"no type"), "malformed"),
    (_raw(o53=bytes((DISCOVER,)))[:240], "malformed"),
    (b"\x01" * 100, "malformed"),
    (_raw(o53=bytes((DISCOVER,)))[:240] + b"\x35\x01", "malformed"),
])
def test_message_type(data: bytes, want: str) -> None:
    assert message_type(data) == want
