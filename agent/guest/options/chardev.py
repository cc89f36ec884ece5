"""Character devices: --serial, --console, --channel (``none`` turns a default off)."""

from __future__ import annotations

from agent.guest.devices import Channel, Console, Serial
from agent.guest.domain import Guest
from agent.guest.errors import GuestError
from agent.guest.options.base import ListParser, choice, integer, need, yesno

_ALIASES = {"path": "source.path", "mode": "source.mode", "target_type": "target.type",
            "name": "target.name", "target_name": "target.name"}
_UNSUPPORTED = ("host", "bind_host", "source.host", "source.service", "source.bind_host",
                "source.connect_host", "protocol.type", "log.file", "target.address",
                "target.model.name", "source.master", "source.slave")


class ParserSerial(ListParser):
    """``pty`` or ``file,path=FILE`` (the agent also takes ``append=on``: keep the log)."""

    name, flags, help = "serial", ("--serial",), "pty | file,path=FILE[,append=on]"
    keys = ("type", "source.path", "target.port", "append")
    positional = ("type",)
    aliases = {**_ALIASES, "source.append": "append"}
    unsupported = _UNSUPPORTED

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:
        kv = cls.kv(text)
        kind = choice(cls.name, "type", need(cls.name, kv, "type"), ("pty", "file")) or "pty"
        path = need(cls.name, kv, "source.path")
        if (kind == "file") != bool(path):
            raise GuestError("--serial file needs path= (and only file takes one)",
                             "BAD_OPTION")
        serial = Serial(type=kind, source_path=path,
                        target_port=integer(cls.name, "target.port",
                                            need(cls.name, kv, "target.port")))
        serial.source_append = yesno(cls.name, "append", need(cls.name, kv, "append"))
        guest.serial.append(serial)


class ParserConsole(ListParser):
    """``pty[,target.type=serial|virtio]``; ``none``: no default console."""

    name, flags, help = "console", ("--console",), "pty[,target.type=virtio|serial] or none"
    keys = ("type", "target.type", "source.path")
    positional = ("type",)
    aliases = _ALIASES
    unsupported = _UNSUPPORTED

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:
        if text == "none":
            guest.no_console = True
            return
        kv = cls.kv(text)
        console = Console(type=choice(cls.name, "type", need(cls.name, kv, "type"),
                                      ("pty", "file")) or "pty")
        console.target_type = choice(cls.name, "target.type", need(cls.name, kv, "target.type"),
                                     ("serial", "virtio", "xen"))
        console.source_path = need(cls.name, kv, "source.path")
        guest.console.append(console)


class ParserChannel(ListParser):
    """``unix,target.type=virtio,name=org.qemu.guest_agent.0 | spicevmc | pty,...``."""

    name, flags, help = "channel", ("--channel",), "unix,name=org.qemu.guest_agent.0 | spicevmc"
    keys = ("type", "target.type", "target.name", "source.mode", "source.path")
    positional = ("type",)
    aliases = _ALIASES
    unsupported = _UNSUPPORTED

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:
        if text == "none":
            guest.no_channel = True
            return
        kv = cls.kv(text)
        ch = Channel(type=choice(cls.name, "type", need(cls.name, kv, "type"),
                                 ("unix", "spicevmc", "pty")))
        ch.target_type = choice(cls.name, "target.type", need(cls.name, kv, "target.type"),
                                ("virtio", "guestfwd"))
        ch.target_name = need(cls.name, kv, "target.name")
        ch.source_mode = choice(cls.name, "source.mode", need(cls.name, kv, "source.mode"),
                                ("bind", "connect"))
        ch.source_path = need(cls.name, kv, "source.path")
        guest.channel.append(ch)
