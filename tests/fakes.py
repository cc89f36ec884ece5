"""Named test doubles for the Store and the renderer (matchbox's testfakes, in Python).

* ``MemoryStore``: the real in-memory store (``provisioner.store.memory``), filled by tests.
* ``EmptyStore``: nothing is ever found; writes are accepted and forgotten.
* ``BrokenStore``: every call raises ``StoreError`` (a database that went away).
* ``FakeRenderer``: renders a one-line summary of the context per kind, so core and handler tests
  do not depend on the shipped templates; ``FakeRenderer(fail=True)`` raises ``RenderError``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from provisioner.errors import RenderError, StoreError
from provisioner.models import BootContext, Event
from provisioner.store.memory import MemoryStore

__all__ = ["MemoryStore", "EmptyStore", "BrokenStore", "FakeRenderer"]


class EmptyStore:
    """A Store where nothing exists."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith(("get_", "system_by_", "work_by_")) or name == "lease_work":
            return lambda *a, **k: None
        if name.startswith("list_"):
            return lambda *a, **k: []
        if name.startswith("delete_"):
            return lambda *a, **k: False
        if name == "has_token":
            return lambda *a, **k: False
        if name == "add_event":
            return lambda event: Event(event.subject, event.kind, event.detail, event.at, 1)
        if name == "snapshot":
            return contextlib.nullcontext
        if name.startswith("put_") or name in ("close", "add_events"):
            return lambda *a, **k: None
        raise AttributeError(name)


class BrokenStore:
    """A Store whose every call fails."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise StoreError(f"broken store: {name}")

        return fail


class FakeRenderer:
    """``render(kind, ctx)`` -> ``"<kind> <system|-> <profile> <distro> netboot=<bool> ..."``."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[str, BootContext]] = []

    def validate_kickstart(self, text: str, os_version: str) -> list[Any]:
        """No checker: core and handler tests do not depend on pykickstart."""
        return []

    def render(self, kind: str, ctx: BootContext) -> str:
        self.calls.append((kind, ctx))
        if self.fail:
            raise RenderError(
                "template kickstarts/broken.ks line 3: UndefinedError: 'nope' is undefined",
                template="kickstarts/broken.ks", line=3)
        system = ctx.system
        mode = "menu" if system is None else ("install" if system.netboot_enabled else "local")
        return (f"{kind} {system.name if system else '-'} {ctx.profile.name} {ctx.distro.name} "
                f"{mode} kopts={ctx.value('kernel_options')!r} server={ctx.server}\n")
