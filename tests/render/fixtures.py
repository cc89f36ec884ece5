"""Boot contexts for the renderer tests: built directly, no store (one per golden case)."""

from __future__ import annotations

import re
from typing import Any

from provisioner.models import BootContext, Distro, Interface, Profile, Resolved, System, VmDefaults

SERVER = "http://10.0.0.1:8080"

RHEL5 = Distro(name="rhel5.4-x86_64", arch="x86_64", os_version="rhel5.4",
               kernel="http://mirror.example/rhel5/images/pxeboot/vmlinuz",
               initrd="http://mirror.example/rhel5/images/pxeboot/initrd.img",
               tree_url="http://mirror.example/rhel5/", kernel_options="")
RHEL5_I386 = Distro(name="rhel5.3-i386", arch="i386", os_version="rhel5.3",
                    tree_url="ftp://10.1.1.1/trees/RHEL5-B2-Server-i386/")
RHEL5_IA64 = Distro(name="rhel5.4-ia64", arch="ia64", os_version="rhel5.4",
                    tree_url="http://mirror.example/rhel5-ia64/")
RHEL48 = Distro(name="rhel4.8-x86_64", arch="x86_64", os_version="rhel4.8",
                tree_url="http://mirror.example/rhel4/")
RHEL48_I386 = Distro(name="rhel4.8-i386", arch="i386", os_version="rhel4.8",
                     tree_url="http://mirror.example/rhel4-i386/")
RHEL39 = Distro(name="rhel3.9-i386", arch="i386", os_version="rhel3.9",
                tree_url="http://mirror.example/rhel3/")
RHEL9 = Distro(name="rhel9-x86_64", arch="x86_64", os_version="rhel9",
               tree_url="http://mirror.example/rhel9/", kernel_options="")


def ctx(distro: Distro, kickstart: str | None, *, system: System | None = None,
        mac: str | None = None, **vals: Any) -> BootContext:
    """A BootContext as the core would resolve it, with every value from ``profile:p``."""
    stem = (kickstart or "").split(".")[0]
    default_name = "p-" + stem if re.match(r"^[A-Za-z0-9-]+$", stem) else "p"
    profile = Profile(name=vals.pop("profile_name", default_name), distro=distro.name,
                      kickstart=kickstart,
                      metadata=vals.get("metadata", {}), vm=VmDefaults())
    values: dict[str, Any] = {
        "kernel_options": "", "ram_mb": 1024, "vcpus": 1, "disk_gb": 10, "disk_bus": "virtio",
        "bridge": "br0", "hypervisor": None, "virt_type": None, "tree_url": distro.tree_url,
        "kernel": distro.kernel, "initrd": distro.initrd, "os_version": distro.os_version,
        "arch": distro.arch, "breed": distro.breed, "kickstart": kickstart, "metadata": {},
        "hostname": system.hostname if system else None,
    }
    values.update(vals)
    return BootContext(distro=distro, profiles=(profile,), system=system,
                       values={k: Resolved(v, "profile:" + profile.name)
                               for k, v in values.items()},
                       server=SERVER,
                       mac=mac or (system.macs[0] if system and system.macs else None))


def web01(**kw: Any) -> System:
    return System(name="web01", profile="p", hostname="web01.lab.example",
                  interfaces=(Interface(mac="52:54:00:12:34:56", ip="10.0.0.21",
                                        netmask="255.255.255.0", gateway="10.0.0.1"),),
                  token="tok-web01-5f2a", **kw)


def dhcp01(**kw: Any) -> System:
    return System(name="dhcp01", profile="p", interfaces=(Interface(mac="52:54:00:ab:cd:ef"),),
                  **kw)


def twonic(**kw: Any) -> System:
    return System(name="db01", profile="p", hostname="db01.lab.example",
                  interfaces=(Interface(mac="00:16:3e:20:b0:11", ip="10.0.0.31",
                                        gateway="10.0.0.1"),
                              Interface(mac="00:16:3e:20:b0:12", name="eth1")),
                  token="tok-db01", **kw)


# case name -> context; each shipped kickstart and boot config is covered by these
KICKSTART_CASES: dict[str, BootContext] = {
    "rhel5-guest/xen-pv": ctx(RHEL5, "rhel5-guest.ks", system=web01(), hypervisor="xen",
                              virt_type="pv", disk_bus="xen"),
    "rhel5-guest/kvm-no-constant-tsc": ctx(
        RHEL5, "rhel5-guest.ks", system=dhcp01(), hypervisor="kvm", virt_type="hvm",
        metadata={"constant_tsc": False, "pv_clock": False, "lpj": 4589123,
                  "extra_kernel_params": {"elevator": "noop"},
                  "installation_number": "ABCD1234", "repos": [
                      {"name": "extras", "baseurl": "http://mirror.example/extras/"}]}),
    "rhel5-guest/kvm-i386-5.3-clock": ctx(
        RHEL5_I386, "rhel5-guest.ks", system=dhcp01(), hypervisor="kvm", virt_type="hvm",
        metadata={"constant_tsc": False,
                  "paravirt_post": "echo 'alias eth0 virtio_net' >> /etc/modprobe.conf\n"}),
    "rhel5-guest/xen-pv-ready-two-nics": ctx(
        RHEL5, "rhel5-guest.ks", system=twonic(), hypervisor="xen", virt_type="pv",
        disk_bus="xen", metadata={"install_disk": "xvda", "partitioning": "pv-ready",
                                  "nameserver": "10.0.0.1", "selinux": "permissive",
                                  "timezone": "Asia/Tokyo"}),
    "rhel5-guest/no-system": ctx(RHEL5, "rhel5-guest.ks", hypervisor="xen", virt_type="hvm"),
    # the seed's older guests (D1 §2.5 rows 4.8 and 3.9) in their own release's syntax
    "rhel5-guest/rhel4.8-xen-pv": ctx(RHEL48, "rhel5-guest.ks", system=web01(), hypervisor="xen",
                                      virt_type="pv", disk_bus="xen"),
    "rhel5-guest/rhel4.8-kvm-i386-clock": ctx(
        RHEL48_I386, "rhel5-guest.ks", system=dhcp01(), hypervisor="kvm", virt_type="hvm",
        metadata={"constant_tsc": False, "selinux": "permissive"}),
    "rhel5-guest/rhel3.9-xen-fv": ctx(RHEL39, "rhel5-guest.ks", system=dhcp01(),
                                      hypervisor="xen", virt_type="hvm"),
    "rhel9-guest/kvm-static": ctx(RHEL9, "rhel9-guest.ks", system=web01(), hypervisor="kvm",
                                  virt_type="hvm", metadata={"nameserver": "10.0.0.1"}),
    "rhel9-guest/pv-ready-disk": ctx(
        RHEL9, "rhel9-guest.ks", system=dhcp01(), hypervisor="kvm", virt_type="hvm",
        metadata={"install_disk": "vda", "partitioning": "pv-ready", "packages": ["vim-enhanced"],
                  "root_password_hash": "$6$salt$abcdefghijklmnopqrstuv"}),
    "kvm-host/default": ctx(RHEL5, "kvm-host.ks", system=web01()),
    "kvm-host/no-constant-tsc": ctx(RHEL5, "kvm-host.ks", system=dhcp01(),
                                    metadata={"constant_tsc": False}),
    "xen-host/x86_64": ctx(RHEL5, "xen-host.ks", system=web01()),
    "xen-host/dom0-mem": ctx(RHEL5, "xen-host.ks", system=dhcp01(),
                             metadata={"hypervisor_params": {"dom0_mem": "256M"},
                                       "extra_kernel_params": "console=tty0 console=ttyS0,115200"}),
    "xen-host/ia64": ctx(RHEL5_IA64, "xen-host.ks", system=dhcp01()),
}

BOOT_CASES: dict[str, BootContext] = {
    "install-rhel5": ctx(RHEL5, "rhel5-guest.ks", system=web01(),
                         kernel_options="console=ttyS0 ksdevice=bootif"),
    "install-rhel9": ctx(RHEL9, "rhel9-guest.ks", system=dhcp01(), kernel_options="inst.text"),
    "install-tftp-transport": ctx(RHEL5, "rhel5-guest.ks", system=dhcp01(),
                                  metadata={"pxe_transport": "tftp"}),
    "local": ctx(RHEL9, "rhel9-guest.ks", system=web01(netboot_enabled=False)),
    "menu-unknown-mac": ctx(RHEL9, "rhel9-guest.ks", mac="52:54:00:00:00:99",
                            profile_name="rhel9-default"),
}
