"""Is an EFI binary signed? The PE/COFF certificate table, read without a PE library. Pure.

UEFI Secure Boot verifies the Authenticode signature a PE image carries in its attribute
certificate table (data directory 4, "security"; a file offset, not an RVA). An unsigned image
(``grub-mkimage`` output, ``ipxe.efi``) has none, so this tells the distribution's signed loaders
from anything else before a Secure Boot client is handed one. It does not verify the signature
(the firmware does that); it refuses files that cannot pass.
"""

from __future__ import annotations

import struct

WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002
_PE32, _PE32_PLUS = 0x10B, 0x20B
_DIR_OFFSET = {_PE32: 96, _PE32_PLUS: 112}  # data directories within the optional header
_SECURITY = 4


def certificate_table(data: bytes) -> tuple[int, int] | None:
    """``(offset, size)`` of the attribute certificate table, or None (not a PE / none)."""
    try:
        return _table(data)
    except struct.error:  # truncated headers
        return None


def _table(data: bytes) -> tuple[int, int] | None:
    if len(data) < 0x40 or data[:2] != b"MZ":
        return None
    (pe,) = struct.unpack_from("<I", data, 0x3C)
    if pe + 24 > len(data) or data[pe:pe + 4] != b"PE\0\0":
        return None
    opt = pe + 24
    (size_opt,) = struct.unpack_from("<H", data, pe + 20)
    if opt + 2 > len(data):
        return None
    (magic,) = struct.unpack_from("<H", data, opt)
    base = _DIR_OFFSET.get(magic)
    if base is None:
        return None
    (count,) = struct.unpack_from("<I", data, opt + base - 4)
    entry = opt + base + 8 * _SECURITY
    if count <= _SECURITY or entry + 8 > opt + size_opt or entry + 8 > len(data):
        return None
    offset, size = struct.unpack_from("<II", data, entry)
    return (offset, size) if offset and size else None


def is_signed(data: bytes) -> bool:
    """True when the image carries at least one PKCS#7 (Authenticode) certificate entry."""
    table = certificate_table(data)
    if table is None:
        return False
    offset, size = table
    if offset + size > len(data) or size < 8:
        return False
    length, _revision, kind = struct.unpack_from("<IHH", data, offset)
    return bool(kind == WIN_CERT_TYPE_PKCS_SIGNED_DATA and 8 < length <= size)
