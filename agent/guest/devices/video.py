"""``<video>``: the emulated display adapter that goes with a graphical console."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty


class Video(XMLBuilder):
    XML_NAME = "video"
    model_type = XMLProperty("./model/@type")  # vga | cirrus | xen
