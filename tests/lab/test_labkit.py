"""The lab's boot kit: module dependency order and the initrd archive, read back by GNU cpio."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from provisioner.lab import kit as labkit
from provisioner.lab.kit import INIT, _depends, build_initrd, module_order


def _ko(path: Path, depends: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x7fELF junk\x00license=GPL\x00depends=" + depends.encode()
                     + b"\x00vermagic=6.1\x00")


def test_depends_is_read_from_modinfo() -> None:
    assert _depends(b"x\x00depends=virtio,virtio_ring\x00y") == ["virtio", "virtio_ring"]
    assert _depends(b"x\x00depends=\x00y") == []
    assert _depends(b"no modinfo at all") == []


def test_modules_come_after_their_dependencies(tmp_path: Path) -> None:
    _ko(tmp_path / "drivers/net/virtio_net.ko", "net_failover,virtio,virtio_ring")
    _ko(tmp_path / "drivers/net/net_failover.ko", "failover")
    _ko(tmp_path / "net/core/failover.ko", "")
    _ko(tmp_path / "drivers/virtio/virtio.ko", "")
    _ko(tmp_path / "drivers/virtio/virtio_ring.ko", "virtio")
    _ko(tmp_path / "drivers/net/e1000.ko", "")
    order = [name for name, _ in module_order(tmp_path, ("virtio_net", "e1000", "missing"))]
    assert order == ["failover", "net_failover", "virtio", "virtio_ring", "virtio_net", "e1000"]


@pytest.mark.skipif(shutil.which("cpio") is None, reason="needs GNU cpio")
def test_initrd_is_a_newc_archive_cpio_reads(tmp_path: Path) -> None:
    data = build_initrd([("e1000", b"KO-BYTES")], b"#!busybox\n")
    listing = subprocess.run(["cpio", "-t", "--quiet"], input=gzip.decompress(data),
                             capture_output=True, timeout=30, check=True).stdout.decode()
    names = listing.split()
    assert {"init", "bin/busybox", "bin/sh", "etc/udhcpc.script", "lib/modules/e1000.ko",
            "lib/modules/order"} <= set(names)
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["cpio", "-i", "-d", "--quiet", "--no-absolute-filenames"], cwd=out,
                   input=gzip.decompress(data), capture_output=True, timeout=30, check=True)
    assert (out / "init").read_text() == INIT and (out / "init").stat().st_mode & 0o111
    assert (out / "lib/modules/order").read_text() == "e1000.ko\n"
    assert (out / "bin/sh").is_symlink() and str((out / "bin/sh").readlink()) == "busybox"


@pytest.mark.parametrize("marker", [m for m in dir(labkit) if m.startswith("MARK_")])
def test_every_console_marker_is_printed_by_the_installer(marker: str) -> None:
    """The QEMU tests wait for these strings: each is what ``say`` (or the lease hook) prints."""
    text = getattr(labkit, marker)
    assert text.startswith("LAB: ")
    said = 'say "' + text.removeprefix("LAB: ")
    assert said in INIT or f'echo "{text}' in labkit.UDHCPC_SCRIPT, text
