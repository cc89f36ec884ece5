"""The IPMI driver (``provisioner/power/ipmi.py``: pyghmi in a child process with a hard
deadline) against virtualbmc's BMC in a test namespace. Here vbmc drives libvirt's ``test:///``
driver (no daemon: each request sees the driver's default running domain ``test``), which is
enough for the protocol and its faults; ``test_reinstall_lab.py`` drives a real guest through
vbmc and the real libvirtd.
"""

from __future__ import annotations

import time

import pytest

from provisioner.errors import PowerError
from provisioner.models import PowerConfig
from provisioner.power.ipmi import IpmiDriver
from tests.integration.holder import in_netns
from tests.netns import have_root_netns, netns
from tests.power.emulators import virtualbmc

pytestmark = [pytest.mark.netns]
IP, NOBODY, PORT = "10.89.0.1", "10.89.0.250", 6230
USER, PASSWORD = "admin", "s3cret-IPMI"


@pytest.fixture(scope="module")
def bmc(tmp_path_factory):
    if not have_root_netns():
        pytest.skip("needs root and network namespaces")
    tmp = tmp_path_factory.mktemp("ipmi")
    with netns("pim") as ns:
        ns.add_bridge("br0", f"{IP}/24")
        with virtualbmc(ns, tmp / "vbmc", domain="test", address=IP, port=PORT, user=USER,
                        password=PASSWORD, libvirt_uri="test:///default") as v:
            yield {"ns": ns, "vbmc": v}


def driver(address: str = IP, **kw) -> IpmiDriver:
    password = kw.pop("password", PASSWORD)
    kw.setdefault("timeout", 6)
    kw.setdefault("username", USER)
    return IpmiDriver(PowerConfig(system="s1", driver="ipmi", address=address, port=PORT, **kw),
                      password)


def fails(bmc, call, kinds: tuple[str, ...], within: float) -> PowerError:
    t0 = time.monotonic()
    with in_netns(bmc["ns"]), pytest.raises(PowerError) as err:
        call()
    took = time.monotonic() - t0
    assert err.value.kind in kinds, (err.value.kind, str(err.value))
    assert took < within, f"took {took:.1f} s"
    assert PASSWORD not in str(err.value)
    return err.value


def test_status_and_boot_device(bmc) -> None:
    d = driver()
    with in_netns(bmc["ns"]):
        assert d.status() == "on"  # test:///default's domain runs
        d.set_boot("pxe", once=True)
        d.set_boot("disk", once=False)
        d.power("reset")  # accepted (what they do to a real guest: test_reinstall_lab.py)


def test_wrong_password_is_an_auth_error_at_once(bmc) -> None:
    err = fails(bmc, driver(password="wrong").status, ("auth",), 3)
    assert "Incorrect password" in str(err) and err.hint


def test_unknown_user_hits_the_deadline(bmc) -> None:
    """vbmc drops RAKP1 for an unknown user and pyghmi would wait forever: the child dies at
    the deadline and the error says what to check."""
    err = fails(bmc, driver(username="nobody", timeout=3).status, ("timeout",), 3 + 2)
    assert "user name" in (err.hint or "")


def test_unreachable_bmc_fails_within_the_timeout(bmc) -> None:
    fails(bmc, driver(NOBODY, timeout=4).status, ("unreachable", "timeout"), 4 + 2)


def test_http_boot_is_not_ipmi(bmc) -> None:
    err = fails(bmc, lambda: driver().set_boot("http", once=True), ("unsupported",), 1)
    assert "Redfish" in str(err)


def test_password_never_on_a_command_line(bmc, monkeypatch) -> None:
    import subprocess

    seen: list = []
    real = subprocess.run

    def spy(argv, **kw):
        seen.append((argv, kw.get("input")))
        return real(argv, **kw)

    monkeypatch.setattr(subprocess, "run", spy)
    with in_netns(bmc["ns"]):
        driver().status()
    argv, stdin = seen[-1]
    assert PASSWORD not in " ".join(argv) and PASSWORD in stdin
    assert PASSWORD not in repr(driver())
