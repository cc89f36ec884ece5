"""``<watchdog>``: a hardware watchdog and what the host does when it fires."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty

MODELS = ("i6300esb", "ib700", "diag288", "itco")
ACTIONS = ("reset", "shutdown", "poweroff", "pause", "none", "dump", "inject-nmi")


class Watchdog(XMLBuilder):
    XML_NAME = "watchdog"
    model = XMLProperty("./@model")
    action = XMLProperty("./@action")
