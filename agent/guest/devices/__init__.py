"""Device builders, one module per libvirt device element under ``<devices>``."""

from agent.guest.devices.channel import Channel
from agent.guest.devices.console import Console
from agent.guest.devices.controller import Controller
from agent.guest.devices.disk import Disk
from agent.guest.devices.filesystem import Filesystem
from agent.guest.devices.graphics import Graphics, Listen
from agent.guest.devices.input import Input
from agent.guest.devices.interface import Interface
from agent.guest.devices.memballoon import Memballoon
from agent.guest.devices.rng import Rng
from agent.guest.devices.serial import Serial
from agent.guest.devices.sound import Redirdev, Sound
from agent.guest.devices.tpm import Tpm
from agent.guest.devices.video import Video
from agent.guest.devices.watchdog import Watchdog

__all__ = ["Channel", "Console", "Controller", "Disk", "Filesystem", "Graphics", "Input",
           "Interface", "Listen", "Memballoon", "Redirdev", "Rng", "Serial", "Sound", "Tpm",
           "Video", "Watchdog"]
