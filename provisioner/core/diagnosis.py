"""A machine that does not boot: where its timeline stops, and what to check next (pure).

``provisioner timeline SYSTEM`` prints this after the events. The boot of a machine is a
chain (DHCP -> boot loader over TFTP/HTTP -> kernel and initrd -> kickstart -> installer
callbacks); the last link in its timeline says which link broke, and each row of
:data:`STOPS` says what usually breaks there and how to check it.
"""

from __future__ import annotations

from collections.abc import Sequence

from provisioner.models import Event, EventKind, System

#: (the furthest step reached, what to check next), furthest first
STOPS: tuple[tuple[str, str], ...] = (
    ("installed", "the install finished and netboot is off; to install again: "
                  "`provisioner system edit NAME --netboot`, then reboot the machine"),
    ("failed", "the installer or the appliance reported a failure (the event above says "
               "which); `provisioner render ks NAME` shows the kickstart it got"),
    ("installing", "the installer started but has not reported done: watch the machine's "
                   "console; it calls /cb/<token>/done from its %post"),
    ("kickstart", "the installer fetched its kickstart but never called back: watch the "
                  "machine's console (package source reachable? tree_url of the distro); "
                  "`provisioner render ks NAME` shows what it got"),
    ("kernel", "the kernel and initrd were sent but no kickstart was fetched: check the "
               "installer reaches the appliance's HTTP port (inst.ks= in "
               "`provisioner render pxe NAME`) and has a network in the installer"),
    ("loader", "the boot loader fetched its config but not the kernel: check the distro's "
               "kernel and initrd (`provisioner distro show DISTRO`, files under assets_dir) "
               "and, for TFTP, the blocksize/firewall (UDP 69)"),
    ("address", "it got an address but fetched no boot loader or config: let UDP 69 (TFTP) "
                "and the HTTP port through the firewall, and run "
                "`provisioner bootloaders install`"),
    ("offer", "it was offered an address but never took it: another DHCP server probably "
              "answers on that network (turn it off there, or use dhcp_mode = \"proxy\" "
              "beside it and open UDP 4011)"),
    ("nothing", "the appliance never heard from it: check the machine boots from the network "
                "first, is on a network listed in the setting interfaces (with dhcp_enabled), "
                "its MAC matches (`provisioner system show NAME`), and the firewall lets UDP "
                "67 in (and 4011 for proxyDHCP)"),
)
_ADVICE = dict(STOPS)


def furthest(events: Sequence[Event], system: System | None = None) -> str:
    """The furthest step of the boot chain the timeline shows (a key of :data:`STOPS`)."""
    kinds = [e.kind for e in events]
    if system is not None and system.status == "installed" and not system.netboot_enabled:
        return "installed"
    if any(k in (EventKind.CALLBACK_FAILED, EventKind.RENDER_ERROR, EventKind.GUEST_FAILED,
                 EventKind.ORDER_FAILED) for k in kinds):
        return "failed"
    if EventKind.CALLBACK_DONE in kinds:
        return "installed"
    if EventKind.CALLBACK_STARTED in kinds:
        return "installing"
    if EventKind.KICKSTART in kinds:
        return "kickstart"
    sent = [str(e.detail.get("path", "")) for e in events
            if e.kind in (EventKind.TFTP, EventKind.HTTP_ASSET)]
    if any("kernel" in p or "vmlinuz" in p for p in sent):
        return "kernel"
    if sent or EventKind.BOOT_CONFIG in kinds:
        return "loader"
    if any(k in (EventKind.DHCP_ACK, EventKind.PROXY_ACK) for k in kinds):
        return "address"
    if any(k in (EventKind.DHCP_OFFER, EventKind.PROXY_OFFER) for k in kinds):
        return "offer"
    return "nothing"


def advice(events: Sequence[Event], system: System | None = None) -> str:
    """What to check next, for where the timeline stops."""
    text = _ADVICE[furthest(events, system)]
    return text.replace("NAME", system.name) if system is not None else text
