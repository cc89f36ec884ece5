"""PE certificate-table check: real signed/unsigned EFI images, and garbage never crashes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.boot.pe import certificate_table, is_signed

IPXE = Path("/usr/lib/ipxe/ipxe.efi")


@pytest.mark.skipif(not IPXE.is_file(), reason="ipxe not installed")
def test_unsigned_efi_image() -> None:
    data = IPXE.read_bytes()
    assert data[:2] == b"MZ" and certificate_table(data) is None and not is_signed(data)


def test_signed_image_and_its_truncation(tmp_path: Path) -> None:
    debs = sorted(Path("/var/cache/provisioner/debs").glob("shim-signed_*_amd64.deb"))
    deb = debs[-1] if debs else None
    if deb is None:
        pytest.skip("shim-signed not cached yet (tests/bootloaders fetches it)")
    import subprocess

    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True, timeout=60)
    data = (tmp_path / "usr/lib/shim/shimx64.efi.signed").read_bytes()
    assert is_signed(data)
    offset, _ = certificate_table(data) or (0, 0)
    assert not is_signed(data[:offset + 4])  # table cut off: not signed


@given(st.binary(max_size=512))
def test_garbage_is_not_signed(data: bytes) -> None:
    assert is_signed(data) in (False, True)
    assert is_signed(b"MZ" + data) in (False, True)


_HEADER = bytearray(b"MZ" + bytes(0x3A) + (0x40).to_bytes(4, "little") + b"PE\0\0" + bytes(20))


@given(st.binary(max_size=300), st.sampled_from([0x10B, 0x20B, 0]), st.integers(0, 400))
def test_truncated_headers_never_crash(tail: bytes, magic: int, size_opt: int) -> None:
    head = bytearray(_HEADER)
    head[0x40 + 20:0x40 + 22] = size_opt.to_bytes(2, "little")
    data = bytes(head) + magic.to_bytes(2, "little") + tail
    assert is_signed(data) in (False, True)
