"""Display options: --graphics (legacy --vnc/--vncport/--vnclisten/--nographics/-k are
rewritten into it by :mod:`agent.guest.options.legacy`) and --video."""

from __future__ import annotations

from agent.guest.devices import Graphics, Listen, Video
from agent.guest.devices.video import MODELS
from agent.guest.domain import Guest
from agent.guest.errors import GuestError
from agent.guest.options.base import ListParser, choice, integer, need


class ParserGraphics(ListParser):
    """``vnc|spice|none[,port=,listen=,password=,keymap=]``."""

    name, flags = "graphics", ("--graphics",)
    help = "vnc or spice [,port=,listen=,password=,keymap=], or none"
    keys = ("type", "port", "tlsPort", "listen", "password", "keymap")
    positional = ("type",)
    aliases = {"passwd": "password", "tlsport": "tlsPort"}
    unsupported = ("websocket", "passwordValidTo", "connected", "defaultMode",
                   "image.compression", "streaming.mode", "clipboard.copypaste", "mouse.mode",
                   "filetransfer.enable", "zlib.compression", "gl.enable", "gl.rendernode",
                   "listens0.type", "listens0.address", "listens0.network")

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:
        if text == "none":
            guest.no_graphics = True
            return
        kv = cls.kv(text)
        gfx = Graphics(type=choice(cls.name, "type", need(cls.name, kv, "type"),
                                   ("vnc", "spice", "default")))
        if gfx.type == "default":
            gfx.type = None  # the defaults choose (spice where the host has it)
        gfx.port = integer(cls.name, "port", need(cls.name, kv, "port"), minimum=-1)
        gfx.tls_port = integer(cls.name, "tlsPort", need(cls.name, kv, "tlsPort"), minimum=-1)
        listen = need(cls.name, kv, "listen")
        if listen == "none":
            gfx.listens.append(Listen(type="none"))
        elif listen == "socket":
            gfx.listens.append(Listen(type="socket"))
        else:
            gfx.listen = listen
        gfx.passwd = need(cls.name, kv, "password")
        gfx.keymap = need(cls.name, kv, "keymap")
        if gfx.port is not None and gfx.port != -1 and gfx.port < 5900:
            raise GuestError(f"--graphics port={gfx.port}: VNC/SPICE ports start at 5900 "
                             "(or -1 for automatic)", "BAD_OPTION")
        guest.graphics.append(gfx)


class ParserVideo(ListParser):
    """``--video MODEL`` (vga, qxl, virtio, bochs, cirrus, ramfb, none...)."""

    name, flags, help = "video", ("--video",), "display adapter model"
    keys = ("model", "heads", "vram")
    positional = ("model",)
    aliases = {"model.type": "model", "model.heads": "heads", "model.vram": "vram"}
    unsupported = ("model.ram", "model.vram64", "model.vgamem", "model.acceleration.accel3d",
                   "driver.name")

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:
        if text == "none" and "=" not in text:
            return  # virt-install: a no-op (a default adapter is still added with graphics)
        kv = cls.kv(text)
        video = Video(model_type=choice(cls.name, "model", need(cls.name, kv, "model"), MODELS))
        video.model_heads = integer(cls.name, "heads", need(cls.name, kv, "heads"), minimum=1)
        video.model_vram = integer(cls.name, "vram", need(cls.name, kv, "vram"), minimum=1)
        guest.video.append(video)
