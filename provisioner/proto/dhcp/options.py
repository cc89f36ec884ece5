"""DHCP option knowledge: codes, dnsmasq names, value types; text <-> bytes; client facts.

``OPTIONS`` maps a code to ``(dnsmasq name, type)``. Types: ``ip`` (one address), ``ips`` (list),
``u8``/``u16``/``u32``/``s32``, ``str``, ``bool``, ``bytes`` (hex ``aa:bb`` or raw text),
``domains`` (RFC 1035 name list, option 119). :func:`parse_value` turns a dnsmasq
``dhcp-option`` value into wire bytes.
"""

from __future__ import annotations

import ipaddress
import struct

from provisioner.proto.errors import PeerError

OPTIONS: dict[int, tuple[str, str]] = {
    1: ("netmask", "ip"),
    2: ("time-offset", "s32"),
    3: ("router", "ips"),
    4: ("time-server", "ips"),
    6: ("dns-server", "ips"),
    7: ("log-server", "ips"),
    12: ("hostname", "str"),
    13: ("boot-file-size", "u16"),
    15: ("domain-name", "str"),
    16: ("swap-server", "ip"),
    17: ("root-path", "str"),
    18: ("extension-path", "str"),
    19: ("ip-forward-enable", "bool"),
    23: ("default-ttl", "u8"),
    26: ("mtu", "u16"),
    28: ("broadcast", "ip"),
    33: ("static-route", "ips"),
    40: ("nis-domain", "str"),
    41: ("nis-server", "ips"),
    42: ("ntp-server", "ips"),
    43: ("vendor-encap", "bytes"),
    44: ("netbios-ns", "ips"),
    50: ("requested-address", "ip"),
    51: ("lease-time", "u32"),
    53: ("message-type", "u8"),
    54: ("server-identifier", "ip"),
    55: ("parameter-request-list", "bytes"),
    56: ("message", "str"),
    57: ("max-message-size", "u16"),
    58: ("T1", "u32"),
    59: ("T2", "u32"),
    60: ("vendor-class", "str"),
    61: ("client-id", "bytes"),
    66: ("tftp-server", "str"),
    67: ("bootfile-name", "str"),
    77: ("user-class", "bytes"),
    81: ("FQDN", "bytes"),
    82: ("agent-id", "bytes"),
    93: ("client-arch", "u16"),
    94: ("client-interface-id", "bytes"),
    97: ("client-machine-id", "bytes"),
    119: ("domain-search", "domains"),
    121: ("classless-static-route", "bytes"),
    150: ("tftp-server-address", "ips"),
    252: ("wpad", "str"),
}
NAME_TO_CODE = {name.lower(): code for code, (name, _) in OPTIONS.items()}
NAME_TO_CODE.update({"dns": 6, "domain": 15, "gateway": 3})

_INTS = {"u8": "!B", "u16": "!H", "u32": "!I", "s32": "!i"}


def option_code(key: str) -> int:
    """``3``, ``option:router`` or ``router`` -> 3; ``ValueError`` if unknown."""
    key = key.strip()
    if key.lower().startswith("option:"):
        key = key[7:]
    if key.isdigit():
        code = int(key)
        if not 1 <= code <= 254:
            raise ValueError(f"option code {code} out of range 1-254")
        return code
    try:
        return NAME_TO_CODE[key.lower()]
    except KeyError:
        raise ValueError(f"unknown DHCP option name {key!r}") from None


def _domains(values: list[str]) -> bytes:
    out = bytearray()
    for name in values:
        for label in name.strip(".").split("."):
            raw = label.encode("idna" if not label.isascii() else "ascii")
            if not 0 < len(raw) < 64:
                raise ValueError(f"bad domain label in {name!r}")
            out += bytes((len(raw),)) + raw
        out.append(0)
    return bytes(out)


def parse_value(code: int, text: str) -> bytes:
    """A dnsmasq-style option value (comma-separated where a list) -> wire bytes."""
    kind = OPTIONS.get(code, ("", "guess"))[1]
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    if kind in ("ip", "ips"):
        if not parts or (kind == "ip" and len(parts) != 1):
            want = "one address" if kind == "ip" else "addresses"
            raise ValueError(f"option {code} wants {want}")
        return b"".join(ipaddress.IPv4Address(p).packed for p in parts)
    if kind in _INTS:
        return struct.pack(_INTS[kind], int(text, 0))
    if kind == "bool":
        return b"\x01" if text.strip().lower() in ("1", "true", "yes", "on") else b"\x00"
    if kind == "str":
        return text.strip().strip('"').encode()
    if kind == "domains":
        return _domains(parts)
    if kind == "bytes" or kind == "guess":
        stripped = text.strip()
        hexish = stripped.replace(":", "")
        if ":" in stripped and all(len(x) == 2 for x in stripped.split(":")):
            return bytes.fromhex(hexish)
        if kind == "guess" and parts:
            try:
                return b"".join(ipaddress.IPv4Address(p).packed for p in parts)
            except ValueError:
                pass
        return stripped.strip('"').encode()
    raise ValueError(f"cannot parse option {code}")  # pragma: no cover


# --- client facts -------------------------------------------------------------------------


def client_arch(value: bytes | None) -> int | None:
    """Option 93: a list of 16-bit arch types; the first one, or None if absent/malformed."""
    if not value or len(value) % 2:
        return None
    return int.from_bytes(value[:2], "big")


def user_classes(value: bytes | None) -> tuple[str, ...]:
    """Option 77: RFC 3004 length-prefixed list, or a plain string as iPXE/ISC clients send it."""
    if not value:
        return ()
    items: list[str] = []
    i = 0
    while i < len(value):
        n = value[i]
        if n == 0 or i + 1 + n > len(value):
            return (value.decode("latin-1"),)  # not RFC 3004 shaped: one plain string
        items.append(value[i + 1:i + 1 + n].decode("latin-1"))
        i += 1 + n
    return tuple(items)


def ip_value(value: bytes | None) -> bytes | None:
    """A 4-byte address option, or None if absent; :class:`PeerError` if mis-sized."""
    if value is None:
        return None
    if len(value) != 4:
        raise PeerError(f"address option of {len(value)} bytes")
    return value


def hostname(value: bytes | None) -> str | None:
    """Option 12 as a safe DNS label (letters, digits, '-'), or None."""
    if not value:
        return None
    text = value.split(b".")[0].decode("ascii", "replace").strip().lower()
    clean = "".join(c for c in text if c.isalnum() or c == "-").strip("-")[:63]
    return clean or None
