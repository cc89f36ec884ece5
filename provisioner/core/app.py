"""The Core facade: every transport (HTTP, TFTP, DHCP, DNS, CLI) calls these methods.

It composes the use-cases over one :class:`Store` and an injected :class:`Renderer`: the
inventory (``core/inventory.py``), serving machines (``core/serving.py``: boot contexts,
documents, callbacks, DHCP/DNS answers), validation (``core/validation.py``), timelines
(``core/events.py``), the agents' work queue (``core/agents.py``), VM orders
(``core/ordering.py``), UI users (``core/users.py``) and which system is behind a client
address (``core/peers.py``). Nothing here reads files, the environment or the network: the
clock, the token generator and the DHCP lease listing are constructor arguments.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable
from typing import Any

from provisioner.boot.pe import is_signed
from provisioner.content.providers import asset_file
from provisioner.core import events, orders, removal, rules, validation
from provisioner.core.agents import Agents
from provisioner.core.inventory import Inventory, apply_changes
from provisioner.core.ordering import Ordering
from provisioner.core.peers import PeerDirectory
from provisioner.core.ports import Renderer, Store
from provisioner.core.serving import Serving
from provisioner.core.tokens import hash_token
from provisioner.core.users import Users
from provisioner.core.validation import Finding
from provisioner.errors import Forbidden, Invalid, NotFound, StoreError
from provisioner.models import (
    ASSET_HINT,
    ApiToken,
    BootContext,
    DhcpRecord,
    Distro,
    Event,
    EventKind,
    Profile,
    Resolved,
    System,
    User,
    WorkItem,
    check_name,
    path_within,
    system_subject,
)
from provisioner.settings import Settings

log = logging.getLogger(__name__)

#: ``now -> active DHCP leases`` as rows (``ip``, ``mac``, ``hostname``, ``state``, ``expires``)
Leases = Callable[[float], list[dict[str, Any]]]


class Core:
    """Inventory, serving machines, validation, timelines, agents, orders, users, tokens."""

    def __init__(self, store: Store, renderer: Renderer, settings: Settings,
                 clock: Callable[[], float] = time.time,
                 new_token: Callable[[], str] = lambda: secrets.token_hex(16),
                 recorder: events.Recorder | None = None,
                 leases: Leases | None = None) -> None:
        self.store = store
        self.renderer = renderer
        self.settings = settings
        self.clock = clock
        self.new_token = new_token
        self.events: events.Recorder = recorder or events.DirectRecorder(store)
        self.inventory = Inventory(store, new_token)
        self.serving = Serving(store, renderer, settings, self.inventory, self.record_event)
        self.agents = Agents(store, clock, check_admin=self.check_token)
        self.users = Users(store)
        self.ordering = Ordering(store, rules_check=rules.check, enqueue=self._enqueue,
                                 clock=clock, domain=settings.domain, new_token=new_token,
                                 stale_after=float(settings.host_stale_after),
                                 kickstart_check=self._kickstart_errors)
        self._leases = leases
        #: the one map from a client address to its system (TFTP and HTTP timelines)
        self.peers = PeerDirectory(self.dhcp_lookup,
                                   (lambda: self.active_leases()) if leases else None,
                                   system_by_ip=store.system_by_ip)

    def close(self) -> None:
        """Flush and stop the timeline writer, then close the store."""
        try:
            self.events.close()
        finally:
            self.store.close()

    def _enqueue(self, host: str, kind: str, payload: dict[str, Any], key: str) -> WorkItem:
        """Agent work of an order goes through the queue (idempotent by key)."""
        return orders.enqueue(self.store, host, kind, payload, key=key, now=self.clock())

    # ---- inventory CRUD (validation in core/inventory.py) ------------------------------------

    def add_distro(self, distro: Distro) -> Distro:
        self._check_assets(distro)
        return self.inventory.add_distro(distro)

    def get_distro(self, name: str) -> Distro:
        return self.inventory.get_distro(name)

    def list_distros(self) -> list[Distro]:
        return self.inventory.list_distros()

    def update_distro(self, name: str, changes: dict[str, Any]) -> Distro:
        self._check_assets(apply_changes(self.inventory.get_distro(name), changes))
        return self.inventory.update_distro(name, changes)

    def _check_assets(self, distro: Distro) -> None:
        """A local kernel/initrd must lie under ``assets_dir`` or an ``asset_roots`` entry
        (symlinks resolved): the appliance serves no other file of this machine."""
        allowed = [os.path.realpath(d) for d in self.settings.asset_dirs]
        for which in ("kernel", "initrd"):
            value = getattr(distro, which)
            if value.startswith("/") and not path_within(os.path.realpath(value), allowed):
                raise Invalid(f"{which} {value} is outside the directories the appliance serves "
                              f"boot files from ({', '.join(allowed)})", field=which,
                              hint=ASSET_HINT)

    def remove_distro(self, name: str) -> None:
        self.inventory.remove_distro(name)

    def add_profile(self, profile: Profile) -> Profile:
        return self.inventory.add_profile(profile)

    def get_profile(self, name: str) -> Profile:
        return self.inventory.get_profile(name)

    def list_profiles(self) -> list[Profile]:
        return self.inventory.list_profiles()

    def update_profile(self, name: str, changes: dict[str, Any]) -> Profile:
        return self.inventory.update_profile(name, changes)

    def remove_profile(self, name: str) -> None:
        self.inventory.remove_profile(name)

    def add_system(self, system: System) -> System:
        added = self.inventory.add_system(system)
        self.record_event(system_subject(added.name), EventKind.SYSTEM_CREATED,
                          {"profile": added.profile})
        return added

    def get_system(self, name: str) -> System:
        return self.inventory.get_system(name)

    def list_systems(self) -> list[System]:
        return self.inventory.list_systems()

    def update_system(self, name: str, changes: dict[str, Any]) -> System:
        updated = self.inventory.update_system(name, changes)
        self.record_event(system_subject(name), EventKind.SYSTEM_UPDATED,
                          {"fields": sorted(changes)})
        return updated

    def remove_system(self, name: str) -> None:
        self.inventory.remove_system(name)
        self.record_event(system_subject(name), EventKind.SYSTEM_REMOVED, {})

    # ---- what a deletion takes with it (core/removal.py; the UI's confirmation step) ---------

    def system_removal(self, name: str) -> list[str]:
        system = self.inventory.get_system(name)
        order = next((o for o in self.store.list_orders() if o.system == name
                      and o.state not in ("cancelled", "deleted")), None)
        return removal.system_effects(system, self._leases_of(name), self.clock(), order)

    def profile_removal(self, name: str) -> list[str]:
        profile = self.inventory.get_profile(name)
        return removal.profile_effects(profile, self.store.list_profiles(parent=name),
                                       self.store.list_systems(profile=name))

    def order_removal(self, order_id: str, user: User) -> list[str]:
        order = self.ordering.get(order_id, user)
        system = self.store.get_system(order.system) if order.system else None
        started = order.host is not None and any(
            w.payload.get("order") == order.id and w.state != "queued"
            for w in self.store.list_work(host=order.host))
        return removal.order_effects(order, system, self._leases_of(order.system or ""),
                                     self.clock(), started)

    def distro_removal(self, name: str) -> list[str]:
        return removal.distro_effects(self.inventory.get_distro(name),
                                      self.store.list_profiles(distro=name))

    def host_removal(self, name: str) -> list[str]:
        host = self.store.get_host(name)
        if host is None:
            raise NotFound(f"no host {name}")
        placed = [o for o in self.store.list_orders() if o.host == name]
        return removal.host_effects(host, placed, self.store.list_work(host=name))

    def user_removal(self, name: str) -> list[str]:
        user = self.users.get(name)
        return removal.user_effects(user, self.store.list_orders(owner=name),
                                    self.users.admins())

    def token_removal(self, name: str) -> list[str]:
        tokens = self.store.list_tokens()
        token = next((t for t in tokens if t.name == name), None)
        if token is None:
            raise NotFound(f"no token {name}")
        return removal.token_effects(token, tokens, bool(self.settings.api_token), self.clock())

    def _leases_of(self, system: str) -> list[dict[str, Any]]:
        return [row for row in self.leases() if system and row.get("system") == system]

    # ---- serving machines (core/serving.py) ---------------------------------------------------

    def boot_context(self, *, mac: str | None = None, system: str | None = None,
                     token: str | None = None, profile: str | None = None,
                     server: str = "") -> BootContext:
        return self.serving.boot_context(mac=mac, system=system, token=token, profile=profile,
                                         server=server)

    def resolve_view(self, *, system: str | None = None,
                     profile: str | None = None) -> dict[str, Resolved]:
        return self.serving.resolve_view(system=system, profile=profile)

    def kickstart(self, ctx: BootContext, *, client: str | None = None) -> str:
        return self.serving.kickstart(ctx, client=client)

    def kickstart_for(self, *, mac: str | None = None, system: str | None = None,
                      token: str | None = None, server: str = "", client: str | None = None) -> str:
        return self.serving.kickstart_for(mac=mac, system=system, token=token, server=server,
                                          client=client)

    def boot_config(self, kind: str, mac: str, server: str, *, client: str | None = None) -> str:
        return self.serving.boot_config(kind, mac, server, client=client)

    def menu_profile(self) -> str:
        return self.serving.menu_profile()

    def render_preview(self, kind: str, system: str, server: str = "") -> str:
        return self.serving.render_preview(kind, system, server)

    def callback(self, token: str, event: str, *, client: str | None = None) -> System:
        return self.serving.callback(token, event, client=client)

    def dhcp_lookup(self, mac: str) -> DhcpRecord | None:
        return self.serving.dhcp_lookup(mac)

    def dhcp_lookup_duid(self, duid: str) -> DhcpRecord | None:
        return self.serving.dhcp_lookup_duid(duid)

    def fqdn(self, system: System) -> str:
        return self.serving.fqdn(system)

    def dns_records(self) -> list[tuple[str, str]]:
        return self.serving.dns_records()

    def default_server(self) -> str:
        return self.serving.default_server()

    # ---- validation (core/validation.py) -------------------------------------------------------

    def validate(self, *, system: str | None = None, profile: str | None = None) -> list[Finding]:
        """Platform rules on the resolved values, then pykickstart on the rendered kickstart."""
        subject = f"system:{system}" if system is not None else f"profile:{profile}"
        ctx = self.boot_context(system=system, profile=profile, server=self.default_server())
        return (validation.check(subject, ctx, self.renderer)
                + validation.secure_boot_kernel(subject, ctx, self._kernel_signed))

    def _kernel_signed(self, distro: Distro) -> bool | None:
        """Whether the distro's local kernel file carries an Authenticode signature (None: a
        URL or an unreadable file)."""
        try:
            path = asset_file(distro.kernel, distro.name, "kernel", self.settings.assets_path,
                              self.settings.asset_roots)
            return is_signed(path.read_bytes())
        except (NotFound, Forbidden, OSError):
            return None

    def validate_all(self) -> dict[str, list[Finding]]:
        """``validate`` for every profile and system, keyed by ``profile:<n>``/``system:<n>``."""
        out: dict[str, list[Finding]] = {}
        for p in self.store.list_profiles():
            out[f"profile:{p.name}"] = self._validate_or_finding(profile=p.name)
        for s in self.store.list_systems():
            out[f"system:{s.name}"] = self._validate_or_finding(system=s.name)
        return out

    def _kickstart_errors(self, profile: str) -> list[str]:
        """The order form's kickstart check: ``validate``'s render errors and the pykickstart
        errors the serving path refuses on (a line of the kickstart), for the profile; its
        platform rules run with the host's facts in the form itself."""
        return [f"kickstart for {profile}: "
                + (f"line {f.line}: " if f.line is not None else "") + f.message
                for f in self._validate_or_finding(profile=profile)
                if f.level == "error" and (f.source in ("render", "inventory") or (
                    f.source == "pykickstart" and f.line is not None))]

    def _validate_or_finding(self, **which: str) -> list[Finding]:
        try:
            return self.validate(**which)
        except (NotFound, Invalid) as exc:  # broken reference or inheritance in the inventory
            return validation.broken_reference(":".join(next(iter(which.items()))), exc)

    # ---- timelines -------------------------------------------------------------------------

    def record_event(self, subject: str, kind: str, detail: dict[str, Any]) -> None:
        """Append to a timeline; best effort (a failing store is logged, never raised)."""
        self.events(Event(subject=subject, kind=kind, detail=dict(detail), at=self.clock()))

    def timeline(self, system: str, limit: int | None = None) -> list[Event]:
        """A system's events, oldest first; NotFound when there is neither system nor event."""
        self.events.flush()
        found = events.timeline(self.store, system_subject(system), limit)
        if not found:
            self.inventory.get_system(system)
        return found

    def latest_events(self, limit: int) -> list[Event]:
        """The newest ``limit`` events of every timeline, oldest first."""
        self.events.flush()
        return self.store.latest_events(limit)

    # ---- DHCP leases (read-only: the DHCP service owns them) ---------------------------------

    def active_leases(self) -> list[dict[str, Any]]:
        """The DHCP server's active leases (none when no lease listing was wired in)."""
        return self._leases(self.clock()) if self._leases is not None else []

    def leases(self) -> list[dict[str, Any]]:
        """Active leases, each with the ``system`` its MAC belongs to ("" when unknown)."""
        rows = self.active_leases()
        for row in rows:
            system = self.store.system_by_mac(row["mac"])
            row["system"] = system.name if system else ""
        return rows

    # ---- API tokens ------------------------------------------------------------------------

    def create_token(self, name: str) -> str:
        """A new API token; only its hash is stored, the plain value is returned once."""
        check_name(name, "token name")
        token = secrets.token_urlsafe(32)
        self.store.put_token(ApiToken(name=name, token_hash=hash_token(token),
                                      created=self.clock()))
        return token

    def check_token(self, token: str) -> bool:
        """True for the bootstrap ``Settings.api_token`` or a token from ``create_token``."""
        if not token:
            return False
        if self.settings.api_token and hmac.compare_digest(token, self.settings.api_token):
            return True
        try:
            return self.store.has_token(hash_token(token))
        except StoreError:
            log.exception("token check failed")
            return False

    def list_tokens(self) -> list[ApiToken]:
        return self.store.list_tokens()

    def revoke_token(self, name: str) -> None:
        if not self.store.delete_token(name):
            raise NotFound(f"no token {name}")
