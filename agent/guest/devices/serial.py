"""``<serial>``: an emulated serial port backed by a pty or a log file."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty


class Serial(XMLBuilder):
    XML_NAME = "serial"
    type = XMLProperty("./@type")  # pty | file
    source_path = XMLProperty("./source/@path")
    source_append = XMLProperty("./source/@append", is_onoff=True)  # keep the log across starts
    target_port = XMLProperty("./target/@port", is_int=True)
