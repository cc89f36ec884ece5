"""``<filesystem>``: a host directory shared with the guest (9p or virtiofs)."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty


class Filesystem(XMLBuilder):
    XML_NAME = "filesystem"
    type = XMLProperty("./@type")  # mount
    accessmode = XMLProperty("./@accessmode")  # passthrough | mapped | squash
    driver_type = XMLProperty("./driver/@type")  # path | handle | virtiofs
    source_dir = XMLProperty("./source/@dir")
    target_dir = XMLProperty("./target/@dir")
    readonly = XMLProperty("./readonly", is_bool=True)
