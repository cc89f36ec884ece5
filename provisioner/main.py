"""Composition root: settings -> store (migrated) -> renderer -> Core -> Flask on waitress.

The only module (with ``cli.py``) that reads configuration and opens connections. Network boot
services (DHCP/TFTP/DNS) run as supervised worker processes (``net/supervisor.py``) when the
settings enable them; by default nothing listens on any interface but HTTP on loopback. This
process serves HTTP and writes the workers' timeline events (batched) to the store.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from waitress import create_server

from provisioner.core.app import Core
from provisioner.core.events import BatchRecorder
from provisioner.core.keyring import Keyring
from provisioner.core.ports import PowerStore, SecretStore, Store
from provisioner.core.power import Power
from provisioner.core.reinstall import Reinstaller
from provisioner.metrics import prepare as prepare_metrics
from provisioner.net.dhcp import read_leases
from provisioner.net.dhcp6 import read_leases as read_leases6
from provisioner.net.supervisor import Supervisor
from provisioner.power.drivers import Drivers
from provisioner.power.poller import Poller
from provisioner.remote import rotation
from provisioner.remote.hosts import RemoteHosts
from provisioner.remote.loops import AgentLoops
from provisioner.remote.service import LibvirtHypervisors
from provisioner.render.configs import Renderer
from provisioner.settings import Settings
from provisioner.store import open_store
from provisioner.store.cipher import FernetCipher
from provisioner.web.app import create_app
from provisioner.web.sendfile import SendfileChannel

log = logging.getLogger("provisioner")
HTTP_THREADS = 8


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # waitress warns "Task queue depth is N" whenever all threads are busy: load, not a fault
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def build_core(settings: Settings, *, migrate: bool = True, batch_events: bool = False) -> Core:
    """Open (and upgrade) the store and build the Core with the shipped renderer.

    ``batch_events``: timeline events go through a writer thread with group commit (the
    server); otherwise each is written at once (CLI commands, which exit right after).
    """
    store: Store = open_store(settings.db_url, migrate=migrate)
    recorder = BatchRecorder(store) if batch_events else None
    return Core(store, Renderer(settings.templates_dir), settings, recorder=recorder,
                leases=functools.partial(all_leases, settings))


def all_leases(settings: Settings, now: float | None = None) -> list[dict[str, Any]]:
    """Active DHCPv4 leases and DHCPv6 bindings from their journals (``ip``, ``mac``...)."""
    rows = read_leases(settings, now)
    if settings.dhcp6_enabled:
        rows += read_leases6(settings, now)
    return rows


def build_cipher(settings: Settings, environ: dict[str, str] | None = None) -> FernetCipher:
    """The appliance's key: ``PROVISIONER_SECRET_KEY`` from the environment when set, else the
    key file (created 0600 on first use)."""
    env = os.environ if environ is None else environ
    key = env.get("PROVISIONER_SECRET_KEY")
    if key:
        return FernetCipher.from_key(key, "PROVISIONER_SECRET_KEY")
    return FernetCipher.from_file(settings.secret_key_path)


def build_keyring(settings: Settings, core: Core) -> Keyring:
    secrets: SecretStore = core.store  # type: ignore[assignment]  # SqlStore is both
    return Keyring(secrets, build_cipher(settings), core.clock)


def build_power(settings: Settings, core: Core) -> tuple[Power, Reinstaller]:
    """Power control and reinstall (``core/power.py``, ``core/reinstall.py``) with the drivers
    of ``provisioner/power`` and BMC passwords in the keyring."""
    power_store: PowerStore = core.store  # type: ignore[assignment]  # SqlStore is both
    power = Power(core.store, power_store, build_keyring(settings, core),
                  Drivers(core.store, settings.runtime_path, clock=core.clock),
                  core.record_event, core.clock)

    def set_netboot(name: str, on: bool) -> None:
        core.update_system(name, {"netboot_enabled": on})

    reinstall = Reinstaller(core.store, power, set_netboot=set_netboot,
                            events=lambda name: core.timeline(name, 500),
                            record=core.record_event, clock=core.clock)
    return power, reinstall


def build_remote(settings: Settings, core: Core) -> Any:
    """Agentless hosts and migration (``remote/hosts.py``) wired to libvirt and the key file."""
    keyring = build_keyring(settings, core)
    backend = LibvirtHypervisors(settings.runtime_path, timeout=float(settings.remote_timeout))
    return RemoteHosts(core.store, keyring, backend, core.clock,
                       allow_insecure=settings.remote_insecure)


def start_network_services(settings: Settings, core: Core) -> Any | None:
    """DHCP/TFTP/DNS worker processes (``net/supervisor.py``); None when none is enabled."""
    supervisor = Supervisor(settings, core.events)
    if not supervisor.roles():
        return None
    return supervisor.start(float(settings.worker_start_timeout))


@dataclass
class Appliance:
    """A running appliance: the HTTP server plus optional network services."""

    core: Core
    server: Any  # waitress server
    network: Any | None = None  # net.supervisor.Supervisor
    loops: Any | None = None  # remote.loops.AgentLoops (agentless hosts)
    poller: Any | None = None  # power.poller.Poller (BMC power states)

    @property
    def port(self) -> int:
        return http_port(self.server)

    def run(self) -> None:
        """Serve until :meth:`stop` or SIGTERM/SIGINT (waitress stops on SystemExit)."""
        self.server.run()

    def stop(self) -> None:
        try:
            self.server.close()
        finally:
            if self.poller is not None:
                self.poller.close()
            if self.loops is not None:
                self.loops.close()
            if self.network is not None:
                self.network.close()
            self.core.close()


def http_port(server: Any) -> int:
    """The port waitress bound (one address, or several: IPv4 and ``http_host6``)."""
    if hasattr(server, "effective_listen"):
        return int(server.effective_listen[0][1])
    return int(server.effective_port)


def make_appliance(settings: Settings, core: Core | None = None) -> Appliance:
    """Build everything and bind the sockets, without serving yet."""
    core = core or build_core(settings, batch_events=True)
    remote = build_remote(settings, core)
    power, reinstall = build_power(settings, core)
    app = create_app(core, remote=remote, power=power, reinstall=reinstall)
    where: dict[str, Any] = {"host": settings.http_host, "port": settings.http_port}
    if settings.http_host6:  # also on an IPv6 address (IPv6 network boot)
        where = {"listen": f"{settings.http_host}:{settings.http_port} "
                           f"[{settings.http_host6}]:{settings.http_port}"}
    server = create_server(app, **where, threads=HTTP_THREADS, ident="provisioner",
                           clear_untrusted_proxy_headers=True)
    server.channel_class = SendfileChannel  # file bodies (kernels, initrds) by os.sendfile
    prepare_metrics(settings.data_dir)  # before the workers start: they inherit it
    try:
        network = start_network_services(settings, core)
    except BaseException:
        server.close()
        raise
    loops = start_agent_loops(settings, remote, http_port(server)) \
        if settings.agent_loops else None
    poller = Poller(power, float(settings.power_poll_interval)).start() \
        if settings.power_poll_interval else None
    return Appliance(core=core, server=server, network=network, loops=loops, poller=poller)


def start_agent_loops(settings: Settings, remote: Any, port: int) -> Any:
    """One agent loop per agentless host (``remote/loops.py``), talking to this appliance."""
    host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "", "::") else settings.http_host
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return AgentLoops(remote, url, Path(settings.data_dir) / "agent-loops",
                      settings.runtime_path, virt_type=settings.agentless_virt_type,
                      rotate=lambda: rotation.rotate(remote)).start()


def serve(settings: Settings) -> None:
    """Run the appliance in the foreground until SIGTERM or SIGINT."""
    appliance = make_appliance(settings)
    log.info("provisioner: HTTP on http://%s:%d/ (data %s, templates %s)", settings.http_host,
             appliance.port, settings.data_dir, settings.templates_dir)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("provisioner: %s, shutting down", signal.Signals(signum).name)
        raise SystemExit(0)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    try:
        appliance.run()
    finally:
        appliance.stop()
        log.info("provisioner: stopped")
