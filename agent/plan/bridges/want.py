"""What a bridge plan is asked for (:class:`BridgeWant`) and the checks that refuse a request
(bad name, virbr0, a NIC that is missing, a bridge, another bridge's port, or carries the default
route without ``allow_default_route_nic``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.facts.model import HostFacts, Nic
from agent.plan.steps import PlanError
from provisioner.platform.tables import table

NAT_BRIDGE: str = table("network")["libvirt_nat_bridge"]
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


@dataclass(frozen=True)
class BridgeWant:
    bridge: str = "br0"
    nic: str | None = None             # NIC to enslave; None with lab=True
    mtu: int | None = None
    stp: bool = False
    forward_delay: int = 0             # seconds (seed DELAY=0)
    move_addresses: bool = True        # addresses + routes of the NIC move to the bridge
    allow_default_route_nic: bool = False
    live: bool = True                  # netlink steps (pyroute2)
    persist: str = "auto"              # auto | ifcfg | nm | debian | none
    netfilter: str = "sysctl"          # sysctl | physdev | none
    lab: bool = False                  # dummy-interface lab mode (seed 13.2)
    lab_address: str = "10.1.1.1/24"
    dummy: str = "dummy0"
    nat: bool = False                  # masquerade the guests via the default-route device


def validate(facts: HostFacts, want: BridgeWant) -> Nic | None:
    if not _NAME.match(want.bridge):
        raise PlanError("E_BAD_NAME", f"invalid bridge name {want.bridge!r}")
    net = facts.network
    if want.lab:
        if want.nic:
            raise PlanError("E_LAB_WITH_NIC", "lab mode uses a dummy interface, not a NIC")
        return None
    if not want.nic:
        raise PlanError("E_NO_NIC", "name the NIC to put into the bridge (or use lab mode)")
    if want.bridge == NAT_BRIDGE:
        raise PlanError("E_VIRBR0_NAT_ONLY",
                        f"virbr0 is NAT-only: never put a physical NIC ({want.nic}) into it; "
                        "use a separate bridge such as br0")
    nic = net.nic(want.nic)
    if nic is None:
        raise PlanError("E_NO_SUCH_NIC", f"{want.nic} is not a network interface on this host")
    if nic.kind == "bridge":
        raise PlanError("E_NIC_IS_BRIDGE", f"{want.nic} is itself a bridge")
    if nic.master and nic.master != want.bridge:
        raise PlanError("E_NIC_ENSLAVED", f"{want.nic} is already a port of {nic.master}")
    existing = net.nic(want.bridge)
    if existing is not None and existing.kind != "bridge":
        raise PlanError("E_NAME_TAKEN", f"{want.bridge} exists and is not a bridge")
    if net.default_route_dev == want.nic and not want.allow_default_route_nic:
        raise PlanError("E_DEFAULT_ROUTE_NIC",
                        f"{want.nic} carries the default route; moving it into {want.bridge} "
                        "cuts the host off for a moment: pass --allow-default-route-nic")
    return nic
