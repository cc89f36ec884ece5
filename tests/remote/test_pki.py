"""The appliance's CA: what it issues (checked with OpenSSL's own verifier as an independent
client) and the rotation decision. A real libvirtd accepting these certificates is in
tests/integration/test_remote_hosts.py."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest
from cryptography import x509

from provisioner.remote import pki
from provisioner.remote.pki import PkiError, Status, cert_status

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
NAMES = ["host1.example.com", "10.0.0.5", "fd00::5"]


@pytest.fixture(scope="module")
def ca():
    return pki.create_ca(NOW)


@pytest.fixture(scope="module")
def host(ca):
    return pki.issue_host(ca, NAMES, NOW)


def test_ca_is_a_ca(ca):
    cert = pki.load_cert(ca.cert_pem)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert pki.issued_by(ca.cert_pem, ca.cert_pem)


def test_host_certificate_names_and_usages(ca, host):
    i = pki.info(host.cert_pem)
    assert i.subject_cn == "host1.example.com" and i.issuer_cn == "provisioner libvirt CA"
    assert set(i.names) == {"host1.example.com", "10.0.0.5", "fd00::5"}
    assert i.not_after - i.not_before == dt.timedelta(days=365, minutes=5)
    eku = pki.load_cert(host.cert_pem).extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    assert {o.dotted_string for o in eku} == {"1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"}
    assert pki.issued_by(host.cert_pem, ca.cert_pem)
    assert pki.key_matches(host.cert_pem, host.key_pem)
    assert not pki.key_matches(host.cert_pem, ca.key_pem)


def test_client_certificate(ca):
    c = pki.issue_client(ca, "provisioner appliance", NOW)
    assert pki.info(c.cert_pem).names == ()
    eku = pki.load_cert(c.cert_pem).extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    assert [o.dotted_string for o in eku] == ["1.3.6.1.5.5.7.3.2"]


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
def test_openssl_verifies_the_chain_and_host_names(ca, host, tmp_path):
    (tmp_path / "ca.pem").write_text(ca.cert_pem)
    (tmp_path / "host.pem").write_text(host.cert_pem)
    at = str(int((NOW + dt.timedelta(days=1)).timestamp()))

    def openssl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)

    ok = openssl("verify", "-attime", at, "-CAfile", str(tmp_path / "ca.pem"),
                 "-purpose", "sslserver", str(tmp_path / "host.pem"))
    assert ok.returncode == 0, ok.stderr
    for name, flag in (("host1.example.com", "-verify_hostname"), ("10.0.0.5", "-verify_ip")):
        assert openssl("verify", "-attime", at, "-CAfile", str(tmp_path / "ca.pem"), flag, name,
                       str(tmp_path / "host.pem")).returncode == 0
    bad = openssl("verify", "-attime", at, "-CAfile", str(tmp_path / "ca.pem"),
                  "-verify_hostname", "other.example.com", str(tmp_path / "host.pem"))
    assert bad.returncode != 0
    other = pki.create_ca(NOW, cn="someone else")
    (tmp_path / "other.pem").write_text(other.cert_pem)
    assert openssl("verify", "-attime", at, "-CAfile", str(tmp_path / "other.pem"),
                   str(tmp_path / "host.pem")).returncode != 0


def test_certificate_never_outlives_its_ca():
    short = pki.create_ca(NOW, days=100)
    c = pki.issue_host(short, ["h"], NOW, days=365)
    assert pki.info(c.cert_pem).not_after <= pki.info(short.cert_pem).not_after


@pytest.mark.parametrize("names", [[], ["evil;rm -rf /"], ["a b"], ["-oX"], ["h/x"], [""]])
def test_bad_names_refused(ca, names):
    with pytest.raises(PkiError):
        pki.issue_host(ca, names, NOW)


def test_rsa_keys_for_old_peers(ca):
    c = pki.issue_host(ca, ["h"], NOW, key_kind="rsa")
    assert pki.load_cert(c.cert_pem).public_key().key_size == 3072
    with pytest.raises(PkiError):
        pki.new_key("dsa")


def test_cert_status_table(ca, host):
    other = pki.create_ca(NOW, cn="someone else")
    foreign = pki.issue_host(other, NAMES, NOW)
    day = dt.timedelta(days=1)
    cases = [
        ("missing", None, NAMES, NOW, Status.MISSING),
        ("garbage", "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n", NAMES, NOW,
         Status.UNREADABLE),
        ("another CA", foreign.cert_pem, NAMES, NOW, Status.WRONG_CA),
        ("host got a new address", host.cert_pem, [*NAMES, "10.0.0.6"], NOW,
         Status.NAMES_CHANGED),
        ("fresh", host.cert_pem, NAMES, NOW, Status.OK),
        ("subset of names is fine", host.cert_pem, ["10.0.0.5"], NOW, Status.OK),
        ("334 days later", host.cert_pem, NAMES, NOW + 334 * day, Status.OK),
        ("within the margin", host.cert_pem, NAMES, NOW + 336 * day, Status.EXPIRING),
        ("expired", host.cert_pem, NAMES, NOW + 366 * day, Status.EXPIRED),
        ("clock behind", host.cert_pem, NAMES, NOW - day, Status.NOT_YET_VALID),
    ]
    for what, pem, names, now, want in cases:
        status, reason = cert_status(pem, ca.cert_pem, names, now)
        assert status is want, f"{what}: {status} ({reason})"
        assert reason


def test_not_pem_is_a_clear_error():
    with pytest.raises(PkiError, match="not a PEM certificate"):
        pki.info("hello")
