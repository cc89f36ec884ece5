"""``--network``: one NIC per value (legacy -b/--bridge, -m/--mac, --nonetworks and the seed's
``bridge:NAME`` spelling are rewritten into it by :mod:`agent.guest.options.legacy`)."""

from __future__ import annotations

from agent.guest.devices import Interface
from agent.guest.devices.interface import DIRECT_MODES, MODELS
from agent.guest.domain import Guest
from agent.guest.errors import GuestError
from agent.guest.options.base import ListParser, choice, integer, need


class ParserNetwork(ListParser):
    """``bridge=BR | network=NET | type=direct,source=DEV[,source.mode=M] | default | user``
    plus ``model=`` and ``mac=``; ``none`` means no NIC at all."""

    name, flags = "network", ("--network", "-w")
    help = "bridge=BR | network=NET | type=direct,source=DEV | default | none; model=, mac="
    keys = ("type", "bridge", "network", "source", "source.mode", "model", "mac", "boot.order")
    positional = ("type",)
    aliases = {"model.type": "model", "mac.address": "mac", "boot_order": "boot.order",
               "source_mode": "source.mode"}
    unsupported = ("target.dev", "filterref.filter", "link.state", "driver.name",
                   "driver.queues", "rom.file", "rom.bar", "mtu.size", "virtualport.type",
                   "source.type", "source.path", "source.portgroup", "trustGuestRxFilters")

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:
        if text == "none":
            guest.no_network = True
            return
        kv = cls.kv(text)
        kind, source = need(cls.name, kv, "type"), need(cls.name, kv, "source")
        if kind is None:  # back compat: network= / bridge= imply the type
            if "network" in kv:
                kind, source = "network", need(cls.name, kv, "network")
            elif "bridge" in kv:
                kind, source = "bridge", need(cls.name, kv, "bridge")
        nic = Interface()
        if kind == "default":
            nic.wants_default_source = True
        else:
            nic.type = choice(cls.name, "type", kind, ("bridge", "network", "direct", "user"))
        if nic.type == "bridge":
            nic.source_bridge = source
        elif nic.type == "network":
            if not source:
                raise GuestError("--network network= needs a libvirt network name",
                                 "BAD_OPTION")
            nic.source_network = source
        elif nic.type == "direct":
            if not source:
                raise GuestError("--network type=direct needs source=HOST_NIC", "BAD_OPTION")
            nic.source_dev = source
            nic.source_mode = choice(cls.name, "source.mode", need(cls.name, kv, "source.mode"),
                                     DIRECT_MODES)
        nic.model_type = choice(cls.name, "model", need(cls.name, kv, "model"), MODELS)
        mac = need(cls.name, kv, "mac")
        nic.mac_address = None if mac == "RANDOM" else mac  # checked and claimed by defaults
        nic.boot_order = integer(cls.name, "boot.order", need(cls.name, kv, "boot.order"),
                                 minimum=1)
        guest.interface.append(nic)
