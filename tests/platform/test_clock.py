"""The one guest clock-parameter table (seed D1 §2.5), read by the appliance (kickstart
``bootloader --append``) and the host agent (grub on a running guest) alike.

The table is well formed (every covered release and arch has exactly one row per kvm-clock
setting), and both readers give the same answers over every listed and nearest-row release."""

from __future__ import annotations

import pytest

from agent.plan.bootparams import guest_clock_params
from provisioner.platform.clock import (
    clock_arch,
    clock_params,
    clock_release,
    clock_row,
    clock_rows,
    windows_clock_switch,
)

RELEASES = ["3.9", "4.5", "4.8", "5.0", "5.2", "5.3", "5.4", "5.5", "5.11", "6.0", "9.2"]
GRID = [(r, a, pv, lpj) for r in RELEASES for a in ("x86_64", "i386")
        for pv in (None, True, False) for lpj in (None, 4589123)]


@pytest.mark.parametrize(("release", "arch", "pv_clock", "lpj"), GRID,
                         ids=[f"{r}-{a}-pv{pv}-lpj{lpj}" for r, a, pv, lpj in GRID])
def test_same_clock_parameters(release: str, arch: str, pv_clock, lpj) -> None:
    agent_params, _warnings = guest_clock_params(release, arch, pv_clock=pv_clock, lpj=lpj)
    appliance = clock_params(f"rhel{release}", arch, pv_clock=pv_clock, lpj=lpj)
    assert appliance == " ".join(agent_params)


def test_rows_cover_each_release_once() -> None:
    """No two rows answer the same (release, arch, kvm-clock) question; 3.0-5.99 all answered."""
    for major, minors in ((3, range(100)), (4, range(100)), (5, range(100))):
        for minor in minors:
            for arch in ("x86_64", "x86"):
                for pv in (True, False):
                    rows = [r for r in clock_rows() if r.arch == arch and r.covers((major, minor))
                            and r.pv_clock in (None, pv)]
                    assert len(rows) == 1, (major, minor, arch, pv, rows)


def test_each_row_lists_its_seed_release() -> None:
    for row in clock_rows():
        seed = tuple(int(x) for x in row.seed.split("."))
        assert row.covers(seed), row


@pytest.mark.parametrize(("arch", "want"), [
    ("x86_64", "x86_64"), ("amd64", "x86_64"), ("AMD64/Intel 64", "x86_64"), ("i686", "x86"),
    ("i386", "x86"), ("x86", "x86"), ("ia64", None), ("aarch64", None)],
    ids=["x86_64", "amd64", "seed wording", "i686", "i386", "x86", "itanium", "arm"])
def test_clock_arch(arch: str, want: str | None) -> None:
    assert clock_arch(arch) == want


def test_no_row_after_rhel5_or_before_rhel3() -> None:
    assert clock_row((6, 0), "x86_64", pv_clock=None) is None
    assert clock_row((2, 1), "x86_64", pv_clock=None) is None


@pytest.mark.parametrize(("os_version", "arch", "pv_clock", "lpj", "want"), [
    ("rhel5.4", "x86_64", True, None, ""),
    ("rhel5.4", "x86_64", False, None, "divider=10 notsc"),
    ("rhel5.4", "x86_64", False, 4589123, "divider=10 notsc lpj=4589123"),
    ("rhel5.4", "i386", True, None, ""),
    ("rhel5.4", "i686", False, 100, "divider=10 clocksource=acpi_pm lpj=100"),
    ("rhel5.4", "x86_64", None, None, ""),
    ("rhel5.3", "x86_64", None, None, "divider=10 notsc"),
    ("rhel5.3", "i386", None, None, "divider=10 clocksource=acpi_pm"),
    ("rhel4.8", "x86_64", None, None, "notsc divider=10"),
    ("rhel4.8", "i386", None, None, "clock=pmtmr divider=10"),
    ("rhel3.9", "x86_64", None, None, ""),
    ("rhel3.9", "i386", None, None, ""),
    ("rhel5.4", "x86_64", False, "n", "divider=10 notsc"),
    ("rhel9", "x86_64", None, None, ""),
    ("windows", "x86_64", None, None, ""),
], ids=["5.4-64-pvclock", "5.4-64-no-pvclock", "5.4-64-lpj", "5.4-32-pvclock",
        "5.4-32-no-pvclock-lpj", "5.4-default-pvclock", "5.3-64", "5.3-32", "4.8-64", "4.8-32",
        "3.9-64", "3.9-32", "literal-n-never", "rhel9-none", "not-rhel"])
def test_clock_params_table(os_version, arch, pv_clock, lpj, want) -> None:
    assert clock_params(os_version, arch, pv_clock=pv_clock, lpj=lpj) == want


# ---- issue 14 fix 6: a release without its minor, one rule and one default ----------------------

@pytest.mark.parametrize(("os_version", "release", "arch", "want"), [
    ("rhel5", "5", "x86_64", "divider=10 notsc"),
    ("rhel5", "5", "i686", "divider=10 clocksource=acpi_pm"),
    ("rhel4", "4", "x86_64", "notsc divider=10"),
    ("rhel3", "3", "i386", ""),
], ids=["rhel5-x86_64", "rhel5-i686", "rhel4", "rhel3"])
def test_release_without_minor_same_answer_for_appliance_and_agent(
        os_version: str, release: str, arch: str, want: str) -> None:
    """clock.toml [policy] unnamed_minor: rhel5 is 5.0 (the 5.3 row) for both readers.
    Before the fix the appliance read rhel5 as 5.99 (kvm-clock: nothing) and the agent as 5.0."""
    agent_params, _ = guest_clock_params(release, arch)
    assert clock_params(os_version, arch) == " ".join(agent_params) == want


def test_unnamed_minor_policy_is_data() -> None:
    assert clock_release("rhel5") == clock_release("5") == (5, 0)
    assert clock_release("rhel5.4") == (5, 4)
    assert clock_release("fedora39") is None


# ---- issue 14 fix 2: Windows XP/2003 -> boot.ini /usepmtimer (D1 §9.1 last row) ------------------

@pytest.mark.parametrize(("guest_os", "want"), [
    ("winxp", "/usepmtimer"), ("win2003", "/usepmtimer"), ("win2003r2", "/usepmtimer"),
    ("win2003sp2", "/usepmtimer"), ("vista", None), ("win2008", None), ("rhel5", None),
    (None, None)])
def test_windows_boot_ini_switch(guest_os: str | None, want: str | None) -> None:
    assert windows_clock_switch(guest_os) == want
    assert windows_clock_switch(guest_os) != "/use pmtimer"
