"""Device builders, one module per libvirt device element under ``<devices>``."""

from agent.guest.devices.console import Console
from agent.guest.devices.controller import Controller
from agent.guest.devices.disk import Disk
from agent.guest.devices.graphics import Graphics
from agent.guest.devices.input import Input
from agent.guest.devices.interface import Interface
from agent.guest.devices.serial import Serial
from agent.guest.devices.video import Video

__all__ = ["Console", "Controller", "Disk", "Graphics", "Input", "Interface", "Serial", "Video"]
