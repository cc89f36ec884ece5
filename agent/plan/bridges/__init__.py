"""Bridge plans: a bridge for PXE-booting guests, live (netlink) and persistent (per distro).

``plan_bridges(facts, want) -> Plan`` is pure. The seed's rules (RHEL 5 Virtualization Guide
ch. 12-13, notes B §5-§6):

- ifcfg files exactly as the seed writes them: ``TYPE=Bridge`` (that case), ``DELAY=0``,
  ``BRIDGE=<br>`` on the NIC, ``MTU=`` as the NIC file's last line, ``NM_CONTROLLED=no``
  where NetworkManager runs (instead of switching NetworkManager off).
- never put a NIC into libvirt's NAT bridge ``virbr0``;
- bridged traffic must pass the firewall: bridge-netfilter sysctls = 0, or the iptables
  ``physdev --physdev-is-bridged`` ACCEPT rule;
- Xen hosts using libvirt bridges: ``(network-script /bin/true)`` in xend-config.sxp;
- lab mode (seed 13.2): a ``dummy0`` interface with a static address as the guests' network.

Project decisions (documented here, not from the seed): RHEL >= 9 gets NetworkManager
keyfiles (ifcfg is deprecated there); Debian gets ``/etc/network/interfaces.d/<bridge>`` and
the NIC's stanza in ``/etc/network/interfaces`` turned into ``inet manual`` (its address
options move to the bridge), plus the ``bridge-utils`` package ifupdown needs.
Moving the default-route NIC needs ``allow_default_route_nic`` (it briefly cuts the host
off; the applier's connectivity check rolls back if it does not come back).

Modules: ``want`` (the request and its refusals), ``seedtext`` (the seed's files and rules),
``persist`` (ifcfg / NetworkManager / Debian), ``planner`` (``plan_bridges``).
"""

from agent.plan.bridges.persist import debian_split
from agent.plan.bridges.planner import nat_steps, plan_bridges
from agent.plan.bridges.seedtext import (
    bridge_forward_rule,
    bridge_id,
    bridge_netfilter_sysctls,
    masquerade_rule,
    nat_sysctls,
    render_bridge_ifcfg,
    render_ifcfg_dummy,
    render_modprobe_dummy,
    render_nic_ifcfg,
    validate_ifcfg,
    xend_network_script,
)
from agent.plan.bridges.want import NAT_BRIDGE, BridgeWant

__all__ = [
    "NAT_BRIDGE", "BridgeWant", "bridge_forward_rule", "bridge_id", "bridge_netfilter_sysctls",
    "debian_split", "masquerade_rule", "nat_steps", "nat_sysctls", "plan_bridges",
    "render_bridge_ifcfg", "render_ifcfg_dummy", "render_modprobe_dummy", "render_nic_ifcfg",
    "validate_ifcfg", "xend_network_script",
]
