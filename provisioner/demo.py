"""``provisioner demo``: a sample inventory (three distros, five profiles, one system).

Idempotent: objects that already exist are left alone, so the appliance script can run it at
every start. The trees are public mirrors; nothing is downloaded here.
"""

from __future__ import annotations

from collections.abc import Iterator

from provisioner.core.app import Core
from provisioner.errors import NotFound
from provisioner.models import Distro, Interface, Profile, System, VmDefaults

ROCKY9 = "https://dl.rockylinux.org/vault/rocky/9.4/BaseOS/x86_64/os"
CENTOS54 = "http://vault.centos.org/5.4/os/x86_64"
CENTOS48 = "http://vault.centos.org/4.8/os/x86_64"

DISTROS = (
    Distro(name="rocky9-x86_64", arch="x86_64", os_version="rhel9", tree_url=ROCKY9,
           kernel=f"{ROCKY9}/images/pxeboot/vmlinuz", initrd=f"{ROCKY9}/images/pxeboot/initrd.img"),
    Distro(name="centos5.4-x86_64", arch="x86_64", os_version="rhel5.4", tree_url=CENTOS54,
           kernel=f"{CENTOS54}/images/pxeboot/vmlinuz",
           initrd=f"{CENTOS54}/images/pxeboot/initrd.img"),
    Distro(name="centos4.8-x86_64", arch="x86_64", os_version="rhel4.8", tree_url=CENTOS48,
           kernel=f"{CENTOS48}/images/pxeboot/vmlinuz",
           initrd=f"{CENTOS48}/images/pxeboot/initrd.img"),
)
PROFILES = (
    Profile(name="rhel9-guest", distro="rocky9-x86_64", kickstart="rhel9-guest.ks",
            vm=VmDefaults(ram_mb=2048, vcpus=2, disk_gb=20, hypervisor="kvm", virt_type="hvm")),
    Profile(name="kvm-host", distro="centos5.4-x86_64", kickstart="kvm-host.ks",
            vm=VmDefaults(ram_mb=4096, vcpus=2, disk_gb=40)),
    Profile(name="xen-host", distro="centos5.4-x86_64", kickstart="xen-host.ks",
            vm=VmDefaults(ram_mb=4096, vcpus=2, disk_gb=40, hypervisor="xen")),
    Profile(name="rhel5-guest", distro="centos5.4-x86_64", kickstart="rhel5-guest.ks",
            vm=VmDefaults(ram_mb=1024, vcpus=1, disk_gb=10, hypervisor="kvm", virt_type="hvm")),
    # the same guest kickstart in RHEL 4's syntax (no key, no repo): ks_commands of its release
    Profile(name="rhel4-guest", distro="centos4.8-x86_64", kickstart="rhel5-guest.ks",
            vm=VmDefaults(ram_mb=1024, vcpus=1, disk_gb=10, hypervisor="kvm", virt_type="hvm")),
)
SYSTEMS = (
    System(name="demo01", profile="rhel9-guest", hostname="demo01",
           interfaces=(Interface(mac="52:54:00:de:00:01"),)),
)


def seed(core: Core) -> Iterator[str]:
    """Add each sample object that is missing; yield one line per object."""
    for kind, items in (("distro", DISTROS), ("profile", PROFILES), ("system", SYSTEMS)):
        for item in items:
            try:
                getattr(core, f"get_{kind}")(item.name)
                yield f"{kind} {item.name}: exists"
            except NotFound:
                getattr(core, f"add_{kind}")(item)
                yield f"{kind} {item.name}: added"
