"""The Core facade: every transport (HTTP, TFTP, DHCP, DNS, CLI) calls these methods.

It composes the inventory use-cases (``core/inventory.py``), value resolution
(``core/select.py``) and timelines (``core/events.py``) over one :class:`Store`, and renders
through an injected renderer. Nothing here reads files, the environment or the network; the
clock and the token generator are constructor arguments.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provisioner.core import events, rules
from provisioner.core.inventory import Inventory
from provisioner.core.ports import Renderer, Store
from provisioner.core.select import profile_chain, resolve
from provisioner.errors import Invalid, NotFound, RenderError, StoreError
from provisioner.models import (
    ApiToken,
    BootContext,
    DhcpRecord,
    Distro,
    Event,
    Profile,
    Resolved,
    System,
    check_name,
    normalize_mac,
)
from provisioner.settings import Settings

log = logging.getLogger(__name__)

BOOT_KINDS = ("pxelinux", "grub", "ipxe")
RENDER_KINDS = ("ks", *BOOT_KINDS)
CALLBACKS = {"started": "installing", "done": "installed", "failed": "failed"}


@dataclass(frozen=True)
class Finding:
    """One validation finding for a profile or system."""

    subject: str  # "profile:<name>" or "system:<name>"
    level: str  # "error" | "warning"
    source: str  # "rules", "render", "pykickstart", "inventory"
    field: str
    message: str
    line: int | None = None


def discovered_subject(mac: str) -> str:
    """Timeline subject of an unknown MAC (the DHCP core records ``discovered`` under it too)."""
    return f"discovered:{mac}"


def hash_token(token: str) -> str:
    """API tokens are stored as their SHA-256 hex digest (they are long random strings)."""
    return hashlib.sha256(token.encode()).hexdigest()


class Core:
    """Inventory, per-request boot contexts and rendering, install life-cycle, timelines."""

    def __init__(self, store: Store, renderer: Renderer, settings: Settings,
                 clock: Callable[[], float] = time.time,
                 new_token: Callable[[], str] = lambda: secrets.token_hex(16),
                 recorder: events.Recorder | None = None) -> None:
        self.store = store
        self.renderer = renderer
        self.settings = settings
        self.clock = clock
        self.new_token = new_token
        self.events: events.Recorder = recorder or events.DirectRecorder(store)
        self.inventory = Inventory(store, new_token)

    # ---- inventory CRUD (validation in core/inventory.py) ------------------------------------

    def add_distro(self, distro: Distro) -> Distro:
        return self.inventory.add_distro(distro)

    def get_distro(self, name: str) -> Distro:
        return self.inventory.get_distro(name)

    def list_distros(self) -> list[Distro]:
        return self.inventory.list_distros()

    def update_distro(self, name: str, changes: dict[str, Any]) -> Distro:
        return self.inventory.update_distro(name, changes)

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
        self.record_event(events.system_subject(added.name), "created", {"profile": added.profile})
        return added

    def get_system(self, name: str) -> System:
        return self.inventory.get_system(name)

    def list_systems(self) -> list[System]:
        return self.inventory.list_systems()

    def update_system(self, name: str, changes: dict[str, Any]) -> System:
        updated = self.inventory.update_system(name, changes)
        self.record_event(events.system_subject(name), "updated", {"fields": sorted(changes)})
        return updated

    def remove_system(self, name: str) -> None:
        self.inventory.remove_system(name)
        self.record_event(events.system_subject(name), "removed", {})

    # ---- resolution -----------------------------------------------------------------------

    def _chain(self, profile: str) -> tuple[tuple[Profile, ...], Distro]:
        chain = profile_chain(profile, self.store.get_profile)
        root = chain[-1]
        distro = self.store.get_distro(root.distro or "")
        if distro is None:
            raise NotFound(f"distro {root.distro!r} of profile {root.name!r} not found")
        return chain, distro

    def _system_by(self, *, mac: str | None, system: str | None, token: str | None) -> System:
        if mac is not None:
            found, what = self.store.system_by_mac(normalize_mac(mac)), f"no system with MAC {mac}"
        elif token is not None:
            found, what = (self.store.system_by_token(token) if token else None), "unknown token"
        else:
            found, what = self.store.get_system(system or ""), f"system {system!r} not found"
        if found is None:
            raise NotFound(what)
        return found

    def boot_context(self, *, mac: str | None = None, system: str | None = None,
                     token: str | None = None, profile: str | None = None,
                     server: str = "") -> BootContext:
        """Everything a renderer needs, read from the store now (no cache, no sync).

        Exactly one of ``mac``, ``system``, ``token`` (a known system) or ``profile`` (no
        system: profile previews and validation).
        """
        if sum(x is not None for x in (mac, system, token, profile)) != 1:
            raise Invalid("give exactly one of mac, system, token or profile")
        found: System | None = None
        with self.store.snapshot():
            if profile is None:
                found = self._system_by(mac=mac, system=system, token=token)
                profile = found.profile
            chain, distro = self._chain(profile)
        values = resolve(distro, chain, found)
        norm_mac = normalize_mac(mac) if mac is not None else (found.macs[0] if found and found.macs
                                                                 else None)
        return BootContext(distro=distro, profiles=chain, system=found, values=values,
                           server=server, mac=norm_mac)

    def resolve_view(self, *, system: str | None = None,
                     profile: str | None = None) -> dict[str, Resolved]:
        """The resolved values of a system or profile, each with the layer it came from."""
        return self.boot_context(system=system, profile=profile).values

    # ---- rendering ------------------------------------------------------------------------

    def _render(self, kind: str, ctx: BootContext) -> str:
        try:
            return self.renderer.render(kind, ctx)
        except RenderError as exc:
            log.error("render %s failed (template %s line %s): %s", kind, exc.template, exc.line,
                      exc)
            if ctx.system is not None:
                self.record_event(events.system_subject(ctx.system.name), "render-error",
                                  {"kind": kind, "template": exc.template, "line": exc.line,
                                   "message": str(exc)})
            raise

    def kickstart(self, ctx: BootContext, *, client: str | None = None) -> str:
        """The kickstart for ``ctx``, complete or a RenderError; a fetch is a timeline event."""
        text = self._render("ks", ctx)
        if ctx.system is not None:
            detail: dict[str, Any] = {"template": ctx.value("kickstart"), "bytes": len(text)}
            if client:
                detail["client"] = client
            self.record_event(events.system_subject(ctx.system.name), "kickstart", detail)
        return text

    def kickstart_for(self, *, mac: str | None = None, system: str | None = None,
                      token: str | None = None, server: str = "", client: str | None = None) -> str:
        """``boot_context`` + ``kickstart`` in one call (the /ks endpoints)."""
        ctx = self.boot_context(mac=mac, system=system, token=token, server=server)
        return self.kickstart(ctx, client=client)

    def boot_config(self, kind: str, mac: str, server: str, *, client: str | None = None) -> str:
        """The per-MAC boot config; the local-boot variant once netboot is disabled.

        An unknown MAC is NotFound, except under ``unknown_policy = "menu"``: then the menu
        variant (local boot by default, interactive install of :meth:`menu_profile`).
        """
        if kind not in BOOT_KINDS:
            raise Invalid(f"unknown boot config kind {kind!r}; one of {', '.join(BOOT_KINDS)}",
                          field="kind")
        try:
            ctx = self.boot_context(mac=mac, server=server)
        except NotFound:
            # only a MAC nobody has gets the menu (not a known system with a broken profile)
            if (self.settings.unknown_policy != "menu"
                    or self.store.system_by_mac(normalize_mac(mac)) is not None):
                raise
            return self._menu_config(kind, normalize_mac(mac), server, client)
        text = self._render(kind, ctx)
        assert ctx.system is not None
        detail: dict[str, Any] = {"kind": kind, "mac": ctx.mac,
                                  "netboot": ctx.system.netboot_enabled}
        if client:
            detail["client"] = client
        self.record_event(events.system_subject(ctx.system.name), "boot-config", detail)
        return text

    def menu_profile(self) -> str:
        """The profile the unknown-MAC menu offers: ``settings.menu_profile``, else the first
        profile by name (deterministic); NotFound when there is no profile at all."""
        if self.settings.menu_profile:
            return self.settings.menu_profile
        names = sorted(p.name for p in self.store.list_profiles())
        if not names:
            raise NotFound("no profile to offer in the unknown-MAC menu")
        return names[0]

    def _menu_config(self, kind: str, mac: str, server: str, client: str | None) -> str:
        """The menu boot config for an unknown MAC; a ``discovered:<mac>`` timeline event."""
        with self.store.snapshot():
            profile = self.menu_profile()
            ctx = dataclasses.replace(self.boot_context(profile=profile, server=server), mac=mac)
        text = self._render(kind, ctx)
        detail: dict[str, Any] = {"kind": kind, "mac": mac, "menu": profile}
        if client:
            detail["client"] = client
        self.record_event(discovered_subject(mac), "boot-config", detail)
        return text

    def render_preview(self, kind: str, system: str, server: str = "") -> str:
        """Render any kind for a system without recording a fetch (API/CLI previews)."""
        if kind not in RENDER_KINDS:
            raise Invalid(f"unknown render kind {kind!r}; one of {', '.join(RENDER_KINDS)}",
                          field="kind")
        return self._render(kind, self.boot_context(system=system, server=server))

    # ---- validation ----------------------------------------------------------------------

    def default_server(self) -> str:
        s = self.settings
        return (s.public_url or f"http://{s.http_host}:{s.http_port}").rstrip("/")

    def validate(self, *, system: str | None = None, profile: str | None = None) -> list[Finding]:
        """Platform rules on the resolved values, then pykickstart on the rendered kickstart."""
        subject = f"system:{system}" if system is not None else f"profile:{profile}"
        ctx = self.boot_context(system=system, profile=profile, server=self.default_server())
        values = {k: r.value for k, r in ctx.values.items()}
        found = [Finding(subject, i.level, "rules", i.field, i.message)
                 for i in rules.check(values)]
        try:
            text = self.renderer.render("ks", ctx)
        except RenderError as exc:
            found.append(Finding(subject, "error", "render", "kickstart", str(exc),
                                 exc.line))
            return found
        found += [Finding(subject, i.level, "pykickstart", "kickstart", i.message, i.line)
                  for i in self.renderer.validate_kickstart(text, ctx.distro.os_version)]
        return found

    def validate_all(self) -> dict[str, list[Finding]]:
        """``validate`` for every profile and system, keyed by ``profile:<n>``/``system:<n>``."""
        out: dict[str, list[Finding]] = {}
        for p in self.store.list_profiles():
            out[f"profile:{p.name}"] = self._validate_or_finding(profile=p.name)
        for s in self.store.list_systems():
            out[f"system:{s.name}"] = self._validate_or_finding(system=s.name)
        return out

    def _validate_or_finding(self, **which: str) -> list[Finding]:
        try:
            return self.validate(**which)
        except (NotFound, Invalid) as exc:  # broken reference or inheritance in the inventory
            subject = ":".join(next(iter(which.items())))
            return [Finding(subject, "error", "inventory", getattr(exc, "field", None) or "",
                            str(exc))]

    # ---- install life-cycle ----------------------------------------------------------------

    def callback(self, token: str, event: str, *, client: str | None = None) -> System:
        """``started`` -> installing; ``done`` -> installed, netboot off; ``failed`` -> failed."""
        if event not in CALLBACKS:
            raise Invalid(f"unknown callback {event!r}; one of {', '.join(CALLBACKS)}",
                          field="event")
        system = self._system_by(mac=None, system=None, token=token)
        changes: dict[str, Any] = {"status": CALLBACKS[event]}
        if event == "done":
            changes["netboot_enabled"] = False
        updated = self.inventory.save_system(dataclasses.replace(system, **changes))
        detail: dict[str, Any] = {"status": updated.status, "netboot": updated.netboot_enabled}
        if client:
            detail["client"] = client
        self.record_event(events.system_subject(system.name), f"callback:{event}", detail)
        return updated

    # ---- timelines -------------------------------------------------------------------------

    def record_event(self, subject: str, kind: str, detail: dict[str, Any]) -> None:
        """Append to a timeline; best effort (a failing store is logged, never raised)."""
        self.events(Event(subject=subject, kind=kind, detail=dict(detail), at=self.clock()))

    def timeline(self, system: str, limit: int | None = None) -> list[Event]:
        """A system's events, oldest first; NotFound when there is neither system nor event."""
        self.events.flush()
        found = events.timeline(self.store, events.system_subject(system), limit)
        if not found:
            self.inventory.get_system(system)
        return found

    # ---- DHCP / DNS ------------------------------------------------------------------------

    def dhcp_lookup(self, mac: str) -> DhcpRecord | None:
        """The reservation and boot policy for ``mac`` (one indexed query), or None."""
        try:
            norm = normalize_mac(mac)
        except Invalid:
            return None
        system = self.store.system_by_mac(norm)
        if system is None:
            return None
        iface = next(i for i in system.interfaces if i.mac == norm)
        try:
            _, distro = self._chain(system.profile)
            arch = distro.arch
        except (NotFound, Invalid):
            arch = "x86_64"
        options = system.metadata.get("dhcp_options", {})
        return DhcpRecord(
            mac=norm, system=system.name, ip=iface.ip, hostname=system.hostname or system.name,
            netboot_enabled=system.netboot_enabled, arch=arch,
            options=({int(k): str(v) for k, v in options.items()}
                     if isinstance(options, dict) else {}))

    def fqdn(self, system: System) -> str:
        return self._fqdn(system.name, system.hostname)

    def _fqdn(self, name: str, hostname: str | None) -> str:
        name = hostname or name
        return name if "." in name else f"{name}.{self.settings.domain}"

    def dns_records(self) -> list[tuple[str, str]]:
        """(fqdn, ip) for every interface with an IP, the first interface under the host name.

        One query without building System values (DNS and DHCP call this about once a second).
        """
        out: list[tuple[str, str]] = []
        previous = None
        for system, hostname, iface, ip in self.store.list_addresses():
            fqdn = self._fqdn(system, hostname)
            out.append((fqdn if system != previous else f"{iface}.{fqdn}", ip))
            previous = system
        return out

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
