"""Host-side files and lifecycle through ``agent.guest.virt`` on the libvirt test driver:
images (qemu-img, preallocated unless sparse was asked), no-space and path errors, boot files,
name clashes, and undefine removing only what lives under the image directory."""

from __future__ import annotations

import os
import shlex

import pytest

from agent.facts.model import HostFacts
from agent.guest.build import build
from agent.guest.errors import GuestError
from agent.guest.ids import sequential
from agent.guest.osinfo import default_db
from agent.guest.virt import Virt


@pytest.fixture
def virt(tmp_path):
    v = Virt("test:///default", image_dir=str(tmp_path / "images"))
    yield v
    v.close()


def _guest(virt: Virt, argv: str):
    argv += " --osinfo detect=on,require=off" if "--osinfo" not in argv else ""
    host = virt.host(HostFacts(image_dir=virt.image_dir), default_db())
    guest, install, final = build(shlex.split(argv), host, sequential())
    return guest, install, final


def _allocated(path: str) -> int:
    return os.stat(path).st_blocks * 512


def test_images_are_preallocated_unless_sparse(virt) -> None:
    guest, _, _ = _guest(virt, "--name g --memory 64 --pxe --network bridge=br0 "
                               "--disk size=0.02,format=raw --disk size=0.02,format=raw,sparse=yes")
    full, sparse = virt.create_images(guest)
    assert _allocated(full) >= 20 * 1024 * 1024 > 0
    assert _allocated(sparse) < 1024 * 1024
    assert virt.create_images(guest) == []  # never overwrites an existing image


def test_no_space_is_a_clear_error(virt, tmp_path) -> None:
    with pytest.raises(GuestError) as exc:
        virt.create_image(f"{virt.image_dir}/huge.img", 10 ** 6, "raw", sparse=False)
    assert exc.value.code == "NO_SPACE"
    assert not os.path.exists(f"{virt.image_dir}/huge.img")


@pytest.mark.parametrize("path", ["/etc/evil.img", "/var/lib/libvirt/images_evil/x.img"],
                         ids=["absolute-elsewhere", "prefix-lookalike"])
def test_images_only_under_the_image_dir(virt, path) -> None:
    with pytest.raises(GuestError) as exc:
        virt.create_image(path, 0.01, "qcow2", sparse=True)
    assert exc.value.code == "IMAGE_OUTSIDE_IMAGE_DIR"


def test_boot_files_fetched_from_a_local_tree(virt, tmp_path) -> None:
    tree = tmp_path / "tree" / "images" / "pxeboot"
    tree.mkdir(parents=True)
    (tree / "vmlinuz").write_bytes(b"kernel")
    (tree / "initrd.img").write_bytes(b"initrd")
    guest, install, _ = _guest(virt, f"--name g --memory 64 --location {tmp_path}/tree "
                                     "--extra-args ks=http://x/ks --network bridge=br0 --disk none")
    assert virt.fetch_boot_files(guest) == [install.os.kernel, install.os.initrd]
    assert open(install.os.kernel, "rb").read() == b"kernel"
    assert install.os.cmdline == "ks=http://x/ks"


def test_missing_tree_is_a_clear_error(virt, tmp_path) -> None:
    guest, _, _ = _guest(virt, f"--name g --memory 64 --location {tmp_path}/none "
                               "--network bridge=br0 --disk none")
    with pytest.raises(GuestError) as exc:
        virt.fetch_boot_files(guest)
    assert exc.value.code == "FETCH_FAILED"


def test_define_is_idempotent_by_name_and_uuid(virt) -> None:
    _, install, final = _guest(virt, "--name g --memory 64 --pxe --network bridge=br0 --disk none")
    _, created = virt.define(install)
    _, again = virt.define(final)
    assert created and not again and [d.name() for d in virt.domains()].count("g") == 1
    other = install.copy()
    other.uuid = "00000000-0000-4000-8000-0000000000ff"
    with pytest.raises(GuestError) as exc:
        virt.define(other)
    assert exc.value.code == "NAME_CLASH"


def test_undefine_removes_images_but_not_install_media(virt, tmp_path) -> None:
    iso = tmp_path / "install.iso"
    iso.write_bytes(b"iso")
    guest, install, _ = _guest(virt, f"--name g --memory 64 --cdrom {iso} --disk size=0.01 "
                                     "--network bridge=br0 --autostart")
    [disk] = virt.create_images(guest)
    dom, _ = virt.define(install)
    assert dom.autostart() == 1  # --autostart
    virt.start("g")
    assert virt.state("g") == "running"
    assert virt.undefine("g") == [disk]
    assert not os.path.exists(disk) and iso.exists()
    assert virt.state("g") == "absent" and virt.undefine("g") == []
    assert virt.calls["defineXMLFlags"] == 1 and virt.libvirt_seconds > 0


def test_reconnects_when_the_connection_is_gone(virt) -> None:
    virt.conn.close()  # what a libvirtd restart looks like from here
    assert virt.reconnect_if_needed() is True
    assert virt.reconnect_if_needed() is False and virt.state("test") == "running"


def test_known_macs_of_the_host_and_excluding_a_resumed_guest(virt) -> None:
    _, install, _ = _guest(virt, "--name g --memory 64 --pxe "
                                 "--network bridge=br0,mac=52:54:00:AB:CD:01 --disk none")
    virt.define(install)
    assert "52:54:00:ab:cd:01" in virt.known_macs()
    assert "52:54:00:ab:cd:01" not in virt.known_macs(exclude_uuid=install.uuid)


def test_clone_is_independent(virt) -> None:
    _, install, final = _guest(virt, "--name g --memory 64 --pxe --network bridge=br0 --disk none")
    copy = install.copy()
    copy.interface[0].mac_address = "52:54:00:00:00:99"
    copy.os.boot.clear()
    assert install.interface[0].mac_address != "52:54:00:00:00:99" and install.os.boot
    assert copy.get_xml() != install.get_xml() and final.get_xml() != install.get_xml()

