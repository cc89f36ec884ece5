"""virt-install's ``build_guest_instance`` order: options -> defaults -> rules -> two phases."""

from __future__ import annotations

from collections.abc import Sequence

from agent.facts.model import HostFacts
from agent.guest.caps import Caps
from agent.guest.defaults import set_defaults
from agent.guest.domain import Guest, install_and_final
from agent.guest.ids import Ids
from agent.guest.options import guest_from_argv


def build(argv: Sequence[str], facts: HostFacts, caps: Caps, ids: Ids,
          osinfo_ids: dict[str, str] | None = None) -> tuple[Guest, Guest, Guest]:
    """``(guest, install, final)`` for a virt-install command line (without the program name)."""
    guest, _ = guest_from_argv(argv)
    set_defaults(guest, facts, caps, ids, osinfo_ids)
    install, final = install_and_final(guest)
    return guest, install, final
