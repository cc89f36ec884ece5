"""QEMU's iPXE firmware (a real PXE client) configures itself from our DHCP server and then
chains the per-MAC iPXE script URL we handed it (no HTTP server runs: it reports the failure)."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.net.dhcp_helpers import events, start_server
from tests.netns import have_root_netns, lan

pytestmark = [pytest.mark.netns, pytest.mark.qemu,
              pytest.mark.skipif(not have_root_netns() or not shutil.which("qemu-system-x86_64"),
                                 reason="needs root, ip netns and qemu-system-x86")]

MAC = "52:54:00:12:34:56"


def test_ipxe_firmware_gets_address_and_script_url(tmp_path) -> None:
    with lan("iq", "10.77.0.1/24") as (server, _client):
        server.add_tap("tap0", "br0")
        start_server(server, tmp_path, {"dhcp_ranges": ["10.77.0.10,10.77.0.50,255.255.255.0,1h"],
                                        "http_port": 8080},
                     [{"mac": MAC, "system": "vm1", "ip": "10.77.0.100"}])
        log = tmp_path / "qemu.log"
        with open(log, "wb") as fh:
            server.popen(["qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-nographic",
                          "-no-reboot", "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
                          "-device", f"e1000,netdev=n0,mac={MAC}", "-boot", "n"], stdout=fh,
                         stdin=open(os.devnull, "rb"))
        url = f"http://10.77.0.1:8080/boot/ipxe/{MAC}"
        deadline = time.monotonic() + 180
        text = ""
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if url in text:
                break
            time.sleep(1)
        assert "10.77.0.100" in text and url in text, text[-3000:]
    acks = [e for e in events(tmp_path) if e["kind"] == "dhcp-ack"]
    assert acks and acks[0]["subject"] == "system:vm1"
    assert acks[0]["detail"]["bootfile"] == url and acks[0]["detail"]["install"] is True
