"""``<channel>``: a host-guest channel (the qemu guest agent socket, SPICE's vdagent)."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty

QEMU_GA = "org.qemu.guest_agent.0"
SPICE = "com.redhat.spice.0"


class Channel(XMLBuilder):
    XML_NAME = "channel"
    type = XMLProperty("./@type")  # unix | spicevmc | pty
    source_mode = XMLProperty("./source/@mode")  # bind (unix)
    source_path = XMLProperty("./source/@path")
    target_type = XMLProperty("./target/@type")  # virtio | guestfwd
    target_name = XMLProperty("./target/@name")
