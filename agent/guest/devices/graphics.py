"""``<graphics>``: a VNC or SPICE display (``--graphics none`` means no element at all)."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLChild, XMLProperty

TYPES = ("vnc", "spice")


class Listen(XMLBuilder):
    XML_NAME = "listen"
    type = XMLProperty("./@type")  # address | none | socket
    address = XMLProperty("./@address")


class Graphics(XMLBuilder):
    XML_NAME = "graphics"
    type = XMLProperty("./@type")  # vnc | spice
    port = XMLProperty("./@port", is_int=True)  # -1: allocate automatically
    tls_port = XMLProperty("./@tlsPort", is_int=True)
    autoport = XMLProperty("./@autoport", is_yesno=True)
    listen = XMLProperty("./@listen")
    passwd = XMLProperty("./@passwd")
    keymap = XMLProperty("./@keymap")
    listens = XMLChild(Listen)
    image_compression = XMLProperty("./image/@compression")
