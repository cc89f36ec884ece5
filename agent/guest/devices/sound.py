"""``<sound>`` and ``<redirdev>``: what virt-install adds next to a SPICE display."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty


class Sound(XMLBuilder):
    XML_NAME = "sound"
    model = XMLProperty("./@model")  # ich9 | ich6 | ac97


class Redirdev(XMLBuilder):
    XML_NAME = "redirdev"
    bus = XMLProperty("./@bus")  # usb
    type = XMLProperty("./@type")  # spicevmc
