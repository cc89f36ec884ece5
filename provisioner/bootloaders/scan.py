"""Which loaders of the boot-file table the TFTP root holds, and which are signed.

The DHCP cores take this as ``BootSettings.installed``: a loader that is not there is not handed
out (the client gets no boot file and the timeline names the missing file), and a Secure Boot
client only gets a file whose PE image carries a signature. :class:`LoaderScan` re-reads at most
every ``ttl`` seconds and only files whose size or mtime changed, and returns the same mapping
object while nothing changed (the cores cache on its identity).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from provisioner.boot.decide import BOOT_FILES
from provisioner.boot.pe import is_signed
from provisioner.settings import Settings

LOADER_FILES = tuple(sorted({row.file for row in BOOT_FILES.values()}))


class LoaderScan:
    """``scan()`` -> ``{file: signed}`` for the table's files present under ``root``."""

    def __init__(self, root: Path | str, ttl: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.root = Path(root)
        self.ttl = ttl
        self.clock = clock
        self._at = -1e18
        self._stamps: dict[str, tuple[int, int]] = {}
        self._value: Mapping[str, bool] = MappingProxyType({})

    def __call__(self) -> Mapping[str, bool]:
        now = self.clock()
        if now - self._at < self.ttl:
            return self._value
        self._at = now
        stamps: dict[str, tuple[int, int]] = {}
        for name in LOADER_FILES:
            try:
                st = os.stat(self.root / name)
            except OSError:
                continue
            stamps[name] = (st.st_size, st.st_mtime_ns)
        if stamps != self._stamps:
            signed = {}
            for name in stamps:
                try:
                    signed[name] = is_signed((self.root / name).read_bytes())
                except OSError:
                    signed[name] = False
            self._stamps, self._value = stamps, MappingProxyType(signed)
        return self._value


def installed_loaders(settings: Settings) -> Callable[[], Mapping[str, bool] | None]:
    """What the DHCP cores check loaders against: the TFTP root when the appliance serves it;
    when it does not (TFTP served elsewhere), the root here says nothing: not checked."""
    if not settings.tftp_enabled:
        return lambda: None
    return LoaderScan(settings.tftp_root)
