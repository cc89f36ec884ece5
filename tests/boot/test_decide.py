"""Boot-file decision table (house rule 7): one named case per scenario."""

from __future__ import annotations

import pytest

from provisioner.boot.decide import BootChoice, BootConfig, ClientInfo, Machine, choose_boot

MAC = "52:54:00:12:34:56"
CFG = BootConfig(server_ip="10.77.0.1", http_port=8080)
BIOS = ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0)
URL = "http://10.77.0.1:8080"

CASES = {
    "bios pxe firmware": (BIOS, True, True, CFG,
                          BootChoice("pxelinux.0", "10.77.0.1", "PXEClient", True)),
    "bios, arch only in option 60": (ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001"), True,
                                     True, CFG,
                                     BootChoice("pxelinux.0", "10.77.0.1", "PXEClient", True)),
    "efi x86-64": (ClientInfo(MAC, "PXEClient:Arch:00007:UNDI:003016", 7), True, True, CFG,
                   BootChoice("ipxe.efi", "10.77.0.1", "PXEClient", True)),
    "efi bc": (ClientInfo(MAC, "PXEClient:Arch:00009:UNDI:003016", 9), True, True, CFG,
               BootChoice("ipxe.efi", "10.77.0.1", "PXEClient", True)),
    "efi x86-64 with grub configured": (
        ClientInfo(MAC, "PXEClient:Arch:00007:UNDI:003016", 7), True, True,
        BootConfig("10.77.0.1", efi_loader="grub"),
        BootChoice("grubx64.efi", "10.77.0.1", "PXEClient", True)),
    "efi ia32": (ClientInfo(MAC, "PXEClient:Arch:00006:UNDI:003016", 6), True, True, CFG,
                 BootChoice("ipxe-ia32.efi", "10.77.0.1", "PXEClient", True)),
    "arm64": (ClientInfo(MAC, "PXEClient:Arch:00011:UNDI:003000", 11), True, True, CFG,
              BootChoice("grubaa64.efi", "10.77.0.1", "PXEClient", True)),
    "arm32": (ClientInfo(MAC, "PXEClient:Arch:00010:UNDI:003000", 10), True, True, CFG,
              BootChoice("grubarm.efi", "10.77.0.1", "PXEClient", True)),
    "itanium unsupported": (ClientInfo(MAC, "PXEClient:Arch:00002:UNDI:003000", 2), True, True,
                            CFG, BootChoice()),
    "firmware ipxe bios": (ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0, ("iPXE",)),
                           True, True, CFG,
                           BootChoice(f"{URL}/boot/ipxe/{MAC}", "10.77.0.1", "PXEClient", True)),
    "firmware ipxe efi (no chainload loop)": (
        ClientInfo(MAC, "PXEClient:Arch:00007:UNDI:003010", 7, ("iPXE",)), True, True, CFG,
        BootChoice(f"{URL}/boot/ipxe/{MAC}", "10.77.0.1", "PXEClient", True)),
    "firmware ipxe with public url": (
        ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0, ("iPXE",)), True, True,
        BootConfig("10.77.0.1", public_url="http://boot.lab:80/"),
        BootChoice(f"http://boot.lab:80/boot/ipxe/{MAC}", "10.77.0.1", "PXEClient", True)),
    "uefi http client x86-64": (ClientInfo(MAC, "HTTPClient:Arch:00016:UNDI:003001", 16), True,
                                True, CFG, BootChoice(f"{URL}/tftpboot/ipxe.efi", "10.77.0.1",
                                                      "HTTPClient", True)),
    "uefi http client arm64": (ClientInfo(MAC, "HTTPClient:Arch:00019:UNDI:003001", 19), True,
                               True, CFG, BootChoice(f"{URL}/tftpboot/grubaa64.efi",
                                                     "10.77.0.1", "HTTPClient", True)),
    "uefi http client unknown arch": (ClientInfo(MAC, "HTTPClient:Arch:00031", 31), True, True,
                                      CFG, BootChoice()),
    "netboot disabled still gets loader (local-boot config)": (
        BIOS, True, False, CFG, BootChoice("pxelinux.0", "10.77.0.1", "PXEClient", False)),
    "unknown mac, policy ignore": (BIOS, False, False, CFG, BootChoice()),
    "unknown mac, policy menu": (BIOS, False, False, BootConfig("10.77.0.1", unknown_policy="menu"),
                                 BootChoice("pxelinux.0", "10.77.0.1", "PXEClient", False)),
    "unknown mac, policy discover": (BIOS, False, False,
                                     BootConfig("10.77.0.1", unknown_policy="discover"),
                                     BootChoice("pxelinux.0", "10.77.0.1", "PXEClient", False)),
    "busybox udhcpc": (ClientInfo(MAC, "udhcp 1.35.0"), True, True, CFG, BootChoice()),
    "anaconda": (ClientInfo(MAC, "anaconda-Linux 5.14.0 x86_64"), True, True, CFG, BootChoice()),
    "no option 60 (dhclient)": (ClientInfo(MAC), True, True, CFG, BootChoice()),
    "option 93 without PXEClient is not firmware": (ClientInfo(MAC, "", 0), True, True, CFG,
                                                    BootChoice()),
    "valid option 97 guid and option 94": (
        ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0, uuid=bytes(17), nii=b"\x01\x02\x01"),
        True, True, CFG, BootChoice("pxelinux.0", "10.77.0.1", "PXEClient", True)),
    "empty option 97 is accepted": (
        ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0, uuid=b""), True, True, CFG,
        BootChoice("pxelinux.0", "10.77.0.1", "PXEClient", True)),
    "malformed option 97 (wrong length)": (
        ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0, uuid=bytes(16)), True, True, CFG,
        BootChoice()),
    "malformed option 97 (type not 0)": (
        ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0, uuid=b"\x01" + bytes(16)), True,
        True, CFG, BootChoice()),
    "malformed option 94": (
        ClientInfo(MAC, "PXEClient:Arch:00000:UNDI:002001", 0, nii=b"\x01"), True, True, CFG,
        BootChoice()),
    "relayed pxe request": (
        ClientInfo(MAC, "PXEClient:Arch:00007:UNDI:003016", 7, relayed=True), True, True, CFG,
        BootChoice("ipxe.efi", "10.77.0.1", "PXEClient", True)),
}


@pytest.mark.parametrize(("info", "known", "netboot", "cfg", "want"), CASES.values(),
                         ids=CASES.keys())
def test_choose_boot(info, known, netboot, cfg, want) -> None:
    machine = (Machine.UNKNOWN if not known else Machine.INSTALL if netboot else Machine.LOCAL)
    got = choose_boot(info, cfg, machine=machine)
    assert (got.bootfile, got.next_server, got.vendor_class, got.install) == (
        want.bootfile, want.next_server, want.vendor_class, want.install)


ARCHES = {
    "option 93 wins": (ClientInfo(MAC, "PXEClient:Arch:00000", 7), 7),
    "from option 60": (ClientInfo(MAC, "PXEClient:Arch:00009:UNDI:003016"), 9),
    "option 60 without arch": (ClientInfo(MAC, "PXEClient"), 0),
    "option 60 garbage arch": (ClientInfo(MAC, "PXEClient:Arch:xyz"), 0),
}


@pytest.mark.parametrize(("info", "want"), ARCHES.values(), ids=ARCHES.keys())
def test_effective_arch(info, want) -> None:
    assert info.effective_arch == want
