"""``<rng>``: a virtio random number generator fed from a host source."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty


class Rng(XMLBuilder):
    XML_NAME = "rng"
    model = XMLProperty("./@model")  # virtio
    backend_model = XMLProperty("./backend/@model")  # random | builtin
    backend_device = XMLProperty("./backend")  # /dev/urandom (random backend)
