"""DHCPv6 bindings: the DHCPv4 lease table, keyed by ``<DUID hex>/<IAID>``, and its journal lines.

:class:`provisioner.proto.dhcp.leases.LeaseTable` is address-family neutral: addresses are ints,
the client key is a string, pools come from the subnet's ranges. A DHCPv6 binding is one address
of one IA_NA of one client, so its key is :func:`client_key` (DUID and IAID, and the client's
MAC when the server learnt it, so other processes can tie the address to a system); the transport
persists changes with the same journal and group commit as DHCPv4 (crash-safe the same way),
one line per change in the format of :func:`encode_record`.
"""

from __future__ import annotations

import ipaddress
import re

from provisioner.proto.dhcp.leases import FOREVER, STATES, Lease, LeaseTable

__all__ = ["Lease", "LeaseTable", "client_key", "split_key", "encode_record", "decode_record",
           "address", "mac_of"]

_KEY = re.compile(r"^[0-9a-f]{6,260}/[0-9]{1,10}(/([0-9a-f]{2}:){5}[0-9a-f]{2})?$")


def client_key(duid: bytes, iaid: int, mac: str = "") -> str:
    return f"{duid.hex()}/{iaid}/{mac}" if mac else f"{duid.hex()}/{iaid}"


def split_key(key: str) -> tuple[str, int, str]:
    """``(duid hex, iaid, mac or "")``."""
    duid, _, rest = key.partition("/")
    iaid, _, mac = rest.partition("/")
    return duid, int(iaid), mac


def mac_of(lease: Lease) -> str:
    return split_key(lease.mac)[2]


def address(lease: Lease) -> str:
    return str(ipaddress.IPv6Address(lease.ip))


def encode_record(lease: Lease) -> str:
    """``address key expires state hostname`` (tab-separated, newline-terminated)."""
    exp = "inf" if lease.expires == FOREVER else str(int(lease.expires))
    return (f"{ipaddress.IPv6Address(lease.ip)}\t{lease.mac}\t{exp}\t{lease.state}\t"
            f"{lease.hostname or ''}\n")


def decode_record(line: str) -> Lease | None:
    """Parse a journal line; None if it is torn or corrupt (it is then skipped)."""
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 5 or not line.endswith("\n"):
        return None
    ip, key, exp, state, host = parts
    try:
        ipn = int(ipaddress.IPv6Address(ip))
        expires = FOREVER if exp == "inf" else float(exp)
    except ValueError:
        return None
    if state not in STATES or not _KEY.match(key):
        return None
    return Lease(ipn, key, expires, state, host or None)
