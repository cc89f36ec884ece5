"""MAC and UUID generation, injected into the defaults (no hidden randomness).

MACs follow the seed's ``macgen.py`` (E.md §8): a fixed OUI, the fourth octet in 0x00-0x7f and
the last two anywhere, lower-case and colon-separated. KVM/QEMU guests use libvirt's
``52:54:00``, Xen guests ``00:16:3e``. A generated MAC is never one in ``known`` (every MAC the
appliance's inventory and this host's guests use); an explicit MAC is refused only if a guest on
this host already uses it (``in_use``), because the appliance hands out the MAC it reserved.
"""

from __future__ import annotations

import random
import re
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.guest.errors import GuestError
from provisioner.platform.tables import guest_mac, mac_prefix

OUI = {hv: mac_prefix(hv) for hv in ("kvm", "qemu", "test", "xen")}
_MAC_RE = re.compile(r"^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")


def random_mac(hv: str, randint: Callable[[int, int], int]) -> str:
    """One MAC in ``hv``'s OUI (the seed's generator with a swappable ``randint``)."""
    return guest_mac(hv, (randint(0x00, 0x7F), randint(0x00, 0xFF), randint(0x00, 0xFF)))


def normalize_mac(value: str) -> str:
    raw = value.strip().lower()
    if not _MAC_RE.match(raw):
        raise GuestError(f"bad MAC address {value!r}", "BAD_MAC")
    digits = raw.replace(":", "").replace("-", "")
    if int(digits[1], 16) & 1:
        raise GuestError(f"multicast MAC address {value!r}", "BAD_MAC")
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


@dataclass
class Ids:
    """Identity sources for one build: RNG-driven MACs avoiding ``known``, UUIDs from
    ``new_uuid``."""

    known: set[str] = field(default_factory=set)
    in_use: set[str] = field(default_factory=set)
    randint: Callable[[int, int], int] = field(
        default_factory=lambda: random.SystemRandom().randint)
    new_uuid: Callable[[], str] = field(default_factory=lambda: lambda: str(uuidlib.uuid4()))
    max_tries: int = 1000

    def mac(self, hv: str) -> str:
        for _ in range(self.max_tries):
            mac = random_mac(hv, self.randint)
            if mac not in self.known and mac not in self.in_use:
                self.known.add(mac)
                return mac
        raise GuestError("could not generate a MAC address that is not already known",
                         "MAC_EXHAUSTED")

    def claim(self, mac: str) -> str:
        mac = normalize_mac(mac)
        if mac in self.in_use:
            raise GuestError(f"MAC {mac} is already used by a guest on this host", "MAC_IN_USE")
        self.known.add(mac)
        self.in_use.add(mac)
        return mac


def sequential(start: int = 0x10) -> Ids:
    """Deterministic ids for golden files and dry runs: MAC octets and UUIDs count up."""
    state = {"n": start, "u": 0}

    def randint(lo: int, hi: int) -> int:
        state["n"] += 1
        return lo + state["n"] % (hi - lo + 1)

    def new_uuid() -> str:
        state["u"] += 1
        return f"00000000-0000-4000-8000-{state['u']:012x}"

    return Ids(randint=randint, new_uuid=new_uuid)
