"""What a migration is asked to do and what came of it: the pure half of ``migrate.py`` (no
libvirt), so the core's use-cases can name them.

Seed terms: the guide's *offline* migration suspends the guest, moves it and resumes it (no
``--live``); a guest that is not running moves by its definition only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from provisioner.errors import HostError


@dataclass(frozen=True)
class Options:
    live: bool = True                  # False: the seed's offline migration (pause, move, resume)
    copy_storage: bool = False         # disks are copied (no shared storage): NON_SHARED_DISK
    tls_stream: bool = False           # QEMU's migration stream over TLS (VIR_MIGRATE_TLS)
    unsafe: bool = False               # storage verified shared but not recognisable by libvirt
    bandwidth_mib: int | None = None   # MiB/s cap
    data_address: str | None = None    # where the destination QEMU listens (tcp://ADDR)
    force: bool = False                # migrate a host-passthrough guest anyway
    persist: bool = True               # move the persistent definition too
    deadline_s: float | None = None    # abort (guest stays on the source) if not done by then
    # peer-to-peer: the source's libvirtd connects to this URI itself (with its own TLS client
    # certificate, which the agent's tls plan installs); tunnelled: the memory goes through
    # that libvirtd connection instead of a QEMU-to-QEMU socket (no migration ports)
    p2p: bool = False
    p2p_uri: str | None = None         # set by the use-case: the destination host's URI
    tunnelled: bool = False


def cpu_mode(domain_xml: str) -> str | None:
    cpu = ET.fromstring(domain_xml).find("cpu")
    return None if cpu is None else cpu.get("mode", "custom")


def refusal(domain_xml: str, opts: Options) -> str | None:
    """Why a guest must not be migrated as asked (None: go ahead)."""
    if cpu_mode(domain_xml) == "host-passthrough" and not opts.force:
        return ("the guest's CPU mode is host-passthrough: it sees this host's exact CPU and "
                "may crash on another one; change it to host-model, or force the migration")
    if (opts.tunnelled or opts.p2p) and not opts.p2p_uri:
        return "a peer-to-peer migration needs the destination host's libvirt URI"
    if opts.p2p_uri and not opts.p2p_uri.startswith(("qemu+tls://", "xen+tls://")):
        return ("peer-to-peer needs a qemu+tls:// destination: the source host's libvirtd "
                "connects with the certificate the appliance issued it (it holds no SSH key "
                f"for other hosts), not {opts.p2p_uri.split(':', 1)[0]}")
    if opts.tunnelled and (opts.tls_stream or opts.copy_storage):
        return "a tunnelled migration carries neither --tls-stream nor --copy-storage here"
    return None


@dataclass(frozen=True)
class Progress:
    elapsed_ms: int
    data_total: int
    data_processed: int
    data_remaining: int
    memory_remaining: int
    downtime_ms: int | None  # expected downtime while running, real one when completed


@dataclass(frozen=True)
class Outcome:
    ok: bool
    running_on: str                  # "destination" | "source" | "nowhere" | "unknown"
    total_s: float
    downtime_ms: int | None = None
    error: str | None = None
    samples: tuple[Progress, ...] = field(default=(), repr=False)

    def summary(self) -> str:
        if self.ok:
            down = f", downtime {self.downtime_ms} ms" if self.downtime_ms is not None else ""
            return f"migrated in {self.total_s:.2f} s{down}; running on the destination"
        return f"migration failed ({self.error}); the guest is running on the {self.running_on}"


class MigrationFailed(HostError):
    """Raised by use-cases that need an exception; carries the :class:`Outcome`."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.summary())
        self.outcome = outcome
