"""The boot decision: which boot file (and next-server) a DHCP client gets. Pure, table-tested.

After tinkerbell/smee's ``dhcp.Info``: the DHCPv4 and DHCPv6 cores reduce a packet to a
:class:`ClientInfo` (facts only), then :func:`choose_boot` decides from those facts, what the
inventory says about the machine (:class:`Machine`, :class:`SecureBoot`) and a
:class:`BootConfig`. Nothing here knows about packets or
sockets. Which file each firmware gets is one table, :data:`BOOT_FILES` (README "Which firmware
gets which file" is this table).

The rules, in order (order matters):

1. A client that is not network-boot firmware gets an address and no boot file: the vendor class
   (DHCPv4 option 60, DHCPv6 option 16) must start with ``PXEClient`` or ``HTTPClient`` and
   options 97/94, if sent, must be well-formed. An installer's or OS's client (``udhcp 1.35.0``,
   ``anaconda-Linux ...``, ``dhclient``, none) is never handed a loader.
2. Unknown MAC (no inventory record), by ``unknown_policy``:
   ``ignore``: no boot file (full DHCP still gives the address; proxyDHCP stays silent);
   ``menu``: the default loader for the firmware, which then loads its default menu config;
   ``discover``: like ``menu``, and the caller records a ``discovered`` event.
3. Firmware iPXE (user class ``iPXE``: DHCPv4 option 77, DHCPv6 option 15) gets the HTTP URL of
   its per-MAC iPXE script ``<base>/boot/ipxe/<mac>``. This comes before the loader choice because
   iPXE handed ``ipxe.efi`` or ``undionly.kpxe`` again would chainload itself forever. (iPXE is
   unsigned, so it never runs under Secure Boot: a Secure Boot machine never gets here.)
4. The loader flavour: ``shim`` (the distribution's signed chain) when the machine has Secure
   Boot (``SecureBoot.ON``) or ``BootConfig.efi_loader`` says so, else ``efi_loader``
   (``ipxe``/``grub``). The file is :data:`BOOT_FILES` ``[arch, flavour]``, else
   ``[arch, "any"]``. A Secure Boot host is only ever handed a file whose row is ``signed``
   and, when the installed files are known (``BootConfig.installed``), one found signed on
   disk; otherwise nothing, with the reason.
5. UEFI HTTP boot (vendor class ``HTTPClient``, or an HTTP arch 15/16/19...) gets the loader's HTTP
   URL under ``<base>/tftpboot/`` and ``HTTPClient`` echoed (UEFI requires it). Not for Secure
   Boot hosts: Debian's signed GRUB cannot load its HTTP module under Secure Boot, so that chain
   would stop in GRUB (they get nothing, with the reason; PXE works).
6. PXE firmware gets the TFTP loader with next-server = the serving address.

A file the table names but the TFTP root lacks (``BootConfig.installed`` known and without it)
is not handed out: the choice carries ``missing`` (the file) so the caller records a timeline
event naming it. An architecture the table does not know gets nothing (``reason`` says which).

A system with netboot disabled is still handed its loader (like dnsmasq/cobbler): the per-MAC
config the loader then fetches says "boot from local disk", so a second boot of an installed
machine boots locally. ``BootChoice.install`` is False for such systems (for the timeline).

DHCPv6 carries the boot file as a URL (option 59): :func:`boot_url` turns a TFTP loader into
``tftp://[server]/file``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, IntEnum, StrEnum


class Arch(IntEnum):
    """IANA "Processor Architecture Types" (RFC 4578 option 93, RFC 5970 option 61)."""

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


class UnknownPolicy(StrEnum):
    IGNORE = "ignore"
    MENU = "menu"
    DISCOVER = "discover"


class Flavour(StrEnum):
    """Which loader family a UEFI x86-64 client gets (``efi_loader`` setting)."""

    IPXE = "ipxe"
    GRUB = "grub"
    SHIM = "shim"  # the distribution's signed shim -> signed GRUB chain (Secure Boot)


SHIM_DIR = "shim"  # shim fetches its second stage (grubx64.efi/grubaa64.efi) from its own dir


@dataclass(frozen=True)
class BootFile:
    """One row of the boot-file table: a file under the TFTP root and where it comes from."""

    file: str
    signed: bool  # signed for UEFI Secure Boot (Microsoft UEFI CA / the distribution's key)
    source: str  # package or build that provides it (``provisioner bootloaders install``)


_IPXE = "ipxe (Debian) / ipxe-bootimgs-x86 (RHEL)"
#: (PXE architecture, flavour or "any") -> boot file. The only place this mapping is written.
BOOT_FILES: dict[tuple[int, str], BootFile] = {
    (Arch.BIOS, "any"): BootFile("pxelinux.0", False, "pxelinux + syslinux-common"),
    (Arch.EFI_IA32, "any"): BootFile("ipxe-ia32.efi", False, "ipxe-bootimgs-x86 (RHEL only)"),
    (Arch.EFI_X86_64, Flavour.IPXE): BootFile("ipxe.efi", False, _IPXE),
    (Arch.EFI_X86_64, Flavour.GRUB): BootFile("grubx64.efi", False,
                                              "grub-mkimage from grub-efi-amd64-bin"),
    (Arch.EFI_X86_64, Flavour.SHIM): BootFile(f"{SHIM_DIR}/shimx64.efi", True,
                                              "shim-signed + grub-efi-amd64-signed"),
    (Arch.EFI_ARM32, "any"): BootFile("grubarm.efi", False, "admin-supplied"),
    (Arch.EFI_ARM64, "any"): BootFile(f"{SHIM_DIR}/shimaa64.efi", True,
                                      "shim-signed:arm64 + grub-efi-arm64-signed:arm64"),
}
#: Architectures that share another's row (EFI byte code firmware runs x86-64 loaders).
SAME_AS: dict[int, int] = {Arch.EFI_BC: Arch.EFI_X86_64}

#: UEFI HTTP boot arches -> the PXE arch whose loader they fetch over HTTP.
HTTP_ARCH_TO_PXE_ARCH: dict[int, int] = {
    Arch.EFI_IA32_HTTP: Arch.EFI_IA32,
    Arch.EFI_X86_64_HTTP: Arch.EFI_X86_64,
    Arch.EFI_ARM32_HTTP: Arch.EFI_ARM32,
    Arch.EFI_ARM64_HTTP: Arch.EFI_ARM64,
    Arch.BIOS_HTTP: Arch.BIOS,
}


@dataclass(frozen=True)
class ClientInfo:
    """Facts about a DHCP client taken from one packet (no policy)."""

    mac: str
    vendor_class: str = ""  # option 60 / DHCPv6 option 16 data, decoded latin-1
    arch: int | None = None  # option 93 / 61 (first entry); None when absent or malformed
    user_classes: tuple[str, ...] = ()  # option 77 / DHCPv6 15
    uuid: bytes | None = None  # option 97 (client machine identifier)
    nii: bytes | None = None  # option 94 (UNDI version)
    relayed: bool = False  # giaddr was set / came through a DHCPv6 relay

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
        """Option 93/61, else the ``Arch:NNNNN`` field of the vendor class, else BIOS."""
        if self.arch is not None:
            return self.arch
        parts = self.vendor_class.split(":")
        if len(parts) >= 3 and parts[1] == "Arch" and parts[2].isdigit():
            return int(parts[2])
        return Arch.BIOS


class Machine(Enum):
    """What the inventory says about the MAC asking."""

    UNKNOWN = "unknown"  # no inventory record: ``BootConfig.unknown_policy`` decides
    INSTALL = "install"  # a known system with netboot on: its loader starts an install
    LOCAL = "local"  # a known system with netboot off: its loader boots the local disk


class SecureBoot(Enum):
    """Whether the machine runs UEFI Secure Boot (inventory ``metadata.secure_boot``)."""

    OFF = "off"
    ON = "on"  # only the distribution's signed chain is ever handed out


@dataclass(frozen=True)
class BootConfig:
    """Where the appliance serves things, as seen from the client's subnet."""

    server_ip: str  # the serving address: next-server (TFTP) and default HTTP host
    http_port: int = 8080
    public_url: str = ""  # overrides http://<server_ip>:<http_port> when set
    efi_loader: str = Flavour.IPXE  # loader family for UEFI x86-64 (see Flavour)
    unknown_policy: str = UnknownPolicy.IGNORE
    #: files present under the TFTP root -> signed (PE certificate table present); None = not
    #: checked (every table row is assumed installed)
    installed: Mapping[str, bool] | None = None

    @property
    def host(self) -> str:
        """The serving address as a URL host (IPv6 in brackets)."""
        return f"[{self.server_ip}]" if ":" in self.server_ip else self.server_ip

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.http_port}").rstrip("/")


@dataclass(frozen=True)
class BootChoice:
    """The decision. ``bootfile`` None means: address only, no boot information."""

    bootfile: str | None = None
    next_server: str | None = None  # siaddr; None = 0.0.0.0
    vendor_class: str | None = None  # option 60/16 to echo ("PXEClient" / "HTTPClient")
    install: bool = False  # the loader will start an install (known system, netboot on)
    reason: str = ""
    missing: str | None = None  # the file the table names but the TFTP root lacks


def boot_file(arch: int, flavour: str) -> BootFile | None:
    """The table row for a PXE architecture and loader flavour."""
    arch = SAME_AS.get(arch, arch)
    return BOOT_FILES.get((arch, flavour)) or BOOT_FILES.get((arch, "any"))


def loader_for(arch: int, cfg: BootConfig) -> str | None:
    """The TFTP loader file for a PXE architecture under ``cfg.efi_loader`` (no checks)."""
    row = boot_file(arch, cfg.efi_loader)
    return row.file if row else None


def _pick(arch: int, cfg: BootConfig, secure: bool) -> tuple[str | None, str, str | None]:
    """``(file, reason, missing)`` for a PXE architecture; file None = nothing to hand out."""
    row = boot_file(arch, Flavour.SHIM if secure else cfg.efi_loader)
    if row is None:
        return None, f"no boot loader for architecture {arch}", None
    if secure and not row.signed:
        return None, f"Secure Boot: no signed loader for architecture {arch}", None
    if cfg.installed is not None:
        if row.file not in cfg.installed:
            return None, f"{row.file} is not installed (provisioner bootloaders install; " \
                         f"from {row.source})", row.file
        if secure and not cfg.installed[row.file]:
            return None, f"Secure Boot: {row.file} on disk is not signed", None
    return row.file, "", None


def choose_boot(info: ClientInfo, cfg: BootConfig, *, machine: Machine,
                secure_boot: SecureBoot = SecureBoot.OFF) -> BootChoice:
    """Decide the boot file for ``info``, a ``machine`` the inventory knows (or not)."""
    # Order matters; see the module docstring.
    if not info.is_firmware:
        return BootChoice(reason="not netboot firmware")
    if machine is Machine.UNKNOWN and cfg.unknown_policy == UnknownPolicy.IGNORE:
        return BootChoice(reason="unknown MAC, policy ignore")
    install = machine is Machine.INSTALL
    secure = secure_boot is SecureBoot.ON
    echo = "HTTPClient" if info.vendor_class.startswith("HTTPClient") else "PXEClient"
    if info.is_ipxe:
        return BootChoice(f"{cfg.base_url}/boot/ipxe/{info.mac}", cfg.server_ip, echo, install,
                          "firmware iPXE: per-MAC script over HTTP")
    arch = info.effective_arch
    if info.is_http:
        if secure:
            return BootChoice(reason="Secure Boot over UEFI HTTP boot is not served (the signed "
                                     "GRUB cannot fetch over HTTP): use PXE")
        loader, why, missing = _pick(HTTP_ARCH_TO_PXE_ARCH.get(arch, arch), cfg, False)
        if loader is None:
            return BootChoice(reason=f"UEFI HTTP boot: {why}", missing=missing)
        return BootChoice(f"{cfg.base_url}/tftpboot/{loader}", cfg.server_ip, "HTTPClient",
                          install, "UEFI HTTP boot: loader over HTTP")
    loader, why, missing = _pick(arch, cfg, secure and arch != Arch.BIOS)
    if loader is None:
        return BootChoice(reason=f"PXE firmware: {why}", missing=missing)
    return BootChoice(loader, cfg.server_ip, "PXEClient", install, "PXE firmware: TFTP loader")


def boot_url(choice: BootChoice, cfg: BootConfig) -> str | None:
    """The boot file as a URL (DHCPv6 option 59): HTTP URLs as they are, TFTP as tftp://."""
    if not choice.bootfile:
        return None
    if "://" in choice.bootfile:
        return choice.bootfile
    return f"tftp://{cfg.host}/{choice.bootfile}"
