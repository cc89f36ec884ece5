"""The appliance (kickstart bootloader --append) and the host agent (grub on a running guest)
carry their own copy of the seed's clock table, because the two packages never import each
other. This test holds them to the same answers over every listed and nearest-row release."""

from __future__ import annotations

import pytest

from agent.plan.bootparams import guest_clock_params
from provisioner.core.rules import clock_params

RELEASES = ["3.9", "4.5", "4.8", "5.0", "5.2", "5.3", "5.4", "5.5", "5.11", "6.0", "9.2"]
GRID = [(r, a, pv, lpj) for r in RELEASES for a in ("x86_64", "i386")
        for pv in (None, True, False) for lpj in (None, 4589123)]


@pytest.mark.parametrize(("release", "arch", "pv_clock", "lpj"), GRID,
                         ids=[f"{r}-{a}-pv{pv}-lpj{lpj}" for r, a, pv, lpj in GRID])
def test_same_clock_parameters(release: str, arch: str, pv_clock, lpj) -> None:
    agent_params, _warnings = guest_clock_params(release, arch, pv_clock, lpj)
    assert clock_params(f"rhel{release}", arch, pv_clock=pv_clock, lpj=lpj) == " ".join(agent_params)
