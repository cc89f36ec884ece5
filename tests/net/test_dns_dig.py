"""dig against our DNS in a namespace: systems and leases by name and address, forwarding to
an upstream (dnsmasq as a tiny reference resolver) named in a resolv.conf that changes."""

from __future__ import annotations

import shutil
import time

import pytest

from tests.net.dhcp_helpers import start_server
from tests.net.test_dhcp_clients import udhcpc
from tests.netns import have_root_netns, lan

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns() or not shutil.which("dig")
                                 or not shutil.which("dnsmasq"),
                                 reason="needs root, ip netns, dig and dnsmasq")]

RECORD = {"mac": "52:54:00:aa:bb:02", "system": "web1", "ip": "10.77.0.100",
          "hostname": "web1.lab.example"}


def upstream(ns, tmp, addr: str, answer: str) -> None:
    ns.popen(["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--bind-interfaces",
              f"--listen-address={addr}", "--port=53", f"--address=/x.test/{answer}",
              f"--pid-file={tmp}/dnsmasq-{addr}.pid", "--user=root"])


def dig(client, *args: str) -> str:
    out = client.run(["dig", "@10.77.0.1", "+short", "+time=2", "+tries=2", *args], timeout=30,
                     check=False)
    return out.stdout.strip()


def eventually(fn, want: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    got = fn()
    while got != want and time.monotonic() < deadline:
        time.sleep(0.3)
        got = fn()
    return got


def test_dig_systems_leases_and_forwarding(tmp_path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("search example\nnameserver 127.0.0.2\n")
    with lan("dn", "10.77.0.1/24") as (server, client):
        upstream(server, tmp_path, "127.0.0.2", "1.2.3.4")
        upstream(server, tmp_path, "127.0.0.3", "5.6.7.8")
        start_server(server, tmp_path, {
            "dns_enabled": True, "dns_port": 53, "domain": "lab.example",
            "upstream_resolv_conf": str(resolv),
            "dhcp_ranges": ["10.77.0.10,10.77.0.50,255.255.255.0,1h"]}, [RECORD])
        # a pool client with a host name, for the lease records
        out = udhcpc(client, tmp_path, "-x", "hostname:pc7")
        assert "BOUND ip=10.77.0.10 " in out and "dns=10.77.0.1 " in out, out
        client.ip("addr", "add", "10.77.0.10/24", "dev", "eth0")

        assert dig(client, "web1.lab.example") == "10.77.0.100"
        assert dig(client, "+tcp", "web1.lab.example") == "10.77.0.100"
        assert dig(client, "-x", "10.77.0.100") == "web1.lab.example."
        assert eventually(lambda: dig(client, "pc7.lab.example"), "10.77.0.10") == "10.77.0.10"
        assert dig(client, "-x", "10.77.0.10") == "pc7.lab.example."
        full = client.run(["dig", "@10.77.0.1", "nothere.lab.example"], timeout=30).stdout
        assert "status: NXDOMAIN" in full and " aa" in full.split("flags:")[1].split(";")[0]
        # everything else goes upstream; a change of resolv.conf is picked up
        assert eventually(lambda: dig(client, "x.test"), "1.2.3.4") == "1.2.3.4"
        assert dig(client, "+tcp", "x.test") == "1.2.3.4"
        resolv.write_text("nameserver 127.0.0.3\n")
        assert eventually(lambda: dig(client, "x.test"), "5.6.7.8") == "5.6.7.8"
        resolv.write_text("nameserver 127.0.0.9\n")  # nobody there: SERVFAIL, not silence
        assert "status: SERVFAIL" in client.run(["dig", "@10.77.0.1", "+tries=1", "+time=8",
                                                 "y.test"], timeout=30).stdout
