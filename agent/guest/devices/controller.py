"""``<controller>``: USB, PCI(e) root ports, SCSI (virtio-scsi) and virtio-serial controllers."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty

TYPES = ("usb", "scsi", "virtio-serial", "pci", "ide", "sata", "xenbus")


class Controller(XMLBuilder):
    XML_NAME = "controller"
    type = XMLProperty("./@type")  # usb | scsi | virtio-serial | pci | sata | ide
    index = XMLProperty("./@index", is_int=True)
    model = XMLProperty("./@model")
    ports = XMLProperty("./@ports", is_int=True)
    master_startport = XMLProperty("./master/@startport", is_int=True)


def usb2_controllers() -> list[Controller]:
    """The USB2 set virt-install adds to x86 QEMU/KVM guests (``get_usb2_controllers``)."""
    devs = [Controller(type="usb", model="ich9-ehci1")]
    for i, port in ((1, 0), (2, 2), (3, 4)):
        devs.append(Controller(type="usb", model=f"ich9-uhci{i}", master_startport=port))
    return devs


def usb3_controller() -> Controller:
    """qemu-xhci with the 15 ports QEMU allows (virt-install's ``get_usb3_controller``)."""
    return Controller(type="usb", model="qemu-xhci", ports=15)
