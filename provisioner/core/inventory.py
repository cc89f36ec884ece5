"""Inventory use-cases: create/read/update/delete with validation before every write.

Rules checked here (the store only knows unique keys): names are unique per kind; a profile's
distro or parent exists and inheritance has no cycle; a system's profile exists; MACs and IPs are
unique across systems; a distro or profile still referenced cannot be removed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from provisioner.core.ports import Store
from provisioner.core.select import profile_chain
from provisioner.errors import Conflict, Invalid, NotFound
from provisioner.models import Distro, Interface, Profile, System

_IMMUTABLE = ("name",)


T = TypeVar("T")


def apply_changes(obj: T, changes: dict[str, Any]) -> T:
    """``obj`` with ``changes`` applied; unknown or immutable fields are Invalid."""
    current: Any = obj  # a Distro, Profile or System
    names = {f.name for f in dataclasses.fields(current)}
    for key in changes:
        if key not in names:
            raise Invalid(f"unknown field {key!r}", field=key)
        if key in _IMMUTABLE and changes[key] != getattr(current, key):
            raise Invalid(f"{key} cannot be changed; remove and add instead", field=key)
    changes = dict(changes)
    if isinstance(changes.get("vm"), dict):
        changes["vm"] = dataclasses.replace(current.vm, **changes["vm"])
    if "interfaces" in changes:
        changes["interfaces"] = tuple(i if isinstance(i, Interface) else Interface(**i)
                                      for i in changes["interfaces"])
    changed: T = dataclasses.replace(current, **changes)
    return changed


class Inventory:
    """Distro/profile/system CRUD over a Store."""

    def __init__(self, store: Store, new_token: Callable[[], str]) -> None:
        self.store = store
        self.new_token = new_token

    # distros
    def get_distro(self, name: str) -> Distro:
        distro = self.store.get_distro(name)
        if distro is None:
            raise NotFound(f"distro {name!r} not found")
        return distro

    def list_distros(self) -> list[Distro]:
        return self.store.list_distros()

    def add_distro(self, distro: Distro) -> Distro:
        if self.store.get_distro(distro.name) is not None:
            raise Conflict(f"distro {distro.name!r} already exists")
        self.store.put_distro(distro)
        return distro

    def update_distro(self, name: str, changes: dict[str, Any]) -> Distro:
        distro = apply_changes(self.get_distro(name), changes)
        self.store.put_distro(distro)
        return distro

    def remove_distro(self, name: str) -> None:
        self.get_distro(name)
        users = self.store.list_profiles(distro=name)
        if users:
            raise Conflict(f"distro {name!r} is used by profile(s) "
                           f"{', '.join(p.name for p in users)}")
        self.store.delete_distro(name)

    # profiles
    def get_profile(self, name: str) -> Profile:
        profile = self.store.get_profile(name)
        if profile is None:
            raise NotFound(f"profile {name!r} not found")
        return profile

    def list_profiles(self) -> list[Profile]:
        return self.store.list_profiles()

    def _check_profile(self, profile: Profile) -> None:
        if profile.distro is not None and self.store.get_distro(profile.distro) is None:
            raise Invalid(f"distro {profile.distro!r} does not exist", field="distro")
        if profile.parent is not None:
            if self.store.get_profile(profile.parent) is None:
                raise Invalid(f"parent profile {profile.parent!r} does not exist", field="parent")

            def lookup(name: str) -> Profile | None:
                return profile if name == profile.name else self.store.get_profile(name)

            try:
                profile_chain(profile.name, lookup)
            except NotFound as exc:
                raise Invalid(str(exc), field="parent") from None

    def add_profile(self, profile: Profile) -> Profile:
        if self.store.get_profile(profile.name) is not None:
            raise Conflict(f"profile {profile.name!r} already exists")
        self._check_profile(profile)
        self.store.put_profile(profile)
        return profile

    def update_profile(self, name: str, changes: dict[str, Any]) -> Profile:
        profile = apply_changes(self.get_profile(name), changes)
        self._check_profile(profile)
        self.store.put_profile(profile)
        return profile

    def remove_profile(self, name: str) -> None:
        self.get_profile(name)
        children = self.store.list_profiles(parent=name)
        if children:
            raise Conflict(f"profile {name!r} is the parent of "
                           f"{', '.join(p.name for p in children)}")
        systems = self.store.list_systems(profile=name)
        if systems:
            raise Conflict(f"profile {name!r} is used by system(s) "
                           f"{', '.join(s.name for s in systems)}")
        self.store.delete_profile(name)

    # systems
    def get_system(self, name: str) -> System:
        system = self.store.get_system(name)
        if system is None:
            raise NotFound(f"system {name!r} not found")
        return system

    def list_systems(self) -> list[System]:
        return self.store.list_systems()

    def _check_system(self, system: System) -> None:
        if self.store.get_profile(system.profile) is None:
            raise Invalid(f"profile {system.profile!r} does not exist", field="profile")
        for iface in system.interfaces:
            other = self.store.system_by_mac(iface.mac)
            if other is not None and other.name != system.name:
                raise Conflict(f"MAC {iface.mac} already belongs to system {other.name!r}")
            if iface.ip:
                other = self.store.system_by_ip(iface.ip)
                if other is not None and other.name != system.name:
                    raise Conflict(f"IP {iface.ip} already belongs to system {other.name!r}")

    def add_system(self, system: System) -> System:
        if self.store.get_system(system.name) is not None:
            raise Conflict(f"system {system.name!r} already exists")
        if not system.token:
            system = dataclasses.replace(system, token=self.new_token())
        self._check_system(system)
        self.store.put_system(system)
        return system

    def update_system(self, name: str, changes: dict[str, Any]) -> System:
        system = apply_changes(self.get_system(name), changes)
        self._check_system(system)
        self.store.put_system(system)
        return system

    def save_system(self, system: System) -> System:
        """Write an already-validated system back (life-cycle changes: status, netboot)."""
        self.store.put_system(system)
        return system

    def remove_system(self, name: str) -> None:
        self.get_system(name)
        self.store.delete_system(name)

