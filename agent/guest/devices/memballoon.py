"""``<memballoon>``: the virtio balloon (``model=none`` turns libvirt's default off)."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty


class Memballoon(XMLBuilder):
    XML_NAME = "memballoon"
    model = XMLProperty("./@model")  # virtio | none
