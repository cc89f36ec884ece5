"""Seed rules and option errors as named-case tables: each bad command line gets its code."""

from __future__ import annotations

import random
import shlex

import pytest

from agent.guest.build import build
from agent.guest.caps import XEN_CAPS
from agent.guest.errors import GuestError
from agent.guest.ids import Ids, random_mac, sequential
from agent.guest.options import legacy, parse_args
from agent.guest.rules import clock_args
from tests.agent.guest.cases import QEMU_CAPS, host_of

S = "--name g --memory 512 --network bridge=br0 --os-variant rhel5.4 "  # a seed guest
M = "--name g --memory 512 --network bridge=br0 --os-variant rhel9.0 "  # today's guest
INVALID = [
    # the seed's rules, for the seed's variants (seed A1.md §4, A2.md §10.2, C.md §10)
    ("kvm-scsi-disk", S + "--pxe --disk size=1,bus=scsi --virt-type kvm", QEMU_CAPS, "KVM_NO_SCSI"),
    ("kvm-7-ide", S + "--pxe " + "--disk size=1,bus=sata " * 7, QEMU_CAPS, None),
    ("kvm-29-virtio", S + "--pxe " + "--disk size=1,bus=virtio " * 29, QEMU_CAPS,
     "PCI_SLOTS_EXCEEDED"),
    ("kvm-28-virtio-ok", S + "--pxe " + "--disk size=1,bus=virtio " * 28, QEMU_CAPS, None),
    ("xen-16-nics", "--name g --memory 512 --pxe --virt-type xen --hvm --os-variant rhel5.4 "
     "--disk size=1 " + "--network bridge=xenbr0 " * 16, XEN_CAPS, "XEN_NIC_LIMIT"),
    ("xen-15-nics-ok", "--name g --memory 512 --pxe --virt-type xen --hvm --os-variant rhel5.4 "
     "--disk size=1 " + "--network bridge=xenbr0 " * 15, XEN_CAPS, None),
    ("pv-from-cdrom", "--name g --memory 512 --paravirt --cdrom /x.iso --virt-type xen "
     "--os-variant rhel5.4 --disk size=1", XEN_CAPS, "PV_REQUIRES_NETWORK_TREE"),
    ("pv-from-pxe", "--name g --memory 512 --paravirt --pxe --virt-type xen --os-variant rhel5.4 "
     "--disk size=1 --network bridge=xenbr0", XEN_CAPS, "PV_REQUIRES_NETWORK_TREE"),
    ("pv-windows", "--name g --memory 512 --paravirt --location http://x/ --virt-type xen "
     "--os-variant win2k3 --disk size=1", XEN_CAPS, "WINDOWS_REQUIRES_FULLVIRT"),
    ("pxe-on-nat-network", "--name g --memory 512 --pxe --network network=default "
     "--os-variant rhel5.4 --disk size=1", QEMU_CAPS, "PXE_NEEDS_BRIDGE"),
    ("pxe-no-nic", "--name g --memory 512 --pxe --network none --os-variant rhel5.4 "
     "--disk size=1", QEMU_CAPS, "PXE_NEEDS_NIC"),
    ("windows-from-tree", S.replace("rhel5.4", "win2k3") + "--location http://x/tree/ "
     "--disk size=1", QEMU_CAPS, "WINDOWS_REQUIRES_LOCAL_MEDIA"),
    ("winxp-virtio-disk", S.replace("rhel5.4", "winxp") + "--cdrom /x.iso "
     "--disk size=1,bus=virtio", QEMU_CAPS, "WINXP_NO_VIRTIO_BLOCK"),
    ("winxp-virtio-nic-ok", "--name g --memory 512 --cdrom /x.iso --os-variant winxp "
     "--disk size=1 --network bridge=br0,model=virtio", QEMU_CAPS, None),
    ("win2k8-virtio-boot-disk", S.replace("rhel5.4", "win2k8") + "--cdrom /x.iso "
     "--disk size=1,bus=virtio", QEMU_CAPS, "WINDOWS_VIRTIO_BOOT_NEEDS_DRIVERS"),
    # the same command lines for today's guests: virt-install's semantics, no seed rules
    ("scsi-virtio-scsi-ok", M + "--pxe --disk size=1,bus=scsi --virt-type kvm", QEMU_CAPS, None),
    ("pxe-nat-ok", M.replace("bridge=br0", "network=default") + "--pxe --disk size=1",
     QEMU_CAPS, None),
    # errors of any guest (virt-install refuses them too)
    ("pv-on-kvm", M + "--paravirt --location http://x/tree/ --virt-type kvm --disk size=1",
     QEMU_CAPS, "HV_UNSUPPORTED"),
    ("extra-args-with-pxe", M + "--pxe --extra-args ks=http://x/ks --disk size=1", QEMU_CAPS,
     "EXTRA_ARGS_NEED_LOCATION"),
    ("two-install-methods-ok", M + "--pxe --cdrom /x.iso --disk size=1", QEMU_CAPS, None),
    ("no-install-method", M + "--disk size=1", QEMU_CAPS, "INSTALL_METHOD_REQUIRED"),
    ("no-os-name", "--name g --memory 512 --pxe --disk size=1", QEMU_CAPS, "OS_REQUIRED"),
    ("unknown-os-variant", M + "--pxe --os-variant plan9 --disk size=1", QEMU_CAPS,
     "UNKNOWN_OS_VARIANT"),
    ("bad-name", "--name 'rhel 5' --memory 512 --pxe --network bridge=br0", QEMU_CAPS,
     "BAD_NAME"),
    ("unknown-disk-key", M + "--pxe --disk size=1,colour=red", QEMU_CAPS, "BAD_OPTION"),
    ("unimplemented-disk-key", M + "--pxe --disk size=1,serial=x", QEMU_CAPS,
     "UNSUPPORTED_OPTION"),
    ("bad-mac", M.replace("br0", "br0,mac=01:00:5e:00:00:01") + "--pxe --disk size=1",
     QEMU_CAPS, "BAD_MAC"),
    ("image-outside-dir", M + "--pxe --disk path=/var/lib/libvirt/images_evil/x.img,size=1",
     QEMU_CAPS, "IMAGE_OUTSIDE_IMAGE_DIR"),
    ("image-dotdot", M + "--pxe --disk path=/var/lib/libvirt/images/../../../etc/x,size=1",
     QEMU_CAPS, "IMAGE_OUTSIDE_IMAGE_DIR"),
    ("doc-style-hvm", "-hvm --name g --memory 512 --pxe", QEMU_CAPS, "DOC_STYLE"),
    ("doc-style-cdrom", "--name g --memory 512 -cdrom=/x.iso", QEMU_CAPS, "DOC_STYLE"),
    ("xen-on-qemu-host", M + "--pxe --virt-type xen --disk size=1", QEMU_CAPS, "HV_UNSUPPORTED"),
    ("bad-location-scheme", M + "--location file:///tmp/tree", QEMU_CAPS, "BAD_LOCATION"),
    ("legacy-file-and-disk", M + "--pxe --file /var/lib/libvirt/images/g.img --disk size=1",
     QEMU_CAPS, "BAD_OPTION"),
    ("topology-mismatch", M + "--pxe --disk size=1 --vcpus 4,sockets=3", QEMU_CAPS,
     "TOPOLOGY_MISMATCH"),
    # sizes: refused where virt-install would default or let libvirt fail later
    ("ram-zero", M.replace("512", "0") + "--pxe --disk size=1", QEMU_CAPS, "RAM_ZERO"),
    ("vcpus-zero", M + "--pxe --disk size=1 --vcpus 0", QEMU_CAPS, "VCPU_ZERO"),
    ("vcpus-current-over-max", M + "--pxe --disk size=1 --vcpus 4,maxvcpus=2", QEMU_CAPS,
     "VCPU_CURRENT_OVER_MAX"),
]


@pytest.mark.parametrize("argv,caps,code", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_rules(argv: str, caps, code: str | None) -> None:
    if code is None:
        build(shlex.split(argv), host_of(caps), sequential())
        return
    with pytest.raises(GuestError) as exc:
        build(shlex.split(argv), host_of(caps), sequential())
    assert exc.value.code == code, str(exc.value)


@pytest.mark.parametrize("argv", ["--ram 512", "--ram=512", "--memory 512", "-r 512"],
                         ids=["space", "equals", "memory", "short"])
def test_both_spellings_parse(argv: str) -> None:
    ns = parse_args(["--name", "g", *shlex.split(argv)])
    legacy.convert(ns)
    assert ns.memory == ["512"]


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


def test_os_variant_from_libosinfo_sets_modern_devices() -> None:
    argv = "--name g --memory 512 --pxe --network bridge=br0 --disk size=1 --os-variant centos7.0"
    guest, _, _ = build(shlex.split(argv), host_of(QEMU_CAPS), sequential())
    assert guest.metadata.libosinfo.os.id == "http://centos.org/centos/7.0"
    assert guest.disk[0].target_bus == "virtio"


def test_seed_variant_without_osinfo_db_uses_the_seed_table() -> None:
    argv = "--name g --memory 512 --pxe --network bridge=br0 --disk size=1 --os-variant rhel5.4"
    host = host_of(QEMU_CAPS)
    host.osinfo = None
    guest, _, _ = build(shlex.split(argv), host, sequential())
    assert guest.metadata.libosinfo.os.id == "http://redhat.com/rhel/5.4"
    assert guest.disk[0].target_bus == "virtio"  # the seed's driver plan: 5.3+ has virtio
