"""Serving one machine: boot contexts, rendered documents, install callbacks, DHCP and DNS answers.

Every request reads the store now (no cache, no sync): ``boot_context`` resolves a MAC, system,
token or profile to a :class:`BootContext` (system -> profiles -> distro, ``core/select.py``);
the documents come from the injected :class:`Renderer` and each fetch lands in the machine's
timeline; an unknown MAC gets the menu under ``unknown_policy = "menu"``. ``dhcp_lookup`` and
``dns_records`` are what the DHCP and DNS services ask (one indexed query each).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from provisioner.core.inventory import Inventory
from provisioner.core.ports import Renderer, Store
from provisioner.core.select import profile_chain, resolve
from provisioner.errors import Invalid, NotFound, RenderError
from provisioner.models import (
    CALLBACK_EVENTS,
    BootContext,
    DhcpRecord,
    Distro,
    EventKind,
    Interface,
    Profile,
    Resolved,
    System,
    discovered_subject,
    normalize_duid,
    normalize_mac,
    system_subject,
)
from provisioner.settings import Settings

log = logging.getLogger(__name__)

BOOT_KINDS = ("pxelinux", "grub", "ipxe")
RENDER_KINDS = ("ks", *BOOT_KINDS)
#: installer callback -> the system's new status
CALLBACKS = {"started": "installing", "done": "installed", "failed": "failed"}
RecordEvent = Callable[[str, str, dict[str, Any]], None]


class Serving:
    """The per-machine use-cases every transport shares (HTTP, TFTP content, DHCP, DNS)."""

    def __init__(self, store: Store, renderer: Renderer, settings: Settings,
                 inventory: Inventory, record_event: RecordEvent) -> None:
        self.store = store
        self.renderer = renderer
        self.settings = settings
        self.inventory = inventory
        self.record_event = record_event

    # ---- resolution -----------------------------------------------------------------------

    def _chain(self, profile: str) -> tuple[tuple[Profile, ...], Distro]:
        chain = profile_chain(profile, self.store.get_profile)
        root = chain[-1]
        distro = self.store.get_distro(root.distro or "")
        if distro is None:
            raise NotFound(f"distro {root.distro!r} of profile {root.name!r} not found",
                           hint=f"add distro {root.distro!r} or point profile {root.name!r} "
                                "at an existing one")
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
                self.record_event(system_subject(ctx.system.name), EventKind.RENDER_ERROR,
                                  {"kind": kind, "template": exc.template, "line": exc.line,
                                   "message": str(exc)})
            raise

    def kickstart(self, ctx: BootContext, *, client: str | None = None) -> str:
        """The kickstart for ``ctx``, complete or a RenderError; a fetch is a timeline event.

        A kickstart the release's own installer would reject (pykickstart's handler for the
        distro, as ``validate`` and the order form check it) is refused, never served.
        """
        text = self._render("ks", ctx)
        self._refuse_invalid(text, ctx)
        if ctx.system is not None:
            detail: dict[str, Any] = {"template": ctx.value("kickstart"), "bytes": len(text)}
            if client:
                detail["client"] = client
            self.record_event(system_subject(ctx.system.name), EventKind.KICKSTART, detail)
        return text

    def _refuse_invalid(self, text: str, ctx: BootContext) -> None:
        os_version = ctx.distro.os_version
        bad = [i for i in self.renderer.validate_kickstart(text, os_version)
               if i.level == "error" and i.line is not None]   # line None: no handler at all
        if not bad:
            return
        name = str(ctx.value("kickstart") or "kickstart")
        where = "; ".join(f"line {i.line}: {i.message}" for i in bad[:3])
        exc = RenderError(f"{name} for {os_version} is not valid kickstart for that release "
                          f"({where})", template=name, line=bad[0].line,
                          hint=f"run `provisioner validate` and fix the template or the "
                               f"profile; the installer of {os_version} would stop on it")
        log.error("kickstart refused: %s", exc)
        if ctx.system is not None:
            self.record_event(system_subject(ctx.system.name), EventKind.RENDER_ERROR,
                              {"kind": "ks", "template": name, "line": bad[0].line,
                               "message": str(exc)})
        raise exc

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
        self.record_event(system_subject(ctx.system.name), EventKind.BOOT_CONFIG, detail)
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
        self.record_event(discovered_subject(mac), EventKind.BOOT_CONFIG, detail)
        return text

    def render_preview(self, kind: str, system: str, server: str = "") -> str:
        """Render any kind for a system without recording a fetch (API/CLI previews)."""
        if kind not in RENDER_KINDS:
            raise Invalid(f"unknown render kind {kind!r}; one of {', '.join(RENDER_KINDS)}",
                          field="kind")
        return self._render(kind, self.boot_context(system=system, server=server))

    def default_server(self) -> str:
        s = self.settings
        return (s.public_url or f"http://{s.http_host}:{s.http_port}").rstrip("/")

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
        self.record_event(system_subject(system.name), CALLBACK_EVENTS[event], detail)
        return updated

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
        return self._dhcp_record(system, next(i for i in system.interfaces if i.mac == norm))

    def dhcp_lookup_duid(self, duid: str) -> DhcpRecord | None:
        """The same for a DHCPv6 client DUID (hex), when an interface reserves by DUID."""
        try:
            norm = normalize_duid(duid)
        except Invalid:
            return None
        system = self.store.system_by_duid(norm)
        if system is None:
            return None
        return self._dhcp_record(system, next(i for i in system.interfaces if i.duid == norm))

    def _dhcp_record(self, system: System, iface: Interface) -> DhcpRecord:
        secure = system.metadata.get("secure_boot")
        try:
            chain, distro = self._chain(system.profile)
            arch = distro.arch
            for p in chain:
                if secure is None:
                    secure = p.metadata.get("secure_boot")
        except (NotFound, Invalid):
            arch = "x86_64"
        options = system.metadata.get("dhcp_options", {})
        params = system.metadata.get("dhcp6_bootfile_param", ())
        return DhcpRecord(
            mac=iface.mac, system=system.name, ip=iface.ip,
            hostname=system.hostname or system.name, netboot_enabled=system.netboot_enabled,
            arch=arch, secure_boot=secure is True, ipv6=iface.ipv6, duid=iface.duid,
            boot_params=tuple(str(p) for p in ([params] if isinstance(params, str) else params)),
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
