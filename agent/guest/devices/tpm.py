"""``<tpm>``: an emulated TPM (swtpm) or the host's own, passed through."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty

MODELS = ("tpm-crb", "tpm-tis")


class Tpm(XMLBuilder):
    XML_NAME = "tpm"
    model = XMLProperty("./@model")  # tpm-crb | tpm-tis
    backend_type = XMLProperty("./backend/@type")  # emulator | passthrough
    backend_version = XMLProperty("./backend/@version")  # 2.0 | 1.2
    device_path = XMLProperty("./backend/device/@path")  # passthrough: /dev/tpm0
