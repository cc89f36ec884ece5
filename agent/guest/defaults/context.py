"""What every default step reads: the guest, the host, the OS view and the machine predicates
virt-install asks (``is_x86``, ``is_q35``, ``is_arm_machvirt``...)."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.guest.caps import GuestCaps
from agent.guest.domain import Guest
from agent.guest.domcaps import DomCaps
from agent.guest.host import Host
from agent.guest.ids import Ids
from agent.guest.osinfo.view import GENERIC, OsInfo


@dataclass
class Ctx:
    guest: Guest
    host: Host
    ids: Ids
    gcaps: GuestCaps | None = None
    osinfo: OsInfo = field(default=GENERIC)
    limits: bool = True
    seed: bool = True  # apply the seed's departures (rules.DEPARTURES)

    # -- platform predicates --------------------------------------------------------------------
    @property
    def arch(self) -> str:
        return self.guest.os.arch or ""

    @property
    def machine(self) -> str:
        return self.guest.os.machine or ""

    @property
    def is_x86(self) -> bool:
        return self.arch in ("x86_64", "i686")

    @property
    def is_q35(self) -> bool:
        return self.is_x86 and (self.machine == "q35" or "q35" in self.machine)

    @property
    def is_arm_machvirt(self) -> bool:
        return self.arch in ("aarch64", "armv7l") and self.machine.startswith("virt")

    @property
    def is_hvm(self) -> bool:
        return bool(self.guest.os.os_type == "hvm")

    @property
    def is_xenpv(self) -> bool:
        return self.guest.os.os_type in ("xen", "linux")

    @property
    def qemu(self) -> bool:
        """A QEMU/KVM connection (virt-install's ``conn.is_qemu()``)."""
        return self.guest.type in ("kvm", "qemu", "test")  # test: libvirt's test driver

    @property
    def pcie(self) -> bool:
        return self.is_q35 or self.is_arm_machvirt

    def domcaps(self) -> DomCaps | None:
        return self.host.domcaps(self.guest.type or "", self.arch, self.guest.os.machine)

    def supports_virtio(self, what: str) -> bool:
        """virt-install's ``Guest._supports_virtio``: QEMU only; ARM virt always; x86 per OS."""
        if not self.qemu:
            return False
        if self.is_arm_machvirt:
            return True
        return self.is_x86 and bool(self.osinfo.supports(what))

    def is_uefi(self) -> bool:
        o = self.guest.os
        return bool((o.loader and o.loader_type == "pflash") or o.firmware == "efi")
