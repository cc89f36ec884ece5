"""``provisioner status`` and ``provisioner timeline`` against a real appliance (issue 15).

``provisioner serve`` runs in a test namespace with DHCP, TFTP and DNS on its bridge; a real
client (busybox udhcpc, curl's TFTP client) takes a lease and fetches its boot config. Then
``status`` (run in the same namespace, as an admin would on the appliance) must name each
service with its address and port and say that it listens, count the systems, leases and hosts,
and list the last events as sentences; ``timeline`` must show the machine's events and where
its boot stopped. With the appliance stopped, ``status`` says so and what to run.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from provisioner.core.app import Core
from provisioner.models import Distro, Interface, Profile, System
from tests.e2e.appliance import appliance
from tests.netns import have_root_netns, lan

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns() or not shutil.which("busybox"),
                                 reason="needs root, ip netns and busybox")]

SERVER, CLIENT = "10.77.0.1", "10.77.0.2"
MAC = "52:54:00:ab:cd:07"
ROOT = Path(__file__).resolve().parents[1]


def _fill(tmp: Path):  # noqa: ANN202
    def fill(core: Core) -> None:
        (tmp / "k").write_bytes(b"kernel")
        core.add_distro(Distro(name="fx", os_version="rhel9", kernel=str(tmp / "k"),
                               initrd=str(tmp / "k"), tree_url="http://10.77.0.1/tree"))
        core.add_profile(Profile(name="p", distro="fx", kickstart="rhel9-guest.ks",
                                 metadata={"pxe_transport": "tftp"}))
        core.add_system(System(name="m1", profile="p", interfaces=(Interface(mac=MAC),)))
    return fill


def _cli(ns, config: Path, *argv: str) -> str:  # noqa: ANN001
    r = ns.run([sys.executable, "-m", "provisioner.cli", "--config", str(config), *argv],
               timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_status_and_timeline_of_a_running_appliance(tmp_path: Path) -> None:
    with lan("st") as (server, client):
        client.ip("link", "set", "eth0", "address", MAC)
        (tmp_path / "tftpboot").mkdir()
        with appliance(server, tmp_path, SERVER, _fill(tmp_path), interfaces=("br0",),
                       dhcp_enabled=True, dhcp_ranges=("10.77.0.50,10.77.0.60,255.255.255.0,1h",),
                       tftp_enabled=True, dns_enabled=True, dns_port=53) as app:
            r = client.run(["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "3",
                            "-T", "2", "-s", "/bin/true"], timeout=60, check=False)
            assert "lease of 10.77.0.5" in r.stdout + r.stderr, r.stdout + r.stderr + app.log()
            client.ip("addr", "add", f"{CLIENT}/24", "dev", "eth0")
            cfg = client.run(["curl", "-sS", f"tftp://{SERVER}/pxelinux.cfg/01-"
                              f"{MAC.replace(':', '-')}"])
            assert "KERNEL" in cfg.stdout
            for _ in range(50):  # events are written off the workers' loops: poll briefly
                if any(e["kind"] == "boot-config" for e in app.timeline("m1")):
                    break
                client.run(["sleep", "0.2"])
            text = _cli(server, app.config, "status")
            info = json.loads(_cli(server, app.config, "status", "--json"))
            timeline = _cli(server, app.config, "timeline", "m1")
        stopped = _cli(server, app.config, "status")
    lines = text.splitlines()
    assert "  HTTP  http://10.77.0.1:8080/" in text and "tcp/8080   answering" in text, text
    assert any(x.startswith("  DHCP  full, on br0 (10.77.0.1)  udp/67  listening")
               for x in lines), text
    assert "  TFTP  on br0 (10.77.0.1)  udp/69  listening" in lines, text
    assert "  DNS   on br0 (10.77.0.1)  udp/53  listening" in lines, text
    assert "systems     1 (1 with netboot on), 1 profiles, 1 distros" in lines
    assert "leases      1 active" in lines and "hosts       0" in lines
    assert any(x.startswith("last ") and x.endswith(" events") for x in lines)
    assert any("system:m1" in x and "DHCP gave 10.77.0.5" in x for x in lines), text
    assert info["leases"] == 1 and info["systems"] == 1 and len(info["events"]) <= 10
    assert [s["up"] for s in info["services"]] == [True, True, True, True]

    assert timeline.splitlines()[0] == f"m1: profile p, status new, netboot on, {MAC}"
    assert "dhcp-ack" in timeline and "pxelinux boot config served: install" in timeline
    assert timeline.splitlines()[-1].startswith(
        "next: the boot loader fetched its config but not the kernel"), timeline

    assert "not answering: start it with `provisioner serve`" in stopped
    assert "udp/67  nothing listening (is serve running?)" in stopped
