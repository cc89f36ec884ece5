"""The guest clock-parameter table (seed D1 §2.5): KVM guests on hosts without a constant TSC.

One table (``data/clock.toml``) for both users: the appliance appends the parameters to the
kickstart's ``bootloader --append`` (:func:`clock_params`), the agent
edits a running guest's boot loader and builds ``--extra-args``
(:func:`agent.plan.bootparams.guest_clock_params`). Each caller keeps only its own edges: which
versions it accepts and how it reports a release the seed does not list.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from provisioner.platform.osversion import parse_os_version, release_tuple
from provisioner.platform.tables import table

_ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "amd64/intel 64": "x86_64",
           "intel 64": "x86_64", "x64": "x86_64",
           "i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86", "x86": "x86", "ia32": "x86"}


@dataclass(frozen=True)
class ClockRow:
    """One row: the seed's release, the releases it covers, and what the guest needs."""

    seed: str  # the release as the seed lists it ("5.4")
    low: tuple[int, int]  # covered guest releases, inclusive
    high: tuple[int, int]
    arch: str  # "x86_64" | "x86"
    pv_clock: bool | None  # None: the row holds with and without kvm-clock
    params: tuple[str, ...]
    lpj: bool  # the seed's lpj=n placeholder follows ``params``

    def covers(self, release: tuple[int, int]) -> bool:
        return self.low <= release <= self.high


def _pair(text: str) -> tuple[int, int]:
    numbers = release_tuple(text)
    if numbers is None or len(numbers) != 2:
        raise ValueError(f"clock.toml: bad release {text!r} (want major.minor)")
    return numbers[0], numbers[1]


@cache
def clock_rows() -> tuple[ClockRow, ...]:
    return tuple(ClockRow(r["seed"], _pair(r["from"]), _pair(r["to"]), r["arch"],
                          r.get("pv_clock"), tuple(r["params"]), bool(r.get("lpj", False)))
                 for r in table("clock")["row"])


def clock_arch(arch: str) -> str | None:
    """The table's arch for ``arch`` (``x86_64`` or ``x86``), None when the table has none."""
    return _ARCHES.get(arch.lower().replace("-", "_"))


def clock_row(release: tuple[int, int], arch: str, *, pv_clock: bool | None) -> ClockRow | None:
    """The row for a guest ``release`` (major, minor) on ``arch``; None when no row covers it
    (RHEL 6 and later use kvm-clock; nothing before RHEL 3 is listed).

    ``pv_clock`` None means "as the guest supports": kvm-clock from 5.4 on.
    """
    want_arch = clock_arch(arch)
    pv = True if pv_clock is None else pv_clock
    for row in clock_rows():
        if row.arch != want_arch or not row.covers(release):
            continue
        if row.pv_clock is not None and row.pv_clock != pv:
            continue
        return row
    return None


def seed_release_needs_params(seed: str) -> bool:
    """Whether any row of the seed's release ``seed`` asks for parameters (3.9 needs none)."""
    return any(r.params or r.lpj for r in clock_rows() if r.seed == seed)


def clock_release(text: str) -> tuple[int, int] | None:
    """The guest release the table is read at, for an OS version (``rhel5.4``) or a bare
    release (``5.4``); None when ``text`` names neither a RHEL release nor a bare one.

    One rule for both readers: a release without its minor (``rhel5``, ``5``) is the table's
    ``[policy] unnamed_minor`` (0: the oldest minor, whose row asks for the most).
    """
    v = parse_os_version(text.strip())
    if v is None or v.family not in ("", "rhel"):
        return None
    minor = table("clock")["policy"]["unnamed_minor"] if v.minor is None else v.minor
    return v.major, int(minor)


def windows_clock_switch(guest_os: str | None) -> str | None:
    """The boot.ini switch a Windows guest needs (``/usepmtimer`` for XP/2003; seed ch.17),
    None for any other guest (later Windows use BCD; Linux guests use the table's rows)."""
    win = table("clock")["windows"]
    return str(win["boot_ini_switch"]) if guest_os in win["guest_os"] else None


def clock_params(os_version: str, arch: str, *, pv_clock: bool | None = None,
                 lpj: int | str | None = None) -> str:
    """Extra kernel parameters for a KVM guest on a host without constant TSC, as the
    appliance's kickstarts append them (``bootloader --append``); ``os_version`` is a
    distro's (``rhel5.4``); anything but RHEL, or a release without a row, gets ``""``.

    ``pv_clock`` None means the guest's default: RHEL >= 5.4 uses the para-virtualized clock;
    ``rhel5`` without a minor is read by :func:`clock_release` (the agent reads it the same way).
    ``lpj=n`` in the table becomes ``lpj=<lpj>`` or is dropped; ``n`` is never emitted.
    """
    v = parse_os_version(os_version)
    release = clock_release(os_version) if v is not None and v.family == "rhel" else None
    if release is None:
        return ""
    row = clock_row(release, arch, pv_clock=pv_clock)
    if row is None:
        return ""
    words = list(row.params)
    if row.lpj and lpj is not None and str(lpj).isdigit():
        words.append(f"lpj={lpj}")
    return " ".join(words)
