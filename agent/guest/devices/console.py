"""``<console>``: the guest's text console (a pty the host can attach to)."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty


class Console(XMLBuilder):
    XML_NAME = "console"
    type = XMLProperty("./@type")  # pty
    source_path = XMLProperty("./source/@path")
    target_type = XMLProperty("./target/@type")  # serial | virtio | xen
