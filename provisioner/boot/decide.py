"""The boot decision: which boot file (and next-server) a DHCP client gets. Pure, table-tested.

After tinkerbell/smee's ``dhcp.Info``: the DHCP core reduces a packet to a :class:`ClientInfo`
(facts only), then :func:`choose_boot` decides from those facts, the inventory's record and a
:class:`BootConfig`. Nothing here knows about packets or sockets.

The rules, in order (order matters):

1. A client that is not network-boot firmware gets an address and no boot file: option 60 must
   start with ``PXEClient`` or ``HTTPClient`` and options 97/94, if sent, must be well-formed.
   An installer's or OS's client (``udhcp 1.35.0``, ``anaconda-Linux ...``, ``dhclient``, none)
   is never handed a loader.
2. Unknown MAC (no inventory record), by ``unknown_policy``:
   ``ignore``: no boot file (full DHCP still gives the address; proxyDHCP stays silent);
   ``menu``: the default loader for the firmware, which then loads its default menu config;
   ``discover``: like ``menu``, and the caller records a ``discovered`` event.
3. Firmware iPXE (user class ``iPXE``, option 77) gets the HTTP URL of its per-MAC iPXE script
   ``<base>/boot/ipxe/<mac>``. This comes before the loader choice because iPXE handed ``ipxe.efi``
   or ``undionly.kpxe`` again would chainload itself forever.
4. UEFI HTTP boot (option 60 ``HTTPClient`` or an HTTP arch 15/16/19...) gets an HTTP URL of the
   EFI loader under ``<base>/tftpboot/`` and option 60 ``HTTPClient`` echoed (UEFI requires it).
5. PXE firmware gets the TFTP loader of its architecture (:data:`ARCH_TO_LOADER`) with
   next-server = the serving address: BIOS ``pxelinux.0``; EFI x86-64 and EFI BC ``ipxe.efi``
   (or ``grubx64.efi`` when ``BootConfig.efi_loader="grub"``); EFI IA32 ``ipxe-ia32.efi``
   (iPXE's 32-bit EFI build, which the admin ships in the TFTP root if such machines exist);
   ARM64 ``grubaa64.efi``; ARM32 ``grubarm.efi``. An unknown architecture gets nothing.

A system with netboot disabled is still handed its loader (like dnsmasq/cobbler): the per-MAC
config the loader then fetches says "boot from local disk", so a second boot of an installed
machine boots locally. ``BootChoice.install`` is False for such systems (for the timeline).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class Arch(IntEnum):
    """IANA "Processor Architecture Types" (RFC 4578 option 93) used in practice."""

    BIOS = 0
    PC98 = 1
    EFI_ITANIUM = 2
    EFI_IA32 = 6
    EFI_X86_64 = 7
    EFI_XSCALE = 8
    EFI_BC = 9
    EFI_ARM32 = 10
    EFI_ARM64 = 11
    EFI_IA32_HTTP = 15
    EFI_X86_64_HTTP = 16
    EFI_ARM32_HTTP = 18
    EFI_ARM64_HTTP = 19
    BIOS_HTTP = 20


#: TFTP loader per firmware architecture (PXE, not HTTP). ``efi`` marks the x86-64 EFI
#: entries that ``BootConfig.efi_loader`` may switch between iPXE and GRUB.
ARCH_TO_LOADER: dict[int, str] = {
    Arch.BIOS: "pxelinux.0",
    Arch.EFI_IA32: "ipxe-ia32.efi",
    Arch.EFI_X86_64: "ipxe.efi",
    Arch.EFI_BC: "ipxe.efi",
    Arch.EFI_ARM32: "grubarm.efi",
    Arch.EFI_ARM64: "grubaa64.efi",
}

#: UEFI HTTP boot arches -> the PXE arch whose loader they fetch over HTTP.
HTTP_ARCH_TO_PXE_ARCH: dict[int, int] = {
    Arch.EFI_IA32_HTTP: Arch.EFI_IA32,
    Arch.EFI_X86_64_HTTP: Arch.EFI_X86_64,
    Arch.EFI_ARM32_HTTP: Arch.EFI_ARM32,
    Arch.EFI_ARM64_HTTP: Arch.EFI_ARM64,
    Arch.BIOS_HTTP: Arch.BIOS,
}

_X86_64_EFI = (Arch.EFI_X86_64, Arch.EFI_BC)
GRUB_X86_64 = "grubx64.efi"


@dataclass(frozen=True)
class ClientInfo:
    """Facts about a DHCP client taken from one packet (no policy)."""

    mac: str
    vendor_class: str = ""  # option 60, decoded latin-1
    arch: int | None = None  # option 93 (first entry); None when absent or malformed
    user_classes: tuple[str, ...] = ()  # option 77 (RFC 3004 list, or iPXE's plain string)
    uuid: bytes | None = None  # option 97 (client machine identifier)
    nii: bytes | None = None  # option 94 (UNDI version)
    relayed: bool = False  # giaddr was set

    @property
    def is_pxe(self) -> bool:
        return self.vendor_class.startswith("PXEClient")

    @property
    def is_http(self) -> bool:
        return self.vendor_class.startswith("HTTPClient") or (
            self.arch in HTTP_ARCH_TO_PXE_ARCH and self.is_pxe)

    @property
    def is_firmware(self) -> bool:
        """Network-boot firmware (PXE or UEFI HTTP), as opposed to an OS/installer client.

        Like smee, a client whose RFC 4578 options are malformed is not treated as firmware:
        option 97 must be type 0 + a 16-byte GUID, option 94 three bytes (type 1 + version).
        """
        if not (self.is_pxe or self.vendor_class.startswith("HTTPClient")):
            return False
        if self.uuid is not None and self.uuid and (len(self.uuid) != 17 or self.uuid[0] != 0):
            return False
        return self.nii is None or len(self.nii) == 3

    @property
    def is_ipxe(self) -> bool:
        return "iPXE" in self.user_classes

    @property
    def effective_arch(self) -> int:
        """Option 93, else the ``Arch:NNNNN`` field of option 60, else BIOS."""
        if self.arch is not None:
            return self.arch
        parts = self.vendor_class.split(":")
        if len(parts) >= 3 and parts[1] == "Arch" and parts[2].isdigit():
            return int(parts[2])
        return Arch.BIOS


@dataclass(frozen=True)
class BootConfig:
    """Where the appliance serves things, as seen from the client's subnet."""

    server_ip: str  # the serving address: next-server (TFTP) and default HTTP host
    http_port: int = 8080
    public_url: str = ""  # overrides http://<server_ip>:<http_port> when set
    efi_loader: str = "ipxe"  # "ipxe" or "grub": loader for EFI x86-64 / EFI BC
    unknown_policy: str = "ignore"  # "ignore", "menu" or "discover"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.server_ip}:{self.http_port}").rstrip("/")


@dataclass(frozen=True)
class BootChoice:
    """The decision. ``bootfile`` None means: address only, no boot information."""

    bootfile: str | None = None
    next_server: str | None = None  # siaddr; None = 0.0.0.0
    vendor_class: str | None = None  # option 60 to echo ("PXEClient" / "HTTPClient")
    install: bool = False  # the loader will start an install (known system, netboot on)
    reason: str = ""


def loader_for(arch: int, cfg: BootConfig) -> str | None:
    """The TFTP loader file for a PXE architecture, honouring ``cfg.efi_loader``."""
    if arch in _X86_64_EFI and cfg.efi_loader == "grub":
        return GRUB_X86_64
    return ARCH_TO_LOADER.get(arch)


class Machine(Enum):
    """What the inventory says about the MAC asking."""

    UNKNOWN = "unknown"  # no inventory record: ``BootConfig.unknown_policy`` decides
    INSTALL = "install"  # a known system with netboot on: its loader starts an install
    LOCAL = "local"  # a known system with netboot off: its loader boots the local disk


def choose_boot(info: ClientInfo, cfg: BootConfig, *, machine: Machine) -> BootChoice:
    """Decide the boot file for ``info``, a ``machine`` the inventory knows (or not)."""
    # Order matters; see the module docstring.
    if not info.is_firmware:
        return BootChoice(reason="not netboot firmware")
    if machine is Machine.UNKNOWN and cfg.unknown_policy == "ignore":
        return BootChoice(reason="unknown MAC, policy ignore")
    install = machine is Machine.INSTALL
    echo = "HTTPClient" if info.vendor_class.startswith("HTTPClient") else "PXEClient"
    if info.is_ipxe:
        return BootChoice(f"{cfg.base_url}/boot/ipxe/{info.mac}", cfg.server_ip, echo, install,
                          "firmware iPXE: per-MAC script over HTTP")
    arch = info.effective_arch
    if info.is_http:
        loader = loader_for(HTTP_ARCH_TO_PXE_ARCH.get(arch, arch), cfg)
        if loader is None:
            return BootChoice(reason=f"UEFI HTTP boot, unsupported arch {arch}")
        return BootChoice(f"{cfg.base_url}/tftpboot/{loader}", cfg.server_ip, "HTTPClient",
                          install, "UEFI HTTP boot: loader over HTTP")
    loader = loader_for(arch, cfg)
    if loader is None:
        return BootChoice(reason=f"PXE firmware, unsupported arch {arch}")
    return BootChoice(loader, cfg.server_ip, "PXEClient", install, "PXE firmware: TFTP loader")
