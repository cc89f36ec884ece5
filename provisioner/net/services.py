"""The appliance's network services (TFTP, DHCP, DNS) on one asyncio loop in a background thread.

``main.py`` serves HTTP with waitress (threads) and calls :func:`start_network_services` once;
this module runs an event loop in a daemon thread, starts what the settings enable on the
addresses of ``settings.interfaces`` (nothing listens anywhere unless interfaces are listed),
and returns a :class:`NetworkServices` whose ``close()`` stops everything.

* TFTP (``net/tftp.py``): one :class:`TftpServer` per served address, so each knows the HTTP base
  URL its clients use (``settings.public_url`` or ``http://<address>:<http_port>``) for the boot
  configs it renders (``content/providers.py``). ``max_blksize``/``max_transfers`` from settings.
* DHCP (``net/dhcp.py``, ``start_dhcp``) and DNS (``net/dns.py``, ``start_dns``) when enabled.

Timeline: each finished TFTP transfer to a known system is a ``tftp`` event (path, bytes,
seconds, blksize, retransmits, outcome) on that system. The peer address is mapped to a system
by :class:`content.peers.PeerDirectory`: the MAC the peer itself asked for in a per-MAC config,
else its DHCP lease, else a static reservation. Events are written from a worker thread, never on
the event loop. Tsize probes that the client aborts and "file not found" answers to a loader's
config search are not recorded (they are expected, and there are many).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from provisioner.content.peers import PeerDirectory
from provisioner.content.providers import TftpContent, asset_file
from provisioner.core.app import Core
from provisioner.core.events import system_subject
from provisioner.net.tftp import TftpServer
from provisioner.proto.tftp.session import TransferStats
from provisioner.settings import Settings

log = logging.getLogger("provisioner.net")
START_TIMEOUT = 60.0


@dataclass
class NetworkServices:
    """What is running; ``close()`` stops it all and joins the loop thread."""

    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    tftp: list[TftpServer] = field(default_factory=list)
    dhcp: Any | None = None
    dns: Any | None = None
    peers: PeerDirectory | None = None

    def close(self) -> None:
        if not self.thread.is_alive():
            return

        def stop() -> None:
            for server in (*self.tftp, self.dns, self.dhcp):
                if server is not None:
                    try:
                        server.close()
                    except Exception:
                        log.exception("closing %s failed", type(server).__name__)
            self.loop.stop()

        self.loop.call_soon_threadsafe(stop)
        self.thread.join(timeout=30)
        if not self.thread.is_alive():
            self.loop.close()


def _transfer_recorder(core: Core, peers: PeerDirectory, loop: asyncio.AbstractEventLoop):
    def record(stats: TransferStats) -> None:
        if stats.peer is None or stats.outcome == "aborted" and stats.bytes_sent == 0:
            return
        if stats.outcome == "error" and stats.error.startswith("file not found"):
            return
        system = peers.system_for(stats.peer[0])
        if system is None:
            return
        detail: dict[str, Any] = {"path": stats.path, "client": stats.peer[0],
                                  "outcome": stats.outcome, "bytes": stats.bytes_sent,
                                  "seconds": round(stats.duration, 3),
                                  "blksize": int(stats.options.get("blksize", 512)),
                                  "retransmits": stats.retransmits}
        if stats.error:
            detail["error"] = stats.error
        core.record_event(system_subject(system), "tftp", detail)

    def on_done(stats: TransferStats) -> None:
        loop.run_in_executor(None, record, stats)

    return on_done


async def _start(settings: Settings, core: Core, services: NetworkServices) -> None:
    loop = asyncio.get_running_loop()
    addrs: list[Any] = []
    if settings.interfaces and (settings.tftp_enabled or settings.dhcp_enabled
                                or settings.dns_enabled):
        from provisioner.net.ifaces import served_addresses

        addrs = await asyncio.to_thread(served_addresses, settings.interfaces)
    if settings.dhcp_enabled:
        from provisioner.net.dhcp import start_dhcp

        services.dhcp = await start_dhcp(settings, lookup=core.dhcp_lookup,
                                         record_event=core.record_event,
                                         reserved=lambda: [ip for _, ip in core.dns_records()],
                                         addrs=addrs)
    if settings.dns_enabled:
        from provisioner.net.dns import start_dns

        services.dns = await start_dns(settings, records_fn=core.dns_records,
                                       leases_fn=services.dhcp.lease_records
                                       if services.dhcp is not None else None, addrs=addrs)
    leases = None
    if services.dhcp is not None:
        dhcp = services.dhcp

        async def snapshot() -> list[dict[str, Any]]:
            return dhcp.leases()

        def leases() -> list[dict[str, Any]]:  # worker threads read the table on the loop
            return asyncio.run_coroutine_threadsafe(snapshot(), loop).result(timeout=5)

    peers = PeerDirectory(core.dhcp_lookup, leases, core.list_systems)
    services.peers = peers
    if not settings.tftp_enabled:
        return
    if not addrs:
        log.warning("TFTP enabled but no interfaces listed in settings: not serving TFTP")
        return

    def asset(name: str, which: str):
        return asset_file(getattr(core.get_distro(name), which), name, which,
                          settings.assets_path)

    def boot_config(kind: str, mac: str, server: str, client: str) -> str:
        return core.boot_config(kind, mac, server, client=client)

    on_done = _transfer_recorder(core, peers, loop)
    for a in addrs:
        server_url = (settings.public_url or f"http://{a.ip}:{settings.http_port}").rstrip("/")
        content = TftpContent(settings.tftp_root, boot_config, server_url, asset=asset,
                              on_mac=peers.learn)
        tftp = TftpServer(content.resolve, max_transfers=settings.tftp_max_transfers,
                          max_blksize=settings.tftp_max_blksize, on_transfer_done=on_done,
                          loop=loop)
        services.tftp.append(tftp)
        tftp.listen(a.ip, settings.tftp_port)
        log.info("TFTP on %s port %d, root %s (configs rendered for %s)", a.ip,
                 settings.tftp_port, settings.tftp_root, server_url)


def start_network_services(settings: Settings, core: Core) -> NetworkServices:
    """Start what ``settings`` enable; raises (and leaves nothing running) if a socket fails."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="provisioner-net", daemon=True)
    services = NetworkServices(loop, thread)
    thread.start()
    future = asyncio.run_coroutine_threadsafe(_start(settings, core, services), loop)
    try:
        future.result(timeout=START_TIMEOUT)
    except BaseException:
        services.close()
        raise
    return services
