"""The boot fixture of the QEMU/libvirt tests: the lab's boot kit (``provisioner.lab.kit``).

A Debian kernel and a busybox initrd whose ``/init`` acts like an installer (DHCP, kickstart from
``inst.ks=``/``ks=``, the kickstart's ``/cb/<token>/started`` and ``.../done`` callbacks, the
kickstart written to the first disk if there is one, power off). Built and cached by
``labkit.ensure_kit`` in the lab's cache (``provisioner.lab.DEFAULT_CACHE``), so ``lab up`` and
the tests download the kernel package once and share one kit.

The tests watch the serial console for the kit's markers, re-exported here.

Run ``python -m tests.e2e.fixture`` to build it ahead of time (prints the paths).
"""

from __future__ import annotations

import sys
from pathlib import Path

from provisioner.lab import DEFAULT_CACHE
from provisioner.lab import kit as labkit

CACHE: Path = DEFAULT_CACHE
Fixture = labkit.Kit

DHCP_BOUND = labkit.MARK_LEASE  # followed by ``<ip>/<prefix>``
KICKSTART_FETCHED = labkit.MARK_KICKSTART
CALLBACK_STARTED = labkit.MARK_STARTED
CALLBACK_DONE = labkit.MARK_DONE_CALLBACK
BOOT_DONE = labkit.MARK_DONE
FAILED = labkit.MARK_FAILED


def build() -> labkit.Kit:
    """The cached kit, built if missing (downloads the ~70 MB kernel package once)."""
    return labkit.ensure_kit(CACHE)


if __name__ == "__main__":
    fx = build()
    print(fx.kernel, fx.initrd, fx.kernel_version, file=sys.stdout)
