"""``unknown_policy = "menu"`` end to end: ``provisioner serve`` in a namespace, a MAC nobody has,
real clients (tftp-hpa for pxelinux's per-MAC name, curl for iPXE's URL and TFTP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.core.app import Core
from provisioner.models import Distro, Profile
from tests.e2e.appliance import appliance
from tests.netns import have_root_netns, lan

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns")]

SERVER, CLIENT = "10.77.0.1", "10.77.0.2"
UNKNOWN = "52:54:00:ab:cd:77"


def fill(core: Core) -> None:
    core.add_distro(Distro(name="fx", os_version="rhel9", tree_url="http://10.77.0.1/tree"))
    core.add_profile(Profile(name="a-first", distro="fx", kickstart="rhel9-guest.ks"))
    core.add_profile(Profile(name="b-chosen", distro="fx", kickstart="rhel9-guest.ks",
                             kernel_options="inst.text"))


def test_unknown_mac_gets_the_menu_over_tftp_and_http(tmp_path: Path) -> None:
    with lan("um") as (server, client):
        client.ip("link", "set", "eth0", "address", UNKNOWN)
        client.ip("addr", "add", f"{CLIENT}/24", "dev", "eth0")
        (tmp_path / "tftpboot").mkdir()
        with appliance(server, tmp_path, SERVER, fill, interfaces=("br0",), tftp_enabled=True,
                       unknown_policy="menu", menu_profile="b-chosen") as app:
            out = tmp_path / "cfg"
            r = client.run(["tftp", SERVER, "-c", "get", "pxelinux.cfg/01-52-54-00-ab-cd-77",
                            str(out)], check=False, timeout=60)
            assert r.returncode == 0 and out.exists(), r.stdout + r.stderr + app.log()
            cfg = out.read_text()
            assert cfg.startswith("# unknown machine 52-54-00-ab-cd-77: local boot by default")
            assert "DEFAULT local" in cfg and "LOCALBOOT 0" in cfg
            assert "MENU LABEL Install b-chosen interactively" in cfg
            assert f"KERNEL http://{SERVER}:8080/assets/fx/kernel" in cfg
            assert "inst.text" in cfg and "inst.repo=http://10.77.0.1/tree" in cfg
            ipxe = client.run(["curl", "-sS", "-w", "\n%{http_code}", "--max-time", "20",
                               f"http://{SERVER}:8080/boot/ipxe/52-54-00-AB-CD-77"], timeout=60)
            body, _, status = ipxe.stdout.rpartition("\n")
            assert status == "200" and body.startswith("#!ipxe"), ipxe.stdout + app.log()
            assert "item install Install b-chosen interactively" in body
