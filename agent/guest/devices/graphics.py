"""``<graphics>``: a VNC display (``--graphics none`` means no element at all)."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty


class Graphics(XMLBuilder):
    XML_NAME = "graphics"
    type = XMLProperty("./@type")  # vnc
    port = XMLProperty("./@port", is_int=True)  # -1: allocate automatically
    listen = XMLProperty("./@listen")
