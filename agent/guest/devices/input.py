"""``<input>``: a USB tablet so the VNC pointer tracks the guest's."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty


class Input(XMLBuilder):
    XML_NAME = "input"
    type = XMLProperty("./@type")  # tablet | mouse
    bus = XMLProperty("./@bus")  # usb | ps2 | xen
