"""``<video>``: the emulated display adapter that goes with a graphical console."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty

MODELS = ("vga", "cirrus", "qxl", "virtio", "bochs", "ramfb", "vmvga", "xen", "none")


class Video(XMLBuilder):
    XML_NAME = "video"
    model_type = XMLProperty("./model/@type")  # vga | cirrus | qxl | virtio | bochs | xen
    model_heads = XMLProperty("./model/@heads", is_int=True)
    model_vram = XMLProperty("./model/@vram", is_int=True)
