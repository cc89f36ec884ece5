"""Other devices: --rng, --controller, --watchdog, --tpm, --memballoon, --sound, --input."""

from __future__ import annotations

from agent.guest.devices import Controller, Input, Memballoon, Rng, Sound, Tpm, Watchdog
from agent.guest.devices.controller import TYPES as CONTROLLER_TYPES
from agent.guest.devices.controller import usb2_controllers, usb3_controller
from agent.guest.devices.tpm import MODELS as TPM_MODELS
from agent.guest.devices.watchdog import ACTIONS
from agent.guest.devices.watchdog import MODELS as WATCHDOG_MODELS
from agent.guest.domain import Guest
from agent.guest.errors import GuestError
from agent.guest.options.base import ListParser, choice, integer, need


class ParserRng(ListParser):
    """``/dev/urandom`` (or /dev/random), ``builtin``; ``none``: no default RNG."""

    name, flags, help = "rng", ("--rng",), "/dev/urandom | builtin | none"
    keys = ("backend.model", "model", "device")
    positional = ("backend.model",)
    aliases = {"backend": "backend.model", "type": "backend.model",
               "backend_model": "backend.model"}
    unsupported = ("backend.type", "backend.source.mode", "backend.source.host",
                   "rate.bytes", "rate.period")

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:
        if text == "none":
            guest.no_rng = True
            return
        kv = cls.kv(text)
        backend, device = need(cls.name, kv, "backend.model"), need(cls.name, kv, "device")
        if backend and backend.startswith("/"):  # --rng /dev/random
            backend, device = "random", backend
        rng = Rng(model=choice(cls.name, "model", need(cls.name, kv, "model"), ("virtio",)))
        rng.backend_model = choice(cls.name, "backend.model", backend,
                                   ("random", "builtin", "egd"))
        if rng.backend_model == "egd":
            raise GuestError("--rng egd needs a socket backend the agent does not implement",
                             "UNSUPPORTED_OPTION")
        rng.backend_device = device
        guest.rng.append(rng)


class ParserController(ListParser):
    """``usb[,model=qemu-xhci|none]``, ``scsi,model=virtio-scsi``, ``virtio-serial``..."""

    name, flags, help = "controller", ("--controller",), "TYPE[,model=,index=,ports=]"
    keys = ("type", "model", "index", "ports")
    positional = ("type",)
    unsupported = ("address", "master.startport", "driver.queues", "driver.iothread",
                   "maxGrantFrames", "vectors", "num_pcie_root_ports", "target.chassisNr")

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:
        kv = cls.kv(text)
        kind = need(cls.name, kv, "type")
        if kind in ("usb2", "usb3"):  # virt-install's shorthands
            guest.controller.extend(_usb_shorthand(kind))
            return
        ctrl = Controller(type=choice(cls.name, "type", kind, CONTROLLER_TYPES))
        ctrl.model = need(cls.name, kv, "model")
        ctrl.index = integer(cls.name, "index", need(cls.name, kv, "index"))
        ctrl.ports = integer(cls.name, "ports", need(cls.name, kv, "ports"), minimum=1)
        guest.controller.append(ctrl)


def _usb_shorthand(kind: str) -> list[Controller]:
    return usb2_controllers() if kind == "usb2" else [usb3_controller()]


class ParserWatchdog(ListParser):
    name, flags, help = "watchdog", ("--watchdog",), "MODEL[,action=reset|poweroff|...]"
    keys = ("model", "action")
    positional = ("model",)

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:
        kv = cls.kv(text)
        if guest.watchdog:
            raise GuestError("only one --watchdog per guest (libvirt supports a single "
                             "watchdog device)", "BAD_OPTION")
        guest.watchdog.append(Watchdog(
            model=choice(cls.name, "model", need(cls.name, kv, "model"), WATCHDOG_MODELS),
            action=choice(cls.name, "action", need(cls.name, kv, "action"), ACTIONS)))


class ParserTpm(ListParser):
    """``emulator[,model=,version=]`` or ``/dev/tpm0`` (passthrough); ``none``: no default."""

    name, flags, help = "tpm", ("--tpm",), "emulator[,model=tpm-crb|tpm-tis] | /dev/tpm0 | none"
    keys = ("type", "model", "version", "path")
    positional = ("type",)
    aliases = {"backend.type": "type", "backend.version": "version",
               "backend.device.path": "path"}
    unsupported = ("backend.encryption.secret", "backend.persistent_state",
                   "active_pcr_banks.sha256")

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:
        if text == "none":
            guest.no_tpm = True
            return
        kv = cls.kv(text)
        kind, path = need(cls.name, kv, "type"), need(cls.name, kv, "path")
        if kind and kind.startswith("/"):  # --tpm /dev/tpm0
            kind, path = "passthrough", kind
        tpm = Tpm(backend_type=choice(cls.name, "type", kind, ("emulator", "passthrough")),
                  model=choice(cls.name, "model", need(cls.name, kv, "model"), TPM_MODELS),
                  backend_version=choice(cls.name, "version", need(cls.name, kv, "version"),
                                         ("1.2", "2.0")))
        tpm.device_path = path
        guest.tpm.append(tpm)


class ParserMemballoon(ListParser):
    name, flags, help = "memballoon", ("--memballoon",), "virtio | none"
    keys = ("model",)
    positional = ("model",)
    unsupported = ("autodeflate", "stats.period", "freePageReporting")

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:
        kv = cls.kv(text)
        guest.memballoon.append(Memballoon(model=choice(
            cls.name, "model", need(cls.name, kv, "model"),
            ("virtio", "none", "virtio-transitional", "virtio-non-transitional", "xen"))))


class ParserSound(ListParser):
    name, flags, help = "sound", ("--sound",), "ich9 | ich6 | ac97 | none"
    keys = ("model",)
    positional = ("model",)

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:
        if text == "none":
            guest.no_sound = True
            return
        kv = cls.kv(text)
        model = need(cls.name, kv, "model")
        guest.sound.append(Sound(model=None if model == "default" else choice(
            cls.name, "model", model, ("ich9", "ich6", "ac97", "es1370", "sb16", "usb"))))


class ParserInput(ListParser):
    name, flags, help = "input", ("--input",), "tablet | mouse | keyboard [,bus=usb|ps2|virtio]"
    keys = ("type", "bus")
    positional = ("type",)

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:
        kv = cls.kv(text)
        guest.input.append(Input(
            type=choice(cls.name, "type", need(cls.name, kv, "type"),
                        ("tablet", "mouse", "keyboard")),
            bus=choice(cls.name, "bus", need(cls.name, kv, "bus"),
                       ("usb", "ps2", "virtio", "xen"))))
