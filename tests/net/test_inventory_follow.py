"""No sync: a change made through the API is seen by the very next DHCP and TFTP request.

``provisioner serve`` in a namespace answers DHCP and TFTP from worker processes that keep the
inventory in memory (``store/cache.py``); each request first checks the store's change counter.
Each step below changes a system over HTTP and, as soon as the API has answered, asks again
with a real client (busybox udhcpc, curl's TFTP client): no sleep, no retry.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from provisioner.core.app import Core
from provisioner.models import Distro, Interface, Profile, System
from tests.e2e.appliance import appliance
from tests.netns import have_root_netns, lan

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns() or not shutil.which("busybox"),
                                 reason="needs root, ip netns and busybox")]

SERVER, CLIENT, OTHER = "10.77.0.1", "10.77.0.2", "10.77.0.3"
MAC, NEW_MAC = "52:54:00:ab:cd:01", "52:54:00:ab:cd:02"
TOKEN = "t" * 40


def test_api_changes_are_seen_by_the_next_dhcp_and_tftp_request(tmp_path: Path) -> None:
    def fill(core: Core) -> None:
        (tmp_path / "k").write_bytes(b"kernel")
        core.add_distro(Distro(name="fx", os_version="rhel9", kernel=str(tmp_path / "k"),
                               initrd=str(tmp_path / "k"), tree_url="http://10.77.0.1/tree"))
        core.add_profile(Profile(name="p", distro="fx", kickstart="rhel9-guest.ks",
                                 metadata={"pxe_transport": "tftp"}))
        core.add_system(System(name="m1", profile="p", interfaces=(Interface(mac=MAC, ip=CLIENT),)))

    with lan("if") as (server, client):
        client.ip("link", "set", "eth0", "address", MAC)
        client.ip("addr", "add", f"{CLIENT}/24", "dev", "eth0")
        (tmp_path / "tftpboot").mkdir()
        with appliance(server, tmp_path, SERVER, fill, interfaces=("br0",), tftp_enabled=True,
                       dhcp_enabled=True, tftp_workers=2, api_token=TOKEN,
                       dhcp_ranges=("10.77.0.100,10.77.0.200,255.255.255.0,1h",)) as app:

            def api(method: str, path: str, body: dict) -> None:
                r = client.run(["curl", "-sS", "--fail-with-body", "-X", method, "-H",
                                f"Authorization: Bearer {TOKEN}", "-H",
                                "Content-Type: application/json", "-d", json.dumps(body),
                                f"{app.url}/api/v1/{path}"], check=False, timeout=30)
                assert r.returncode == 0, r.stdout + r.stderr

            def tftp_config(mac: str) -> str:
                r = client.run(["curl", "-sS", "--max-time", "10",
                                f"tftp://{SERVER}/pxelinux.cfg/01-{mac.replace(':', '-')}"],
                               check=False, timeout=30)
                return r.stdout if r.returncode == 0 else f"curl exit {r.returncode}"

            def dhcp_address() -> str:
                r = client.run(["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "3",
                                "-T", "2", "-s", "/bin/true"], timeout=60, check=False)
                out = r.stdout + r.stderr
                return out.split("lease of ")[1].split()[0] if "lease of " in out else out

            assert "KERNEL assets/fx/kernel" in tftp_config(MAC), app.log()
            assert dhcp_address() == CLIENT, app.log()

            api("PATCH", "systems/m1", {"netboot_enabled": False})
            assert "LOCALBOOT" in tftp_config(MAC), app.log()
            api("PATCH", "systems/m1", {"interfaces": [{"mac": MAC, "ip": OTHER}]})
            assert dhcp_address() == OTHER, app.log()
            api("PATCH", "systems/m1", {"netboot_enabled": True})
            assert "KERNEL assets/fx/kernel" in tftp_config(MAC)

            assert "curl exit" in tftp_config(NEW_MAC)  # unknown: file not found
            api("POST", "systems", {"name": "m2", "profile": "p",
                                    "interfaces": [{"mac": NEW_MAC}]})
            assert "KERNEL assets/fx/kernel" in tftp_config(NEW_MAC), app.log()
            api("PATCH", "profiles/p", {"kernel_options": "inst.sshd=1"})
            assert "inst.sshd=1" in tftp_config(NEW_MAC), app.log()
