"""Value resolution: system > profile > parent profiles > distro > settings, with sources.

Pure functions over values already read from the store. ``resolve()`` produces the exact keys
renderers read from ``BootContext.values``; each :class:`Resolved` names where its value came
from (``system``, ``profile:<name>``, ``distro:<name>``, ``settings``). Merged values
(``kernel_options``, ``metadata``) name every contributing layer, most specific first, joined
with ``+`` (e.g. ``system+profile:web+distro:rhel9``).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from typing import Any

from provisioner.errors import Invalid, NotFound
from provisioner.models import Distro, Profile, Resolved, System
from provisioner.platform.osversion import parse_os_version

# The "settings" layer: appliance-wide defaults under every profile and distro.
VM_DEFAULTS: dict[str, Any] = {"ram_mb": 1024, "vcpus": 1, "disk_gb": 10, "disk_bus": "virtio",
                               "bridge": "br0", "hypervisor": "kvm", "virt_type": "hvm"}
VM_KEYS = tuple(VM_DEFAULTS)
# Kickstart template used when no profile names one: the seed-era guest for RHEL <= 6 trees.
DEFAULT_KICKSTART_OLD, DEFAULT_KICKSTART_NEW = "rhel5-guest.ks", "rhel9-guest.ks"
MAX_DEPTH = 32


def profile_chain(name: str, get_profile: Callable[[str], Profile | None]) -> tuple[Profile, ...]:
    """The profile ``name`` and its ancestors, most specific first.

    Raises NotFound for a missing profile or parent, Invalid for a cycle or a too-deep chain.
    """
    chain: list[Profile] = []
    seen: set[str] = set()
    current: str | None = name
    while current is not None:
        if current in seen:
            path = " -> ".join([*[p.name for p in chain], current])
            raise Invalid(f"profile inheritance cycle: {path}", field="parent")
        if len(chain) >= MAX_DEPTH:
            raise Invalid(f"profile inheritance deeper than {MAX_DEPTH}", field="parent")
        profile = get_profile(current)
        if profile is None:
            what = "profile" if not chain else f"parent profile of {chain[-1].name}:"
            raise NotFound(f"{what} {current!r} not found")
        seen.add(current)
        chain.append(profile)
        current = profile.parent
    return tuple(chain)


def parse_kernel_options(text: str) -> dict[str, list[str | None]]:
    """``"a=1 b console=tty0 console=ttyS0"`` -> ``{"a": ["1"], "b": [None], "console": [...]}``."""
    out: dict[str, list[str | None]] = {}
    text = text or ""
    try:  # shlex only when quoting is used: it costs ~10x a plain split
        tokens = shlex.split(text) if any(c in text for c in "\"'\\") else text.split()
    except ValueError as exc:
        raise Invalid(f"bad kernel options {text!r}: {exc}", field="kernel_options") from None
    for token in tokens:
        key, sep, value = token.partition("=")
        out.setdefault(key, []).append(value if sep else None)
    return out


def format_kernel_options(options: dict[str, list[str | None]]) -> str:
    parts = []
    for key, values in options.items():
        for value in values:
            if value is None:
                parts.append(key)
            else:
                parts.append(f"{key}={shlex.quote(value) if ' ' in value else value}")
    return " ".join(parts)


def merge_kernel_options(layers: Sequence[str | None]) -> str:
    """Merge option strings, general first: a later layer replaces a key's values key by key.

    A key repeated within one layer keeps all its values (``console=tty0 console=ttyS0``);
    ``-key`` in a later layer removes ``key``. Keys keep the position of their first appearance.
    """
    merged: dict[str, list[str | None]] = {}
    for layer in layers:
        for key, values in parse_kernel_options(layer or "").items():
            if key.startswith("-") and len(key) > 1 and values == [None]:
                merged.pop(key[1:], None)
            else:
                merged[key] = values
    return format_kernel_options(merged)


def default_kickstart(os_version: str) -> str:
    """``rhel5-guest.ks`` for RHEL/CentOS 3-6 trees, ``rhel9-guest.ks`` otherwise."""
    v = parse_os_version(os_version)
    old = v is not None and v.family in ("rhel", "centos", "el") and v.major <= 6
    return DEFAULT_KICKSTART_OLD if old else DEFAULT_KICKSTART_NEW


def _layers(distro: Distro, profiles: Sequence[Profile],
            system: System | None) -> list[tuple[str, Any]]:
    """(source, object) most specific first."""
    out: list[tuple[str, Any]] = []
    if system is not None:
        out.append(("system", system))
    out += [(f"profile:{p.name}", p) for p in profiles]
    out.append((f"distro:{distro.name}", distro))
    return out


def resolve(distro: Distro, profiles: Sequence[Profile], system: System | None = None,
            settings_kernel_options: str = "") -> dict[str, Resolved]:
    """Every value a renderer reads, with its source. ``profiles`` is most specific first."""
    values: dict[str, Resolved] = {}
    layers = _layers(distro, profiles, system)

    for key in VM_KEYS:
        values[key] = Resolved(VM_DEFAULTS[key], "settings")
        for source, obj in layers:
            if isinstance(obj, Distro):
                continue
            v = getattr(obj.vm, key)
            if v is None and key == "bridge" and isinstance(obj, System) and obj.interfaces:
                v = obj.interfaces[0].bridge
            if v is not None:
                values[key] = Resolved(v, source)
                break

    contributors = [(s, o.kernel_options) for s, o in layers if o.kernel_options]
    values["kernel_options"] = Resolved(
        merge_kernel_options([settings_kernel_options, *[k for _, k in reversed(contributors)]]),
        "+".join([s for s, _ in contributors] + (["settings"] if settings_kernel_options else []))
        or "settings")

    metadata: dict[str, Any] = {}
    meta_sources: list[str] = []
    for source, obj in reversed(layers):
        if isinstance(obj, Distro):
            continue
        if obj.metadata:
            metadata.update(obj.metadata)
            meta_sources.insert(0, source)
    values["metadata"] = Resolved(metadata, "+".join(meta_sources) or "settings")

    dsource = f"distro:{distro.name}"
    for key in ("tree_url", "kernel", "initrd", "os_version", "arch", "breed"):
        values[key] = Resolved(getattr(distro, key), dsource)

    kickstart = next(((s, p.kickstart) for s, p in layers
                      if isinstance(p, Profile) and p.kickstart), None)
    values["kickstart"] = (Resolved(kickstart[1], kickstart[0]) if kickstart else
                           Resolved(default_kickstart(distro.os_version), "settings"))

    if system is not None:
        values["hostname"] = Resolved(system.hostname or system.name, "system")
    else:
        values["hostname"] = Resolved("", "settings")
    return values
