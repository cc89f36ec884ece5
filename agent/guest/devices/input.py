"""``<input>``: a USB tablet so the pointer tracks the guest's; keyboards on ARM guests."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty


class Input(XMLBuilder):
    XML_NAME = "input"
    type = XMLProperty("./@type")  # tablet | mouse | keyboard
    bus = XMLProperty("./@bus")  # usb | ps2 | xen | virtio
