"""One canonical inventory shared by core, store and web tests."""

from __future__ import annotations

from provisioner.models import Distro, Interface, Profile, System, VmDefaults

DISTRO = Distro(name="rhel9-x86_64", arch="x86_64", os_version="rhel9", breed="redhat",
                kernel="http://mirror.example/rhel9/images/pxeboot/vmlinuz",
                initrd="http://mirror.example/rhel9/images/pxeboot/initrd.img",
                tree_url="http://mirror.example/rhel9", kernel_options="quiet console=tty0")
RHEL5 = Distro(name="rhel5.4-x86_64", arch="x86_64", os_version="rhel5.4", breed="redhat",
               tree_url="http://mirror.example/rhel5.4")
BASE = Profile(name="base", distro=DISTRO.name, kickstart="rhel9-guest.ks",
               kernel_options="ip=dhcp", metadata={"timezone": "UTC", "packages": ["@core"]},
               vm=VmDefaults(ram_mb=2048, vcpus=2))
WEB = Profile(name="web", parent="base", kernel_options="quiet=0 console=ttyS0",
              metadata={"role": "web"}, vm=VmDefaults(disk_gb=20, bridge="br-web"))
MAC = "52:54:00:12:34:56"
SYSTEM = System(name="web01", profile="web", hostname="web01.lab.example",
                interfaces=(Interface(mac=MAC, ip="10.0.0.21", bridge="br0"),),
                kernel_options="nomodeset", metadata={"role": "frontend"},
                vm=VmDefaults(ram_mb=4096), token="tok-web01")


def fill(core_or_store) -> None:
    """Add the canonical distro, profiles and system through a Core (or put them in a Store)."""
    if hasattr(core_or_store, "add_distro"):
        core_or_store.add_distro(DISTRO)
        core_or_store.add_profile(BASE)
        core_or_store.add_profile(WEB)
        core_or_store.add_system(SYSTEM)
    else:
        core_or_store.put_distro(DISTRO)
        core_or_store.put_profile(BASE)
        core_or_store.put_profile(WEB)
        core_or_store.put_system(SYSTEM)
