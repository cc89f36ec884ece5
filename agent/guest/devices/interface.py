"""``<interface>``: a NIC on a host bridge, a libvirt network, a macvtap (direct) or user net."""

from __future__ import annotations

from typing import Any

from agent.guest.xmlmodel import XMLBuilder, XMLProperty

MODELS = ("virtio", "e1000", "e1000e", "rtl8139", "ne2k_pci", "pcnet", "netfront", "vmxnet3")
TYPES = ("bridge", "network", "direct", "user")
DIRECT_MODES = ("vepa", "bridge", "private", "passthrough")


class Interface(XMLBuilder):
    XML_NAME = "interface"
    type = XMLProperty("./@type")  # bridge | network | direct | user
    source_bridge = XMLProperty("./source/@bridge")
    source_network = XMLProperty("./source/@network")
    source_dev = XMLProperty("./source/@dev")  # direct: the host NIC
    source_mode = XMLProperty("./source/@mode")  # direct: vepa | bridge | private | passthrough
    mac_address = XMLProperty("./mac/@address")
    model_type = XMLProperty("./model/@type")
    boot_order = XMLProperty("./boot/@order", is_int=True)

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self.wants_default_source = False  # --network default: the host's bridge or 'default'

    @property
    def source(self) -> str | None:
        source: str | None = self.source_bridge or self.source_network or self.source_dev
        return source
