"""Seed rules and option errors as named-case tables: each bad command line gets its code."""

from __future__ import annotations

import random
import shlex
import shutil
import subprocess

import pytest

from agent.guest.build import build
from agent.guest.caps import XEN_CAPS
from agent.guest.errors import GuestError
from agent.guest.ids import Ids, random_mac, sequential
from agent.guest.options import parse_args
from agent.guest.osdb import lookup, parse_osinfo_query
from agent.guest.rules import clock_args
from tests.agent.guest.cases import FACTS, QEMU_CAPS

B = "--name g --memory 512 --network bridge=br0 "
INVALID = [
    ("kvm-scsi-disk", B + "--pxe --disk size=1,bus=scsi --virt-type kvm", QEMU_CAPS, "KVM_NO_SCSI"),
    ("kvm-7-ide", B + "--pxe " + "--disk size=1,bus=ide " * 7, QEMU_CAPS, "KVM_IDE_LIMIT"),
    ("kvm-6-ide-ok", B + "--pxe " + "--disk size=1,bus=ide " * 6, QEMU_CAPS, None),
    ("kvm-29-virtio", B + "--pxe " + "--disk size=1 " * 28, QEMU_CAPS, "PCI_SLOTS_EXCEEDED"),
    ("kvm-28-virtio-ok", B + "--pxe " + "--disk size=1 " * 27, QEMU_CAPS, None),
    ("xen-16-nics", "--name g --memory 512 --pxe --virt-type xen "
     + "--network bridge=xenbr0 " * 16, XEN_CAPS, "XEN_NIC_LIMIT"),
    ("xen-15-nics-ok", "--name g --memory 512 --pxe --virt-type xen "
     + "--network bridge=xenbr0 " * 15, XEN_CAPS, None),
    ("xen-hvm-5-ide", "--name g --memory 512 --pxe --virt-type xen --network bridge=xenbr0 "
     + "--disk size=1,bus=ide " * 5, XEN_CAPS, "XEN_IDE_LIMIT"),
    ("pv-on-kvm", B + "--paravirt --location http://x/tree/ --virt-type kvm", QEMU_CAPS,
     "PV_REQUIRES_XEN"),
    ("pv-from-cdrom", "--name g --memory 512 --paravirt --cdrom /x.iso --virt-type xen",
     XEN_CAPS, "PV_REQUIRES_NETWORK_TREE"),
    ("pv-from-pxe", "--name g --memory 512 --paravirt --pxe --virt-type xen "
     "--network bridge=xenbr0", XEN_CAPS, "PV_REQUIRES_NETWORK_TREE"),
    ("pv-windows", "--name g --memory 512 --paravirt --location http://x/ --virt-type xen "
     "--os-variant winxp", XEN_CAPS, "WINDOWS_REQUIRES_FULLVIRT"),
    ("extra-args-with-pxe", B + "--pxe --extra-args ks=http://x/ks", QEMU_CAPS,
     "EXTRA_ARGS_NEED_LOCATION"),
    ("pxe-on-nat-network", "--name g --memory 512 --pxe --network network=default", QEMU_CAPS,
     "PXE_NEEDS_BRIDGE"),
    ("two-install-methods", B + "--pxe --cdrom /x.iso", QEMU_CAPS, "INSTALL_METHOD_CLASH"),
    ("no-install-method", B + "--disk size=1", QEMU_CAPS, "INSTALL_METHOD_REQUIRED"),
    ("unknown-os-variant", B + "--pxe --os-variant plan9", QEMU_CAPS, "UNKNOWN_OS_VARIANT"),
    ("bad-name", "--name 'rhel 5' --memory 512 --pxe --network bridge=br0", QEMU_CAPS,
     "BAD_NAME"),
    ("bad-disk-key", B + "--pxe --disk size=1,cache=none", QEMU_CAPS, "BAD_OPTION"),
    ("bad-mac", B.replace("br0", "br0,mac=01:00:5e:00:00:01") + "--pxe", QEMU_CAPS, "BAD_MAC"),
    ("image-outside-dir", B + "--pxe --disk path=/var/lib/libvirt/images_evil/x.img,size=1",
     QEMU_CAPS, "IMAGE_OUTSIDE_IMAGE_DIR"),
    ("image-dotdot", B + "--pxe --disk path=/var/lib/libvirt/images/../../../etc/x,size=1",
     QEMU_CAPS, "IMAGE_OUTSIDE_IMAGE_DIR"),
    ("doc-style-hvm", "-hvm --name g --memory 512 --pxe", QEMU_CAPS, "DOC_STYLE"),
    ("doc-style-cdrom", "--name g --memory 512 -cdrom=/x.iso", QEMU_CAPS, "DOC_STYLE"),
    ("missing-memory", "--name g --pxe --network bridge=br0", QEMU_CAPS, "BAD_OPTION"),
    ("xen-on-qemu-host", B + "--pxe --virt-type xen", QEMU_CAPS, "HV_UNSUPPORTED"),
    ("bad-location-scheme", B + "--location file:///tmp/tree", QEMU_CAPS, "BAD_LOCATION"),
    ("windows-from-tree", B + "--location http://x/tree/ --os-variant win2k3", QEMU_CAPS,
     "WINDOWS_REQUIRES_LOCAL_MEDIA"),
    ("winxp-virtio-disk", B + "--cdrom /x.iso --os-variant winxp --disk size=1,bus=virtio",
     QEMU_CAPS, "WINXP_NO_VIRTIO_BLOCK"),
    ("winxp-virtio-nic-ok", "--name g --memory 512 --cdrom /x.iso --os-variant winxp "
     "--disk size=1 --network bridge=br0,model=virtio", QEMU_CAPS, None),
    ("win2k8-virtio-boot-disk", B + "--cdrom /x.iso --os-variant win2k8 --disk size=1,bus=virtio",
     QEMU_CAPS, "WINDOWS_VIRTIO_BOOT_NEEDS_DRIVERS"),
]


@pytest.mark.parametrize("argv,caps,code", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_rules(argv: str, caps, code: str | None) -> None:
    if code is None:
        build(shlex.split(argv), FACTS, caps, sequential())
        return
    with pytest.raises(GuestError) as exc:
        build(shlex.split(argv), FACTS, caps, sequential())
    assert exc.value.code == code, str(exc.value)


@pytest.mark.parametrize("argv", ["--ram 512", "--ram=512", "--memory 512", "-r 512"],
                         ids=["space", "equals", "memory", "short"])
def test_both_spellings_parse(argv: str) -> None:
    ns = parse_args(["--name", "g", *shlex.split(argv)])
    assert ns.memory == "512"


CLOCK = [  # (version, arch, constant_tsc, pvclock, lpj) -> args (seed D1.md §2.5)
    ("5.4-64-no-pvclock", (5, 4), "x86_64", False, False, 4000000, "divider=10 notsc lpj=4000000"),
    ("5.4-64-lpj-unknown", (5, 4), "x86_64", False, False, None, "divider=10 notsc"),
    ("5.4-64-pvclock", (5, 4), "x86_64", False, True, None, ""),
    ("5.4-32", (5, 4), "i686", False, False, 123, "divider=10 clocksource=acpi_pm lpj=123"),
    ("5.3-64", (5, 3), "x86_64", False, False, None, "divider=10 notsc"),
    ("5.3-32", (5, 3), "i686", False, False, None, "divider=10 clocksource=acpi_pm"),
    ("4.8-64-order-kept", (4, 8), "x86_64", False, False, None, "notsc divider=10"),
    ("4.8-32", (4, 8), "i686", False, False, None, "clock=pmtmr divider=10"),
    ("3.9-none", (3, 9), "x86_64", False, False, None, ""),
    ("constant-tsc-host", (5, 3), "x86_64", True, False, None, ""),
]


@pytest.mark.parametrize("version,arch,tsc,pv,lpj,want", [c[1:] for c in CLOCK],
                         ids=[c[0] for c in CLOCK])
def test_clock_args(version, arch, tsc, pv, lpj, want) -> None:
    assert clock_args(version, arch, constant_tsc=tsc, pvclock=pv, lpj=lpj) == want


def test_random_mac_seed_generator() -> None:
    values = iter([0x20, 0xB0, 0x11])
    assert random_mac("xen", lambda lo, hi: next(values)) == "00:16:3e:20:b0:11"
    assert random_mac("kvm", lambda lo, hi: hi) == "52:54:00:7f:ff:ff"
    rng = random.Random(7)
    for _ in range(2000):
        assert int(random_mac("xen", rng.randint).split(":")[3], 16) <= 0x7F


def test_generated_mac_avoids_known() -> None:
    seq = iter([0x20, 0xB0, 0x11, 0x20, 0xB0, 0x11, 0x01, 0x02, 0x03])
    ids = Ids(known={"00:16:3e:20:b0:11"}, randint=lambda lo, hi: next(seq))
    assert ids.mac("xen") == "00:16:3e:01:02:03"


def test_explicit_mac_in_use_on_host() -> None:
    ids = Ids(in_use={"52:54:00:00:00:01"})
    with pytest.raises(GuestError) as exc:
        ids.claim("52-54-00-00-00-01")
    assert exc.value.code == "MAC_IN_USE"


def test_os_variant_known_only_to_libosinfo() -> None:
    argv = "--name g --memory 512 --pxe --network bridge=br0 --disk size=1 --os-variant centos7.0"
    ids = {"centos7.0": "http://centos.org/centos/7.0"}
    guest, _, _ = build(shlex.split(argv), FACTS, QEMU_CAPS, sequential(), ids)
    assert guest.metadata.libosinfo.os.id == "http://centos.org/centos/7.0"
    assert guest.disk[0].target_bus == "virtio"


@pytest.mark.skipif(not shutil.which("osinfo-query"), reason="needs libosinfo-bin")
def test_osinfo_query_output_parses_and_knows_the_seed_variants() -> None:
    out = subprocess.run(["osinfo-query", "os", "--fields=short-id,id"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    ids = parse_osinfo_query(out)
    for short in ("rhel3", "rhel4.8", "rhel5.4", "winxp", "win2k3", "win2k8"):
        assert ids[short] == lookup(short).id
