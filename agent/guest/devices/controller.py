"""``<controller>``: USB companion controllers (ICH9 EHCI + three UHCI, like virt-install)."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty


class Controller(XMLBuilder):
    XML_NAME = "controller"
    type = XMLProperty("./@type")  # usb
    model = XMLProperty("./@model")
    master_startport = XMLProperty("./master/@startport", is_int=True)


def usb2_controllers() -> list[Controller]:
    """The USB2 set virt-install adds to x86 QEMU/KVM guests (``get_usb2_controllers``)."""
    devs = [Controller(type="usb", model="ich9-ehci1")]
    for i, port in ((1, 0), (2, 2), (3, 4)):
        devs.append(Controller(type="usb", model=f"ich9-uhci{i}", master_startport=port))
    return devs
