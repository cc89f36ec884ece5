"""``<interface>``: a NIC on a host bridge or a libvirt network."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty

MODELS = ("virtio", "e1000", "e1000e", "rtl8139", "ne2k_pci", "pcnet", "netfront")


class Interface(XMLBuilder):
    XML_NAME = "interface"
    type = XMLProperty("./@type")  # bridge | network
    source_bridge = XMLProperty("./source/@bridge")
    source_network = XMLProperty("./source/@network")
    mac_address = XMLProperty("./mac/@address")
    model_type = XMLProperty("./model/@type")

    @property
    def source(self) -> str | None:
        return self.source_bridge or self.source_network
