"""Boot-file decision table (house rule 7): one named case per scenario."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.boot.decide import (
    BOOT_FILES,
    BootChoice,
    BootConfig,
    ClientInfo,
    Machine,
    SecureBoot,
    boot_url,
    choose_boot,
)

MAC = "52:54:00:12:34:56"
CFG = BootConfig(server_ip="10.77.0.1", http_port=8080)
BIOS = ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0)
URL = "http://10.77.0.1:8080"
HOST = (Machine.INSTALL, SecureBoot.OFF)
LOCAL = (Machine.LOCAL, SecureBoot.OFF)
SECURE = (Machine.INSTALL, SecureBoot.ON)
UNKNOWN = (Machine.UNKNOWN, SecureBoot.OFF)
EFI64 = ClientInfo(MAC, "PXEClient:Arch:00007:UNDI:003016", 7)
ARM64 = ClientInfo(MAC, "PXEClient:Arch:00011:UNDI:003000", 11)
HTTP64 = ClientInfo(MAC, "HTTPClient:Arch:00016:UNDI:003001", 16)

CASES = {
    "bios pxe firmware": (
        BIOS,
        HOST,
        CFG,
        BootChoice("pxelinux.0", "10.77.0.1", "PXEClient", True),
    ),
    "bios, arch only in option 60": (
        ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001"),
        HOST,
        CFG,
        BootChoice("pxelinux.0", "10.77.0.1", "PXEClient", True),
    ),
    "efi x86-64": (
        ClientInfo(MAC, "PXEClient:Arch:00007:UNDI:003016", 7),
        HOST,
        CFG,
        BootChoice("ipxe.efi", "10.77.0.1", "PXEClient", True),
    ),
    "efi bc": (
        ClientInfo(MAC, "PXEClient:Arch:00009:UNDI:003016", 9),
        HOST,
        CFG,
        BootChoice("ipxe.efi", "10.77.0.1", "PXEClient", True),
    ),
    "efi x86-64 with grub configured": (
        ClientInfo(MAC, "PXEClient:Arch:00007:UNDI:003016", 7),
        HOST,
        BootConfig("10.77.0.1", efi_loader="grub"),
        BootChoice("grubx64.efi", "10.77.0.1", "PXEClient", True),
    ),
    "efi ia32": (
        ClientInfo(MAC, "PXEClient:Arch:00006:UNDI:003016", 6),
        HOST,
        CFG,
        BootChoice("ipxe-ia32.efi", "10.77.0.1", "PXEClient", True),
    ),
    "arm64": (
        ClientInfo(MAC, "PXEClient:Arch:00011:UNDI:003000", 11),
        HOST,
        CFG,
        BootChoice("shim/shimaa64.efi", "10.77.0.1", "PXEClient", True),
    ),
    "arm32": (
        ClientInfo(MAC, "PXEClient:Arch:00010:UNDI:003000", 10),
        HOST,
        CFG,
        BootChoice("grubarm.efi", "10.77.0.1", "PXEClient", True),
    ),
    "itanium unsupported": (
        ClientInfo(MAC, "PXEClient:Arch:00002:UNDI:003000", 2),
        HOST,
        CFG,
        BootChoice(),
    ),
    "firmware ipxe bios": (
        ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0, ("iPXE",)),
        HOST,
        CFG,
        BootChoice(f"{URL}/boot/ipxe/{MAC}", "10.77.0.1", "PXEClient", True),
    ),
    "firmware ipxe efi (no chainload loop)": (
        ClientInfo(MAC, "PXEClient:Arch:00007:UNDI:003010", 7, ("iPXE",)),
        HOST,
        CFG,
        BootChoice(f"{URL}/boot/ipxe/{MAC}", "10.77.0.1", "PXEClient", True),
    ),
    "firmware ipxe with public url": (
        ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0, ("iPXE",)),
        HOST,
        BootConfig("10.77.0.1", public_url="http://boot.lab:80/"),
        BootChoice(f"http://boot.lab:80/boot/ipxe/{MAC}", "10.77.0.1", "PXEClient", True),
    ),
    "uefi http client x86-64": (
        ClientInfo(MAC, "HTTPClient:Arch:00016:UNDI:003001", 16),
        HOST,
        CFG,
        BootChoice(f"{URL}/tftpboot/ipxe.efi", "10.77.0.1", "HTTPClient", True),
    ),
    "uefi http client arm64": (
        ClientInfo(MAC, "HTTPClient:Arch:00019:UNDI:003001", 19),
        HOST,
        CFG,
        BootChoice(f"{URL}/tftpboot/shim/shimaa64.efi", "10.77.0.1", "HTTPClient", True),
    ),
    "uefi http client unknown arch": (
        ClientInfo(MAC, "HTTPClient:Arch:00031", 31),
        HOST,
        CFG,
        BootChoice(),
    ),
    "netboot disabled still gets loader (local-boot config)": (
        BIOS,
        LOCAL,
        CFG,
        BootChoice("pxelinux.0", "10.77.0.1", "PXEClient", False),
    ),
    "unknown mac, policy ignore": (BIOS, None, CFG, BootChoice()),
    "unknown mac, policy menu": (
        BIOS,
        None,
        BootConfig("10.77.0.1", unknown_policy="menu"),
        BootChoice("pxelinux.0", "10.77.0.1", "PXEClient", False),
    ),
    "unknown mac, policy discover": (
        BIOS,
        None,
        BootConfig("10.77.0.1", unknown_policy="discover"),
        BootChoice("pxelinux.0", "10.77.0.1", "PXEClient", False),
    ),
    "busybox udhcpc": (ClientInfo(MAC, "udhcp 1.35.0"), HOST, CFG, BootChoice()),
    "anaconda": (ClientInfo(MAC, "anaconda-Linux 5.14.0 x86_64"), HOST, CFG, BootChoice()),
    "no option 60 (dhclient)": (ClientInfo(MAC), HOST, CFG, BootChoice()),
    "option 93 without PXEClient is not firmware": (
        ClientInfo(MAC, "", 0),
        HOST,
        CFG,
        BootChoice(),
    ),
    "valid option 97 guid and option 94": (
        ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0, uuid=bytes(17), nii=b"\x01\x02\x01"),
        HOST,
        CFG,
        BootChoice("pxelinux.0", "10.77.0.1", "PXEClient", True),
    ),
    "empty option 97 is accepted": (
        ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0, uuid=b""),
        HOST,
        CFG,
        BootChoice("pxelinux.0", "10.77.0.1", "PXEClient", True),
    ),
    "malformed option 97 (wrong length)": (
        ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0, uuid=bytes(16)),
        HOST,
        CFG,
        BootChoice(),
    ),
    "malformed option 97 (type not 0)": (
        ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0, uuid=b"\x01" + bytes(16)),
        HOST,
        CFG,
        BootChoice(),
    ),
    "malformed option 94": (
        ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0, nii=b"\x01"),
        HOST,
        CFG,
        BootChoice(),
    ),
    "relayed pxe request": (
        ClientInfo(MAC, "PXEClient:Arch:00007:UNDI:003016", 7, relayed=True),
        HOST,
        CFG,
        BootChoice("ipxe.efi", "10.77.0.1", "PXEClient", True),
    ),
    # --- Secure Boot: the distribution's signed shim -> GRUB chain, never an unsigned loader
    "secure boot x86-64 gets shim": (
        EFI64,
        SECURE,
        CFG,
        BootChoice("shim/shimx64.efi", "10.77.0.1", "PXEClient", True),
    ),
    "secure boot wins over efi_loader=ipxe/grub": (
        EFI64,
        SECURE,
        BootConfig("10.77.0.1", efi_loader="grub"),
        BootChoice("shim/shimx64.efi", "10.77.0.1", "PXEClient", True),
    ),
    "secure boot efi bc gets shim": (
        ClientInfo(MAC, "PXEClient:Arch:00009:UNDI:003016", 9),
        SECURE,
        CFG,
        BootChoice("shim/shimx64.efi", "10.77.0.1", "PXEClient", True),
    ),
    "secure boot arm64 gets shimaa64": (
        ARM64,
        SECURE,
        CFG,
        BootChoice("shim/shimaa64.efi", "10.77.0.1", "PXEClient", True),
    ),
    "secure boot ia32: no signed loader": (
        ClientInfo(MAC, "PXEClient:Arch:00006:UNDI:003016", 6),
        SECURE,
        CFG,
        BootChoice(),
    ),
    "secure boot host booting legacy bios": (
        BIOS,
        SECURE,
        CFG,
        BootChoice("pxelinux.0", "10.77.0.1", "PXEClient", True),
    ),
    "secure boot over uefi http: refused": (HTTP64, SECURE, CFG, BootChoice()),
    "secure boot, shim on disk unsigned": (
        EFI64,
        SECURE,
        BootConfig("10.77.0.1", installed={"shim/shimx64.efi": False, "ipxe.efi": False}),
        BootChoice(),
    ),
    "secure boot, shim signed on disk": (
        EFI64,
        SECURE,
        BootConfig("10.77.0.1", installed={"shim/shimx64.efi": True}),
        BootChoice("shim/shimx64.efi", "10.77.0.1", "PXEClient", True),
    ),
    "efi_loader=shim for every x86-64 uefi client": (
        EFI64,
        HOST,
        BootConfig("10.77.0.1", efi_loader="shim"),
        BootChoice("shim/shimx64.efi", "10.77.0.1", "PXEClient", True),
    ),
    # --- installed files known: a missing loader is not handed out
    "arm64 loader not installed": (
        ARM64,
        HOST,
        BootConfig("10.77.0.1", installed={"ipxe.efi": False}),
        BootChoice(),
    ),
    "x86-64 loader installed": (
        EFI64,
        HOST,
        BootConfig("10.77.0.1", installed={"ipxe.efi": False}),
        BootChoice("ipxe.efi", "10.77.0.1", "PXEClient", True),
    ),
    "http boot loader not installed": (
        HTTP64,
        HOST,
        BootConfig("10.77.0.1", installed={}),
        BootChoice(),
    ),
    # --- IPv6 serving address: URLs bracket it
    "uefi http over ipv6": (
        HTTP64,
        HOST,
        BootConfig("fd00:92::1"),
        BootChoice("http://[fd00:92::1]:8080/tftpboot/ipxe.efi", "fd00:92::1", "HTTPClient", True),
    ),
    "ipxe over ipv6": (
        ClientInfo(MAC, "PXEClient:Arch:00007:UNDI:003010", 7, ("iPXE",)),
        HOST,
        BootConfig("fd00:92::1"),
        BootChoice(f"http://[fd00:92::1]:8080/boot/ipxe/{MAC}", "fd00:92::1", "PXEClient", True),
    ),
}


@pytest.mark.parametrize(("info", "host", "cfg", "want"), CASES.values(), ids=CASES.keys())
def test_choose_boot(info, host, cfg, want) -> None:
    machine, secure = host or UNKNOWN
    got = choose_boot(info, cfg, machine=machine, secure_boot=secure)
    assert (got.bootfile, got.next_server, got.vendor_class, got.install) == (
        want.bootfile,
        want.next_server,
        want.vendor_class,
        want.install,
    )


ARCHES = {
    "option 93 wins": (ClientInfo(MAC, "PXEClient:Arch:00000", 7), 7),
    "from option 60": (ClientInfo(MAC, "PXEClient:Arch:00009:UNDI:003016"), 9),
    "option 60 without arch": (ClientInfo(MAC, "PXEClient"), 0),
    "option 60 garbage arch": (ClientInfo(MAC, "PXEClient:Arch:xyz"), 0),
}


@pytest.mark.parametrize(("info", "want"), ARCHES.values(), ids=ARCHES.keys())
def test_effective_arch(info, want) -> None:
    assert info.effective_arch == want


MISSING = {
    "arm64 shim missing": (ARM64, BootConfig("10.77.0.1", installed={}), "shim/shimaa64.efi"),
    "ia32 ipxe missing": (
        ClientInfo(MAC, "PXEClient:Arch:00006:UNDI:003016", 6),
        BootConfig("10.77.0.1", installed={"ipxe.efi": False}),
        "ipxe-ia32.efi",
    ),
    "http arm64 missing": (
        ClientInfo(MAC, "HTTPClient:Arch:00019:UNDI:003001", 19),
        BootConfig("10.77.0.1", installed={}),
        "shim/shimaa64.efi",
    ),
    "unknown arch: nothing to name": (
        ClientInfo(MAC, "PXEClient:Arch:00002:UNDI:003000", 2),
        BootConfig("10.77.0.1", installed={}),
        None,
    ),
}


@pytest.mark.parametrize(("info", "cfg", "file"), MISSING.values(), ids=MISSING.keys())
def test_missing_loader_is_named(info, cfg, file) -> None:
    got = choose_boot(info, cfg, machine=Machine.INSTALL)
    assert got.bootfile is None and got.missing == file
    assert (file or f"architecture {info.effective_arch}") in got.reason


def test_boot_url() -> None:
    v6 = BootConfig("fd00:92::1")
    assert boot_url(BootChoice("ipxe.efi"), v6) == "tftp://[fd00:92::1]/ipxe.efi"
    assert boot_url(BootChoice("http://x/y"), v6) == "http://x/y"
    assert boot_url(BootChoice(), v6) is None
    assert boot_url(BootChoice("pxelinux.0"), CFG) == "tftp://10.77.0.1/pxelinux.0"


_text = st.text(alphabet=st.sampled_from("PXEClientHTTP:Arch0123456789iUND"), max_size=40)


@given(
    vendor=st.one_of(
        _text,
        st.sampled_from(
            ["PXEClient:Arch:00007", "HTTPClient:Arch:00016", "PXEClient", "HTTPClient"]
        ),
    ),
    arch=st.one_of(st.none(), st.integers(0, 0xFFFF)),
    ipxe=st.booleans(),
    flavour=st.sampled_from(["ipxe", "grub", "shim"]),
    installed=st.one_of(
        st.none(),
        st.dictionaries(st.sampled_from([r.file for r in BOOT_FILES.values()]), st.booleans()),
    ),
)
def test_secure_boot_never_gets_an_unsigned_loader(vendor, arch, ipxe, flavour, installed) -> None:
    info = ClientInfo(MAC, vendor, arch, ("iPXE",) if ipxe else ())
    cfg = BootConfig("10.77.0.1", efi_loader=flavour, installed=installed)
    got = choose_boot(info, cfg, machine=Machine.INSTALL, secure_boot=SecureBoot.ON)
    signed = {r.file for r in BOOT_FILES.values() if r.signed}
    if got.bootfile is None or got.bootfile.startswith("http://10.77.0.1:8080/boot/ipxe/"):
        return
    assert got.bootfile in signed or (got.bootfile == "pxelinux.0" and info.effective_arch == 0)
    if installed is not None and got.bootfile in signed:
        assert installed[got.bootfile] is True
