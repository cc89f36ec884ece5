"""Router advertisements on an IPv4-only provisioning link: ``provisioner serve`` with DHCPv4 and
``ra_enabled`` (no DHCPv6, no IPv6 address on the bridge), read by ``rdisc6`` (ndisc6).

The advertisement must say "no DHCPv6, not a router": M=0, O=0, router lifetime 0, no prefix.
That is what lets iPXE finish its IPv6 autoconfiguration at once instead of waiting for a router
(bench/results/firmware_bench.txt); with M=1 it would wait for a DHCPv6 server nobody runs.
"""

from __future__ import annotations

import pytest

from tests.e2e.appliance import appliance
from tests.netns import have_root_netns, lan

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns")]


def test_ipv4_only_link_hears_no_router_no_dhcpv6(tmp_path) -> None:
    with lan("r4", "10.76.0.1/24") as (server, client):
        client.run(["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"])
        with appliance(server, tmp_path, "10.76.0.1", lambda core: None, interfaces=("br0",),
                       dhcp_enabled=True, ra_enabled=True, dns_enabled=True,
                       dhcp_ranges=("10.76.0.100,10.76.0.150,255.255.255.0,1h",)):
            out = client.run(["rdisc6", "-1", "-w", "3000", "eth0"], timeout=30).stdout
    assert "Stateful address conf.    :           No" in out, out
    assert "Stateful other conf.      :           No" in out, out
    assert "Router lifetime           :            0" in out, out
    assert "Prefix" not in out and "Recursive DNS" not in out, out
