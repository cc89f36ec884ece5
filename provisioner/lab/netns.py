"""The lab's private network: a namespace with a bridge, and the subnet it may use."""

from __future__ import annotations

import ipaddress

from provisioner.lab.procs import ip
from provisioner.lab.state import LabError, LabState


def netns_exists(name: str) -> bool:
    return name in ip("netns", "list", check=False).stdout.split()


def netns_pids(name: str) -> list[int]:
    out = ip("netns", "pids", name, check=False).stdout.split()
    return [int(p) for p in out if p.isdigit()]


def check_subnet(subnet: str) -> str:
    """``10.79.0``: the first three octets of a private /24 (the lab's own network)."""
    try:
        net = ipaddress.IPv4Network(f"{subnet}.0/24")
    except ValueError:
        raise LabError(f"--subnet wants three octets like 10.79.0, not {subnet!r}") from None
    if not net.is_private or net.is_loopback:
        raise LabError(f"--subnet {subnet}: use a private range (10/8, 172.16/12, 192.168/16)")
    return subnet


def make_network(state: LabState) -> None:
    ip("netns", "add", state.netns)
    state.save()
    ip("-n", state.netns, "link", "set", "lo", "up")
    ip("-n", state.netns, "link", "add", state.bridge, "type", "bridge", "forward_delay", "0",
       "stp_state", "0")
    ip("-n", state.netns, "addr", "add", f"{state.server}/24", "dev", state.bridge)
    ip("-n", state.netns, "link", "set", state.bridge, "up")
