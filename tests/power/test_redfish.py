"""The Redfish driver (``provisioner/power/redfish.py``, real sushy) against real HTTP services
in a test namespace: sushy-tools' emulator (its in-memory systems: no libvirtd needed here; the
libvirt-backed emulator drives a real guest in ``test_reinstall_lab.py``), over plain HTTP and
over TLS with a CA made here, and ``brokenbmc.py`` for the faults a well-behaved emulator cannot
show (an override rejected, properties missing, a BMC that never answers). Unreachable is an
address on the namespace's bridge where nothing lives.

Every fault must come back as a PowerError of the right kind within the configured timeout.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provisioner.errors import PowerError
from provisioner.models import PowerConfig
from provisioner.power.redfish import RedfishDriver
from provisioner.remote import pki
from tests.integration.holder import in_netns
from tests.netns import have_root_netns, netns
from tests.power.emulators import sushy_emulator
from tests.procs import poll, stop

pytestmark = [pytest.mark.netns]
ROOT = Path(__file__).resolve().parents[2]
IP, NOBODY = "10.88.0.1", "10.88.0.250"
USER, PASSWORD = "admin", "s3cret-Redfish"


@pytest.fixture(scope="module")
def bmcs(tmp_path_factory):
    if not have_root_netns():
        pytest.skip("needs root and network namespaces")
    tmp = tmp_path_factory.mktemp("redfish")
    now = dt.datetime.now(dt.UTC)
    ca = pki.create_ca(now, cn="test BMC CA")
    cert = pki.issue_host(ca, [IP], now)
    (tmp / "bmc.crt").write_text(cert.cert_pem)
    (tmp / "bmc.key").write_text(cert.key_pem)
    with netns("prf") as ns:
        ns.add_bridge("br0", f"{IP}/24")
        broken = ns.popen([sys.executable, "-m", "tests.power.brokenbmc", "--listen", IP,
                           "--port", "8100", "--user", USER, "--password", PASSWORD],
                          cwd=ROOT, stdout=open(tmp / "broken.log", "wb"),
                          stderr=subprocess.STDOUT)
        try:
            with sushy_emulator(ns, tmp / "plain", address=IP, port=8000,
                                users={USER: PASSWORD}, fake_power="On") as plain, \
                    sushy_emulator(ns, tmp / "tls", address=IP, port=8443,
                                   users={USER: PASSWORD},
                                   tls=(tmp / "bmc.crt", tmp / "bmc.key")) as tls:
                assert poll(lambda: ns.run(["curl", "-s", f"http://{IP}:8100/redfish/v1/"],
                                           check=False).returncode == 0, 20, 0.2)
                yield {"ns": ns, "plain": plain.url, "tls": tls.url, "ca": ca.cert_pem,
                       "broken": f"http://{IP}:8100", "tmp": tmp}
        finally:
            stop(broken)


def driver(bmcs, address: str, **kw) -> RedfishDriver:
    password = kw.pop("password", PASSWORD)
    kw.setdefault("timeout", 8)
    cfg = PowerConfig(system="s1", driver="redfish", address=address, username=USER, **kw)
    return RedfishDriver(cfg, password, bmcs["tmp"] / "ca", sleep=time.sleep)


def fails(bmcs, call, kind: str, within: float) -> PowerError:
    t0 = time.monotonic()
    with in_netns(bmcs["ns"]), pytest.raises(PowerError) as err:
        call()
    took = time.monotonic() - t0
    assert err.value.kind == kind, (err.value.kind, str(err.value))
    assert took < within, f"{kind} took {took:.1f} s"
    assert PASSWORD not in str(err.value) and PASSWORD not in str(err.value.hint)
    return err.value


def last_patch(bmcs, sid: str) -> dict:
    r = bmcs["ns"].run(["curl", "-s", "-u", f"{USER}:{PASSWORD}",
                        f"{bmcs['broken']}/redfish/v1/Systems/{sid}/LastPatch"])
    return json.loads(r.stdout)["body"]


def test_power_actions_against_the_emulator(bmcs) -> None:
    d = driver(bmcs, bmcs["plain"], timeout=15)  # its fake systems take 1-11 s to switch
    with in_netns(bmcs["ns"]):
        assert d.status() == "on"
        d.power("cycle")  # ForceOff, wait for Off (the emulator takes 1-11 s), On
        d.set_boot("pxe", once=True)
    r = bmcs["ns"].run(["curl", "-s", "-u", f"{USER}:{PASSWORD}",
                        f"{bmcs['plain']}/redfish/v1/Systems/27946b59-9e44-4fa7-8e91-f3527a1ef094"])
    system = json.loads(r.stdout)
    assert system["Boot"]["BootSourceOverrideTarget"] == "Pxe"
    with in_netns(bmcs["ns"]):  # the emulator applies "On" 1-11 s later, as a slow BMC would
        assert poll(lambda: d.status() == "on", 20, 0.5)


@pytest.mark.parametrize("mode,device,once,want", [
    ("auto", "pxe", True, {"BootSourceOverrideTarget": "Pxe",
                           "BootSourceOverrideEnabled": "Once"}),
    ("uefi", "pxe", True, {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once",
                           "BootSourceOverrideMode": "UEFI"}),
    ("legacy", "disk", False, {"BootSourceOverrideTarget": "Hdd",
                               "BootSourceOverrideEnabled": "Continuous",
                               "BootSourceOverrideMode": "Legacy"}),
    ("auto", "http", True, {"BootSourceOverrideTarget": "UefiHttp",
                            "BootSourceOverrideEnabled": "Once",
                            "BootSourceOverrideMode": "UEFI"}),
])
def test_boot_override_says_once_and_the_mode(bmcs, mode, device, once, want) -> None:
    d = driver(bmcs, bmcs["broken"], system_id="good", boot_mode=mode, auth="basic")
    if device == "http":  # "good" does not list UefiHttp: refused before anything is sent
        fails(bmcs, lambda: d.set_boot(device, once=once), "rejected", 5)
        return
    with in_netns(bmcs["ns"]):
        d.set_boot(device, once=once)
    assert last_patch(bmcs, "good") == {"Boot": want}


def test_http_boot_needs_uefi(bmcs) -> None:
    d = driver(bmcs, bmcs["plain"], boot_mode="legacy")
    fails(bmcs, lambda: d.set_boot("http", once=True), "unsupported", 3)


def test_wrong_password_is_an_auth_error_at_once(bmcs) -> None:
    for auth in ("basic", "auto"):
        d = driver(bmcs, bmcs["plain"], password="wrong", auth=auth)
        err = fails(bmcs, d.status, "auth", 5)
        assert "credentials" in str(err)


def test_unreachable_bmc_fails_within_the_timeout(bmcs) -> None:
    d = driver(bmcs, f"http://{NOBODY}:8000", timeout=4)
    fails(bmcs, d.status, "unreachable", 4 + 2)




def test_tls_is_verified_by_default(bmcs) -> None:
    err = fails(bmcs, driver(bmcs, bmcs["tls"]).status, "tls", 5)
    assert "CA bundle" in (err.hint or "")
    with in_netns(bmcs["ns"]):
        assert driver(bmcs, bmcs["tls"], ca_bundle=bmcs["ca"]).status() in ("on", "off")
        insecure = driver(bmcs, bmcs["tls"], verify_tls=False)
        assert insecure.status() in ("on", "off")
    assert any("TLS verification is off" in w for w in insecure.config.warnings())
    ca_files = list((bmcs["tmp"] / "ca").glob("redfish-ca-*.pem"))
    assert ca_files and all(f.stat().st_mode & 0o077 == 0 for f in ca_files)


def test_a_bmc_rejecting_the_override(bmcs) -> None:
    d = driver(bmcs, bmcs["broken"], system_id="reject")
    err = fails(bmcs, lambda: d.set_boot("pxe", once=True), "rejected", 5)
    assert "not in the list of acceptable values" in str(err) or "400" in str(err)


@pytest.mark.parametrize("sid,call", [
    ("noboot", lambda d: d.set_boot("pxe", once=True)),
    ("nopower", lambda d: d.status()),
    ("noreset", lambda d: d.power("off")),
])
def test_missing_properties_are_named(bmcs, sid, call) -> None:
    d = driver(bmcs, bmcs["broken"], system_id=sid)
    err = fails(bmcs, lambda: call(d), "missing", 5)
    assert "lacks" in str(err) or "not found" in str(err)


def test_several_systems_need_a_system_id(bmcs) -> None:
    err = fails(bmcs, driver(bmcs, bmcs["broken"]).status, "missing", 5)
    assert "system_id" in str(err) and "reject" in (err.hint or "")


def test_a_bmc_that_never_answers_hits_the_deadline(bmcs) -> None:
    d = driver(bmcs, bmcs["broken"], system_id="hang", timeout=3)
    fails(bmcs, d.status, "timeout", 3 + 1.5)


def test_the_password_is_never_logged(bmcs, caplog) -> None:
    """Everything sushy, urllib3 and the driver log at DEBUG, with session and basic auth, the
    right and a wrong password: neither password nor the Basic header's base64 shows. (Checked
    it can fail: with sushy's ``utils.sanitize`` made the identity, the session login's body
    shows the password here.)"""
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + PASSWORD
    basics = [base64.b64encode(f"{USER}:{pw}".encode()).decode() for pw in (PASSWORD, wrong)]
    for auth in ("session", "basic"):
        for pw in (PASSWORD, wrong):
            d = driver(bmcs, bmcs["plain"], password=pw, auth=auth)
            with in_netns(bmcs["ns"]), contextlib.suppress(PowerError):
                d.status()
                d.set_boot("pxe", once=True)
    text = caplog.text
    assert "HTTP request: POST" in text and "SessionService" in text  # sushy's debug lines
    for secret in (PASSWORD, wrong, *basics):
        assert secret not in text
